//! What the crate's own unit tests share.

use crate::users::{Password, Register, Username};
use crate::{Caller, ChatCore, Service};

/// Registers `name` and signs them in.
pub(crate) async fn user(chat: &ChatCore, name: &str) -> Caller {
    let registered = chat
        .register(Register::new(
            Username::parse(name).unwrap(),
            Password::parse("a long enough secret").unwrap(),
        ))
        .await
        .unwrap();
    chat.authenticate(&registered.session.token).await.unwrap()
}

/// The direct chat of `me` and `peer` (started if new).
pub(crate) async fn direct_chat(chat: &ChatCore, me: &Caller, peer: &Caller) -> crate::ChatId {
    chat.start_direct_chat(me, peer.user_id())
        .await
        .unwrap()
        .chat
        .chat
        .id
}
