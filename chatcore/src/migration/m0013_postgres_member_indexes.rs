//! On PostgreSQL, two indexes of `chat_members` that no query reads there, while every message
//! writes them: `idx_chat_members_user` (`user_id, chat_id`), whose lookups the chat list's
//! index (`user_id, …`) and the primary key (`chat_id, user_id`) serve, and
//! `idx_chat_members_hidden` (`chat_id, hidden`), which only SQLite's send reads (PostgreSQL's
//! send finds a chat's members by the primary key). A message changes each member's
//! `last_activity`, which the chat list's index holds, so PostgreSQL writes a new version of
//! each member's row with an entry in every index of the table: four indexes became two.
//! SQLite keeps both: it rewrites only the index entries whose columns changed.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChatMembers {
    Table,
    ChatId,
    UserId,
    Hidden,
}

/// The two indexes, as m0001 and m0006 created them.
fn indexes() -> [IndexCreateStatement; 2] {
    [
        Index::create()
            .name("idx_chat_members_user")
            .table(ChatMembers::Table)
            .col(ChatMembers::UserId)
            .col(ChatMembers::ChatId)
            .to_owned(),
        Index::create()
            .name("idx_chat_members_hidden")
            .table(ChatMembers::Table)
            .col(ChatMembers::ChatId)
            .col(ChatMembers::Hidden)
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for index in indexes() {
            let name = index.get_index_spec().get_name().unwrap_or_default();
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(ChatMembers::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }
}
