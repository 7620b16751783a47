//! Large groups keep their place in their members' chat lists on the chat row alone.
//!
//! A message used to copy its chat's activity into every member's row (the chat list's sort
//! key), which costs a thousand row and index updates per message in a group of a thousand.
//! A chat with more than [`LARGE_GROUP`] members is now marked `large`, on the chat and on
//! each of its memberships; the chat list reads those memberships' order from
//! `chats.last_activity` instead, and the list's index leads with the flag so that both
//! kinds stay index ranges.

use sea_orm_migration::prelude::*;

use super::columns::flag;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
    Large,
}

#[derive(DeriveIden)]
enum ChatMembers {
    Table,
    ChatId,
    UserId,
    Hidden,
    Large,
    LastActivity,
}

/// The member count above which a group is large, as of this migration (the service's
/// threshold is `chats::LARGE_GROUP`, equal when this was written).
const LARGE_GROUP: i64 = 100;

const OLD_INDEX: &str = "idx_chat_members_activity";
const INDEX: &str = "idx_chat_members_list";

/// Replaces the chat list's index `from` by `to`: the new one has the `large` flag after
/// `hidden`, the old one does not.
async fn swap_index(manager: &SchemaManager<'_>, from: &str, to: &str) -> Result<(), DbErr> {
    let mut index = Index::create();
    index
        .name(to)
        .table(ChatMembers::Table)
        .col(ChatMembers::UserId)
        .col(ChatMembers::Hidden);
    if to == INDEX {
        index.col(ChatMembers::Large);
    }
    index
        .col(ChatMembers::LastActivity)
        .col(ChatMembers::ChatId);
    manager.create_index(index).await?;
    manager
        .drop_index(
            Index::drop()
                .name(from)
                .table(ChatMembers::Table)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Chats::Table)
                    .add_column(flag(Chats::Large, false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ChatMembers::Table)
                    .add_column(flag(ChatMembers::Large, false))
                    .to_owned(),
            )
            .await?;
        let members_of_each = Query::select()
            .expr(Expr::col(ChatMembers::ChatId).count())
            .from(ChatMembers::Table)
            .and_where(
                Expr::col((ChatMembers::Table, ChatMembers::ChatId))
                    .equals((Chats::Table, Chats::Id)),
            )
            .take();
        manager
            .exec_stmt(
                Query::update()
                    .table(Chats::Table)
                    .value(Chats::Large, true)
                    .and_where(Expr::expr(members_of_each).gt(LARGE_GROUP))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(ChatMembers::Table)
                    .value(ChatMembers::Large, true)
                    .and_where(
                        Expr::col(ChatMembers::ChatId).in_subquery(
                            Query::select()
                                .column(Chats::Id)
                                .from(Chats::Table)
                                .and_where(Expr::col(Chats::Large).eq(true))
                                .take(),
                        ),
                    )
                    .to_owned(),
            )
            .await?;
        swap_index(manager, OLD_INDEX, INDEX).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Large groups' members get their copies of the chat's activity back.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE chat_members SET last_activity = \
                 (SELECT last_activity FROM chats WHERE chats.id = chat_members.chat_id) \
                 WHERE large",
            )
            .await?;
        swap_index(manager, INDEX, OLD_INDEX).await?;
        for (table, column) in [
            (Chats::Table.into_iden(), Chats::Large.into_iden()),
            (
                ChatMembers::Table.into_iden(),
                ChatMembers::Large.into_iden(),
            ),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
