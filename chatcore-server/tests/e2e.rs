//! End to end: the real `chatcore-server` binary on a free port, once on SQLite and once on
//! PostgreSQL, walking the flows of the seed documents over HTTP.
//!
//! PostgreSQL reads `CHATCORE_TEST_POSTGRES_URL`; without it that half says so and skips,
//! unless `CI=true`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use chatcore::testkit::TestDatabase;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use support::{Server, expect, get, post, register_on, start_direct};

/// A plain-colour JPEG, made here rather than committed.
fn photo() -> Vec<u8> {
    chatcore::testkit::sample_jpeg_with_orientation(640, 480, 1)
}

/// Seed 000: register, login, search, upload a photo, start a chat, send, list chats, read
/// history with pagination, logout; then the old token is refused.
async fn flow_000(server: &Server) {
    let http = Client::new();
    for name in ["alice", "bruno"] {
        register_on(&http, server, name).await;
    }
    let login = post(
        &http,
        server.url("/api/v1/auth/login"),
        None,
        json!({"login": "alice", "password": "alice long secret"}),
        200,
    )
    .await;
    let token = login["session"]["token"].as_str().unwrap().to_owned();
    let found = get(&http, server.url("/api/v1/users?q=bru"), &token, 200).await;
    let bruno = found["items"][0]["id"].as_str().unwrap().to_owned();

    let uploaded = expect(
        http.put(server.url("/api/v1/users/me/avatar"))
            .bearer_auth(&token)
            .header("content-type", "image/jpeg")
            .body(photo())
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let avatar_url = uploaded["avatar_url"].as_str().unwrap().to_owned();
    let image = http
        .get(server.url(&avatar_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.headers()["x-content-type-options"], "nosniff");

    let chat = post(
        &http,
        server.url("/api/v1/chats/direct"),
        Some(&token),
        json!({"user_id": bruno}),
        201,
    )
    .await;
    let chat = chat["id"].as_str().unwrap().to_owned();
    for i in 1..=12 {
        post(
            &http,
            server.url(&format!("/api/v1/chats/{chat}/messages")),
            Some(&token),
            json!({"text": format!("message {i}")}),
            201,
        )
        .await;
    }
    let chats = get(&http, server.url("/api/v1/chats"), &token, 200).await;
    assert_eq!(chats["items"][0]["last_message"]["text"], "message 12");
    assert_eq!(chats["items"][0]["peer"]["username"], "bruno");

    let latest = get(
        &http,
        server.url(&format!("/api/v1/chats/{chat}/messages?limit=5")),
        &token,
        200,
    )
    .await;
    assert_eq!(latest[0]["seq"], 8);
    let older = get(
        &http,
        server.url(&format!("/api/v1/chats/{chat}/messages?limit=5&before=8")),
        &token,
        200,
    )
    .await;
    assert_eq!(older[0]["seq"], 3);
    assert_eq!(older[4]["seq"], 7);

    expect(
        http.post(server.url("/api/v1/auth/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        204,
    )
    .await;
    let refused = get(&http, server.url("/api/v1/chats"), &token, 401).await;
    assert_eq!(refused["error"]["code"], "not_authorized");
}

/// Seed 004: register, create a titled group, send, list chats with last message, time and
/// sender.
async fn flow_004(server: &Server) {
    let http = Client::new();
    let (token, _) = register_on(&http, server, "carmen").await;
    let group = post(
        &http,
        server.url("/api/v1/chats/groups"),
        Some(&token),
        json!({"title": "Book club"}),
        201,
    )
    .await;
    let chat = group["id"].as_str().unwrap();
    let sent = post(
        &http,
        server.url(&format!("/api/v1/chats/{chat}/messages")),
        Some(&token),
        json!({"text": "First meeting on Friday"}),
        201,
    )
    .await;
    let chats = get(&http, server.url("/api/v1/chats"), &token, 200).await;
    let item = &chats["items"][0];
    assert_eq!(item["title"], "Book club");
    assert_eq!(item["last_message"]["text"], "First meeting on Friday");
    assert_eq!(item["last_message"]["sender"]["username"], "carmen");
    assert_eq!(item["last_message"]["created_at"], sent["created_at"]);
}

/// Seed 003: a cookie session: login sets the cookie, cookie-only requests work, logout ends
/// it.
async fn flow_003(server: &Server) {
    let browser = Client::builder().cookie_store(true).build().unwrap();
    expect(
        browser
            .post(server.url("/api/v1/auth/register"))
            .json(&json!({"username": "dora", "password": "dora long secret"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    // A fresh browser logs in and uses only its cookie.
    let browser = Client::builder().cookie_store(true).build().unwrap();
    let login = browser
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"login": "dora", "password": "dora long secret"}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    expect(login, 200).await;
    let me = expect(
        browser
            .get(server.url("/api/v1/users/me"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(me["username"], "dora");
    expect(
        browser
            .post(server.url("/api/v1/auth/logout"))
            .send()
            .await
            .unwrap(),
        204,
    )
    .await;
    expect(
        browser
            .get(server.url("/api/v1/users/me"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
}

/// Realtime through the binary: a WebSocket subscriber receives a message sent over REST, and
/// its typing notice, sent over the socket, reaches an SSE subscriber.
async fn flow_realtime(server: &Server) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let http = Client::new();
    let (ws_token, ws_id) = register_on(&http, server, "wsuser").await;
    let (sse_token, _) = register_on(&http, server, "sseuser").await;
    let tokens = [ws_token, sse_token];
    let ids = [ws_id];
    let chat = start_direct(&http, server, &tokens[1], &ids[0]).await;

    // WebSockets authenticated by header, by cookie and by query parameter (as browsers do).
    let url = server.url("/api/v1/events").replace("http://", "ws://");
    let mut by_header = url.as_str().into_client_request().unwrap();
    by_header.headers_mut().insert(
        "authorization",
        format!("Bearer {}", tokens[0]).parse().unwrap(),
    );
    let mut by_cookie = url.as_str().into_client_request().unwrap();
    by_cookie.headers_mut().insert(
        "cookie",
        format!("theme=dark; chatcore_session={}", tokens[0])
            .parse()
            .unwrap(),
    );
    let by_query = format!("{url}?access_token={}", tokens[0]);
    let (mut socket, _) = tokio_tungstenite::connect_async(by_query).await.unwrap();
    for request in [by_header, by_cookie] {
        let (mut other, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        other.close(None).await.unwrap();
    }
    let refused = tokio_tungstenite::connect_async(format!("{url}?access_token=nope")).await;
    assert!(refused.is_err(), "a bad token must not upgrade");
    // SSE, authenticated by header.
    let sse = http
        .get(server.url("/api/v1/events"))
        .bearer_auth(&tokens[1])
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    let mut sse = sse;

    post(
        &http,
        server.url(&format!("/api/v1/chats/{chat}/messages")),
        Some(&tokens[1]),
        json!({"text": "over the wire"}),
        201,
    )
    .await;
    let event = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            let event: Value = serde_json::from_str(&text).unwrap();
            if event["kind"] == "message_created" {
                break event;
            }
        }
    };
    assert_eq!(event["data"]["text"], "over the wire");
    assert!(event["cursor"].as_i64().unwrap() > 0);

    socket
        .send(Message::Text(
            json!({"type": "typing", "chat_id": chat})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let mut buffer = String::new();
    let typing = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let chunk = sse.chunk().await.unwrap().unwrap();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(line) = buffer
                .lines()
                .find(|line| line.starts_with("data:") && line.contains("\"typing\""))
            {
                return serde_json::from_str::<Value>(line.trim_start_matches("data:").trim())
                    .unwrap();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(typing["actor_id"], ids[0].as_str());
    assert_eq!(typing["ephemeral"], true);
    socket.close(None).await.unwrap();
}

/// What was acknowledged before a graceful stop is there after a restart.
async fn survives_restart(server: Server, database_url: &str, work_dir: &Path) {
    let http = Client::new();
    let (token, _) = register_on(&http, &server, "emil").await;
    let group = post(
        &http,
        server.url("/api/v1/chats/groups"),
        Some(&token),
        json!({"title": "Durable"}),
        201,
    )
    .await;
    let chat = group["id"].as_str().unwrap().to_owned();
    post(
        &http,
        server.url(&format!("/api/v1/chats/{chat}/messages")),
        Some(&token),
        json!({"text": "still here"}),
        201,
    )
    .await;
    server.stop();
    let server = Server::start(database_url, work_dir).await;
    let history = get(
        &http,
        server.url(&format!("/api/v1/chats/{chat}/messages")),
        &token,
        200,
    )
    .await;
    assert_eq!(history[0]["text"], "still here");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flows_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = "sqlite:./chat.db";
    let server = Server::start(url, dir.path()).await;
    flow_000(&server).await;
    flow_004(&server).await;
    flow_003(&server).await;
    flow_realtime(&server).await;
    survives_restart(server, url, dir.path()).await;
    assert!(dir.path().join("chat.db").exists());
    // The photo went to the media directory.
    let media = std::fs::read_dir(dir.path().join("chatcore-media")).unwrap();
    assert!(media.count() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flows_on_postgres() {
    let Some(database) = TestDatabase::create("chatcore_e2e").await else {
        return;
    };
    let url = database.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&url, dir.path()).await;
    flow_000(&server).await;
    flow_004(&server).await;
    flow_003(&server).await;
    flow_realtime(&server).await;
    survives_restart(server, &url, dir.path()).await;
    drop(database);
}

/// Two servers on one PostgreSQL: a client on node A sends, a client on node B receives it
/// live over its event stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_postgres() {
    let Some(database) = TestDatabase::create("chatcore_cluster").await else {
        return;
    };
    let url = database.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let node_a = Server::start(&url, dir.path()).await;
    let node_b = Server::start(&url, dir.path()).await;

    let http = Client::new();
    let (a_token, _) = register_on(&http, &node_a, "nodea").await;
    let (b_token, b_id) = register_on(&http, &node_b, "nodeb").await;
    let tokens = [a_token, b_token];
    let chat = start_direct(&http, &node_a, &tokens[0], &b_id).await;
    let mut sse = http
        .get(node_b.url("/api/v1/events"))
        .bearer_auth(&tokens[1])
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    for i in 0..5 {
        post(
            &http,
            node_a.url(&format!("/api/v1/chats/{chat}/messages")),
            Some(&tokens[0]),
            json!({"text": format!("from node A {i}")}),
            201,
        )
        .await;
    }
    let mut buffer = String::new();
    let texts = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let chunk = sse.chunk().await.unwrap().unwrap();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            let texts: Vec<String> = buffer
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
                .filter(|event| event["kind"] == "message_created")
                .map(|event| event["data"]["text"].as_str().unwrap().to_owned())
                .collect();
            if texts.len() == 5 {
                return texts;
            }
        }
    })
    .await
    .expect("node B delivers node A's messages live");
    assert_eq!(
        texts,
        (0..5)
            .map(|i| format!("from node A {i}"))
            .collect::<Vec<_>>()
    );
    drop(sse);
    node_a.stop();
    node_b.stop();
    drop(database);
}
