//! Replies, forwards, edits, moderated deletes, reactions, read receipts and typing.

use super::{TestUser, register, say};
use crate::groups::{AssignableRole, ChatTitle, CreateGroup};
use crate::messages::{Emoji, ForwardMessage, HistoryQuery, Message, MessageText, SendMessage};
use crate::{ChatId, MessageId, PageRequest, Service};

async fn group(service: &dyn Service, owner: &TestUser, members: &[&TestUser]) -> ChatId {
    service
        .create_group(
            &owner.caller,
            CreateGroup::new(
                ChatTitle::parse("Talk").unwrap(),
                members.iter().map(|member| member.id()).collect(),
            ),
        )
        .await
        .unwrap()
        .chat
        .id
}

async fn reply(
    service: &dyn Service,
    user: &TestUser,
    chat: ChatId,
    to: MessageId,
    text: &str,
) -> crate::Result<Message> {
    service
        .send_message(
            &user.caller,
            SendMessage::new(chat, MessageText::parse(text).unwrap()).reply_to(to),
        )
        .await
}

async fn find(service: &dyn Service, user: &TestUser, chat: ChatId, id: MessageId) -> Message {
    service
        .list_messages(&user.caller, chat, HistoryQuery::latest())
        .await
        .unwrap()
        .into_iter()
        .find(|message| message.id == id)
        .unwrap()
}

fn emoji(text: &str) -> Emoji {
    Emoji::parse(text).unwrap()
}

