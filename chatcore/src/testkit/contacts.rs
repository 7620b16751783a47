//! Contacts and blocks.

use super::{register, say};
use crate::groups::{ChatTitle, CreateGroup};
use crate::messages::{HistoryQuery, MessageText, SendMessage};
use crate::{PageRequest, Service};

pub async fn contacts_are_added_listed_and_removed(service: &dyn Service) {
    let me = register(service, "keeper").await;
    let zed = register(service, "zed").await;
    let amy = register(service, "amy").await;

    let added = service.add_contact(&me.caller, zed.id()).await.unwrap();
    assert_eq!(added.user.username, "zed");
    service.add_contact(&me.caller, amy.id()).await.unwrap();
    // Adding again changes nothing.
    let again = service.add_contact(&me.caller, zed.id()).await.unwrap();
    assert_eq!(again.added_at, added.added_at);

    let page = service
        .list_contacts(&me.caller, PageRequest::default())
        .await
        .unwrap();
    let names: Vec<_> = page
        .items
        .iter()
        .map(|c| c.user.username.as_str())
        .collect();
    assert_eq!(names, ["amy", "zed"]);
    let first = service
        .list_contacts(&me.caller, PageRequest::new(Some(1), Some(1)).unwrap())
        .await
        .unwrap();
    assert!(first.has_more);
    assert_eq!(first.items[0].user.username, "amy");
    // Contacts are personal.
    let theirs = service
        .list_contacts(&zed.caller, PageRequest::default())
        .await
        .unwrap();
    assert!(theirs.items.is_empty());

    let error = service.add_contact(&me.caller, me.id()).await.unwrap_err();
    assert_eq!(error.code(), "invalid_input");
    let error = service
        .add_contact(&me.caller, crate::UserId::new())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");

    service.remove_contact(&me.caller, zed.id()).await.unwrap();
    service.remove_contact(&me.caller, zed.id()).await.unwrap();
    let page = service
        .list_contacts(&me.caller, PageRequest::default())
        .await
        .unwrap();
    let names: Vec<_> = page
        .items
        .iter()
        .map(|c| c.user.username.as_str())
        .collect();
    assert_eq!(names, ["amy"]);
}

pub async fn blocks_stop_direct_chats_messages_and_adds(service: &dyn Service) {
    let blocker = register(service, "blocker").await;
    let pest = register(service, "pest").await;
    let friend = register(service, "friend").await;
    let chat = service
        .start_direct_chat(&pest.caller, blocker.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    say(service, &pest, chat, "before the block").await;
    let group = service
        .create_group(
            &pest.caller,
            CreateGroup::new(ChatTitle::parse("Pests").unwrap(), vec![friend.id()]),
        )
        .await
        .unwrap()
        .chat
        .id;

    let blocked = service
        .block_user(&blocker.caller, pest.id())
        .await
        .unwrap();
    assert_eq!(blocked.user.id, pest.id());
    service
        .block_user(&blocker.caller, pest.id())
        .await
        .unwrap();
    let blocks = service
        .list_blocks(&blocker.caller, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(blocks.items.len(), 1);
    assert_eq!(blocks.items[0].user.id, pest.id());

    let refusals = [
        service
            .start_direct_chat(&pest.caller, blocker.id())
            .await
            .unwrap_err(),
        service
            .send_message(
                &pest.caller,
                SendMessage::new(chat, MessageText::parse("hello?").unwrap()),
            )
            .await
            .unwrap_err(),
        service
            .add_member(&pest.caller, group, blocker.id())
            .await
            .unwrap_err(),
        service
            .create_group(
                &pest.caller,
                CreateGroup::new(ChatTitle::parse("Trap").unwrap(), vec![blocker.id()]),
            )
            .await
            .unwrap_err(),
    ];
    for error in refusals {
        assert_eq!(error.code(), "blocked");
    }
    // Nothing was sent or added; the blocked user's other chats work.
    let history = service
        .list_messages(&blocker.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    let members = service.list_members(&pest.caller, group).await.unwrap();
    assert_eq!(members.len(), 2);
    say(service, &pest, group, "still fine here").await;
    // The blocker still sees the pest's profile and may write to them.
    service.get_user(&pest.caller, blocker.id()).await.unwrap();
    say(service, &blocker, chat, "stop it").await;
    // The block list is the blocker's own.
    let theirs = service
        .list_blocks(&pest.caller, PageRequest::default())
        .await
        .unwrap();
    assert!(theirs.items.is_empty());

    service
        .unblock_user(&blocker.caller, pest.id())
        .await
        .unwrap();
    say(service, &pest, chat, "sorry").await;
    service
        .add_member(&pest.caller, group, blocker.id())
        .await
        .unwrap();
    let error = service
        .block_user(&pest.caller, pest.id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_input");
}
