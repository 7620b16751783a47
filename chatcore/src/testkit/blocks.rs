//! Blocks reach every way of touching a direct chat, not only new messages.

use super::{TestUser, register, say};
use crate::messages::{ClientId, Emoji, HistoryQuery, MessageText, SendMessage};
use crate::{ChatId, Service};

/// The future blocker and sender, in a direct chat.
async fn blocker_and_sender(service: &dyn Service, prefix: &str) -> (TestUser, TestUser, ChatId) {
    let blocker = register(service, &format!("{prefix}blocker")).await;
    let sender = register(service, &format!("{prefix}sender")).await;
    let chat = service
        .start_direct_chat(&sender.caller, blocker.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    (blocker, sender, chat)
}

/// A direct chat where `sender` said something, then `blocker` blocked `sender`.
async fn blocked_after_a_message(
    service: &dyn Service,
    prefix: &str,
) -> (TestUser, TestUser, ChatId, crate::messages::Message) {
    let (blocker, sender, chat) = blocker_and_sender(service, prefix).await;
    let message = say(service, &sender, chat, "said before the block").await;
    service
        .block_user(&blocker.caller, sender.id())
        .await
        .unwrap();
    (blocker, sender, chat, message)
}

async fn only_message(
    service: &dyn Service,
    reader: &TestUser,
    chat: ChatId,
) -> crate::messages::Message {
    let mut history = service
        .list_messages(&reader.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    history.remove(0)
}

/// A block refuses new messages and stores nothing, while a retry of a message sent before
/// it (same client id) still gets that message back.
pub async fn blocked_users_cannot_send_but_retries_get_their_message(service: &dyn Service) {
    let (blocker, sender, chat) = blocker_and_sender(service, "snd").await;
    let send = |text: &str, client_id: Option<&str>| {
        let mut message = SendMessage::new(chat, MessageText::parse(text).unwrap());
        message.client_id = client_id.map(|id| ClientId::parse(id).unwrap());
        service.send_message(&sender.caller, message)
    };
    let first = send("before the block", Some("b-1")).await.unwrap();
    service
        .block_user(&blocker.caller, sender.id())
        .await
        .unwrap();
    assert_eq!(send("after", None).await.unwrap_err().code(), "blocked");
    assert_eq!(
        send("after", Some("b-2")).await.unwrap_err().code(),
        "blocked"
    );
    assert_eq!(send("before the block", Some("b-1")).await.unwrap(), first);
    assert_eq!(only_message(service, &blocker, chat).await.id, first.id);
    // Unblocked, the next message takes the next seq.
    service
        .unblock_user(&blocker.caller, sender.id())
        .await
        .unwrap();
    assert_eq!(send("after the unblock", None).await.unwrap().seq, 2);
}

pub async fn blocked_users_cannot_edit_in_that_direct_chat(service: &dyn Service) {
    let (blocker, sender, chat, message) = blocked_after_a_message(service, "ed").await;
    let edit = |text: &str| {
        service.edit_message(
            &sender.caller,
            chat,
            message.id,
            MessageText::parse(text).unwrap(),
        )
    };
    assert_eq!(
        edit("rewritten after the block").await.unwrap_err().code(),
        "blocked"
    );
    let seen = only_message(service, &blocker, chat).await;
    assert_eq!(seen.text.as_deref(), Some("said before the block"));
    assert_eq!(seen.edited_at, None);
    // Unblocking gives the edit back.
    service
        .unblock_user(&blocker.caller, sender.id())
        .await
        .unwrap();
    edit("rewritten after the unblock").await.unwrap();
}

pub async fn blocked_users_cannot_react_in_that_direct_chat(service: &dyn Service) {
    let (blocker, sender, chat, message) = blocked_after_a_message(service, "re").await;
    let thumbs = || Emoji::parse("👍").unwrap();
    // The blocker's own reaction is theirs to give.
    service
        .add_reaction(&blocker.caller, chat, message.id, thumbs())
        .await
        .unwrap();
    assert_eq!(
        service
            .add_reaction(&sender.caller, chat, message.id, thumbs())
            .await
            .unwrap_err()
            .code(),
        "blocked"
    );
    let seen = only_message(service, &blocker, chat).await;
    assert_eq!(seen.reactions.len(), 1);
    assert_eq!(seen.reactions[0].count, 1);
    assert!(seen.reactions[0].mine);
}

pub async fn blocked_users_cannot_send_typing_in_that_direct_chat(service: &dyn Service) {
    let (blocker, sender, chat, _) = blocked_after_a_message(service, "ty").await;
    assert_eq!(
        service
            .send_typing(&sender.caller, chat)
            .await
            .unwrap_err()
            .code(),
        "blocked"
    );
    // The blocker may still type; groups are not affected by blocks.
    service.send_typing(&blocker.caller, chat).await.unwrap();
    let group = service
        .create_group(
            &blocker.caller,
            crate::groups::CreateGroup::new(
                crate::groups::ChatTitle::parse("Both").unwrap(),
                vec![],
            ),
        )
        .await
        .unwrap()
        .chat
        .id;
    // The blocker may still add the user they blocked to a group, where blocks do not apply.
    service
        .add_member(&blocker.caller, group, sender.id())
        .await
        .unwrap();
    service.send_typing(&sender.caller, group).await.unwrap();
}
