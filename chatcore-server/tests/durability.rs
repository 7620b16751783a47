//! Nothing acknowledged is lost, nothing is stored twice, whatever happens to the process:
//! the real `chatcore-server` is killed (SIGKILL) during concurrent sends and restarted, on
//! SQLite and on PostgreSQL; and stopped (SIGTERM) under load, which answers no 5xx and exits
//! with 0.
//!
//! Clients behave as the API asks: every send carries a `client_id`, and a send that got no
//! answer (or 503) is retried with the same one until it is acknowledged.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatcore::testkit::TestDatabase;
use reqwest::{Client, StatusCode};
use serde_json::json;
use support::{Server, free_port, full_history, post, register_on};

/// Clients sending at once, each as its own user, into one group.
const CLIENTS: usize = 4;
/// Messages each client sends in the SIGKILL test.
const MESSAGES_PER_CLIENT: usize = 40;
/// What the servers of these tests are started with.
/// Quiet logs, and no rate limits: these runs send far faster than one person would (the
/// limits have tests of their own in chatcore-http/tests/limits.rs).
const QUIET: &[(&str, &str)] = &[
    ("CHATCORE_LOG", "error"),
    ("CHATCORE_NO_RATE_LIMITS", "true"),
];

/// What one send came to.
enum Outcome {
    /// Acknowledged (201), with the seq the message got.
    Acknowledged(i64),
    /// No answer: the connection failed or was cut (the process died or is stopping).
    NoAnswer,
}

/// One attempt at sending `text` with itself as `client_id`. Answers other than 201, 429 and
/// 503 fail the test; 429 and 503 are retried here after a pause.
async fn send_once(http: &Client, base: &str, token: &str, chat: &str, text: &str) -> Outcome {
    loop {
        let sent = http
            .post(format!("{base}/api/v1/chats/{chat}/messages"))
            .bearer_auth(token)
            .json(&json!({"text": text, "client_id": text}))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(_) => return Outcome::NoAnswer,
        };
        let status = response.status();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let body = response.text().await;
        let Ok(body) = body else {
            return Outcome::NoAnswer;
        };
        assert_eq!(status, StatusCode::CREATED, "sending {text}: {body}");
        let message: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(message["text"], text);
        return Outcome::Acknowledged(message["seq"].as_i64().unwrap());
    }
}

/// A group of [`CLIENTS`] users on `server`: the chat id and each user's token.
async fn group_of_clients(http: &Client, server: &Server) -> (String, Vec<String>) {
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for client in 0..CLIENTS {
        let (token, id) = register_on(http, server, &format!("client{client}")).await;
        tokens.push(token);
        ids.push(id);
    }
    let group = post(
        http,
        server.url("/api/v1/chats/groups"),
        Some(&tokens[0]),
        json!({"title": "Durable", "members": ids[1..]}),
        201,
    )
    .await;
    (group["id"].as_str().unwrap().to_owned(), tokens)
}

/// Asserts that the chat holds each of `texts` once, with contiguous seqs from 1, and that
/// each acknowledged message kept the seq it was acknowledged with.
async fn assert_stored_once(
    http: &Client,
    server: &Server,
    token: &str,
    chat: &str,
    acknowledged: &HashMap<String, i64>,
) {
    let history = full_history(http, server, token, chat).await;
    let mut stored: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for message in &history {
        stored
            .entry(message["text"].as_str().unwrap().to_owned())
            .or_default()
            .push(message["seq"].as_i64().unwrap());
    }
    let twice: Vec<_> = stored.iter().filter(|(_, seqs)| seqs.len() > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    for (text, seq) in acknowledged {
        assert_eq!(
            stored.get(text),
            Some(&vec![*seq]),
            "{text} was acknowledged with seq {seq}"
        );
    }
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "nothing unacknowledged stayed"
    );
    let seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=history.len() as i64).collect::<Vec<_>>(),
        "contiguous seqs"
    );
}

