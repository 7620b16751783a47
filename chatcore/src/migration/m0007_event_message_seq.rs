//! The seq of the message an event is about (edits, deletions, reactions, read markers, new
//! messages), so that resuming a stream can leave out, in SQL, the events of messages a member
//! may not see (a `since_join` group's history before they joined).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    MessageSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Nullable: events about no message, and those written before this column, have none.
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(ColumnDef::new(Events::MessageSeq).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .drop_column(Events::MessageSeq)
                    .to_owned(),
            )
            .await
    }
}
