//! Migrations on PostgreSQL run down and up again, keeping the data.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use chatcore::sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use chatcore::testkit::{TestDatabase, register, say};
use chatcore::{Migrator, Service};
use sea_orm_migration::MigratorTrait;

/// The indexes of `chat_members`, by name.
async fn member_indexes(db: &impl ConnectionTrait) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT indexname FROM pg_indexes WHERE tablename = 'chat_members' ORDER BY 1",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get_by_index(0).unwrap())
        .collect()
}

/// The chat list's index and the primary key serve every lookup of a membership: a message
/// writes two index entries per member, not four. Down restores the two others.
#[tokio::test]
async fn member_indexes_are_the_two_that_queries_read() {
    let Some(database) = TestDatabase::create("chatcore_test").await else {
        return;
    };
    let service = chatcore_postgres::connect(database.url()).await.unwrap();
    let ann = register(&service, "ann").await;
    let ben = register(&service, "ben").await;
    let chat = service
        .start_direct_chat(&ann.caller, ben.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    say(&service, &ann, chat, "kept").await;
    let db = Database::connect(database.url()).await.unwrap();
    let lean = ["chat_members_pkey", "idx_chat_members_list"];
    assert_eq!(member_indexes(&db).await, lean);

    Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(
        member_indexes(&db).await,
        [
            "chat_members_pkey",
            "idx_chat_members_hidden",
            "idx_chat_members_list",
            "idx_chat_members_user",
        ]
    );
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(member_indexes(&db).await, lean);
    let chats = service
        .list_chats(&ben.caller, Default::default())
        .await
        .unwrap();
    assert_eq!(chats.items.len(), 1);
    drop(db);
    drop(service);
}
