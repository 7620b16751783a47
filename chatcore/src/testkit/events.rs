//! Realtime events: delivery, membership boundaries, revoked sessions, resuming without loss,
//! slow consumers.

use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;

use super::{TestUser, register, say};
use crate::avatars::AvatarLinks;
use crate::events::{Event, EventData, EventKind, EventStream, SharedEvent};
use crate::groups::{ChatTitle, CreateGroup};
use crate::messages::{HistoryQuery, MessageText, SendMessage};
use crate::{ChatId, PageRequest, Service};

/// The next event, within 10 seconds.
async fn next(stream: &mut EventStream) -> SharedEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream goes on")
        .expect("an event, not an error")
}

/// The next event of one of these kinds, skipping others.
async fn next_of(stream: &mut EventStream, kinds: &[EventKind]) -> SharedEvent {
    loop {
        let event = next(stream).await;
        if kinds.contains(&event.kind()) {
            return event;
        }
    }
}

/// An event's `data` as subscribers receive it in JSON.
pub(crate) fn data(event: &Event) -> serde_json::Value {
    serde_json::to_value(event).expect("an event in JSON")["data"].clone()
}

async fn direct(service: &dyn Service, a: &TestUser, b: &TestUser) -> ChatId {
    service
        .start_direct_chat(&a.caller, b.id())
        .await
        .unwrap()
        .chat
        .chat
        .id
}

fn text_of(event: &Event) -> Option<&str> {
    match &event.data {
        EventData::MessageCreated(message) | EventData::MessageEdited(message) => {
            message.text.as_deref()
        }
        _ => None,
    }
}

pub async fn subscribers_receive_their_chats_events(service: &dyn Service) {
    let ann = register(service, "evann").await;
    let ben = register(service, "evben").await;
    let mut stream = service.subscribe(&ann.caller, None).await.unwrap();
    let chat = direct(service, &ben, &ann).await;

    let created = next(&mut stream).await;
    assert_eq!(created.kind(), EventKind::ChatCreated);
    assert_eq!(created.chat_id, Some(chat));
    let message = say(service, &ben, chat, "hello").await;
    let event = next(&mut stream).await;
    assert_eq!(event.kind(), EventKind::MessageCreated);
    assert_eq!(event.actor_id, Some(ben.id()));
    assert_eq!(text_of(&event), Some("hello"));
    assert_eq!(data(&event)["seq"], message.seq);
    assert!(event.cursor > created.cursor);

    // Typing is delivered to the others, and carries no cursor.
    service.send_typing(&ben.caller, chat).await.unwrap();
    let typing = next(&mut stream).await;
    assert_eq!(typing.kind(), EventKind::Typing);
    assert!(typing.ephemeral);

    // Edits, reactions, read markers, deletes.
    service
        .edit_message(
            &ben.caller,
            chat,
            message.id,
            crate::messages::MessageText::parse("hello!").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(text_of(&*next(&mut stream).await), Some("hello!"));
    service
        .add_reaction(
            &ben.caller,
            chat,
            message.id,
            crate::messages::Emoji::parse("👍").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.kind(), EventKind::ReactionChanged);
    service
        .mark_read(&ann.caller, chat, message.seq)
        .await
        .unwrap();
    let marker = next(&mut stream).await;
    assert_eq!(marker.kind(), EventKind::ReadMarkerMoved);
    assert_eq!(data(&marker)["seq"], message.seq);
    service
        .delete_message(&ben.caller, chat, message.id)
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.kind(), EventKind::MessageDeleted);

    // Profile changes reach those who share a chat.
    let update = crate::users::ProfileUpdate {
        display_name: Some(Some(crate::users::DisplayName::parse("Ben").unwrap())),
        ..Default::default()
    };
    service.update_profile(&ben.caller, update).await.unwrap();
    let updated = next(&mut stream).await;
    assert_eq!(updated.kind(), EventKind::UserUpdated);
    assert_eq!(data(&updated)["display_name"], "Ben");
}