pub async fn replies_carry_a_preview_of_what_the_reader_may_see(service: &dyn Service) {
    let ada = register(service, "ada").await;
    let ben = register(service, "ben").await;
    let cal = register(service, "cal").await;
    let chat = group(service, &ada, &[&ben]).await;
    let other = group(service, &ada, &[]).await;
    let original = say(service, &ada, chat, "What time is the meeting?").await;
    let elsewhere = say(service, &ada, other, "elsewhere").await;

    let answer = reply(service, &ben, chat, original.id, "Ten")
        .await
        .unwrap();
    let quoted = answer.reply_to.as_ref().unwrap();
    assert_eq!(quoted.message_id, original.id);
    assert!(quoted.visible);
    assert_eq!(quoted.sender_id, Some(ada.id()));
    assert_eq!(quoted.text.as_deref(), Some("What time is the meeting?"));

    // Only messages of the same chat, that exist.
    let error = reply(service, &ada, chat, elsewhere.id, "no")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    let error = reply(service, &ada, chat, MessageId::new(), "no")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");

    // A late joiner under since_join history cannot quote or see what came before.
    service
        .add_member(&ada.caller, chat, cal.id())
        .await
        .unwrap();
    let error = reply(service, &cal, chat, original.id, "me too")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    let later = reply(service, &ben, chat, original.id, "Ten, really")
        .await
        .unwrap();
    let seen_by_cal = find(service, &cal, chat, later.id).await;
    let quoted = seen_by_cal.reply_to.unwrap();
    assert!(!quoted.visible);
    assert_eq!((quoted.sender_id, quoted.text), (None, None));

    // Once the original is deleted, the reply shows it as deleted.
    service
        .delete_message(&ada.caller, chat, original.id)
        .await
        .unwrap();
    let seen_by_ben = find(service, &ben, chat, answer.id).await;
    let quoted = seen_by_ben.reply_to.unwrap();
    assert!(quoted.deleted);
    assert_eq!(quoted.text, None);
    // The history holds exactly what was sent.
    let history = service
        .list_messages(&ada.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    assert_eq!(history.len(), 3);
}

pub async fn forwards_record_their_origin(service: &dyn Service) {
    let dee = register(service, "dee").await;
    let eli = register(service, "eli").await;
    let fay = register(service, "fay").await;
    let source = group(service, &dee, &[&eli]).await;
    let target = service
        .start_direct_chat(&eli.caller, fay.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let original = say(service, &dee, source, "worth sharing").await;
    let forward = |chat, message, to| ForwardMessage {
        chat_id: chat,
        message_id: message,
        to_chat_id: to,
        client_id: None,
    };

    let forwarded = service
        .forward_message(&eli.caller, forward(source, original.id, target))
        .await
        .unwrap();
    assert_eq!(forwarded.chat_id, target);
    assert_eq!(forwarded.sender_id, eli.id());
    assert_eq!(forwarded.text.as_deref(), Some("worth sharing"));
    let origin = forwarded.forwarded_from.as_ref().unwrap();
    assert_eq!(
        (origin.message_id, origin.sender_id),
        (original.id, dee.id())
    );
    // Forwarding the forward keeps the first origin.
    let back = service
        .forward_message(&fay.caller, forward(target, forwarded.id, target))
        .await
        .unwrap();
    let origin = back.forwarded_from.unwrap();
    assert_eq!(
        (origin.message_id, origin.sender_id),
        (original.id, dee.id())
    );

    // What the forwarder cannot see, or where they are not a member: not found.
    let error = service
        .forward_message(&fay.caller, forward(source, original.id, target))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    let error = service
        .forward_message(&dee.caller, forward(source, original.id, target))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    let late = register(service, "late2").await;
    service
        .add_member(&dee.caller, source, late.id())
        .await
        .unwrap();
    let own = service
        .start_direct_chat(&late.caller, dee.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let error = service
        .forward_message(&late.caller, forward(source, original.id, own))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    // A deleted message cannot be forwarded.
    service
        .delete_message(&dee.caller, source, original.id)
        .await
        .unwrap();
    let error = service
        .forward_message(&eli.caller, forward(source, original.id, target))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    let history = service
        .list_messages(&fay.caller, target, HistoryQuery::latest())
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
}

pub async fn edits_and_moderated_deletes(service: &dyn Service) {
    let gus = register(service, "gus").await;
    let hal = register(service, "hal").await;
    let ivy = register(service, "ivy").await;
    let chat = group(service, &gus, &[&hal, &ivy]).await;
    let mine = say(service, &hal, chat, "tpyo").await;
    assert_eq!(mine.edited_at, None);

    let edited = service
        .edit_message(
            &hal.caller,
            chat,
            mine.id,
            MessageText::parse("typo").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(edited.text.as_deref(), Some("typo"));
    assert!(edited.edited_at.is_some());
    assert_eq!((edited.id, edited.seq), (mine.id, mine.seq));
    let seen = find(service, &ivy, chat, mine.id).await;
    assert_eq!(seen.text.as_deref(), Some("typo"));
    assert_eq!(seen.edited_at, edited.edited_at);

    // Only the sender edits; a plain member deletes only their own.
    let error = service
        .edit_message(
            &gus.caller,
            chat,
            mine.id,
            MessageText::parse("mine").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    let error = service
        .delete_message(&ivy.caller, chat, mine.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    assert_eq!(
        find(service, &ivy, chat, mine.id).await.text.as_deref(),
        Some("typo")
    );

    // The owner, and an admin, delete anyone's message.
    service
        .delete_message(&gus.caller, chat, mine.id)
        .await
        .unwrap();
    assert!(find(service, &ivy, chat, mine.id).await.deleted);
    let error = service
        .edit_message(
            &hal.caller,
            chat,
            mine.id,
            MessageText::parse("back").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "conflict");
    service
        .set_member_role(&gus.caller, chat, ivy.id(), AssignableRole::Admin)
        .await
        .unwrap();
    let owners = say(service, &gus, chat, "from the owner").await;
    service
        .delete_message(&ivy.caller, chat, owners.id)
        .await
        .unwrap();
    assert!(find(service, &hal, chat, owners.id).await.deleted);

    // In a direct chat nobody deletes the other's messages.
    let direct = service
        .start_direct_chat(&hal.caller, ivy.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let message = say(service, &hal, direct, "direct").await;
    let error = service
        .delete_message(&ivy.caller, direct, message.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
}

pub async fn reactions_are_counted_per_emoji(service: &dyn Service) {
    let jo = register(service, "jo1").await;
    let kai = register(service, "kai").await;
    let lou = register(service, "lou").await;
    let chat = group(service, &jo, &[&kai, &lou]).await;
    let message = say(service, &jo, chat, "pizza tonight?").await;

    let counts = service
        .add_reaction(&kai.caller, chat, message.id, emoji("👍"))
        .await
        .unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!((counts[0].count, counts[0].mine), (1, true));
    // Twice is once.
    service
        .add_reaction(&kai.caller, chat, message.id, emoji("👍"))
        .await
        .unwrap();
    service
        .add_reaction(&lou.caller, chat, message.id, emoji("👍"))
        .await
        .unwrap();
    let counts = service
        .add_reaction(&lou.caller, chat, message.id, emoji("❤"))
        .await
        .unwrap();
    let summary: Vec<_> = counts
        .iter()
        .map(|count| (count.emoji.as_str(), count.count, count.mine))
        .collect();
    assert_eq!(summary, [("👍", 2, true), ("❤️", 1, true)]);

    // Each reader sees whether they reacted.
    let seen = find(service, &jo, chat, message.id).await;
    let summary: Vec<_> = seen
        .reactions
        .iter()
        .map(|count| (count.emoji.as_str(), count.count, count.mine))
        .collect();
    assert_eq!(summary, [("👍", 2, false), ("❤️", 1, false)]);

    let counts = service
        .remove_reaction(&kai.caller, chat, message.id, emoji("👍"))
        .await
        .unwrap();
    assert_eq!((counts[0].count, counts[0].mine), (1, false));
    service
        .remove_reaction(&kai.caller, chat, message.id, emoji("👍"))
        .await
        .unwrap();

    // Non-members cannot react; a deleted message loses its reactions and takes no more.
    let outsider = register(service, "outsider").await;
    let error = service
        .add_reaction(&outsider.caller, chat, message.id, emoji("👎"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    service
        .delete_message(&jo.caller, chat, message.id)
        .await
        .unwrap();
    assert!(
        find(service, &kai, chat, message.id)
            .await
            .reactions
            .is_empty()
    );
    let error = service
        .add_reaction(&kai.caller, chat, message.id, emoji("😮"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "conflict");
}

pub async fn read_markers_move_forward_and_feed_unread_and_receipts(service: &dyn Service) {
    let max = register(service, "max").await;
    let nia = register(service, "nia").await;
    let oz = register(service, "oz1").await;
    let chat = group(service, &max, &[&nia, &oz]).await;
    let first = say(service, &max, chat, "one").await;
    let second = say(service, &max, chat, "two").await;
    let third = say(service, &max, chat, "three").await;

    let unread = |user: &TestUser| {
        let caller = user.caller.clone();
        async move {
            service
                .list_chats(&caller, PageRequest::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|item| item.chat.id == chat)
                .unwrap()
                .unread_count
        }
    };
    assert_eq!(unread(&nia).await, 3);
    // Own messages never count.
    assert_eq!(unread(&max).await, 0);

    let marker = service
        .mark_read(&nia.caller, chat, second.seq)
        .await
        .unwrap();
    assert_eq!(marker.seq, 2);
    assert_eq!(unread(&nia).await, 1);
    // An older seq is ignored; a seq past the end means "all".
    let marker = service.mark_read(&nia.caller, chat, 1).await.unwrap();
    assert_eq!(marker.seq, 2);
    assert_eq!(unread(&nia).await, 1);
    let marker = service.mark_read(&oz.caller, chat, 1_000).await.unwrap();
    assert_eq!(marker.seq, 3);
    assert_eq!(unread(&oz).await, 0);
    let error = service.mark_read(&oz.caller, chat, -1).await.unwrap_err();
    assert_eq!(error.field(), Some("seq"));

    // Read by: members whose marker reached the message, earliest first, never the sender.
    let readers = |id| {
        let caller = max.caller.clone();
        async move {
            service
                .list_read_receipts(&caller, chat, id)
                .await
                .unwrap()
                .into_iter()
                .map(|receipt| (receipt.user.username, receipt.read_at))
                .collect::<Vec<_>>()
        }
    };
    let on_first = readers(first.id).await;
    let names: Vec<_> = on_first.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["nia", "oz1"]);
    assert!(on_first[0].1 <= on_first[1].1);
    let on_third = readers(third.id).await;
    let names: Vec<_> = on_third.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["oz1"]);
    // Reading further later does not change when an earlier message was read.
    service.mark_read(&nia.caller, chat, 3).await.unwrap();
    assert_eq!(readers(first.id).await[0], on_first[0]);
    assert_eq!(readers(third.id).await.len(), 2);

    // Sending moves the sender's marker past everything before, at the time of sending.
    let fourth = say(service, &max, chat, "four").await;
    let fifth = say(service, &nia, chat, "five").await;
    assert_eq!(unread(&nia).await, 0);
    assert!(readers(fifth.id).await.is_empty());
    let on_fourth = readers(fourth.id).await;
    assert_eq!(on_fourth[0], ("nia".to_owned(), fifth.created_at));
    service
        .mark_read(&max.caller, chat, fifth.seq)
        .await
        .unwrap();
    let on_fifth = readers(fifth.id).await;
    let names: Vec<_> = on_fifth.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["max"]);
    // A sender's messages in a row: what they read before keeps the time they read it.
    let sixth = say(service, &max, chat, "six").await;
    let seventh = say(service, &max, chat, "seven").await;
    assert_eq!(readers(fifth.id).await, on_fifth);
    assert!(readers(sixth.id).await.is_empty());
    let eighth = say(service, &nia, chat, "eight").await;
    assert_eq!(
        readers(sixth.id).await,
        [("nia".to_owned(), eighth.created_at)]
    );
    assert_eq!(readers(seventh.id).await, readers(sixth.id).await);

    // Only members may read receipts or mark.
    let outsider = register(service, "peeker").await;
    let error = service
        .list_read_receipts(&outsider.caller, chat, first.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    let error = service
        .mark_read(&outsider.caller, chat, 1)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
}

pub async fn typing_needs_membership(service: &dyn Service) {
    let pat = register(service, "pat").await;
    let quin = register(service, "quin").await;
    let outsider = register(service, "rex").await;
    let chat = service
        .start_direct_chat(&pat.caller, quin.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    service.send_typing(&pat.caller, chat).await.unwrap();
    let error = service
        .send_typing(&outsider.caller, chat)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    let error = service
        .send_typing(&pat.caller, ChatId::new())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    // Nothing was stored.
    let history = service
        .list_messages(&quin.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    assert!(history.is_empty());
}
