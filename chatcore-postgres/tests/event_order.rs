//! Event cursors on PostgreSQL: writes do not wait for each other's commits to take their
//! cursors, and subscribers still receive every event once, in cursor order, live and on
//! resume, however commits interleave.
//!
//! Reads `CHATCORE_TEST_POSTGRES_URL` like the conformance suite; each test gets a fresh
//! database, dropped afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chatcore::events::{EventData, EventKind, EventStream, SharedEvent};
use chatcore::testkit::{TestUser, hold_write_open, say};
use chatcore::{Caller, ChatId, Service};
use futures::StreamExt;
use futures::future::join_all;

/// Ann and Ben in a direct chat on two nodes (Ben subscribed nowhere yet), each signed in on
/// both, and the event head before anything below happens.
struct Scene {
    cluster: support::Cluster,
    ann: TestUser,
    ann_on_b: Caller,
    ben: TestUser,
    ben_on_b: Caller,
    chat: ChatId,
    start: i64,
}

async fn scene() -> Option<Scene> {
    let cluster = support::cluster().await?;
    let (ann, ben, ben_on_b, chat) = support::direct_chat(&cluster.a, &cluster.b).await;
    let ann_on_b = cluster
        .b
        .authenticate(&ann.auth.session.token)
        .await
        .unwrap();
    let start = chatcore::events::head(cluster.a.connection())
        .await
        .unwrap();
    Some(Scene {
        cluster,
        ann,
        ann_on_b,
        ben,
        ben_on_b,
        chat,
        start,
    })
}

/// The next `count` events that are messages or chat updates, within 20 seconds each.
async fn collect(stream: &mut EventStream, count: usize) -> Vec<SharedEvent> {
    let mut events = Vec::with_capacity(count);
    while events.len() < count {
        let event = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("an event within 20 s")
            .expect("the stream goes on")
            .expect("an event, not an error");
        if matches!(
            event.kind(),
            EventKind::MessageCreated | EventKind::ChatUpdated
        ) {
            events.push(event);
        }
    }
    events
}

fn label(event: &SharedEvent) -> String {
    match &event.data {
        EventData::MessageCreated(message) => message.text.clone().unwrap_or_default(),
        EventData::ChatUpdated(updated) => updated.title.clone(),
        other => panic!("unexpected event {other:?}"),
    }
}

/// Each event as its cursor and label, in the order received.
fn stream(events: &[SharedEvent]) -> Vec<(i64, String)> {
    events
        .iter()
        .map(|event| (event.cursor, label(event)))
        .collect()
}

fn assert_increasing(events: &[SharedEvent]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].cursor < pair[1].cursor,
            "cursor {} came before {}",
            pair[0].cursor,
            pair[1].cursor
        );
    }
}

/// A write that stays open does not hold up the others: with one global cursor lock, these
/// sends would wait for it to commit. Its event, committed last, comes after theirs, and a
/// resumed stream replays the same events with the same cursors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_left_open_holds_up_no_other_write() {
    let Some(Scene {
        cluster,
        ann,
        ann_on_b,
        ben,
        ben_on_b,
        chat,
        start,
    }) = scene().await
    else {
        return;
    };
    let mut live = cluster.b.subscribe(&ben_on_b, None).await.unwrap();

    let held = hold_write_open(&cluster.a, chat, ben.id(), "late").await;
    for i in 0..5 {
        let text_a = format!("a{i}");
        let on_a = say(&cluster.a, &ann, chat, &text_a);
        let text = format!("b{i}");
        let message = chatcore::messages::SendMessage::new(
            chat,
            chatcore::messages::MessageText::parse(text).unwrap(),
        );
        let on_b = cluster.b.send_message(&ann_on_b, message);
        let (_, sent) =
            tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(on_a, on_b) })
                .await
                .expect("sends complete while another write is open");
        sent.unwrap();
    }
    let before = collect(&mut live, 10).await;
    assert_increasing(&before);
    held.commit().await;
    let late = collect(&mut live, 1).await;
    assert_eq!(label(&late[0]), "late");
    assert!(late[0].cursor > before[9].cursor);

    let mut expected = stream(&[before, late].concat());
    let texts: HashSet<&str> = expected.iter().map(|(_, text)| text.as_str()).collect();
    assert_eq!(texts.len(), 11, "each event once: {expected:?}");
    let mut resumed = cluster.a.subscribe(&ben.caller, Some(start)).await.unwrap();
    let replayed = stream(&collect(&mut resumed, 11).await);
    expected.sort();
    assert_eq!(replayed, expected);
}

/// Many writers on two nodes, and readers on both: every message reaches every reader exactly
/// once, in increasing cursor order, each writer's messages in the order it sent them; a
/// stream resumed from the start replays exactly the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_on_two_nodes_skip_and_repeat_nothing() {
    const WRITERS: usize = 16;
    const EACH: usize = 25;
    let Some(Scene {
        cluster,
        ann,
        ann_on_b,
        ben,
        ben_on_b,
        chat,
        start,
    }) = scene().await
    else {
        return;
    };
    let mut on_a = cluster.a.subscribe(&ben.caller, None).await.unwrap();
    let mut on_b = cluster.b.subscribe(&ben_on_b, None).await.unwrap();

    let writers = (0..WRITERS).map(|writer| {
        let (node, caller) = if writer % 2 == 0 {
            (cluster.a.clone(), ann.caller.clone())
        } else {
            (cluster.b.clone(), ann_on_b.clone())
        };
        tokio::spawn(async move {
            for i in 0..EACH {
                let text =
                    chatcore::messages::MessageText::parse(format!("w{writer}-{i}")).unwrap();
                node.send_message(&caller, chatcore::messages::SendMessage::new(chat, text))
                    .await
                    .unwrap();
            }
        })
    });
    let readers = async {
        tokio::join!(
            collect(&mut on_a, WRITERS * EACH),
            collect(&mut on_b, WRITERS * EACH)
        )
    };
    let (sent, (seen_on_a, seen_on_b)) = tokio::join!(join_all(writers), readers);
    sent.into_iter().for_each(|writer| writer.unwrap());

    let mut resumed = cluster.b.subscribe(&ben_on_b, Some(start)).await.unwrap();
    let replayed = collect(&mut resumed, WRITERS * EACH).await;
    for seen in [&seen_on_a, &seen_on_b, &replayed] {
        assert_increasing(seen);
        let labels: HashSet<String> = seen.iter().map(label).collect();
        assert_eq!(labels.len(), WRITERS * EACH, "every message once");
        // Each writer's messages in the order it sent them.
        let mut next: HashMap<usize, usize> = HashMap::new();
        for text in seen.iter().map(label) {
            let (writer, i) = text[1..].split_once('-').unwrap();
            let (writer, i): (usize, usize) = (writer.parse().unwrap(), i.parse().unwrap());
            let expected = next.entry(writer).or_default();
            assert_eq!(i, *expected, "writer {writer} in order");
            *expected += 1;
        }
    }
    assert_eq!(stream(&seen_on_a), stream(&seen_on_b), "both nodes agree");
    assert_eq!(
        stream(&seen_on_a),
        stream(&replayed),
        "a resume replays the same"
    );
}
