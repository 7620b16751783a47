//! An index that lets a send find the members who hid the chat without reading every member:
//! in a large group, `WHERE chat_id = ? AND hidden` is otherwise a scan of the whole group.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChatMembers {
    Table,
    ChatId,
    Hidden,
}

const INDEX: &str = "idx_chat_members_hidden";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(ChatMembers::Table)
                    .col(ChatMembers::ChatId)
                    .col(ChatMembers::Hidden)
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
            .await
    }
}
