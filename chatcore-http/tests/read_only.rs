//! A database file that can no longer be written: the HTTP API over a service on a read-only
//! SQLite file, in-process. (Outages of a running `chatcore-server` are tested by
//! `chatcore-server/tests/outage.rs`.)

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Value, json};

/// SQLite's counterpart: a database file that can no longer be written (opened read-only)
/// answers writes with 503 `unavailable` and `Retry-After`, logins included, while reads go on.
#[tokio::test]
async fn a_read_only_sqlite_file_answers_503_to_writes() {
    use chatcore::Service;
    use poem::EndpointExt;
    use poem::test::TestClient;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let writable = chatcore_sqlite::open(&path).await.unwrap();
    let endpoint = chatcore_http::app(
        Arc::new(writable.clone()) as Arc<dyn Service>,
        chatcore_http::HttpOptions::default(),
    )
    .map_to_response();
    let client = TestClient::new(endpoint);
    let registered = client
        .post("/api/v1/auth/register")
        .body_json(&json!({"username": "rita", "password": "rita long secret"}))
        .send()
        .await;
    registered.assert_status(poem::http::StatusCode::CREATED);
    let registered: Value = registered.0.into_body().into_json().await.unwrap();
    let token = registered["session"]["token"].as_str().unwrap().to_owned();
    let group = client
        .post("/api/v1/chats/groups")
        .header("authorization", format!("Bearer {token}"))
        .body_json(&json!({"title": "Archive"}))
        .send()
        .await;
    group.assert_status(poem::http::StatusCode::CREATED);
    let group: Value = group.0.into_body().into_json().await.unwrap();
    let chat = group["id"].as_str().unwrap().to_owned();
    let sent = client
        .post(format!("/api/v1/chats/{chat}/messages"))
        .header("authorization", format!("Bearer {token}"))
        .body_json(&json!({"text": "written before"}))
        .send()
        .await;
    sent.assert_status(poem::http::StatusCode::CREATED);
    drop((client, writable));

    // The same file, now read-only.
    let read_only = chatcore_sqlite::open_with(
        &path,
        chatcore_sqlite::SqliteOptions::default().read_only(true),
    )
    .await
    .unwrap();
    let endpoint = chatcore_http::app(
        Arc::new(read_only) as Arc<dyn Service>,
        chatcore_http::HttpOptions::default(),
    )
    .map_to_response();
    let client = TestClient::new(endpoint);
    // The file answers reads, and the in-process bus has nothing to lose: ready.
    let ready = client.get("/readyz").send().await;
    ready.assert_status_is_ok();
    let ready: Value = ready.0.into_body().into_json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    let history = client
        .get(format!("/api/v1/chats/{chat}/messages"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    history.assert_status_is_ok();
    let history: Value = history.0.into_body().into_json().await.unwrap();
    assert_eq!(history[0]["text"], "written before");

    let writes = [
        (
            format!("/api/v1/chats/{chat}/messages"),
            json!({"text": "lost?"}),
            Some(&token),
        ),
        (
            "/api/v1/auth/login".to_owned(),
            json!({"login": "rita", "password": "rita long secret"}),
            None,
        ),
        (
            "/api/v1/auth/register".to_owned(),
            json!({"username": "sam", "password": "sam long secret"}),
            None,
        ),
    ];
    for (path, body, token) in writes {
        let mut request = client.post(&path).body_json(&body);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send().await;
        response.assert_status(poem::http::StatusCode::SERVICE_UNAVAILABLE);
        response.assert_header_exist("retry-after");
        let body: Value = response.0.into_body().into_json().await.unwrap();
        assert_eq!(body["error"]["code"], "unavailable", "{path}: {body}");
    }
}
