//! The example's host app on a real port, with the chat nested in it: REST calls, the event
//! stream as SSE and as a WebSocket through the nested path, the host's login opening a chat
//! session, and the chat's own 404 under its prefix.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chatcore::Service;
use futures::{SinkExt, StreamExt};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The example app on a free local port over in-memory SQLite; returns `host:port`.
async fn start() -> String {
    let chat: Arc<dyn Service> = Arc::new(chatcore_sqlite::open_in_memory().await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = example_axum::app(chat).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address.to_string()
}

/// A Socket.IO client over WebSocket at the chat's path, past Engine.IO's open packet.
struct SocketIo(WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>);

impl SocketIo {
    async fn open(address: &str) -> SocketIo {
        let url = format!("ws://{address}/chat/socket.io/?EIO=4&transport=websocket");
        let (socket, response) = tokio_tungstenite::connect_async(url).await.unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        let mut socket = SocketIo(socket);
        assert!(socket.next().await.starts_with("0{"));
        socket
    }

    /// The next text frame, within 10 seconds.
    async fn next(&mut self) -> String {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.0.next())
                .await
                .expect("nothing within 10 seconds")
                .expect("the socket closed")
                .unwrap();
            if let Message::Text(text) = frame {
                return text.to_string();
            }
        }
    }

    async fn send(&mut self, text: String) {
        self.0.send(Message::text(text)).await.unwrap();
    }

    /// Sends Socket.IO's connect (`40`, then the `auth` JSON if any) and answers the server's
    /// reply, past Engine.IO's pings (`2`), which may come first.
    async fn connect(&mut self, auth: Option<Value>) -> String {
        let auth = auth.map(|auth| auth.to_string()).unwrap_or_default();
        self.send(format!("40{auth}")).await;
        loop {
            let frame = self.next().await;
            if frame != "2" {
                return frame;
            }
        }
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A session opened by the host app's login.
struct Login {
    token: String,
    set_cookie: String,
}

impl Login {
    /// The `Cookie` header a browser sends back.
    fn cookie(&self) -> String {
        self.set_cookie.split(';').next().unwrap().to_owned()
    }
}

async fn login(http: &Client, address: &str, username: &str, password: &str) -> Login {
    let response = http
        .post(format!("http://{address}/login"))
        .header("content-type", FORM)
        .body(format!("username={username}&password={password}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    Login {
        token: body["chat_token"].as_str().unwrap().to_owned(),
        set_cookie,
    }
}

async fn get_json(http: &Client, url: String, token: &str) -> (StatusCode, Value) {
    let response = http.get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Ada and Alan log in to the host app; Ada starts a direct chat with Alan. Returns their
/// sessions and the chat's id.
async fn ada_and_alan(http: &Client, address: &str) -> (Login, Login, String) {
    let ada = login(http, address, "ada", "analytical").await;
    let alan = login(http, address, "alan", "enigma").await;
    let (_, me) = get_json(
        http,
        format!("http://{address}/chat/api/v1/users/me"),
        &alan.token,
    )
    .await;
    let response = http
        .post(format!("http://{address}/chat/api/v1/chats/direct"))
        .bearer_auth(&ada.token)
        .json(&json!({ "user_id": me["id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let direct: Value = response.json().await.unwrap();
    let chat_id = direct["id"].as_str().unwrap().to_owned();
    (ada, alan, chat_id)
}

async fn send(http: &Client, address: &str, token: &str, chat_id: &str, text: &str) {
    let response = http
        .post(format!(
            "http://{address}/chat/api/v1/chats/{chat_id}/messages"
        ))
        .bearer_auth(token)
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{}",
        response.text().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_login_opens_a_chat_session_with_a_cookie_for_the_chat_path() {
    let address = start().await;
    let http = Client::new();

    let ada = login(&http, &address, "ada", "analytical").await;
    for attribute in ["Path=/chat;", "HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(ada.set_cookie.contains(attribute), "{}", ada.set_cookie);
    }
    // The browser's cookie alone is a chat session.
    let response = http
        .get(format!("http://{address}/chat/api/v1/users/me"))
        .header("cookie", ada.cookie())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["username"], "ada");
    assert_eq!(me["display_name"], "Ada Lovelace");

    // Logging in again reuses the same chat user; a wrong password opens nothing.
    let again = login(&http, &address, "ada", "analytical").await;
    let (_, me_again) = get_json(
        &http,
        format!("http://{address}/chat/api/v1/users/me"),
        &again.token,
    )
    .await;
    assert_eq!(me_again["id"], me["id"]);
    let refused = http
        .post(format!("http://{address}/login"))
        .header("content-type", FORM)
        .body("username=ada&password=difference+engine")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().get("set-cookie").is_none());

    // The chat's logout clears the cookie on the same path.
    let response = http
        .post(format!("http://{address}/chat/api/v1/auth/logout"))
        .header("cookie", ada.cookie())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.contains("Path=/chat;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_api_and_its_docs_answer_under_the_prefix_beside_the_host_routes() {
    let address = start().await;
    let http = Client::new();

    let home = http.get(format!("http://{address}/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("Host app"));

    let (ada, _, chat_id) = ada_and_alan(&http, &address).await;
    send(&http, &address, &ada.token, &chat_id, "through axum").await;
    let (status, page) = get_json(
        &http,
        format!("http://{address}/chat/api/v1/chats/{chat_id}/messages"),
        &ada.token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.to_string().contains("through axum"), "{page}");

    // The document announces the API where the host serves it; the docs are there too.
    let spec: Value = http
        .get(format!("http://{address}/chat/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spec["servers"][0]["url"], "/chat/api/v1");
    let docs = http
        .get(format!("http://{address}/chat/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let docs = docs.text().await.unwrap();
    assert!(docs.contains("swagger") && docs.contains("/chat/api/v1"));
    let health = http
        .get(format!("http://{address}/chat/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // Avatars are linked where the host serves them.
    let uploaded: Value = http
        .put(format!("http://{address}/chat/api/v1/users/me/avatar"))
        .bearer_auth(&ada.token)
        .header("content-type", "image/png")
        .body(chatcore::testkit::sample_png(64, 64))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let avatar_url = uploaded["avatar_url"].as_str().unwrap();
    assert!(avatar_url.starts_with("/chat/api/v1/users/"), "{uploaded}");
    let image = http
        .get(format!("http://{address}{avatar_url}"))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_chat_path_is_the_chat_apis_404_not_the_host_fallback() {
    let address = start().await;
    let http = Client::new();

    let response = http
        .get(format!("http://{address}/chat/api/v1/no-such-resource"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");

    let response = http
        .get(format!("http://{address}/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.text().await.unwrap(), "host app: no such page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_stream_through_the_nested_path() {
    let address = start().await;
    let http = Client::new();
    let (ada, alan, chat_id) = ada_and_alan(&http, &address).await;

    let mut stream = http
        .get(format!("http://{address}/chat/api/v1/events"))
        .bearer_auth(&alan.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");

    // The response is still open: each event arrives as it happens, not when a body ends.
    send(&http, &address, &ada.token, &chat_id, "first").await;
    send(&http, &address, &ada.token, &chat_id, "second").await;
    let mut received = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !received.contains("\"second\"") {
            let chunk = stream.chunk().await.unwrap().expect("the stream ended");
            received.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no events within 10 seconds: {received:?}"));
    assert!(received.contains("event: message_created"), "{received}");
    assert!(
        received.find("\"first\"") < received.find("\"second\""),
        "{received}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_websocket_upgrades_through_the_nested_path() {
    let address = start().await;
    let http = Client::new();
    let (ada, alan, chat_id) = ada_and_alan(&http, &address).await;

    // Alan's browser: the chat cookie from the host's login, from the host's own page.
    let mut request = format!("ws://{address}/chat/api/v1/events")
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("cookie", alan.cookie().parse().unwrap());
    headers.insert("origin", format!("http://{address}").parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);

    send(&http, &address, &ada.token, &chat_id, "over the socket").await;
    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await.expect("the socket closed").unwrap() {
                Message::Text(text) => break serde_json::from_str::<Value>(&text).unwrap(),
                _ => continue,
            }
        }
    })
    .await
    .expect("no event within 10 seconds");
    assert_eq!(event["kind"], "message_created");
    assert_eq!(event["chat_id"], chat_id.as_str());
    assert_eq!(event["data"]["text"], "over the socket");

    // The socket carries the client's messages the other way: a bad one is answered.
    socket
        .send(Message::text("{\"type\":\"shout\"}"))
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(reply["error"]["code"], "not_found");
    socket.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_connects_over_websocket_through_the_nested_path() {
    let address = start().await;
    let http = Client::new();
    let (ada, alan, chat_id) = ada_and_alan(&http, &address).await;
    // Socket.IO's connect, with Alan's token from the host login, answered once the socket
    // follows Alan's events (Engine.IO pings, `2`, may come in between).
    let mut socket = SocketIo::open(&address).await;
    let connected = socket.connect(Some(json!({"token": alan.token}))).await;
    assert!(connected.starts_with("40{"), "{connected}");
    send(&http, &address, &ada.token, &chat_id, "over socket.io").await;
    // `42["message add", event]`, the event as SSE carries it.
    let pushed = loop {
        if let Some(packet) = socket.next().await.strip_prefix("42") {
            break serde_json::from_str::<Value>(packet).unwrap();
        }
    };
    assert_eq!(pushed[0], "message add");
    assert_eq!(pushed[1]["data"]["text"], "over socket.io");
    assert_eq!(pushed[1]["chat_id"], chat_id.as_str());
    socket.0.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_limits_logins_per_client_address_given_by_the_host() {
    let address = start().await;
    let http = Client::new();
    // `IpLimits::default()`: 20 logins per address and minute (one more every 3 seconds);
    // the chat only counts them when the host tells it the client's address.
    let mut refused = 0;
    for _ in 0..40 {
        let response = http
            .post(format!("http://{address}/chat/api/v1/auth/login"))
            .json(&json!({ "login": "nobody", "password": "not a password" }))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            401 => refused += 1,
            429 => {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "rate_limited");
                assert!(refused >= 20, "limited after {refused} logins");
                return;
            }
            other => panic!("{other}"),
        }
    }
    panic!("40 logins from one address, none limited");
}

/// Socket.IO's `user login` shares the chat's per-address login rate with `POST
/// /auth/login`: once REST logins from an address are limited, a login on a new socket from
/// it is refused as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_logins_count_against_the_same_per_address_rate() {
    let address = start().await;
    let http = Client::new();
    let wrong = json!({ "login": "nobody", "password": "not a password" });
    let mut limited = false;
    for _ in 0..40 {
        let response = http
            .post(format!("http://{address}/chat/api/v1/auth/login"))
            .json(&wrong)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "40 logins from one address, none limited");

    // Socket.IO's connect without a token: the socket may only register or log in.
    let mut socket = SocketIo::open(&address).await;
    let connected = socket.connect(None).await;
    assert!(connected.starts_with("40{"), "{connected}");
    // `user login` with acknowledgement id 1: `421["user login", args]`, answered `431[...]`.
    socket
        .send(format!("421{}", json!(["user login", wrong])))
        .await;
    let answer = loop {
        if let Some(ack) = socket.next().await.strip_prefix("431") {
            break serde_json::from_str::<Value>(ack).unwrap();
        }
    };
    assert_eq!(answer[0]["error"]["code"], "rate_limited", "{answer}");
    socket.0.close(None).await.unwrap();
}
