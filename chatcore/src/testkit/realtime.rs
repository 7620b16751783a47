//! The realtime session that every live transport speaks ([`Connection`]): binding by
//! command, the command table, errors that leave the connection usable, resuming from a
//! cursor, and the end of the session.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Harness, register};
use crate::events::EventKind;
use crate::realtime::{COMMANDS, Connection, ConnectionOptions, Outgoing};

/// The next event of `connection`, within 5 seconds.
async fn event(connection: &mut Connection) -> crate::events::SharedEvent {
    match tokio::time::timeout(Duration::from_secs(5), connection.next()).await {
        Ok(Outgoing::Event(event)) => event,
        Ok(other) => panic!("expected an event, got {other:?}"),
        Err(_) => panic!("no event within 5 seconds"),
    }
}

/// The next event of `connection` of `kind`, skipping others.
async fn event_of(connection: &mut Connection, kind: EventKind) -> crate::events::SharedEvent {
    loop {
        let event = event(connection).await;
        if event.kind() == kind {
            return event;
        }
    }
}

fn options() -> ConnectionOptions {
    ConnectionOptions {
        heartbeat: None,
        ..ConnectionOptions::default()
    }
}

async fn code_of(connection: &mut Connection, name: &str, args: Value) -> &'static str {
    connection.command(name, args).await.unwrap_err().code
}

pub async fn a_connection_binds_by_command_and_answers_every_command_by_the_table(
    harness: &Harness,
) {
    let service = harness.shared_service();
    let peer = register(service.as_ref(), "rt_peer").await;
    let mut anonymous = Connection::open(service.clone(), None, None, options())
        .await
        .unwrap();
    assert!(anonymous.caller().is_none());
    // Anonymous: only register and login.
    assert_eq!(
        code_of(&mut anonymous, "get_me", json!({})).await,
        "not_authorized"
    );
    assert_eq!(
        code_of(&mut anonymous, "no_such", json!({})).await,
        "not_found"
    );
    let registered = anonymous
        .command(
            "register",
            json!({"username": "rt_me", "password": "realtime passphrase"}),
        )
        .await
        .unwrap();
    assert_eq!(registered["user"]["username"], "rt_me");
    assert!(registered["session"]["token"].is_string());
    let mut connection = anonymous;
    assert!(connection.caller().is_some());
    assert_eq!(
        code_of(
            &mut connection,
            "login",
            json!({"login": "rt_me", "password": "realtime passphrase"})
        )
        .await,
        "conflict"
    );

    // Replies are the REST bodies.
    let me = connection.command("get_me", Value::Null).await.unwrap();
    assert_eq!(me["username"], "rt_me");
    let chat = connection
        .command("start_direct_chat", json!({"user_id": peer.id()}))
        .await
        .unwrap();
    let chat_id = chat["id"].as_str().unwrap().to_owned();
    let sent = connection
        .command(
            "send_message",
            json!({"chat_id": chat_id, "text": "over the wire", "client_id": "c-1"}),
        )
        .await
        .unwrap();
    assert_eq!(sent["text"], "over the wire");
    // ... and the connection hears the events of its own session.
    let created = event_of(&mut connection, EventKind::MessageCreated).await;
    assert_eq!(created.chat_id.unwrap().to_string(), chat_id);
    assert_eq!(
        connection
            .command("hide_chat", json!({"chat_id": chat_id}))
            .await
            .unwrap(),
        Value::Null,
        "no body where REST answers 204"
    );

    // Bad input: the stable code and the field at fault; nothing changes; the connection
    // stays usable.
    let missing = connection
        .command("send_message", json!({"chat_id": chat_id}))
        .await
        .unwrap_err();
    assert_eq!(
        (missing.code, missing.field.as_deref()),
        ("invalid_input", Some("text"))
    );
    let unknown = connection
        .command(
            "send_message",
            json!({"chat_id": chat_id, "text": "x", "colour": 1}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (unknown.code, unknown.field.as_deref()),
        ("invalid_input", Some("colour"))
    );
    let wrong_type = connection
        .command("mark_read", json!({"chat_id": chat_id, "seq": "one"}))
        .await
        .unwrap_err();
    assert_eq!(
        (wrong_type.code, wrong_type.field.as_deref()),
        ("invalid_input", Some("seq"))
    );
    assert_eq!(
        code_of(
            &mut connection,
            "send_message",
            json!({"chat_id": chat_id, "text": "  "})
        )
        .await,
        "invalid_message"
    );
    let stranger = register(service.as_ref(), "rt_stranger").await;
    let stranger_chat = service
        .start_direct_chat(&stranger.caller, peer.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    assert_eq!(
        code_of(
            &mut connection,
            "send_message",
            json!({"chat_id": stranger_chat, "text": "not mine"})
        )
        .await,
        "not_found"
    );
    let history = connection
        .command("list_messages", json!({"chat_id": chat_id}))
        .await
        .unwrap();
    assert_eq!(
        history.as_array().unwrap().len(),
        1,
        "nothing was sent by a refusal"
    );

    // Every name in the table runs its operation: none is unknown, even with no arguments.
    for name in COMMANDS {
        if ["logout", "unregister"].contains(name) {
            continue;
        }
        if let Err(failure) = connection.command(name, json!({})).await {
            assert!(
                !failure.message.starts_with("no command named"),
                "{name} is listed but not dispatched"
            );
        }
    }
}

pub async fn a_connection_resumes_from_a_cursor_once_and_ends_with_its_session(harness: &Harness) {
    let service = harness.shared_service();
    let ann = register(service.as_ref(), "rt_ann").await;
    let bob = register(service.as_ref(), "rt_bob").await;
    let chat = service
        .start_direct_chat(&ann.caller, bob.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let mut first = Connection::open(
        service.clone(),
        Some(&bob.auth.session.token),
        None,
        options(),
    )
    .await
    .unwrap();
    super::say(service.as_ref(), &ann, chat, "one").await;
    let seen = event_of(&mut first, EventKind::MessageCreated).await.cursor;
    drop(first);
    // Missed while away.
    super::say(service.as_ref(), &ann, chat, "two").await;
    super::say(service.as_ref(), &ann, chat, "three").await;
    let mut again = Connection::open(
        service.clone(),
        Some(&bob.auth.session.token),
        Some(seen),
        options(),
    )
    .await
    .unwrap();
    let mut texts = Vec::new();
    for _ in 0..2 {
        let event = event_of(&mut again, EventKind::MessageCreated).await;
        assert!(event.cursor > seen);
        let crate::events::EventData::MessageCreated(message) = &event.data else {
            unreachable!()
        };
        texts.push(message.text.clone().unwrap_or_default());
    }
    assert_eq!(texts, ["two", "three"]);
    // Nothing more, no duplicate.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), again.next())
            .await
            .is_err()
    );

    // The session ends: the connection closes, saying why.
    again.command("logout", Value::Null).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), again.next())
            .await
            .expect("the connection closes")
        {
            Outgoing::Event(_) => {}
            Outgoing::Close(reason) => {
                assert!(reason.is_some(), "the client learns why");
                break;
            }
            Outgoing::Ping => panic!("no heartbeat was asked for"),
        }
    }
    assert_eq!(
        service
            .authenticate(&bob.auth.session.token)
            .await
            .unwrap_err()
            .code(),
        "not_authorized",
        "the session is over"
    );
}

