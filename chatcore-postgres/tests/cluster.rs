//! Two nodes on one database: events committed on one reach subscribers on the other, live,
//! even when the listening connection drops.
//!
//! Reads `CHATCORE_TEST_POSTGRES_URL` like the conformance suite; each test gets a fresh
//! database, dropped afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chatcore::Service;
use chatcore::events::{Event, EventData, EventKind, EventStream, SharedEvent};
use chatcore::sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use chatcore::testkit::say;
use futures::StreamExt;

/// The next event, within 10 seconds.
async fn next(stream: &mut EventStream) -> SharedEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream goes on")
        .expect("an event, not an error")
}

/// The next event of this kind, skipping others.
async fn next_of(stream: &mut EventStream, kind: EventKind) -> SharedEvent {
    loop {
        let event = next(stream).await;
        if event.kind() == kind {
            return event;
        }
    }
}

fn text_of(event: &Event) -> String {
    match &event.data {
        EventData::MessageCreated(message) => message.text.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

#[tokio::test]
async fn messages_sent_on_one_node_reach_subscribers_on_another() {
    let Some(cluster) = support::cluster().await else {
        return;
    };
    let (ann, _ben, ben_on_b, chat) = support::direct_chat(&cluster.a, &cluster.b).await;
    let mut stream = cluster.b.subscribe(&ben_on_b, None).await.unwrap();

    for i in 0..20 {
        say(&cluster.a, &ann, chat, &format!("m{i}")).await;
    }
    let mut cursor = 0;
    for i in 0..20 {
        let event = next_of(&mut stream, EventKind::MessageCreated).await;
        assert_eq!(text_of(&event), format!("m{i}"));
        assert_eq!(event.actor_id, Some(ann.id()));
        assert!(event.cursor > cursor, "in cursor order");
        cursor = event.cursor;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_listener_drops_misses_nothing() {
    let Some(cluster) = support::cluster().await else {
        return;
    };
    let (ann, _ben, ben_on_b, chat) = support::direct_chat(&cluster.a, &cluster.b).await;
    let mut stream = cluster.b.subscribe(&ben_on_b, None).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut texts = Vec::new();
        loop {
            let text = text_of(&*next_of(&mut stream, EventKind::MessageCreated).await);
            if text == "end" {
                return texts;
            }
            texts.push(text);
        }
    });

    let stop = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn({
        let a = cluster.a.clone();
        let stop = stop.clone();
        async move {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                say(&a, &ann, chat, &format!("m{sent}")).await;
                sent += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (ann, sent)
        }
    });

    let admin = Database::connect(cluster.database.url()).await.unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let killed = terminate_listeners(&admin).await;
        assert!(
            !killed.is_empty(),
            "the listeners were found and terminated"
        );
        wait_for_new_listeners(&admin, &killed).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (ann, sent) = sender.await.unwrap();
    say(&cluster.a, &ann, chat, "end").await;

    let received = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("every message within 30 s")
        .unwrap();
    let expected: Vec<String> = (0..sent).map(|i| format!("m{i}")).collect();
    assert!(sent > 50, "sending went on while listeners dropped");
    assert_eq!(received, expected, "every message once, in order");
    admin.close().await.unwrap();
}

#[tokio::test]
async fn typing_on_one_node_reaches_subscribers_on_another() {
    let Some(cluster) = support::cluster().await else {
        return;
    };
    let (ann, ben, ben_on_b, chat) = support::direct_chat(&cluster.a, &cluster.b).await;
    let mut on_b = cluster.b.subscribe(&ben_on_b, None).await.unwrap();
    let mut on_a = cluster.a.subscribe(&ben.caller, None).await.unwrap();

    cluster.a.send_typing(&ann.caller, chat).await.unwrap();
    let typing = next_of(&mut on_b, EventKind::Typing).await;
    assert!(typing.ephemeral);
    assert_eq!(typing.chat_id, Some(chat));
    assert_eq!(typing.actor_id, Some(ann.id()));

    // On the sending node it arrives once: its own notification is not delivered again.
    assert_eq!(
        next_of(&mut on_a, EventKind::Typing).await.actor_id,
        Some(ann.id())
    );
    say(&cluster.a, &ann, chat, "after").await;
    let after = next(&mut on_a).await;
    assert_eq!(after.kind(), EventKind::MessageCreated);
    assert_eq!(text_of(&after), "after");
}

#[tokio::test]
async fn a_dropped_node_stops_listening() {
    let Some(cluster) = support::cluster().await else {
        return;
    };
    let admin = Database::connect(cluster.database.url()).await.unwrap();
    assert_eq!(listeners(&admin).await.len(), 2);
    let support::Cluster { a, b, database } = cluster;
    drop(b);
    for _ in 0..200 {
        if listeners(&admin).await.len() == 1 {
            admin.close().await.unwrap();
            drop((a, database));
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the dropped node still listens after 10 s");
}

const LISTENERS: &str = "FROM pg_stat_activity \
    WHERE application_name = 'chatcore-events' AND datname = current_database()";

/// Terminates the listening connections of both nodes; returns their pids.
async fn terminate_listeners(admin: &DatabaseConnection) -> HashSet<i32> {
    let rows = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pid, pg_terminate_backend(pid) AS killed {LISTENERS}"),
        ))
        .await
        .unwrap();
    rows.iter()
        .filter(|row| row.try_get::<bool>("", "killed").unwrap())
        .map(|row| row.try_get::<i32>("", "pid").unwrap())
        .collect()
}

/// The pids of the listening connections.
async fn listeners(admin: &DatabaseConnection) -> HashSet<i32> {
    let rows = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pid {LISTENERS}"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get::<i32>("", "pid").unwrap())
        .collect()
}

/// Waits until both nodes listen again, on new connections.
async fn wait_for_new_listeners(admin: &DatabaseConnection, killed: &HashSet<i32>) {
    for _ in 0..200 {
        if listeners(admin).await.difference(killed).count() == 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the nodes did not listen again within 10 s");
}
