//! Direct chats, the chat list and membership boundaries.

use futures::future::join_all;

use super::{register, say};
use crate::chats::{ChatKind, MemberRole};
use crate::groups::{ChatTitle, CreateGroup};
use crate::messages::{HistoryQuery, MessageText, SendMessage};
use crate::users::{ExternalId, ExternalUser, Username};
use crate::{ChatId, MessageId, PageRequest, Service, UserId};

pub async fn direct_chat_is_one_per_pair(service: &dyn Service) {
    let anna = register(service, "anna").await;
    let ben = register(service, "ben").await;
    let first = service
        .start_direct_chat(&anna.caller, ben.id())
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.chat.chat.kind, ChatKind::Direct);
    let again = service
        .start_direct_chat(&anna.caller, ben.id())
        .await
        .unwrap();
    let reverse = service
        .start_direct_chat(&ben.caller, anna.id())
        .await
        .unwrap();
    assert!(!again.created && !reverse.created);
    assert_eq!(again.chat.chat.id, first.chat.chat.id);
    assert_eq!(reverse.chat.chat.id, first.chat.chat.id);
    assert_eq!(
        service
            .list_chats(&anna.caller, PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

pub async fn concurrent_direct_chat_starts_make_one_chat(service: &dyn Service) {
    let cleo = register(service, "cleo").await;
    let dan = register(service, "dan").await;
    let starts = (0..16).map(|i| {
        let (caller, other) = if i % 2 == 0 {
            (&cleo.caller, dan.id())
        } else {
            (&dan.caller, cleo.id())
        };
        service.start_direct_chat(caller, other)
    });
    let results: Vec<_> = join_all(starts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let id = results[0].chat.chat.id;
    assert!(results.iter().all(|result| result.chat.chat.id == id));
    assert_eq!(results.iter().filter(|result| result.created).count(), 1);
    assert_eq!(results[0].chat.members.len(), 2);
}

pub async fn direct_chat_with_self_or_inactive_user_is_refused(service: &dyn Service) {
    let eve = register(service, "eve").await;
    let fay = register(service, "fay").await;
    let error = service
        .start_direct_chat(&eve.caller, eve.id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "self_chat");
    let error = service
        .start_direct_chat(&eve.caller, UserId::new())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    service
        .unregister(&fay.caller, &fay.password)
        .await
        .unwrap();
    let error = service
        .start_direct_chat(&eve.caller, fay.id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "user_inactive");
    assert!(
        service
            .list_chats(&eve.caller, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

pub async fn chat_list_is_newest_first_with_preview_and_unread(service: &dyn Service) {
    let gus = register(service, "gus").await;
    let hana = register(service, "hana").await;
    let ian = register(service, "ian").await;
    let with_hana = service
        .start_direct_chat(&gus.caller, hana.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let with_ian = service
        .start_direct_chat(&gus.caller, ian.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;

    say(service, &hana, with_hana, "hello gus").await;
    say(service, &hana, with_hana, "are you there?").await;
    say(service, &gus, with_ian, "hi ian").await;
    let long = "x".repeat(300);
    say(service, &ian, with_ian, &long).await;

    let list = service
        .list_chats(&gus.caller, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(list.items.len(), 2);
    let newest = &list.items[0];
    assert_eq!(newest.chat.id, with_ian);
    assert_eq!(newest.peer.as_ref().unwrap().id, ian.id());
    let last = newest.last_message.as_ref().unwrap();
    assert_eq!(last.seq, 2);
    assert_eq!(last.sender.id, ian.id());
    assert!(last.text.as_ref().unwrap().chars().count() <= 101);
    assert_eq!(newest.unread_count, 1, "own messages never count");

    let older = &list.items[1];
    assert_eq!(older.chat.id, with_hana);
    assert_eq!(older.unread_count, 2);
    assert_eq!(
        older.last_message.as_ref().unwrap().text.as_deref(),
        Some("are you there?")
    );
    assert!(newest.chat.last_activity_at >= older.chat.last_activity_at);

    // Replying moves the chat to the top and marks it read for the sender.
    say(service, &gus, with_hana, "yes").await;
    let list = service
        .list_chats(&gus.caller, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(list.items[0].chat.id, with_hana);
    assert_eq!(list.items[0].unread_count, 0);
    let hana_list = service
        .list_chats(&hana.caller, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(hana_list.items[0].unread_count, 1);
}

pub async fn chat_list_pages_without_gaps(service: &dyn Service) {
    let kim = register(service, "kim").await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let peer = register(service, &format!("peer{i}")).await;
        let chat = service
            .start_direct_chat(&peer.caller, kim.id())
            .await
            .unwrap()
            .chat
            .chat
            .id;
        say(service, &peer, chat, "ping").await;
        expected.push(chat);
    }
    expected.reverse();
    let mut seen = Vec::new();
    for page in 1..=3 {
        let request = PageRequest::new(Some(page), Some(3)).unwrap();
        let list = service.list_chats(&kim.caller, request).await.unwrap();
        assert_eq!(list.has_more, page < 3);
        seen.extend(list.items.into_iter().map(|item| item.chat.id));
    }
    assert_eq!(seen, expected);
}

pub async fn chat_detail_lists_participants(service: &dyn Service) {
    let lou = register(service, "lou").await;
    let max = register(service, "max").await;
    let chat = service
        .start_direct_chat(&lou.caller, max.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let detail = service.get_chat(&max.caller, chat).await.unwrap();
    assert_eq!(detail.chat.id, chat);
    let mut ids: Vec<_> = detail.members.iter().map(|member| member.user.id).collect();
    ids.sort();
    let mut expected = vec![lou.id(), max.id()];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        detail
            .members
            .iter()
            .all(|member| member.role == MemberRole::Member)
    );
}

pub async fn hidden_chat_returns_with_the_next_message(service: &dyn Service) {
    let ned = register(service, "ned").await;
    let ola = register(service, "ola").await;
    let chat = service
        .start_direct_chat(&ned.caller, ola.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    say(service, &ola, chat, "first").await;
    service.hide_chat(&ned.caller, chat).await.unwrap();
    assert!(
        service
            .list_chats(&ned.caller, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Only hidden for ned.
    assert_eq!(
        service
            .list_chats(&ola.caller, PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    // Still readable while hidden.
    assert_eq!(
        service
            .list_messages(&ned.caller, chat, HistoryQuery::latest())
            .await
            .unwrap()
            .len(),
        1
    );
    say(service, &ola, chat, "second").await;
    let list = service
        .list_chats(&ned.caller, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].unread_count, 2);
}

pub async fn non_members_learn_nothing(service: &dyn Service) {
    let pia = register(service, "pia").await;
    let rob = register(service, "rob").await;
    let sam = register(service, "sam").await;
    let chat = service
        .start_direct_chat(&pia.caller, rob.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let message = service
        .send_message(
            &pia.caller,
            SendMessage::new(chat, MessageText::parse("private").unwrap()),
        )
        .await
        .unwrap();
    let missing = ChatId::new();

    for target in [chat, missing] {
        let errors = [
            service.get_chat(&sam.caller, target).await.unwrap_err(),
            service.hide_chat(&sam.caller, target).await.unwrap_err(),
            service
                .list_messages(&sam.caller, target, HistoryQuery::latest())
                .await
                .unwrap_err(),
            service
                .send_message(
                    &sam.caller,
                    SendMessage::new(target, MessageText::parse("hi").unwrap()),
                )
                .await
                .unwrap_err(),
            service
                .delete_message(&sam.caller, target, message.id)
                .await
                .unwrap_err(),
        ];
        for error in errors {
            assert_eq!(error.code(), "not_found");
            // The same words whether the chat exists or not.
            assert_eq!(error.to_string(), "chat not found");
        }
    }
    // Nothing changed.
    let history = service
        .list_messages(&rob.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].text.as_deref(), Some("private"));
    let error = service
        .delete_message(&pia.caller, chat, MessageId::new())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
}

/// `count` users made by the embedding app (no password hashing), with callers.
async fn crowd(service: &dyn Service, prefix: &str, count: usize) -> Vec<crate::sessions::Caller> {
    let make = |i: usize| async move {
        let external_id = ExternalId::parse(format!("{prefix}-{i}")).unwrap();
        service
            .upsert_external_user(ExternalUser {
                external_id: external_id.clone(),
                username: Username::parse(format!("{prefix}{i}")).unwrap(),
                display_name: None,
                email: None,
            })
            .await
            .unwrap();
        let session = service
            .open_external_session(&external_id, Default::default())
            .await
            .unwrap();
        service.authenticate(&session.token).await.unwrap()
    };
    let mut callers = Vec::with_capacity(count);
    for i in 0..count {
        callers.push(make(i).await);
    }
    callers
}

/// Groups of more than a hundred keep their place in chat lists on the chat alone (a message
/// does not rewrite every member's copy); lists order and page them among small chats all
/// the same, from creation or from the join that makes them large.
pub async fn large_groups_take_their_place_in_chat_lists(service: &dyn Service) {
    let ann = register(service, "ann").await;
    let people = crowd(service, "crowd", 100).await;
    let ids = |callers: &[crate::sessions::Caller]| -> Vec<UserId> {
        callers.iter().map(|caller| caller.user_id).collect()
    };
    let bob = &people[0];
    let host = &ann.caller;
    let group = |name: &str, members: Vec<UserId>| {
        let title = ChatTitle::parse(name).unwrap();
        async move {
            service
                .create_group(host, CreateGroup::new(title, members))
                .await
                .unwrap()
                .chat
                .id
        }
    };
    // 101 members from the start; 100, then a join makes 101; two.
    let big = group("big", ids(&people)).await;
    let edge = group("edge", ids(&people[..99])).await;
    let small = group("small", vec![bob.user_id]).await;
    service
        .add_member(&ann.caller, edge, people[99].user_id)
        .await
        .unwrap();
    let order = |caller: &crate::sessions::Caller| {
        let caller = caller.clone();
        async move {
            service
                .list_chats(&caller, PageRequest::default())
                .await
                .unwrap()
                .items
                .iter()
                .map(|item| item.chat.id)
                .collect::<Vec<ChatId>>()
        }
    };
    let send = |caller: &crate::sessions::Caller, chat: ChatId, text: &str| {
        let (caller, text) = (caller.clone(), MessageText::parse(text).unwrap());
        async move {
            service
                .send_message(&caller, SendMessage::new(chat, text))
                .await
                .unwrap()
        }
    };
    assert_eq!(order(&ann.caller).await, vec![small, edge, big]);
    assert_eq!(order(bob).await, vec![small, edge, big]);
    assert_eq!(order(&people[99]).await, vec![edge, big]);

    send(&people[5], big, "up").await;
    assert_eq!(order(&ann.caller).await, vec![big, small, edge]);
    assert_eq!(order(bob).await, vec![big, small, edge]);
    send(&people[99], edge, "up").await;
    assert_eq!(order(bob).await, vec![edge, big, small]);
    send(bob, small, "up").await;
    assert_eq!(order(&ann.caller).await, vec![small, edge, big]);

    // Pages of one: each chat once, in order, and the last page knows it is last.
    let mut paged = Vec::new();
    for number in 1..=3 {
        let page = service
            .list_chats(
                &ann.caller,
                PageRequest::new(Some(number), Some(1)).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(page.has_more, number < 3);
        paged.extend(page.items.iter().map(|item| item.chat.id));
    }
    assert_eq!(paged, vec![small, edge, big]);

    // Hidden, a large group comes back with its next message, on top; unread counts and the
    // sender's own read marker hold as in small chats.
    service.hide_chat(bob, big).await.unwrap();
    assert_eq!(order(bob).await, vec![small, edge]);
    send(&people[7], big, "back").await;
    let list = service
        .list_chats(bob, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(list.items[0].chat.id, big);
    assert_eq!(list.items[0].unread_count, 2);
    let sender = service
        .list_chats(&people[7], PageRequest::default())
        .await
        .unwrap();
    assert_eq!(sender.items[0].chat.id, big);
    assert_eq!(sender.items[0].unread_count, 0);
}
