//! Each message counts the reactions it carries, so that a history page asks for reaction
//! counts only for the messages that have some (most have none).
//!
//! `messages.reactions` is kept in the transaction that adds or takes back a reaction. It is
//! never below the number of the message's rows in `reactions`: rows that go without the
//! service (a user's rows removed with the user) may leave it higher, which costs a query
//! that finds nothing, never a reaction left out.

use sea_orm_migration::prelude::*;

use super::columns::counter;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    Reactions,
}

#[derive(DeriveIden)]
enum Reactions {
    Table,
    MessageId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(counter(Messages::Reactions))
                    .to_owned(),
            )
            .await?;
        let reactions_of_each = Query::select()
            .expr(Expr::col(Reactions::MessageId).count())
            .from(Reactions::Table)
            .and_where(
                Expr::col((Reactions::Table, Reactions::MessageId))
                    .equals((Messages::Table, Messages::Id)),
            )
            .take();
        manager
            .exec_stmt(
                Query::update()
                    .table(Messages::Table)
                    .value(Messages::Reactions, reactions_of_each)
                    .and_where(
                        Expr::col(Messages::Id).in_subquery(
                            Query::select()
                                .column(Reactions::MessageId)
                                .from(Reactions::Table)
                                .take(),
                        ),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::Reactions)
                    .to_owned(),
            )
            .await
    }
}
