//! Event streams over HTTP as a resource: closed streams leave no follower behind, a session
//! cannot hold more than its share, a request that is not a valid WebSocket handshake opens
//! nothing, and a cookie-authenticated WebSocket must come from an allowed origin.
//!
//! In-process: `TestClient` where no socket is needed, and the app on a real local port where
//! connections must open and close as a client's do.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatcore::{ChatCore, Service};
use chatcore_http::{HttpOptions, app};
use poem::EndpointExt;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::test::{TestClient, TestResponse};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Client = TestClient<poem::endpoint::BoxEndpoint<'static>>;

async fn in_process(options: HttpOptions) -> (Client, ChatCore) {
    let service = chatcore_sqlite::open_in_memory().await.unwrap();
    let shared: Arc<dyn Service> = Arc::new(service.clone());
    let endpoint = app(shared, options).map_to_response().boxed();
    (TestClient::new(endpoint), service)
}

/// The app on a free local port; returns `host:port`.
async fn on_a_port(options: HttpOptions) -> (String, ChatCore) {
    let service = chatcore_sqlite::open_in_memory().await.unwrap();
    let shared: Arc<dyn Service> = Arc::new(service.clone());
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app(shared, options)));
    (format!("127.0.0.1:{port}"), service)
}

/// Registers through the service; returns the session token.
async fn register(service: &ChatCore, username: &str) -> String {
    use chatcore::users::{Password, Register, Username};
    service
        .register(Register::new(
            Username::parse(username).unwrap(),
            Password::parse(format!("{username} long secret")).unwrap(),
        ))
        .await
        .unwrap()
        .session
        .token
}