/// Kills the server twice while [`CLIENTS`] clients send, restarting it on the same port;
/// every message ends up stored once, at the seq it was acknowledged with.
async fn killed_during_sends(database_url: &str, dir: &Path) {
    let port = free_port();
    let server = Server::start_with(database_url, dir, port, QUIET).await;
    let base = server.base.clone();
    let http = Client::new();
    let (chat, tokens) = group_of_clients(&http, &server).await;

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let unanswered = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for token in tokens.clone() {
        let client = clients.len();
        let (http, base, chat) = (http.clone(), base.clone(), chat.clone());
        let (acknowledged, unanswered) = (acknowledged.clone(), unanswered.clone());
        clients.push(tokio::spawn(async move {
            let mut seqs = HashMap::new();
            for i in 0..MESSAGES_PER_CLIENT {
                let text = format!("client{client}-{i}");
                let deadline = Instant::now() + Duration::from_secs(60);
                // Retried with the same client_id until acknowledged, across the restarts.
                loop {
                    match send_once(&http, &base, &token, &chat, &text).await {
                        Outcome::Acknowledged(seq) => {
                            seqs.insert(text, seq);
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Outcome::NoAnswer => {
                            unanswered.fetch_add(1, Ordering::Relaxed);
                            assert!(Instant::now() < deadline, "{text} never acknowledged");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
            seqs
        }));
    }

    let total = CLIENTS * MESSAGES_PER_CLIENT;
    let mut server = server;
    let mut restarts = Vec::new();
    for kill_at in [total / 4, total * 3 / 5] {
        while acknowledged.load(Ordering::Relaxed) < kill_at {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::task::spawn_blocking(move || server.kill())
            .await
            .unwrap();
        let killed = Instant::now();
        server = Server::start_with(database_url, dir, port, QUIET).await;
        restarts.push(killed.elapsed());
    }
    let mut acknowledged_seqs = HashMap::new();
    for client in clients {
        acknowledged_seqs.extend(client.await.unwrap());
    }
    assert_eq!(acknowledged_seqs.len(), total);
    eprintln!(
        "{total} messages from {CLIENTS} clients, server killed twice (restarted in {restarts:?}); \
         {} sends got no answer and were retried",
        unanswered.load(Ordering::Relaxed)
    );
    assert_stored_once(&http, &server, &tokens[0], &chat, &acknowledged_seqs).await;
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_sends_loses_and_duplicates_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    killed_during_sends("sqlite:./chat.db", dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_sends_loses_and_duplicates_nothing_on_postgres() {
    let Some(database) = TestDatabase::create("chatcore_durability").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    killed_during_sends(database.url(), dir.path()).await;
    drop(database);
}

/// SIGTERM while clients send: every request gets a non-5xx answer or no answer at all (the
/// port closes), the process exits with 0, and after a restart every acknowledged message is
/// there once (those without an answer are retried with their `client_id` then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_no_5xx_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let url = "sqlite:./chat.db";
    let port = free_port();
    let server = Server::start_with(url, dir.path(), port, QUIET).await;
    let base = server.base.clone();
    let http = Client::new();
    let (chat, tokens) = group_of_clients(&http, &server).await;

    let stopping = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, usize>::new()));
    let mut clients = Vec::new();
    for token in tokens.clone() {
        let client = clients.len();
        let (http, base, chat) = (http.clone(), base.clone(), chat.clone());
        let (stopping, statuses) = (stopping.clone(), statuses.clone());
        clients.push(tokio::spawn(async move {
            let mut acknowledged = HashMap::new();
            let mut i = 0;
            loop {
                let text = format!("client{client}-{i}");
                let sent = http
                    .post(format!("{base}/api/v1/chats/{chat}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"text": text, "client_id": text}))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match sent {
                    Ok(response) => {
                        let status = response.status();
                        *statuses.lock().unwrap().entry(status.as_u16()).or_default() += 1;
                        let body = response.text().await;
                        match (status, body) {
                            (StatusCode::CREATED, Ok(body)) => {
                                let message: serde_json::Value =
                                    serde_json::from_str(&body).unwrap();
                                acknowledged.insert(text, message["seq"].as_i64().unwrap());
                                i += 1;
                            }
                            // Cut mid-body while stopping: no answer, retried later.
                            (StatusCode::CREATED, Err(_)) => return (acknowledged, Some(text)),
                            // 429 or 503 would be retried; 5xx fails the test below.
                            _ => tokio::time::sleep(Duration::from_millis(50)).await,
                        }
                    }
                    // The server stopped taking requests: this one may or may not be stored.
                    Err(_) if stopping.load(Ordering::Relaxed) => {
                        return (acknowledged, Some(text));
                    }
                    Err(error) => panic!("a request failed before the server stopped: {error}"),
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    stopping.store(true, Ordering::Relaxed);
    let exit = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(0), "a clean exit: {exit}");
    let mut acknowledged = HashMap::new();
    let mut unanswered = Vec::new();
    for client in clients {
        let (client_acknowledged, pending) = client.await.unwrap();
        acknowledged.extend(client_acknowledged);
        unanswered.extend(pending);
    }
    let statuses = statuses.lock().unwrap().clone();
    eprintln!("answers during the SIGTERM test by status: {statuses:?}");
    assert!(
        statuses.keys().all(|&status| status < 500),
        "no 5xx: {statuses:?}"
    );
    assert!(acknowledged.len() > 10, "the clients were sending");

    // After a restart, the sends left without an answer are retried with their client_id.
    let server = Server::start_with(url, dir.path(), port, QUIET).await;
    for text in unanswered {
        let client: usize = text["client".len()..text.find('-').unwrap()]
            .parse()
            .unwrap();
        match send_once(&http, &server.base, &tokens[client], &chat, &text).await {
            Outcome::Acknowledged(seq) => {
                acknowledged.insert(text, seq);
            }
            Outcome::NoAnswer => panic!("the restarted server did not answer"),
        }
    }
    assert_stored_once(&http, &server, &tokens[0], &chat, &acknowledged).await;
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}
