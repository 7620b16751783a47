//! What the PostgreSQL tests share besides their databases (those come from
//! `chatcore::testkit::TestDatabase`): the TCP proxy that cuts connections, and two nodes'
//! direct chat.

#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

pub mod proxy;

/// Two nodes sharing a database. Fields drop in order: the nodes before their database.
pub struct Cluster {
    pub a: chatcore::ChatCore,
    pub b: chatcore::ChatCore,
    pub database: chatcore::testkit::TestDatabase,
}

/// Two nodes on a fresh database; `None` (the test is skipped) without a PostgreSQL URL.
pub async fn cluster() -> Option<Cluster> {
    let database = chatcore::testkit::TestDatabase::create("chatcore_test").await?;
    let a = chatcore_postgres::connect(database.url())
        .await
        .expect("node A connects");
    let b = chatcore_postgres::connect(database.url())
        .await
        .expect("node B connects");
    Some(Cluster { a, b, database })
}

/// Ann and Ben, registered on node `a`, in a direct chat; Ben's session as node `b` sees it
/// (sessions live in the shared database).
pub async fn direct_chat(
    a: &chatcore::ChatCore,
    b: &chatcore::ChatCore,
) -> (
    chatcore::testkit::TestUser,
    chatcore::testkit::TestUser,
    chatcore::Caller,
    chatcore::ChatId,
) {
    use chatcore::Service;
    use chatcore::testkit::register;
    let ann = register(a, "ann").await;
    let ben = register(a, "ben").await;
    let ben_on_b = b.authenticate(&ben.auth.session.token).await.unwrap();
    let chat = a
        .start_direct_chat(&ann.caller, ben.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    (ann, ben, ben_on_b, chat)
}
