//! Each member's copy of their chat's last activity, indexed with the member's id and hidden
//! flag, so that a page of the chat list is a range of one index: it costs the same whether the
//! user is in 50 chats or 50,000 (instead of sorting all their chats by activity).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChatMembers {
    Table,
    ChatId,
    UserId,
    Hidden,
    LastActivity,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
    LastActivity,
}

const INDEX: &str = "idx_chat_members_activity";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ChatMembers::Table)
                    .add_column(
                        ColumnDef::new(ChatMembers::LastActivity)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        let backfill = Query::update()
            .table(ChatMembers::Table)
            .value(
                ChatMembers::LastActivity,
                Expr::expr(
                    Query::select()
                        .column((Chats::Table, Chats::LastActivity))
                        .from(Chats::Table)
                        .and_where(
                            Expr::col((Chats::Table, Chats::Id))
                                .equals((ChatMembers::Table, ChatMembers::ChatId)),
                        )
                        .take(),
                ),
            )
            .to_owned();
        manager.exec_stmt(backfill).await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(ChatMembers::Table)
                    .col(ChatMembers::UserId)
                    .col(ChatMembers::Hidden)
                    .col(ChatMembers::LastActivity)
                    .col(ChatMembers::ChatId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(ChatMembers::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ChatMembers::Table)
                    .drop_column(ChatMembers::LastActivity)
                    .to_owned(),
            )
            .await
    }
}
