//! What the PostgreSQL tests share besides their databases (those come from
//! `chatcore::testkit::TestDatabase`): the TCP proxy that cuts connections, and two nodes'
//! direct chat.

#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

pub mod proxy;

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
