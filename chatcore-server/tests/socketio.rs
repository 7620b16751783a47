//! Socket.IO with a stock client: `tests/socketio/seed002.py` runs seed 002's whole list of
//! events with python-socketio against the real binary, over WebSocket and over
//! long-polling on SQLite, and across two nodes on one PostgreSQL (Alice's sockets on one
//! node, Bob's on the other).
//!
//! python-socketio comes from `.ci/run`'s virtualenv (`clients/python/requirements.txt`).
//! Without it the tests say so and pass, unless `CI=true`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod contract;
mod support;

use std::path::PathBuf;
use std::process::Command;

use chatcore::testkit::TestDatabase;
use contract::{missing, on_path, run, text, workspace};
use support::{Server, free_port};

/// A Python that can `import socketio`.
fn python() -> Option<PathBuf> {
    let python = on_path("python3")?;
    let found = Command::new(&python)
        .args(["-c", "import socketio, websocket"])
        .status()
        .is_ok_and(|status| status.success());
    if found {
        Some(python)
    } else {
        missing(
            "python-socketio",
            "pip install -r clients/python/requirements.txt",
        )
    }
}

/// Runs seed 002 with Alice on `a`, Bob on `b`, over `transport`.
fn seed_002(python: &PathBuf, a: &Server, b: &Server, transport: &str) {
    let ran = run(Command::new(python)
        .arg(workspace().join("chatcore-server/tests/socketio/seed002.py"))
        .args([&a.base, &b.base, transport])
        .env("PYTHONDONTWRITEBYTECODE", "1"));
    let output = text(&ran);
    assert!(output.contains("seed 002 passed"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_002_over_websocket_and_polling_on_sqlite() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("chat.db").display());
    let server = Server::start(&url, dir.path()).await;
    seed_002(&python, &server, &server, "websocket");
    seed_002(&python, &server, &server, "polling");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_002_across_two_postgresql_nodes() {
    let Some(python) = python() else {
        return;
    };
    let Some(database) = TestDatabase::create("chatcore_socketio").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let node_a = Server::start(database.url(), dir.path()).await;
    let node_b = Server::start(database.url(), dir.path()).await;
    seed_002(&python, &node_a, &node_b, "websocket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("chat.db").display());
    let handshake = "/socket.io/?EIO=4&transport=polling";
    let on = Server::start(&url, dir.path()).await;
    let opened = reqwest::get(on.url(handshake)).await.unwrap();
    assert_eq!(opened.status(), 200);
    // Engine.IO's open packet: `0{"sid": ...}`.
    assert!(opened.text().await.unwrap().starts_with("0{\"sid\""));
    on.stop();
    let off = Server::start_with(
        &url,
        dir.path(),
        free_port(),
        &[("CHATCORE_NO_SOCKETIO", "true")],
    )
    .await;
    let refused = reqwest::get(off.url(handshake)).await.unwrap();
    assert_eq!(refused.status(), 404);
    assert_eq!(
        refused.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
}

/// Engine.IO long-polling by hand, with the same headers on every request: the handshake,
/// then Socket.IO's connect without `auth` (so the session cookie is what authenticates), and
/// the server's answer to it.
async fn connect_by_cookie(server: &Server, headers: &[(&str, String)]) -> String {
    let http = reqwest::Client::new();
    let with_headers = |request: reqwest::RequestBuilder| {
        headers.iter().fold(request, |request, (name, value)| {
            request.header(*name, value)
        })
    };
    let open = with_headers(http.get(server.url("/socket.io/?EIO=4&transport=polling")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let open: serde_json::Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let polling = server.url(&format!(
        "/socket.io/?EIO=4&transport=polling&sid={}",
        open["sid"].as_str().unwrap()
    ));
    with_headers(http.post(&polling).body("40"))
        .send()
        .await
        .unwrap();
    // Polls until Socket.IO answers (`4…`), skipping Engine.IO's pings (`2`); a payload holds
    // packets separated by 0x1e.
    for _ in 0..5 {
        let payload = with_headers(http.get(&polling))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if let Some(packet) = payload.split('\x1e').find(|packet| packet.starts_with('4')) {
            return packet.to_owned();
        }
    }
    panic!("no answer to the connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_connection_from_another_origin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("chat.db").display());
    let server = Server::start(&url, dir.path()).await;
    let (token, _) = support::register_on(&reqwest::Client::new(), &server, "cookie_user").await;
    let cookie = ("cookie", format!("chatcore_session={token}"));
    let own = connect_by_cookie(&server, &[cookie.clone(), ("origin", server.base.clone())]).await;
    // `40{"sid": ...}`: connected.
    assert!(own.starts_with("40{\"sid\""), "{own}");
    let evil = connect_by_cookie(
        &server,
        &[cookie, ("origin", "https://evil.example".to_owned())],
    )
    .await;
    // `44{"message": ...}`: CONNECT_ERROR.
    assert!(evil.starts_with("44{"), "{evil}");
    assert!(evil.contains("forbidden"), "{evil}");
}
