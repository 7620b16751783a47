//! Database outages through the real `chatcore-server`: every request answers 503
//! `unavailable` with `Retry-After` (never 401), `/readyz` says what is down, and the nodes
//! recover by themselves. PostgreSQL outages are caused by a TCP proxy between the servers
//! and the database, never by stopping the machine's PostgreSQL. The SQLite counterpart (a
//! database file opened read-only) is `chatcore-http/tests/read_only.rs`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatcore::testkit::TestDatabase;
use futures::StreamExt;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use support::proxy::{Proxy, server_address, through};
use support::{Server, expect, free_port, full_history, post, register_on};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long the servers wait for a database connection here (the default is 5 s).
const ACQUIRE_TIMEOUT_MS: &str = "500";
/// How long the nodes may take at most to serve again once the database is back.
const RECOVERY_LIMIT: Duration = Duration::from_secs(15);

/// Asserts a 503 `unavailable` with a `Retry-After` of at least a second.
async fn assert_unavailable(response: Response, what: &str) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{what}: {body}");
    assert!(retry_after.is_some_and(|seconds| seconds >= 1), "{what}");
}

/// Sends `text` (its own `client_id`) until it is acknowledged, retrying after 503 (and 429)
/// and failed connections as a client would; any other answer fails the test. The message.
async fn send_until_acknowledged(
    http: &Client,
    base: &str,
    token: &str,
    chat: &str,
    text: &str,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "{text} not acknowledged within 60 s"
        );
        let sent = http
            .post(format!("{base}/api/v1/chats/{chat}/messages"))
            .bearer_auth(token)
            .json(&json!({"text": text, "client_id": text}))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == StatusCode::CREATED => {
                return response.json().await.unwrap();
            }
            Ok(response)
                if response.status() == StatusCode::SERVICE_UNAVAILABLE
                    || response.status() == StatusCode::TOO_MANY_REQUESTS =>
            {
                assert!(response.headers().contains_key("retry-after"));
            }
            Ok(response) => {
                let status = response.status();
                panic!(
                    "sending {text}: {status} {}",
                    response.text().await.unwrap()
                );
            }
            // The connection failed (server restarting): try again.
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An SSE client that resumes with `Last-Event-ID` whenever its stream ends, as browsers'
/// `EventSource` does, and collects `message_created` events (cursor, text).
struct SseClient {
    received: Arc<Mutex<Vec<(i64, String)>>>,
    /// Statuses other than 200 and 503 that a (re)connection got: there must be none.
    unexpected: Arc<Mutex<Vec<u16>>>,
    reconnects: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl SseClient {
    fn start(base: String, token: String) -> SseClient {
        let received = Arc::new(Mutex::new(Vec::new()));
        let unexpected = Arc::new(Mutex::new(Vec::new()));
        let reconnects = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (received, unexpected, reconnects) =
                (received.clone(), unexpected.clone(), reconnects.clone());
            async move {
                let http = Client::new();
                let mut last_id: Option<i64> = None;
                let mut first = true;
                loop {
                    let mut request = http
                        .get(format!("{base}/api/v1/events"))
                        .bearer_auth(&token)
                        .header("accept", "text/event-stream");
                    if let Some(id) = last_id {
                        request = request.header("last-event-id", id.to_string());
                    }
                    let response = match request.send().await {
                        Ok(response) => response,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    match response.status() {
                        StatusCode::OK => {}
                        StatusCode::SERVICE_UNAVAILABLE => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                        other => {
                            unexpected.lock().unwrap().push(other.as_u16());
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    }
                    if !first {
                        reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    first = false;
                    let mut response = response;
                    let mut buffer = String::new();
                    while let Ok(Some(chunk)) = response.chunk().await {
                        buffer.push_str(&String::from_utf8_lossy(&chunk));
                        while let Some(end) = buffer.find("\n\n") {
                            let block: String = buffer.drain(..end + 2).collect();
                            let (mut id, mut kind, mut data) = (None, None, None);
                            for line in block.lines() {
                                if let Some(value) = line.strip_prefix("id:") {
                                    id = value.trim().parse::<i64>().ok();
                                } else if let Some(value) = line.strip_prefix("event:") {
                                    kind = Some(value.trim().to_owned());
                                } else if let Some(value) = line.strip_prefix("data:") {
                                    data = serde_json::from_str::<Value>(value.trim()).ok();
                                }
                            }
                            if let Some(id) = id {
                                last_id = Some(id);
                            }
                            if let (Some(id), Some("message_created"), Some(data)) =
                                (id, kind.as_deref(), data)
                            {
                                let text = data["data"]["text"].as_str().unwrap().to_owned();
                                received.lock().unwrap().push((id, text));
                            }
                        }
                    }
                }
            }
        });
        SseClient {
            received,
            unexpected,
            reconnects,
            task,
        }
    }

    /// Waits until `expected` texts arrived (or 30 s passed); what arrived, in order.
    async fn until(&self, expected: usize) -> Vec<(i64, String)> {
        for _ in 0..300 {
            if self.received.lock().unwrap().len() >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A duplicate would come right behind: give it a moment to show.
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.received.lock().unwrap().clone()
    }
}

impl Drop for SseClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Asserts that a subscriber got every expected text once, in cursor order.
fn assert_each_once(received: &[(i64, String)], expected: &[String], who: &str) {
    let texts: Vec<&String> = received.iter().map(|(_, text)| text).collect();
    assert_eq!(
        texts.len(),
        expected.len(),
        "{who}: every message once: {texts:?}"
    );
    assert_eq!(
        texts.iter().copied().collect::<HashSet<_>>(),
        expected.iter().collect::<HashSet<_>>(),
        "{who}"
    );
    assert!(
        received.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "{who}: in cursor order"
    );
}

/// `GET /readyz`: the status and the body.
async fn readyz(http: &Client, server: &Server) -> (StatusCode, Value) {
    let response = http.get(server.url("/readyz")).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_answers_503_and_two_nodes_recover() {
    let Some(database) = TestDatabase::create("chatcore_outage").await else {
        return;
    };
    let proxy = Proxy::start(server_address(database.url())).await;
    let url = through(database.url(), proxy.address());
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        ("CHATCORE_DATABASE_ACQUIRE_TIMEOUT_MS", ACQUIRE_TIMEOUT_MS),
        // The outage is expected: keep its warnings out of the test output.
        ("CHATCORE_LOG", "error"),
        // Clients retry through the outage faster than the per-user send limit allows.
        ("CHATCORE_NO_RATE_LIMITS", "true"),
    ];
    let node_a = Server::start_with(&url, dir.path(), free_port(), &settings).await;
    let node_b = Server::start_with(&url, dir.path(), free_port(), &settings).await;

    let http = Client::new();
    let (alice, _) = register_on(&http, &node_a, "alice").await;
    let (bob, bob_id) = register_on(&http, &node_b, "bob").await;
    // A browser session, by cookie only.
    let browser = Client::builder().cookie_store(true).build().unwrap();
    expect(
        browser
            .post(node_a.url("/api/v1/auth/login"))
            .json(&json!({"login": "alice", "password": "alice long secret"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let chat = post(
        &http,
        node_a.url("/api/v1/chats/direct"),
        Some(&alice),
        json!({"user_id": bob_id}),
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for node in [&node_a, &node_b] {
        let (status, body) = readyz(&http, node).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "ready");
    }

    let on_a = SseClient::start(node_a.base.clone(), alice.clone());
    let on_b = SseClient::start(node_b.base.clone(), bob.clone());
    // A WebSocket on node B, which must stay open or close with a reason.
    let ws_url = node_b.url("/api/v1/events").replace("http://", "ws://");
    let mut ws_request = ws_url.as_str().into_client_request().unwrap();
    ws_request
        .headers_mut()
        .insert("authorization", format!("Bearer {bob}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_request).await.unwrap();
    // Give both streams a moment to be subscribed before anything is sent.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut expected = Vec::new();
    for i in 0..5 {
        let text = format!("before-{i}");
        send_until_acknowledged(&http, &node_a.base, &alice, &chat, &text).await;
        expected.push(text);
    }

    // PostgreSQL "stops": every connection is cut and new ones are refused.
    proxy.refuse();
    proxy.drop_all();
    let stopped = Instant::now();

    // Clients on both nodes keep sending through the outage, retrying with their client_id.
    let during: Vec<String> = (0..6).map(|i| format!("during-{i}")).collect();
    let mut senders = Vec::new();
    for (i, text) in during.iter().enumerate() {
        let (base, token) = if i % 2 == 0 {
            (node_a.base.clone(), alice.clone())
        } else {
            (node_b.base.clone(), bob.clone())
        };
        let (http, chat, text) = (http.clone(), chat.clone(), text.clone());
        senders.push(tokio::spawn(async move {
            send_until_acknowledged(&http, &base, &token, &chat, &text).await
        }));
    }
    expected.extend(during.iter().cloned());

    // Bearer, cookie, login, SSE and WebSocket all answer 503 `unavailable`, never 401.
    for (node, token) in [(&node_a, &alice), (&node_b, &bob)] {
        let me = http
            .get(node.url("/api/v1/users/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_unavailable(me, "bearer").await;
        let events = http
            .get(node.url("/api/v1/events"))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_unavailable(events, "SSE").await;
        let by_query = http
            .get(node.url(&format!("/api/v1/events?access_token={token}")))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_unavailable(by_query, "SSE with access_token").await;
    }
    let by_cookie = browser
        .get(node_a.url("/api/v1/users/me"))
        .send()
        .await
        .unwrap();
    assert_unavailable(by_cookie, "cookie").await;
    let login = http
        .post(node_b.url("/api/v1/auth/login"))
        .json(&json!({"login": "bob", "password": "bob long secret"}))
        .send()
        .await
        .unwrap();
    assert_unavailable(login, "login").await;
    match tokio_tungstenite::connect_async(format!("{ws_url}?access_token={bob}")).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("a WebSocket during the outage: {other:?}"),
    }
    // A missing or bad token is still 401: no database is needed to say so.
    let bad = http
        .get(node_a.url("/api/v1/users/me"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let none = http
        .get(node_a.url("/api/v1/users/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    // Liveness holds; readiness names what is down: the database, and soon the listener.
    for node in [&node_a, &node_b] {
        let alive = http.get(node.url("/healthz")).send().await.unwrap();
        assert_eq!(alive.status(), StatusCode::OK);
        let mut body = Value::Null;
        for _ in 0..50 {
            let (status, answer) = readyz(&http, node).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
            body = answer;
            if body["event_bus"] == "down" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["database"], "down");
        assert_eq!(body["event_bus"], "down");
        assert_eq!(body["down"], json!(["database", "event_bus"]));
    }
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(stopped.elapsed())).await;

    // PostgreSQL is back.
    proxy.resume().await;
    let back = Instant::now();
    let mut ready_after = [None, None];
    while ready_after.iter().any(Option::is_none) {
        for (index, node) in [&node_a, &node_b].into_iter().enumerate() {
            if ready_after[index].is_none() && readyz(&http, node).await.0 == StatusCode::OK {
                ready_after[index] = Some(back.elapsed());
            }
        }
        assert!(
            back.elapsed() < RECOVERY_LIMIT,
            "not ready again: {ready_after:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let sends_after = back.elapsed();
    assert!(sends_after < RECOVERY_LIMIT, "{sends_after:?}");
    expect(
        browser
            .get(node_a.url("/api/v1/users/me"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    for i in 0..5 {
        let text = format!("after-{i}");
        send_until_acknowledged(&http, &node_b.base, &bob, &chat, &text).await;
        expected.push(text);
    }
    eprintln!(
        "outage of {:?}: /readyz 200 again after {:?} (node A) and {:?} (node B); every send \
         retried through the outage acknowledged {sends_after:?} after the database came back",
        back - stopped,
        ready_after[0].unwrap(),
        ready_after[1].unwrap(),
    );

    // Every message is stored once, with contiguous seqs.
    let history = full_history(&http, &node_b, &bob, &chat).await;
    let texts: Vec<String> = history
        .iter()
        .map(|message| message["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts.len(), expected.len(), "stored once each: {texts:?}");
    assert_eq!(
        texts.iter().collect::<HashSet<_>>(),
        expected.iter().collect::<HashSet<_>>()
    );
    let seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=expected.len() as i64).collect::<Vec<_>>());

    // Subscribers on both nodes got every message once; none was ever told 401.
    for (who, client) in [("SSE on node A", &on_a), ("SSE on node B", &on_b)] {
        let received = client.until(expected.len()).await;
        assert_each_once(&received, &expected, who);
        assert!(client.unexpected.lock().unwrap().is_empty(), "{who}");
        eprintln!(
            "{who}: resumed {} time(s)",
            client.reconnects.load(Ordering::Relaxed)
        );
    }
    // The WebSocket stayed open and got everything once, or closed with a reason.
    let mut over_ws = Vec::new();
    let mut closed_with = None;
    while over_ws.len() < expected.len() {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next()).await;
        match frame {
            Ok(Some(Ok(tungstenite::Message::Text(text)))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["kind"] == "message_created" {
                    over_ws.push((
                        frame["cursor"].as_i64().unwrap(),
                        frame["data"]["text"].as_str().unwrap().to_owned(),
                    ));
                } else if let Some(code) = frame["error"]["code"].as_str() {
                    closed_with = Some(code.to_owned());
                }
            }
            Ok(Some(Ok(tungstenite::Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("the WebSocket went silent: {over_ws:?}"),
        }
    }
    match closed_with {
        None => assert_each_once(&over_ws, &expected, "WebSocket on node B"),
        Some(code) => assert_eq!(code, "unavailable", "the WebSocket closed with a reason"),
    }

    drop((on_a, on_b, socket));
    node_a.stop();
    node_b.stop();
    drop(proxy);
    drop(database);
}