pub async fn events_stop_at_the_membership_boundary(service: &dyn Service) {
    let owner = register(service, "bowner").await;
    let member = register(service, "bmember").await;
    let outsider = register(service, "boutsider").await;
    let group = service
        .create_group(
            &owner.caller,
            CreateGroup::new(ChatTitle::parse("Closed").unwrap(), vec![member.id()]),
        )
        .await
        .unwrap()
        .chat
        .id;
    let mut member_stream = service.subscribe(&member.caller, None).await.unwrap();
    let mut outsider_stream = service.subscribe(&outsider.caller, None).await.unwrap();
    say(service, &owner, group, "members only").await;
    assert_eq!(
        text_of(&*next_of(&mut member_stream, &[EventKind::MessageCreated]).await),
        Some("members only")
    );

    // The outsider's first event is from its own chat: nothing of the group came before.
    let own = direct(service, &owner, &outsider).await;
    say(service, &owner, own, "for the outsider").await;
    loop {
        let event = next(&mut outsider_stream).await;
        assert_ne!(event.chat_id, Some(group), "leaked: {event:?}");
        if text_of(&event) == Some("for the outsider") {
            break;
        }
    }

    // A removed member hears of the removal, then nothing more from the group.
    service
        .remove_member(&owner.caller, group, member.id())
        .await
        .unwrap();
    let removed = next_of(&mut member_stream, &[EventKind::MemberRemoved]).await;
    assert_eq!(removed.user_id, Some(member.id()));
    say(service, &owner, group, "after the removal").await;
    let elsewhere = direct(service, &owner, &member).await;
    say(service, &owner, elsewhere, "marker").await;
    loop {
        let event = next(&mut member_stream).await;
        assert_ne!(text_of(&event), Some("after the removal"));
        if text_of(&event) == Some("marker") {
            break;
        }
    }
    // Joining again (by invite) brings the group's events back.
    let invite = service
        .create_invite(&owner.caller, crate::invites::CreateInvite::new(group))
        .await
        .unwrap();
    service
        .accept_invite(
            &member.caller,
            &crate::invites::InviteCode::parse(invite.code).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        next_of(&mut member_stream, &[EventKind::MemberJoined])
            .await
            .chat_id,
        Some(group)
    );
    say(service, &owner, group, "welcome back").await;
    assert_eq!(
        text_of(&*next_of(&mut member_stream, &[EventKind::MessageCreated]).await),
        Some("welcome back")
    );
}

