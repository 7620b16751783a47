//! The request log holds no secrets: no access token from the query, no invite code from the
//! path. A test binary of its own, so that no other test's requests race with the capturing
//! subscriber's registration.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use chatcore::Service;
use chatcore::users::{Password, Register, Username};
use chatcore_http::{HttpOptions, app};
use poem::EndpointExt;
use poem::test::TestClient;
use serde_json::{Value, json};

async fn add_user(service: &dyn Service, name: &str) -> String {
    let auth = service
        .register(Register::new(
            Username::parse(name).unwrap(),
            Password::parse("a long enough secret").unwrap(),
        ))
        .await
        .unwrap();
    auth.session.token
}

async fn reply(response: poem::test::TestResponse) -> (poem::http::StatusCode, Value) {
    let status = response.0.status();
    let bytes = response.0.into_body().into_bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Collects what the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        std::io::Write::write(&mut *self.0.lock().unwrap(), bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn the_request_log_holds_no_tokens_or_invite_codes() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // The test runs on one thread, so the default subscriber sees every request.
    let _guard = tracing::subscriber::set_default(subscriber);

    let service: Arc<dyn Service> = Arc::new(chatcore_sqlite::open_in_memory().await.unwrap());
    let ada = add_user(service.as_ref(), "ada").await;
    let bob = add_user(service.as_ref(), "bob").await;
    let client = TestClient::new(
        app(service, HttpOptions::default())
            .map_to_response()
            .boxed(),
    );
    let as_user = |token: &str| format!("Bearer {token}");

    let (_, group) = reply(
        client
            .post("/api/v1/chats/groups")
            .header("authorization", as_user(&ada))
            .body_json(&json!({"title": "Club"}))
            .send()
            .await,
    )
    .await;
    let chat = group["id"].as_str().unwrap().to_owned();
    let (status, invite) = reply(
        client
            .post(format!("/api/v1/chats/{chat}/invites"))
            .header("authorization", as_user(&ada))
            .body_json(&json!({}))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 201, "{invite}");
    let code = invite["code"].as_str().unwrap().to_owned();
    let (status, _) = reply(
        client
            .get(format!("/api/v1/invites/{code}"))
            .header("authorization", as_user(&bob))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = reply(
        client
            .post(format!("/api/v1/invites/{code}/accept"))
            .header("authorization", as_user(&bob))
            .send()
            .await,
    )
    .await;
    assert!(status.is_success(), "{status}");
    let (status, _) = reply(
        client
            .delete(format!("/api/v1/chats/{chat}/invites/{code}"))
            .header("authorization", as_user(&ada))
            .send()
            .await,
    )
    .await;
    assert!(status.is_success(), "{status}");
    // A token in the query, as browsers pass it to the event stream.
    let events = client
        .get(format!("/api/v1/events?since=0&access_token={bob}"))
        .header("accept", "text/event-stream")
        .send()
        .await;
    events.assert_status_is_ok();
    drop(events);

    let log = captured.text();
    assert!(
        !log.contains(&code),
        "the invite code is in the log:\n{log}"
    );
    assert!(!log.contains(&bob), "a token is in the log:\n{log}");
    assert!(!log.contains(&ada), "a token is in the log:\n{log}");
    assert!(log.contains("path=/api/v1/invites/***/accept"), "{log}");
    assert!(
        log.contains(&format!("path=/api/v1/chats/{chat}/invites/***")),
        "{log}"
    );
    assert!(log.contains("query=since=***&access_token=***"), "{log}");
    assert!(log.contains("status=200"), "{log}");
    assert!(log.contains("latency_ms="), "{log}");
}
