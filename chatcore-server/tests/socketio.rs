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

/// The body of a request's answer.
async fn text_of(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

/// Engine.IO long-polling by hand, with the same headers on every request: the handshake,
/// then Socket.IO's connect without `auth` (so the session cookie, if any, is what
/// authenticates). Answers the session's polling URL and the server's answer to the connect.
async fn connect_polling(
    http: &reqwest::Client,
    server: &Server,
    headers: &[(&str, String)],
) -> (String, String) {
    let with_headers = |request: reqwest::RequestBuilder| {
        headers.iter().fold(request, |request, (name, value)| {
            request.header(*name, value)
        })
    };
    let open = text_of(with_headers(
        http.get(server.url("/socket.io/?EIO=4&transport=polling")),
    ))
    .await;
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
        let payload = text_of(with_headers(http.get(&polling))).await;
        if let Some(packet) = payload.split('\x1e').find(|packet| packet.starts_with('4')) {
            return (polling, packet.to_owned());
        }
    }
    panic!("no answer to the connect");
}

/// [`connect_polling`]'s answer to the connect.
async fn connect_by_cookie(server: &Server, headers: &[(&str, String)]) -> String {
    connect_polling(&reqwest::Client::new(), server, headers)
        .await
        .1
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

/// A new anonymous Socket.IO connection over long-polling runs `event` with `args` and
/// answers its acknowledgement.
async fn on_a_new_socket(
    server: &Server,
    event: &str,
    args: serde_json::Value,
) -> serde_json::Value {
    let http = reqwest::Client::new();
    let (polling, connected) = connect_polling(&http, server, &[]).await;
    assert!(connected.starts_with("40{\"sid\""), "{connected}");
    // The event with acknowledgement id 1: `421["event", args]`; its answer is `431[answer]`.
    let packet = format!("421{}", serde_json::json!([event, args]));
    http.post(&polling).body(packet).send().await.unwrap();
    let mut payloads = Vec::new();
    for _ in 0..10 {
        let payload = text_of(http.get(&polling)).await;
        if let Some(ack) = payload
            .split('\x1e')
            .find_map(|packet| packet.strip_prefix("431"))
        {
            let answer: serde_json::Value = serde_json::from_str(ack).unwrap();
            return answer[0].clone();
        }
        payloads.push(payload);
    }
    panic!("no acknowledgement of {event}: {payloads:?}");
}

/// A server on a new SQLite file with the per-address limits `env` sets.
async fn limited(env: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("chat.db").display());
    let server = Server::start_with(&url, dir.path(), free_port(), env).await;
    (dir, server)
}

/// `user login` and `user register` over Socket.IO count against the same per-address rates
/// as `POST /auth/login` and `POST /auth/register`: a new socket per attempt does not get
/// around them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_sign_ins_count_against_the_address_rates() {
    let (_dir, server) = limited(&[
        ("CHATCORE_IP_LOGINS", "2/10m"),
        ("CHATCORE_IP_REGISTRATIONS", "2/10m"),
    ])
    .await;
    let http = reqwest::Client::new();
    // The first registration, over HTTP.
    support::register_on(&http, &server, "ada").await;
    let login = |password: &str| serde_json::json!({"login": "ada", "password": password});

    let rest = |path: &str, body: serde_json::Value| {
        let request = http.post(server.url(path)).json(&body).send();
        async move { request.await.unwrap().status() }
    };
    assert_eq!(
        rest("/api/v1/auth/login", login("wrong password")).await,
        401
    );
    let refused = on_a_new_socket(&server, "user login", login("wrong password")).await;
    assert_eq!(refused["error"]["code"], "invalid_login", "{refused}");
    // Two logins spent, whichever transport they came by: the right password is refused too.
    let limited = on_a_new_socket(&server, "user login", login("ada long secret")).await;
    assert_eq!(limited["error"]["code"], "rate_limited", "{limited}");
    assert!(
        limited["error"]["retry_after"].as_u64().unwrap() >= 1,
        "{limited}"
    );
    assert_eq!(
        rest("/api/v1/auth/login", login("ada long secret")).await,
        429
    );

    let register = |name: &str| {
        let password = format!("{name} long secret");
        serde_json::json!({"username": name, "password": password})
    };
    let registered = on_a_new_socket(&server, "user register", register("bob")).await;
    assert!(registered["session"]["token"].is_string(), "{registered}");
    let limited = on_a_new_socket(&server, "user register", register("cyd")).await;
    assert_eq!(limited["error"]["code"], "rate_limited", "{limited}");
    assert_eq!(rest("/api/v1/auth/register", register("dan")).await, 429);
}

/// Engine.IO's requests (here, handshakes) count against the per-address ceiling on requests,
/// with the HTTP app's own: past it, both answer 429 `rate_limited`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_requests_count_against_the_address_ceiling() {
    let (_dir, server) = limited(&[("CHATCORE_IP_REQUESTS", "4/10m")]).await;
    let http = reqwest::Client::new();
    let handshake = || {
        http.get(server.url("/socket.io/?EIO=4&transport=polling"))
            .send()
    };
    // The server's start-up check of `/healthz` spent one request of the four.
    for _ in 0..3 {
        let open = handshake().await.unwrap();
        assert_eq!(open.status(), 200);
        assert!(open.text().await.unwrap().starts_with("0{"));
    }
    let refused = handshake().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // The same counters as the app's.
    let status = http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 429);
}

/// A client may emit as soon as its connect is answered: every socket's first event gets its
/// acknowledgement (the socket listens before the connect packet goes out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_sent_right_after_the_connect_is_answered() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("chat.db").display());
    let server = Server::start(&url, dir.path()).await;
    let socket_url = server
        .url("/socket.io/?EIO=4&transport=websocket")
        .replacen("http://", "ws://", 1);
    for attempt in 0..100 {
        let (socket, _) = tokio_tungstenite::connect_async(&socket_url).await.unwrap();
        let (mut sink, mut stream) = socket.split();
        let mut next = async || loop {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
                .await
                .unwrap_or_else(|_| panic!("socket {attempt}: nothing within 5 seconds"))
                .expect("the socket closed")
                .unwrap();
            if let Message::Text(text) = frame {
                break text.to_string();
            }
        };
        assert!(next().await.starts_with("0{"));
        sink.send(Message::text("40")).await.unwrap();
        while !next().await.starts_with("40{") {}
        // At once: `user data` with acknowledgement id 1, which an anonymous socket is refused.
        sink.send(Message::text(r#"421["user data",{}]"#))
            .await
            .unwrap();
        let ack = loop {
            if let Some(ack) = next().await.strip_prefix("431") {
                break serde_json::from_str::<serde_json::Value>(ack).unwrap();
            }
        };
        assert_eq!(ack[0]["error"]["code"], "not_authorized", "{ack}");
        sink.close().await.unwrap();
    }
}
