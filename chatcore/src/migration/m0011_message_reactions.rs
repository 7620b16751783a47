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

#[cfg(test)]
mod tests {
    use sea_orm::EntityTrait;
    use sea_orm_migration::MigratorTrait;

    use crate::messages::{Emoji, MessageText, SendMessage, entity as messages};
    use crate::storage::sqlite::Connections;
    use crate::test_support::{direct_chat, user};
    use crate::{Migrator, Options, Service};

    /// Reactions made before the migration are counted by it, and the counts are taken down
    /// with it.
    #[tokio::test]
    async fn reactions_made_before_are_counted() {
        let connections = Connections::memory().await.unwrap();
        let db = connections.write.db.clone();
        let chat = connections.open(Options::default(), 16).await.unwrap();
        let (ada, bob) = (user(&chat, "ada").await, user(&chat, "bob").await);
        let direct = direct_chat(&chat, &ada, &bob).await;
        let text = |text: &str| MessageText::parse(text).unwrap();
        let liked = chat
            .send_message(&ada, SendMessage::new(direct, text("liked")))
            .await
            .unwrap();
        let plain = chat
            .send_message(&ada, SendMessage::new(direct, text("plain")))
            .await
            .unwrap();
        for (who, emoji) in [(&ada, "👍"), (&bob, "👍"), (&bob, "🎉")] {
            chat.add_reaction(who, direct, liked.id, Emoji::parse(emoji).unwrap())
                .await
                .unwrap();
        }
        let counts = || async {
            let rows = messages::Entity::find().all(&db).await.unwrap();
            let of = |id: crate::MessageId| {
                rows.iter()
                    .find(|row| row.id == id.as_uuid())
                    .map(|row| row.reactions)
            };
            (of(liked.id), of(plain.id))
        };
        assert_eq!(counts().await, (Some(3), Some(0)));

        // This migration and the two after it.
        Migrator::down(&db, Some(3)).await.unwrap();
        assert!(messages::Entity::find().all(&db).await.is_err());
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(counts().await, (Some(3), Some(0)));
    }
}
