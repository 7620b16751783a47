//! Event streams as a resource: followers that end with their stream, caps on open streams,
//! and typing notices that cannot flood a chat.

use std::time::{Duration, Instant};

use futures::StreamExt;

use super::events::data;
use super::{TestUser, register, say};
use crate::events::{EventKind, EventStream};
use crate::{ChatId, Error, Service};

/// Waits up to 5 seconds for the service's live subscriptions to be `expected`.
async fn live_subscriptions_become(service: &dyn Service, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while service.live_subscriptions() != expected {
        assert!(
            Instant::now() < deadline,
            "{} live subscriptions, expected {expected}",
            service.live_subscriptions()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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

pub async fn a_dropped_stream_ends_its_follower(service: &dyn Service) {
    let quiet = register(service, "quiet").await;
    let before = service.live_subscriptions();
    let stream = service.subscribe(&quiet.caller, None).await.unwrap();
    live_subscriptions_become(service, before + 1).await;
    // Nothing happens for this user: the follower must notice the consumer left anyway.
    drop(stream);
    live_subscriptions_become(service, before).await;

    // Many short-lived streams leave nothing behind either.
    for _ in 0..100 {
        let stream = service.subscribe(&quiet.caller, None).await.unwrap();
        drop(stream);
    }
    let held: Vec<EventStream> = {
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(service.subscribe(&quiet.caller, None).await.unwrap());
        }
        held
    };
    live_subscriptions_become(service, before + 5).await;
    drop(held);
    live_subscriptions_become(service, before).await;
}

fn is_rate_limited(result: &crate::Result<EventStream>) -> bool {
    match result {
        Err(error @ Error::RateLimited { retry_after }) => {
            assert!(!retry_after.is_zero(), "{error}");
            assert_eq!(error.code(), "rate_limited");
            true
        }
        _ => false,
    }
}

pub async fn streams_are_capped_per_session_and_per_user(service: &dyn Service) {
    let user = register(service, "streamer9").await;
    let other = register(service, "bystander").await;
    // Per session (default 8).
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(service.subscribe(&user.caller, None).await.unwrap());
    }
    assert!(is_rate_limited(
        &service.subscribe(&user.caller, None).await
    ));
    // Someone else is not affected.
    let _theirs = service.subscribe(&other.caller, None).await.unwrap();
    // Closing one makes room again.
    drop(held.pop());
    held.push(service.subscribe(&user.caller, None).await.unwrap());
    assert!(is_rate_limited(
        &service.subscribe(&user.caller, None).await
    ));

    // Per user (default 32), over several sessions.
    let mut sessions = Vec::new();
    for _ in 0..4 {
        let login = service
            .login(crate::users::Login {
                login: "streamer9".to_owned(),
                password: user.password.clone(),
                user_agent: None,
            })
            .await
            .unwrap();
        sessions.push(service.authenticate(&login.session.token).await.unwrap());
    }
    for caller in &sessions[..3] {
        for _ in 0..8 {
            held.push(service.subscribe(caller, None).await.unwrap());
        }
    }
    assert_eq!(held.len(), 32);
    let last = &sessions[3];
    assert!(
        is_rate_limited(&service.subscribe(last, None).await),
        "a fresh session of a user at the cap"
    );
    drop(held.swap_remove(0));
    let _room = service.subscribe(last, None).await.unwrap();
    assert!(is_rate_limited(&service.subscribe(last, None).await));
    // The streams under the cap still work.
    let chat = direct(service, &other, &user).await;
    say(service, &other, chat, "still flowing").await;
    let stream = held.last_mut().unwrap();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if event.kind() == EventKind::MessageCreated {
            assert_eq!(data(&event)["text"], "still flowing");
            break;
        }
    }
}

/// The typing notices a stream receives before the next new message.
async fn typing_before_a_message(stream: &mut EventStream) -> usize {
    let mut typing = 0;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .unwrap();
        match event.kind() {
            EventKind::Typing => typing += 1,
            EventKind::MessageCreated => return typing,
            _ => {}
        }
    }
}

pub async fn typing_notices_are_throttled_per_member_and_chat(service: &dyn Service) {
    let typist = register(service, "typist").await;
    let reader = register(service, "reader").await;
    let chat = direct(service, &typist, &reader).await;
    let mut stream = service.subscribe(&reader.caller, None).await.unwrap();
    let mut typist_stream = service.subscribe(&typist.caller, None).await.unwrap();

    let burst = Instant::now();
    for _ in 0..300 {
        // Every notice is accepted...
        service.send_typing(&typist.caller, chat).await.unwrap();
    }
    // ...and another member's notices have their own allowance.
    service.send_typing(&reader.caller, chat).await.unwrap();
    say(service, &typist, chat, "after the burst").await;
    // ...but the peer is told once.
    assert_eq!(typing_before_a_message(&mut stream).await, 1);
    assert_eq!(typing_before_a_message(&mut typist_stream).await, 1);

    // After the interval (3 s by default), the next notice goes through again.
    let interval = Duration::from_secs(3);
    tokio::time::sleep((burst + interval + Duration::from_millis(100)) - Instant::now()).await;
    service.send_typing(&typist.caller, chat).await.unwrap();
    service.send_typing(&typist.caller, chat).await.unwrap();
    say(service, &typist, chat, "after the interval").await;
    assert_eq!(typing_before_a_message(&mut stream).await, 1);
}