pub async fn a_connection_is_rate_limited_and_closes_on_shutdown_or_silence(harness: &Harness) {
    let service = harness.shared_service();
    let user = register(service.as_ref(), "rt_busy").await;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut busy = Connection::open(
        service.clone(),
        Some(&user.auth.session.token),
        None,
        ConnectionOptions {
            heartbeat: None,
            commands_per_minute: std::num::NonZeroU32::new(20).unwrap(),
            shutdown: Some(stopping),
            ..ConnectionOptions::default()
        },
    )
    .await
    .unwrap();
    // A burst of a tenth of the minute's allowance, then `rate_limited` with a wait.
    for _ in 0..2 {
        busy.command("get_me", Value::Null).await.unwrap();
    }
    let limited = busy.command("get_me", Value::Null).await.unwrap_err();
    assert_eq!(limited.code, "rate_limited");
    assert!(limited.retry_after.is_some_and(|seconds| seconds >= 1));
    stop.send(true).unwrap();
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), busy.next()).await,
        Ok(Outgoing::Close(None))
    ));

    let mut silent = Connection::open(
        service.clone(),
        Some(&user.auth.session.token),
        None,
        ConnectionOptions {
            heartbeat: Some(crate::realtime::Heartbeat {
                interval: Duration::from_millis(50),
                timeout: Duration::from_millis(120),
            }),
            ..ConnectionOptions::default()
        },
    )
    .await
    .unwrap();
    let mut pings = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), silent.next())
            .await
            .expect("the silent connection closes")
        {
            Outgoing::Ping => pings += 1,
            Outgoing::Close(None) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 1, "pinged before giving up");
}
