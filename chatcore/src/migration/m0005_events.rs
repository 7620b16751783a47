//! The event log: every change, in commit order, for subscribers to resume from.

use sea_orm_migration::prelude::*;

use super::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Seq,
    Kind,
    ChatId,
    UserId,
    ActorId,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EventHead {
    Table,
    Id,
    Last,
    PrunedThrough,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(
                        ColumnDef::new(Events::Seq)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(text(Events::Kind))
                    .col(ColumnDef::new(Events::ChatId).uuid().null())
                    .col(ColumnDef::new(Events::UserId).uuid().null())
                    .col(ColumnDef::new(Events::ActorId).uuid().null())
                    .col(text(Events::Data))
                    .col(time(Events::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // A subscriber's catch-up: the events of its chats, and those addressed to it.
        manager
            .create_index(
                Index::create()
                    .name("idx_events_chat")
                    .table(Events::Table)
                    .col(Events::ChatId)
                    .col(Events::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_user")
                    .table(Events::Table)
                    .col(Events::UserId)
                    .col(Events::Seq)
                    .to_owned(),
            )
            .await?;
        // One row: the last cursor given out, and up to where old events were pruned. Taking
        // the next cursor locks this row until commit, so cursors are in commit order.
        manager
            .create_table(
                Table::create()
                    .table(EventHead::Table)
                    .col(
                        ColumnDef::new(EventHead::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(counter(EventHead::Last))
                    .col(counter(EventHead::PrunedThrough))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(EventHead::Table)
                    .columns([EventHead::Id, EventHead::Last, EventHead::PrunedThrough])
                    .values_panic([1.into(), 0.into(), 0.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventHead::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await
    }
}