/// Waits up to `patience` for the service's live subscriptions to be `expected`.
async fn live_subscriptions_become(service: &ChatCore, expected: usize, patience: Duration) {
    let deadline = Instant::now() + patience;
    while service.live_subscriptions() != expected {
        assert!(
            Instant::now() < deadline,
            "{} live subscriptions, expected {expected}",
            service.live_subscriptions()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn open_sse(client: &Client, token: &str) -> TestResponse {
    client
        .get("/api/v1/events")
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "text/event-stream")
        .send()
        .await
}

async fn status_and_body(response: TestResponse) -> (u16, Value) {
    let status = response.0.status().as_u16();
    let body = response.0.into_body().into_bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_sse_streams_leave_no_follower_behind() {
    let (client, service) = in_process(HttpOptions::default()).await;
    let token = register(&service, "quiet").await;
    assert_eq!(service.live_subscriptions(), 0);
    // A quiet account: no event ever arrives to tell a follower its stream is gone.
    for _ in 0..300 {
        let response = open_sse(&client, &token).await;
        response.assert_status_is_ok();
        drop(response);
    }
    live_subscriptions_become(&service, 0, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_over_real_connections_end_when_the_client_disconnects() {
    let (address, service) = on_a_port(HttpOptions::default()).await;
    let token = register(&service, "quiet").await;
    for _ in 0..30 {
        let mut request = format!("ws://{address}/api/v1/events")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        // Gone without a close frame, as a client that crashed.
        drop(socket);
    }
    live_subscriptions_become(&service, 0, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_over_real_connections_ends_when_the_client_disconnects() {
    let (address, service) = on_a_port(HttpOptions::default()).await;
    let token = register(&service, "quiet").await;
    let http = reqwest::Client::new();
    let open = || async {
        let response = http
            .get(format!("http://{address}/api/v1/events"))
            .bearer_auth(&token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response
    };
    // As many as the session may hold, each on its own connection, then all closed.
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(open().await);
    }
    assert_eq!(service.live_subscriptions(), 8);
    drop(held);
    // The server learns of the closed connections at its next keep-alive writes (within two
    // periods of 15 seconds), and the session has its whole allowance back.
    live_subscriptions_become(&service, 0, Duration::from_secs(40)).await;
    for _ in 0..8 {
        drop(open().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_over_its_stream_cap_is_told_to_retry() {
    let (client, service) = in_process(HttpOptions::default()).await;
    let token = register(&service, "greedy").await;
    let mut held = Vec::new();
    for _ in 0..8 {
        let response = open_sse(&client, &token).await;
        response.assert_status_is_ok();
        held.push(response);
    }
    let refused = open_sse(&client, &token).await;
    let retry_after: u64 = refused.0.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let (status, body) = status_and_body(refused).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Closing one stream makes room at once.
    held.pop();
    open_sse(&client, &token).await.assert_status_is_ok();
}

fn websocket_request<'a>(
    client: &'a Client,
    token: &str,
) -> poem::test::TestRequestBuilder<'a, poem::endpoint::BoxEndpoint<'static>> {
    client
        .get("/api/v1/events")
        .header("authorization", format!("Bearer {token}"))
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_websocket_handshake_opens_no_stream() {
    let (client, service) = in_process(HttpOptions::default()).await;
    let token = register(&service, "handshaker").await;
    let key = "dGhlIHNhbXBsZSBub25jZQ==";

    // No key, a key that is not 16 bytes, no `Connection: Upgrade`: 400, nothing opened.
    let cases = [
        websocket_request(&client, &token).header("sec-websocket-version", "13"),
        websocket_request(&client, &token)
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "short"),
        client
            .get("/api/v1/events")
            .header("authorization", format!("Bearer {token}"))
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", key),
    ];
    for request in cases {
        let (status, body) = status_and_body(request.send().await).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_input");
        assert_eq!(service.live_subscriptions(), 0, "no follower was started");
    }
    // A version other than 13: 426, naming the version spoken here.
    let response = websocket_request(&client, &token)
        .header("sec-websocket-version", "8")
        .header("sec-websocket-key", key)
        .send()
        .await;
    assert_eq!(response.0.headers()["sec-websocket-version"], "13");
    let (status, body) = status_and_body(response).await;
    assert_eq!(status, 426, "{body}");
    assert_eq!(service.live_subscriptions(), 0);

    // With the session's streams all taken, a bad handshake is still a bad handshake: it is
    // refused before any attempt to subscribe (which would be 429).
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(open_sse(&client, &token).await);
    }
    let (status, body) = status_and_body(
        websocket_request(&client, &token)
            .header("sec-websocket-version", "13")
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    drop(held);
    live_subscriptions_become(&service, 0, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_websocket_from_another_origin_is_refused_in_process() {
    let (client, service) = in_process(HttpOptions::default()).await;
    let token = register(&service, "cookie").await;
    let response = client
        .get("/api/v1/events")
        .header("cookie", format!("chatcore_session={token}"))
        .header("host", "chat.example")
        .header("origin", "https://evil.example")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await;
    let (status, body) = status_and_body(response).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(service.live_subscriptions(), 0);
}

/// Opens the WebSocket with these headers: `Ok` once upgraded, else the refusal's status.
async fn connect(
    address: &str,
    query: &str,
    headers: &[(&'static str, String)],
) -> Result<(), u16> {
    let mut request = format!("ws://{address}/api/v1/events{query}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, _)) => {
            socket.close(None).await.unwrap();
            Ok(())
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_websockets_must_come_from_an_allowed_origin() {
    let mut options = HttpOptions::default();
    options.allowed_origins = vec!["https://app.example".to_owned()];
    let (address, service) = on_a_port(options).await;
    let token = register(&service, "browser").await;
    let cookie = ("cookie", format!("theme=dark; chatcore_session={token}"));
    let origin = |value: &str| ("origin", value.to_owned());

    // By cookie: the server's own origin, an allowed one, or no browser at all.
    for allowed in [
        vec![cookie.clone(), origin(&format!("http://{address}"))],
        vec![cookie.clone(), origin("https://app.example")],
        vec![cookie.clone()],
    ] {
        assert_eq!(connect(&address, "", &allowed).await, Ok(()), "{allowed:?}");
    }
    for refused in [
        vec![cookie.clone(), origin("https://evil.example")],
        vec![cookie.clone(), origin("http://app.example")],
        vec![cookie.clone(), origin("null")],
    ] {
        assert_eq!(
            connect(&address, "", &refused).await,
            Err(403),
            "{refused:?}"
        );
    }
    // A bearer header or an access token cannot be sent by another site's page: not checked.
    let bearer = ("authorization", format!("Bearer {token}"));
    let evil = origin("https://evil.example");
    assert_eq!(connect(&address, "", &[bearer, evil.clone()]).await, Ok(()));
    let query = format!("?access_token={token}");
    assert_eq!(connect(&address, &query, &[evil]).await, Ok(()));
    live_subscriptions_become(&service, 0, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_bursts_reach_the_peer_once() {
    let (client, service) = in_process(HttpOptions::default()).await;
    let typist = register(&service, "typist").await;
    let reader = register(&service, "reader").await;
    let reader_id = service.authenticate(&reader).await.unwrap().user_id();
    let created = client
        .post("/api/v1/chats/direct")
        .header("authorization", format!("Bearer {typist}"))
        .body_json(&json!({ "user_id": reader_id }))
        .send()
        .await;
    let (status, chat) = status_and_body(created).await;
    assert_eq!(status, 201, "{chat}");
    let chat = chat["id"].as_str().unwrap().to_owned();
    let stream = open_sse(&client, &reader).await;
    let mut events = stream.sse_stream();
    for _ in 0..300 {
        client
            .post(format!("/api/v1/chats/{chat}/typing"))
            .header("authorization", format!("Bearer {typist}"))
            .send()
            .await
            .assert_status(poem::http::StatusCode::NO_CONTENT);
    }
    client
        .post(format!("/api/v1/chats/{chat}/messages"))
        .header("authorization", format!("Bearer {typist}"))
        .body_json(&json!({ "text": "done typing" }))
        .send()
        .await
        .assert_status(poem::http::StatusCode::CREATED);
    let mut typing = 0;
    loop {
        use futures::StreamExt;
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap()
            .unwrap();
        if let poem::web::sse::Event::Message { event, .. } = event {
            match event.as_str() {
                "typing" => typing += 1,
                "message_created" => break,
                _ => {}
            }
        }
    }
    assert_eq!(typing, 1);
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends a client frame and answers the server's reply, skipping the events in between.
async fn ask(socket: &mut Socket, frame: Value) -> Value {
    use futures::{SinkExt, StreamExt};
    socket
        .send(tungstenite::Message::text(frame.to_string()))
        .await
        .unwrap();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let tungstenite::Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame.get("kind").is_none() {
                return frame;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_commands_answer_like_rest_and_errors_leave_the_socket_usable() {
    use futures::SinkExt;

    let (address, service) = on_a_port(HttpOptions::default()).await;
    let token = register(&service, "commander").await;
    let peer = register(&service, "listener").await;
    let peer_id = service.authenticate(&peer).await.unwrap().user_id();
    let request = format!("ws://{address}/api/v1/events?access_token={token}")
        .into_client_request()
        .unwrap();
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let socket = &mut socket;
    let started = ask(
        socket,
        json!({"type": "start_direct_chat", "id": 1, "user_id": peer_id}),
    )
    .await;
    assert_eq!(started["id"], 1);
    let chat = started["result"]["id"].as_str().unwrap().to_owned();
    let sent = ask(
        socket,
        json!({"type": "send_message", "id": "two", "chat_id": chat, "text": "hi"}),
    )
    .await;
    assert_eq!(
        (sent["id"].as_str(), sent["result"]["text"].as_str()),
        (Some("two"), Some("hi"))
    );
    // Refusals: the stable code and the field, with the id; without an id, just the error.
    let missing = ask(
        socket,
        json!({"type": "send_message", "id": 3, "chat_id": chat}),
    )
    .await;
    assert_eq!(missing["id"], 3);
    assert_eq!(missing["error"]["code"], "invalid_input");
    assert_eq!(missing["error"]["field"], "text");
    let unknown = ask(socket, json!({"type": "teleport"})).await;
    assert_eq!(unknown["error"]["code"], "not_found");
    let garbage = ask(socket, json!(["not", "an", "object"])).await;
    assert_eq!(garbage["error"]["code"], "invalid_input");
    // Still usable; typing keeps its short name and answers nothing on success.
    socket
        .send(tungstenite::Message::text(
            json!({"type": "typing", "chat_id": chat}).to_string(),
        ))
        .await
        .unwrap();
    let history = ask(
        socket,
        json!({"type": "list_messages", "id": 4, "chat_id": chat}),
    )
    .await;
    assert_eq!(history["result"].as_array().unwrap().len(), 1, "{history}");
}
