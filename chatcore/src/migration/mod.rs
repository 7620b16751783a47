//! Schema migrations, applied by [`ChatCore::open`](crate::ChatCore::open) and callable on
//! their own through [`Migrator`].

use sea_orm_migration::prelude::*;

mod columns;
mod m0001_initial;
mod m0002_groups;
mod m0003_social;
mod m0004_avatars;
mod m0005_events;
mod m0006_hidden_members;
mod m0007_event_message_seq;
mod m0008_member_activity;
mod m0009_event_order;
mod m0010_large_groups;
mod m0011_message_reactions;
mod m0012_messages_by_chat;
mod m0013_postgres_member_indexes;

/// All chatcore migrations, in order.
///
/// ```no_run
/// # async fn run(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// use sea_orm_migration::MigratorTrait;
/// chatcore::Migrator::up(db, None).await?;
/// # Ok(()) }
/// ```
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_groups::Migration),
            Box::new(m0003_social::Migration),
            Box::new(m0004_avatars::Migration),
            Box::new(m0005_events::Migration),
            Box::new(m0006_hidden_members::Migration),
            Box::new(m0007_event_message_seq::Migration),
            Box::new(m0008_member_activity::Migration),
            Box::new(m0009_event_order::Migration),
            Box::new(m0010_large_groups::Migration),
            Box::new(m0011_message_reactions::Migration),
            Box::new(m0012_messages_by_chat::Migration),
            Box::new(m0013_postgres_member_indexes::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "chatcore_migrations".into_iden()
    }
}