pub async fn a_revoked_session_ends_its_streams(service: &dyn Service) {
    let user = register(service, "revokee").await;
    let other = service
        .login(crate::users::Login {
            login: "revokee".to_owned(),
            password: user.password.clone(),
            user_agent: None,
        })
        .await
        .unwrap();
    let other_caller = service.authenticate(&other.session.token).await.unwrap();
    let mut first = service.subscribe(&user.caller, None).await.unwrap();
    let mut second = service.subscribe(&other_caller, None).await.unwrap();

    service.logout(&user.caller).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match first.next().await {
                Some(Err(error)) => return error.code(),
                Some(Ok(_)) => continue,
                None => return "closed without an error",
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(ended, "not_authorized");
    assert!(first.next().await.is_none());
    // The other session's stream goes on.
    let friend = register(service, "revfriend").await;
    let chat = direct(service, &friend, &user).await;
    say(service, &friend, chat, "still there?").await;
    assert_eq!(
        text_of(&*next_of(&mut second, &[EventKind::MessageCreated]).await),
        Some("still there?")
    );
}

pub async fn resuming_from_a_cursor_loses_and_repeats_nothing(service: &dyn Service) {
    let reader = register(service, "resumer").await;
    let writer = register(service, "streamer").await;
    let chat = direct(service, &writer, &reader).await;
    const TOTAL: i64 = 120;
    let sending = async {
        for i in 1..=TOTAL {
            say(service, &writer, chat, &format!("m{i}")).await;
        }
    };
    // Subscribed before anything is sent, so every message is due.
    let mut first = Some(service.subscribe(&reader.caller, None).await.unwrap());
    let reading = async {
        let mut seqs = Vec::new();
        let mut cursor = None;
        // Reconnect after every few events while the writer keeps sending.
        while seqs.len() < TOTAL as usize {
            let mut stream = match first.take() {
                Some(stream) => stream,
                None => service.subscribe(&reader.caller, cursor).await.unwrap(),
            };
            for _ in 0..7 {
                if seqs.len() == TOTAL as usize {
                    break;
                }
                let event = next(&mut stream).await;
                cursor = Some(event.cursor);
                if event.kind() == EventKind::MessageCreated {
                    seqs.push(data(&event)["seq"].as_i64().unwrap());
                }
            }
            drop(stream);
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        seqs
    };
    let (_, seqs) = tokio::join!(sending, reading);
    assert_eq!(seqs, (1..=TOTAL).collect::<Vec<_>>());
}

pub async fn a_slow_consumer_catches_up_without_slowing_others(service: &dyn Service) {
    let sleepy = register(service, "sleepy").await;
    let eager = register(service, "eager").await;
    let writers: Vec<TestUser> = {
        let mut writers = Vec::new();
        for i in 0..8 {
            writers.push(register(service, &format!("flood{i}")).await);
        }
        writers
    };
    let mut members: Vec<_> = writers.iter().map(TestUser::id).collect();
    members.push(eager.id());
    let group = service
        .create_group(
            &sleepy.caller,
            CreateGroup::new(ChatTitle::parse("Flood").unwrap(), members),
        )
        .await
        .unwrap()
        .chat
        .id;
    let mut slow = service.subscribe(&sleepy.caller, None).await.unwrap();
    let mut fast = service.subscribe(&eager.caller, None).await.unwrap();
    const PER_WRITER: usize = 600;
    let total = writers.len() * PER_WRITER;
    // Far more than the bus buffers for a subscriber that does not read.
    let flood = join_all(writers.iter().map(|writer| async move {
        for i in 0..PER_WRITER {
            say(service, writer, group, &format!("{i}")).await;
        }
    }));
    let keep_up = async {
        let mut seen = 0;
        while seen < total {
            if next(&mut fast).await.kind() == EventKind::MessageCreated {
                seen += 1;
            }
        }
    };
    tokio::join!(flood, keep_up);
    // The sleeper wakes up and gets every message, in order, once.
    let mut seqs = Vec::with_capacity(total);
    while seqs.len() < total {
        let event = next(&mut slow).await;
        if event.kind() == EventKind::MessageCreated && event.chat_id == Some(group) {
            seqs.push(data(&event)["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(seqs, (1..=total as i64).collect::<Vec<_>>());
}

/// The events up to and including the first new message with this text.
async fn until_text(stream: &mut EventStream, text: &str) -> Vec<SharedEvent> {
    let mut seen = Vec::new();
    loop {
        let event = next(stream).await;
        let done = event.kind() == EventKind::MessageCreated && text_of(&event) == Some(text);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

/// The kinds of the events about the message at `seq` (each carries it in `data.seq`).
fn about_seq(events: &[SharedEvent], seq: i64) -> Vec<EventKind> {
    events
        .iter()
        .filter(|event| {
            matches!(
                event.kind(),
                EventKind::MessageCreated
                    | EventKind::MessageEdited
                    | EventKind::MessageDeleted
                    | EventKind::ReactionChanged
                    | EventKind::ReadMarkerMoved
            ) && data(event)["seq"] == seq
        })
        .map(|event| event.kind())
        .collect()
}

/// What each stream saw of a group whose first message (seq 1) was sent before a member
/// joined, then edited, reacted to, read and deleted; and of a second message (seq 2), sent
/// after the join, reacted to and read.
struct SeenAroundAJoin {
    /// An early member, subscribed before the join.
    early: Vec<SharedEvent>,
    /// The joiner: subscribed before joining, after joining, and resumed from the join.
    joiner: [Vec<SharedEvent>; 3],
}

async fn around_a_join(
    service: &dyn Service,
    history: crate::groups::HistoryVisibility,
    prefix: &str,
) -> SeenAroundAJoin {
    let owner = register(service, &format!("{prefix}owner")).await;
    let early = register(service, &format!("{prefix}early")).await;
    let joiner = register(service, &format!("{prefix}joiner")).await;
    let mut group = CreateGroup::new(ChatTitle::parse("Before and after").unwrap(), vec![]);
    group.members = vec![early.id()];
    group.history = history;
    let group = service
        .create_group(&owner.caller, group)
        .await
        .unwrap()
        .chat
        .id;
    let first = say(service, &owner, group, "before the join").await;
    assert_eq!(first.seq, 1);

    let mut early_live = service.subscribe(&early.caller, None).await.unwrap();
    let mut joiner_before = service.subscribe(&joiner.caller, None).await.unwrap();
    service
        .add_member(&owner.caller, group, joiner.id())
        .await
        .unwrap();
    let joined = next_of(&mut joiner_before, &[EventKind::MemberJoined]).await;
    let mut joiner_after = service.subscribe(&joiner.caller, None).await.unwrap();

    let emoji = || crate::messages::Emoji::parse("👍").unwrap();
    service
        .edit_message(
            &owner.caller,
            group,
            first.id,
            crate::messages::MessageText::parse("before the join, edited").unwrap(),
        )
        .await
        .unwrap();
    service
        .add_reaction(&early.caller, group, first.id, emoji())
        .await
        .unwrap();
    service.mark_read(&early.caller, group, 1).await.unwrap();
    service
        .delete_message(&owner.caller, group, first.id)
        .await
        .unwrap();
    let second = say(service, &owner, group, "after the join").await;
    assert_eq!(second.seq, 2);
    service
        .add_reaction(&early.caller, group, second.id, emoji())
        .await
        .unwrap();
    service.mark_read(&joiner.caller, group, 2).await.unwrap();
    say(service, &owner, group, "the end").await;

    let mut joiner_resumed = service
        .subscribe(&joiner.caller, Some(joined.cursor))
        .await
        .unwrap();
    SeenAroundAJoin {
        early: until_text(&mut early_live, "the end").await,
        joiner: [
            until_text(&mut joiner_before, "the end").await,
            until_text(&mut joiner_after, "the end").await,
            until_text(&mut joiner_resumed, "the end").await,
        ],
    }
}

const AFTER_THE_JOIN: [EventKind; 3] = [
    EventKind::MessageCreated,
    EventKind::ReactionChanged,
    EventKind::ReadMarkerMoved,
];
const ABOUT_THE_FIRST: [EventKind; 4] = [
    EventKind::MessageEdited,
    EventKind::ReactionChanged,
    EventKind::ReadMarkerMoved,
    EventKind::MessageDeleted,
];

pub async fn events_about_messages_before_a_join_reach_only_who_can_see_them(
    service: &dyn Service,
) {
    let seen = around_a_join(service, crate::groups::HistoryVisibility::SinceJoin, "sj").await;
    // The early member sees the first message and hears of everything about it.
    assert_eq!(about_seq(&seen.early, 1), ABOUT_THE_FIRST);
    assert_eq!(about_seq(&seen.early, 2), AFTER_THE_JOIN);
    // The joiner, whose history starts after seq 1, hears nothing of it: neither live
    // (subscribed before or after joining) nor when resuming.
    for (stream, events) in ["before joining", "after joining", "resumed"]
        .iter()
        .zip(&seen.joiner)
    {
        assert_eq!(about_seq(events, 1), [], "{stream}: {events:#?}");
        assert!(
            !events
                .iter()
                .any(|event| data(event).to_string().contains("before the join")),
            "{stream}: leaked the old text"
        );
        assert_eq!(about_seq(events, 2), AFTER_THE_JOIN, "{stream}");
    }
}

pub async fn full_history_members_get_events_about_earlier_messages(service: &dyn Service) {
    let seen = around_a_join(service, crate::groups::HistoryVisibility::Full, "fh").await;
    assert_eq!(about_seq(&seen.early, 1), ABOUT_THE_FIRST);
    for (stream, events) in ["before joining", "after joining", "resumed"]
        .iter()
        .zip(&seen.joiner)
    {
        assert_eq!(about_seq(events, 1), ABOUT_THE_FIRST, "{stream}");
        assert_eq!(about_seq(events, 2), AFTER_THE_JOIN, "{stream}");
    }
}

pub async fn chat_created_is_addressed_to_each_member_without_the_member_list(
    service: &dyn Service,
) {
    let owner = register(service, "ccowner").await;
    let mut members = Vec::new();
    for i in 0..4 {
        members.push(register(service, &format!("ccmember{i}")).await);
    }
    let outsider = register(service, "ccoutsider").await;
    let mut owner_stream = service.subscribe(&owner.caller, None).await.unwrap();
    let first_member = &members[0];
    let mut member_stream = service.subscribe(&first_member.caller, None).await.unwrap();
    let mut outsider_stream = service.subscribe(&outsider.caller, None).await.unwrap();
    let group = service
        .create_group(
            &owner.caller,
            CreateGroup::new(
                ChatTitle::parse("Bounded").unwrap(),
                members.iter().map(TestUser::id).collect(),
            ),
        )
        .await
        .unwrap()
        .chat
        .id;
    let direct_chat = direct(service, &outsider, first_member).await;
    say(service, &owner, group, "the end").await;
    say(service, &outsider, direct_chat, "the end").await;

    for (user, stream) in [
        (&owner, &mut owner_stream),
        (first_member, &mut member_stream),
    ] {
        let events = until_text(stream, "the end").await;
        let created: Vec<&SharedEvent> = events
            .iter()
            .filter(|event| event.kind() == EventKind::ChatCreated && event.chat_id == Some(group))
            .collect();
        // One notice for each member, addressed to them, not one per member to everyone.
        assert_eq!(created.len(), 1, "{events:#?}");
        let created = created[0];
        assert_eq!(created.user_id, Some(user.id()));
        assert_eq!(created.actor_id, Some(owner.id()));
        assert_eq!(data(created)["member_count"], 5);
        assert_eq!(data(created)["title"], "Bounded");
        assert!(data(created).get("members").is_none(), "{}", data(created));
    }
    // The outsider hears of its own direct chat only; its notice does not list anyone.
    let events = until_text(&mut outsider_stream, "the end").await;
    assert!(events.iter().all(|event| event.chat_id != Some(group)));
    let created = events
        .iter()
        .find(|event| event.kind() == EventKind::ChatCreated)
        .unwrap();
    assert_eq!(created.chat_id, Some(direct_chat));
    assert_eq!(data(created)["member_count"], 2);
    assert_eq!(data(created)["kind"], "direct");
    assert!(data(created).get("members").is_none());

    // Resuming from before the creation gives the same single notice.
    let mut resumed = service
        .subscribe(&first_member.caller, Some(0))
        .await
        .unwrap();
    let events = until_text(&mut resumed, "the end").await;
    let created: Vec<&SharedEvent> = events
        .iter()
        .filter(|event| event.kind() == EventKind::ChatCreated)
        .collect();
    assert_eq!(
        created.len(),
        2,
        "the group and the direct chat: {events:#?}"
    );
    assert!(
        created
            .iter()
            .all(|event| event.user_id == Some(first_member.id()))
    );
}

/// A live event reaches every subscriber that may see it as one shared value, serialized
/// once for all of them (per avatar links), and never reaches anyone else.
pub async fn one_shared_event_and_one_serialization_for_all_its_subscribers(service: &dyn Service) {
    let owner = register(service, "showner").await;
    let mut members = Vec::new();
    for i in 0..6 {
        members.push(register(service, &format!("shmember{i}")).await);
    }
    let outsider = register(service, "shoutsider").await;
    let group = service
        .create_group(
            &owner.caller,
            CreateGroup::new(
                ChatTitle::parse("Shared").unwrap(),
                members.iter().map(TestUser::id).collect(),
            ),
        )
        .await
        .unwrap()
        .chat
        .id;
    let mut streams = Vec::new();
    for member in &members {
        streams.push(service.subscribe(&member.caller, None).await.unwrap());
    }
    // A member with a second stream.
    streams.push(service.subscribe(&members[0].caller, None).await.unwrap());
    let mut outsider_stream = service.subscribe(&outsider.caller, None).await.unwrap();
    // Once a stream has an event, it follows the bus (its first events may have come from
    // the database, each its own copy).
    say(service, &owner, group, "warm-up").await;
    for stream in &mut streams {
        next_of(stream, &[EventKind::MessageCreated]).await;
    }

    say(service, &owner, group, "once").await;
    let mut received = Vec::new();
    for stream in &mut streams {
        let event = next_of(stream, &[EventKind::MessageCreated]).await;
        assert_eq!(text_of(&event), Some("once"));
        received.push(event);
    }
    let links = AvatarLinks::under("/api/v1/users");
    let (first, json, linked) = (
        &received[0],
        received[0].json(None).unwrap(),
        received[0].json(Some(&links)).unwrap(),
    );
    for event in &received {
        assert!(event.ptr_eq(first), "one event for all subscribers");
        assert!(std::sync::Arc::ptr_eq(&event.json(None).unwrap(), &json));
        let under_same_base = event
            .json(Some(&AvatarLinks::under("/api/v1/users")))
            .unwrap();
        assert!(std::sync::Arc::ptr_eq(&under_same_base, &linked));
    }
    assert_eq!(json.get(), serde_json::to_string(&**first).unwrap());

    // The outsider's next event is from its own chat: nothing of the group came before.
    let own = direct(service, &owner, &outsider).await;
    say(service, &owner, own, "for the outsider").await;
    loop {
        let event = next(&mut outsider_stream).await;
        assert_ne!(event.chat_id, Some(group), "leaked: {event:?}");
        if text_of(&event) == Some("for the outsider") {
            break;
        }
    }
}

/// Sends that arrive together, in many chats, by both members of each, with a send that a
/// block refuses and one from outside the chat among them: each chat reads as if its messages
/// had been sent one by one in the order of their seqs. Seqs are contiguous; each member's
/// unread count and each message's "read by" follow from who sent what after it; a member's
/// stream hears each message once, in seq order.
pub async fn concurrent_sends_in_many_chats_read_as_if_sent_one_by_one(service: &dyn Service) {
    const CHATS: usize = 4;
    const EACH: usize = 6;
    let mut pairs = Vec::new();
    for i in 0..CHATS {
        let a = register(service, &format!("pair{i}a")).await;
        let b = register(service, &format!("pair{i}b")).await;
        let chat = direct(service, &a, &b).await;
        pairs.push((a, b, chat));
    }
    let blocked = register(service, "blockedone").await;
    let blocker = register(service, "blockerone").await;
    let refused_chat = direct(service, &blocked, &blocker).await;
    service
        .block_user(&blocker.caller, blocked.id())
        .await
        .unwrap();
    let outsider = register(service, "outsiderone").await;
    let mut streams = Vec::new();
    for (_, b, _) in &pairs {
        streams.push(service.subscribe(&b.caller, None).await.unwrap());
    }

    let senders = pairs.iter().flat_map(|(a, b, chat)| {
        [a, b].map(|user| async move {
            let mut sent = Vec::new();
            for j in 0..EACH {
                let text = MessageText::parse(format!("{}-{j}", user.auth.user.username)).unwrap();
                let message = service
                    .send_message(&user.caller, SendMessage::new(*chat, text))
                    .await
                    .expect("every send by a member is acknowledged");
                sent.push(message);
            }
            sent
        })
    });
    let refused = async {
        let mut codes = Vec::new();
        for _ in 0..EACH {
            for (user, chat) in [(&blocked, refused_chat), (&outsider, pairs[0].2)] {
                let text = MessageText::parse("refused").unwrap();
                let error = service
                    .send_message(&user.caller, SendMessage::new(chat, text))
                    .await
                    .unwrap_err();
                codes.push(error.code());
            }
        }
        codes
    };
    let (sent, codes) = tokio::join!(join_all(senders), refused);
    assert!(
        codes.chunks(2).all(|pair| pair == ["blocked", "not_found"]),
        "{codes:?}"
    );
    let history = service
        .list_messages(&blocker.caller, refused_chat, HistoryQuery::latest())
        .await
        .unwrap();
    assert!(history.is_empty(), "a refused send writes nothing");

    let sent: Vec<_> = sent.into_iter().flatten().collect();
    for ((a, b, chat), stream) in pairs.iter().zip(&mut streams) {
        let query = HistoryQuery::new(None, None, Some(100)).unwrap();
        let history = service
            .list_messages(&a.caller, *chat, query)
            .await
            .unwrap();
        let seqs: Vec<i64> = history.iter().map(|message| message.seq).collect();
        assert_eq!(seqs, (1..=(2 * EACH) as i64).collect::<Vec<_>>());
        for message in sent.iter().filter(|message| message.chat_id == *chat) {
            assert_eq!(history[(message.seq - 1) as usize].id, message.id);
        }
        for (user, other) in [(a, b), (b, a)] {
            // Unread: the other's messages after the member's own last one.
            let last_own = history
                .iter()
                .filter(|message| message.sender_id == user.id())
                .map(|message| message.seq)
                .max()
                .unwrap();
            let expected = history
                .iter()
                .filter(|message| message.sender_id == other.id() && message.seq > last_own)
                .count() as u64;
            let list = service
                .list_chats(&user.caller, PageRequest::default())
                .await
                .unwrap();
            let item = list
                .items
                .iter()
                .find(|item| item.chat.id == *chat)
                .unwrap();
            assert_eq!(
                item.unread_count, expected,
                "{}'s unread",
                user.auth.user.username
            );
            assert_eq!(item.last_message.as_ref().unwrap().seq, (2 * EACH) as i64);
            // Read by: the other member, when they first sent after the message.
            for message in history.iter().filter(|m| m.sender_id == user.id()) {
                let expected: Vec<_> = history
                    .iter()
                    .find(|later| later.seq > message.seq && later.sender_id == other.id())
                    .map(|later| (other.auth.user.username.to_string(), later.created_at))
                    .into_iter()
                    .collect();
                let readers: Vec<_> = service
                    .list_read_receipts(&user.caller, *chat, message.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|receipt| (receipt.user.username, receipt.read_at))
                    .collect();
                assert_eq!(readers, expected, "read by of seq {}", message.seq);
            }
        }
        let mut heard = Vec::new();
        while heard.len() < 2 * EACH {
            let event = next_of(stream, &[EventKind::MessageCreated]).await;
            if event.chat_id == Some(*chat) {
                heard.push(data(&event)["seq"].as_i64().unwrap());
            }
        }
        assert_eq!(heard, (1..=(2 * EACH) as i64).collect::<Vec<_>>());
    }
}
