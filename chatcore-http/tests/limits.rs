//! Limits of the HTTP layer, each tripped and shown to recover: per client address (on a real
//! TCP server, where the peer address is known), per account through the
//! `chatcore::limits::RateLimited` wrapper, body sizes, login field lengths, slow and idle
//! connections, the session cookie and the OpenAPI document (the request log has its own
//! test binary, `request_log.rs`).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatcore::limits::{Rate, RateLimited, RateLimits};
use chatcore::users::{Password, Register, Username};
use chatcore::{ChatCore, Service};
use chatcore_http::limits::IpNet;
use chatcore_http::{HttpOptions, IpLimits, app, openapi_document, serve};
use poem::EndpointExt;
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "a long enough secret";

async fn core() -> ChatCore {
    chatcore_sqlite::open_in_memory().await.unwrap()
}

async fn add_user(service: &dyn Service, name: &str) -> String {
    let auth = service
        .register(Register::new(
            Username::parse(name).unwrap(),
            Password::parse(SECRET).unwrap(),
        ))
        .await
        .unwrap();
    auth.session.token
}

/// A real server on a free port of 127.0.0.1, stopped when dropped.
struct Live {
    address: SocketAddr,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Live {
    async fn start(service: Arc<dyn Service>, options: HttpOptions) -> Live {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let endpoint = app(service, options.clone());
            serve(
                listener,
                endpoint,
                &options,
                async {
                    let _ = stopped.await;
                },
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        });
        Live {
            address,
            http: reqwest::Client::new(),
            stop: Some(stop),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    async fn post(&self, path: &str, body: Value, forwarded_for: Option<&str>) -> (u16, Value) {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(forwarded_for) = forwarded_for {
            request = request.header("x-forwarded-for", forwarded_for);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").cloned();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == 429 {
            let wait: u64 = retry_after
                .expect("a 429 carries Retry-After")
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(wait >= 1, "{wait}");
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        }
        (status, body)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn login(name: &str, password: &str) -> Value {
    json!({"login": name, "password": password})
}

fn ip_limits(change: impl FnOnce(&mut IpLimits)) -> HttpOptions {
    let mut limits = IpLimits::default();
    change(&mut limits);
    let mut options = HttpOptions::default();
    options.ip_limits = Some(limits);
    options
}

#[tokio::test]
async fn logins_per_address_trip_and_recover() {
    let service = Arc::new(core().await);
    add_user(service.as_ref(), "ada").await;
    // A long window, so that slow password checks on a loaded machine do not refill it
    // before the third login.
    let options = ip_limits(|limits| limits.logins = Rate::new(2, Duration::from_secs(20)));
    let live = Live::start(service, options).await;
    for _ in 0..2 {
        let (status, _) = live
            .post("/api/v1/auth/login", login("ada", "wrong password"), None)
            .await;
        assert_eq!(status, 401);
    }
    // The right password does not help: the address is over its rate.
    let (status, _) = live
        .post("/api/v1/auth/login", login("ada", SECRET), None)
        .await;
    assert_eq!(status, 429);
    // Other routes are not affected.
    assert_eq!(
        live.http
            .get(live.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // One login every 10 s refills.
    tokio::time::sleep(Duration::from_millis(10_100)).await;
    let (status, _) = live
        .post("/api/v1/auth/login", login("ada", SECRET), None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn registrations_and_confirmations_per_address_trip_and_recover() {
    let service = Arc::new(core().await);
    let options = ip_limits(|limits| {
        let once = Rate::new(1, Duration::from_secs(3));
        limits.registrations = once;
        limits.password_reset_confirmations = once;
        limits.verification_confirmations = once;
    });
    let live = Live::start(service, options).await;
    let register = |name: &str| json!({"username": name, "password": SECRET});
    let reset = json!({"token": "not a token", "new_password": "another long secret"});
    let verify = json!({"token": "not a token"});

    assert_eq!(
        live.post("/api/v1/auth/register", register("ada"), None)
            .await
            .0,
        201
    );
    assert_eq!(
        live.post("/api/v1/auth/register", register("bob"), None)
            .await
            .0,
        429
    );
    let confirm = "/api/v1/auth/password-reset/confirm";
    assert_eq!(live.post(confirm, reset.clone(), None).await.0, 400);
    assert_eq!(live.post(confirm, reset.clone(), None).await.0, 429);
    let verification = "/api/v1/auth/verification/confirm";
    assert_eq!(live.post(verification, verify.clone(), None).await.0, 400);
    assert_eq!(live.post(verification, verify.clone(), None).await.0, 429);

    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        live.post("/api/v1/auth/register", register("bob"), None)
            .await
            .0,
        201
    );
    assert_eq!(live.post(confirm, reset, None).await.0, 400);
    assert_eq!(live.post(verification, verify, None).await.0, 400);
}

#[tokio::test]
async fn every_request_counts_against_the_ceiling_per_address() {
    let service = Arc::new(core().await);
    let options = ip_limits(|limits| limits.requests = Rate::new(3, Duration::from_secs(3)));
    let live = Live::start(service, options).await;
    let healthz = || live.http.get(live.url("/healthz")).send();
    for _ in 0..3 {
        assert_eq!(healthz().await.unwrap().status(), 200);
    }
    let refused = healthz().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(healthz().await.unwrap().status(), 200);
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let service: Arc<dyn Service> = Arc::new(core().await);
    let once = |trusted: Vec<IpNet>| {
        let mut options = ip_limits(|limits| limits.logins = Rate::per_hour(1));
        options.trusted_proxies = trusted;
        options
    };
    let attempt = login("nobody", "wrong password");

    // Not trusted: the header is the client's own words, and the peer is what counts.
    let direct = Live::start(service.clone(), once(Vec::new())).await;
    let path = "/api/v1/auth/login";
    assert_eq!(
        direct
            .post(path, attempt.clone(), Some("198.51.100.1"))
            .await
            .0,
        401
    );
    assert_eq!(
        direct
            .post(path, attempt.clone(), Some("198.51.100.2"))
            .await
            .0,
        429
    );

    // Behind a trusted proxy (here the test itself, on 127.0.0.1): each client counts alone.
    let proxied = Live::start(service, once(vec!["127.0.0.1/32".parse().unwrap()])).await;
    assert_eq!(
        proxied
            .post(path, attempt.clone(), Some("198.51.100.1"))
            .await
            .0,
        401
    );
    assert_eq!(
        proxied
            .post(path, attempt.clone(), Some("198.51.100.2"))
            .await
            .0,
        401
    );
    assert_eq!(
        proxied
            .post(path, attempt.clone(), Some("198.51.100.1"))
            .await
            .0,
        429
    );
    // What a client prepends is ignored: the proxy's entry is the rightmost.
    let forged = "198.51.100.99, 198.51.100.2";
    assert_eq!(
        proxied.post(path, attempt.clone(), Some(forged)).await.0,
        429
    );
    assert_eq!(
        proxied.post(path, attempt, Some("198.51.100.3")).await.0,
        401
    );
}

/// The in-process client (no peer address: no per-address limits) over a rate-limited
/// service.
fn in_process(service: Arc<dyn Service>, options: HttpOptions) -> TestClient<BoxEndpoint<'static>> {
    TestClient::new(app(service, options).map_to_response().boxed())
}

async fn reply(response: poem::test::TestResponse) -> (StatusCode, Option<String>, Value) {
    let status = response.0.status();
    let retry_after = response
        .0
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let bytes = response.0.into_body().into_bytes().await.unwrap();
    (
        status,
        retry_after,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn account_limits_answer_429_with_retry_after() {
    let mut limits = RateLimits::default();
    limits.login_failures = Rate::per_hour(2);
    limits.lockout = Duration::from_millis(800);
    limits.sends = Rate::new(1, Duration::from_secs(3));
    let service: Arc<dyn Service> = Arc::new(RateLimited::new(core().await, limits));
    let token = add_user(service.as_ref(), "ada").await;
    let client = in_process(service, HttpOptions::default());

    for _ in 0..2 {
        let (status, _, body) = reply(
            client
                .post("/api/v1/auth/login")
                .body_json(&login("ada", "wrong password"))
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "invalid_login");
    }
    let (status, retry_after, body) = reply(
        client
            .post("/api/v1/auth/login")
            .body_json(&login("ada", SECRET))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body["error"]["code"], "rate_limited");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (status, _, _) = reply(
        client
            .post("/api/v1/auth/login")
            .body_json(&login("ada", SECRET))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200);

    // Sends per user.
    let (_, _, group) = reply(
        client
            .post("/api/v1/chats/groups")
            .header("authorization", format!("Bearer {token}"))
            .body_json(&json!({"title": "Notes"}))
            .send()
            .await,
    )
    .await;
    let messages = format!("/api/v1/chats/{}/messages", group["id"].as_str().unwrap());
    let send = || {
        client
            .post(&messages)
            .header("authorization", format!("Bearer {token}"))
            .body_json(&json!({"text": "hello"}))
            .send()
    };
    assert_eq!(reply(send().await).await.0, 201);
    let (status, retry_after, _) = reply(send().await).await;
    assert_eq!(status, 429);
    let wait: u64 = retry_after.unwrap().parse().unwrap();
    assert!((1..=3).contains(&wait), "{wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(reply(send().await).await.0, 201);
}

#[tokio::test]
async fn json_bodies_over_the_limit_are_refused_before_they_are_read() {
    let service: Arc<dyn Service> = Arc::new(core().await);
    let client = in_process(service.clone(), HttpOptions::default());
    let huge = json!({"login": "x".repeat(4_000_000), "password": "whatever"}).to_string();

    // Declared length: refused on the header.
    let (status, _, body) = reply(
        client
            .post("/api/v1/auth/login")
            .content_type("application/json")
            .header("content-length", huge.len().to_string())
            .body(huge.clone())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");
    // Streamed without a length: refused after 64 KiB + 1 bytes, never parsed.
    for path in ["/api/v1/auth/login", "/api/v1/auth/register"] {
        let (status, _, _) = reply(
            client
                .post(path)
                .content_type("application/json")
                .body(huge.clone())
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 413, "{path}");
    }

    // On the wire: the head alone gets the 413; the body is never sent.
    let live = Live::start(service, HttpOptions::default()).await;
    let mut stream = TcpStream::connect(live.address).await.unwrap();
    stream
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nhost: test\r\n\
              content-type: application/json\r\ncontent-length: 4000000\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = vec![0; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut head))
        .await
        .expect("an answer without the body")
        .unwrap();
    let head = String::from_utf8_lossy(&head[..read]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

#[tokio::test]
async fn only_the_avatar_upload_gets_the_upload_limit() {
    let service: Arc<dyn Service> = Arc::new(core().await);
    let token = add_user(service.as_ref(), "ada").await;
    let mut options = HttpOptions::default();
    options.max_upload_bytes = 200 * 1024;
    let client = in_process(service, options);
    let bearer = format!("Bearer {token}");
    let sized = |bytes: usize| vec![b'x'; bytes];

    // 100 KiB: over the JSON limit, under the upload limit: read, and refused as no image.
    let (status, _, body) = reply(
        client
            .put("/api/v1/users/me/avatar")
            .header("authorization", bearer.clone())
            .content_type("image/png")
            .header("content-length", "102400")
            .body(sized(100 * 1024))
            .send()
            .await,
    )
    .await;
    assert_ne!(status, 413, "{body}");
    // Over the upload limit (plus framing): refused on the header.
    let too_big = 200 * 1024 + 64 * 1024 + 1;
    let (status, _, _) = reply(
        client
            .put("/api/v1/users/me/avatar")
            .header("authorization", bearer.clone())
            .content_type("image/png")
            .header("content-length", too_big.to_string())
            .body(sized(too_big))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 413);
    // The same without a declared length: cut off at the limit, never held whole.
    let (status, _, body) = reply(
        client
            .put("/api/v1/users/me/avatar")
            .header("authorization", bearer.clone())
            .content_type("image/png")
            .body(sized(too_big))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");
    // The same 100 KiB anywhere else is over the JSON limit.
    let (status, _, _) = reply(
        client
            .patch("/api/v1/users/me")
            .header("authorization", bearer)
            .content_type("application/json")
            .body(sized(100 * 1024))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn overlong_login_fields_are_invalid_input() {
    let service: Arc<dyn Service> = Arc::new(core().await);
    add_user(service.as_ref(), "ada").await;
    let client = in_process(service, HttpOptions::default());
    let attempt = |body: Value| client.post("/api/v1/auth/login").body_json(&body).send();

    let (status, _, body) = reply(attempt(login(&"a".repeat(321), SECRET)).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_input");
    let (status, _, body) = reply(attempt(login("ada", &"p".repeat(1025))).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_input");
    // At the limits: an ordinary wrong login.
    let (status, _, _) = reply(attempt(login(&"a".repeat(320), &"p".repeat(1024))).await).await;
    assert_eq!(status, 401);
    let (status, _, _) = reply(
        client
            .post("/api/v1/auth/password-reset")
            .body_json(&json!({"login": "a".repeat(321)}))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 400);
}

/// Reads until the server closes the connection; how long that took.
async fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buffer)).await {
            Err(_) => panic!("the connection was still open after {limit:?}"),
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_client_sending_its_head_slowly_is_disconnected() {
    let service: Arc<dyn Service> = Arc::new(core().await);
    let mut options = HttpOptions::default();
    options.header_read_timeout = Duration::from_millis(500);
    options.idle_timeout = Duration::from_secs(30);
    let live = Live::start(service, options).await;
    let stream = TcpStream::connect(live.address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // One header line every 100 ms: never idle, never done.
    let dripping = tokio::spawn(async move {
        writer.write_all(b"GET /healthz HTTP/1.1\r\n").await?;
        for n in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            writer
                .write_all(format!("x-slow-{n}: 1\r\n").as_bytes())
                .await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    let closed_after = loop {
        match tokio::time::timeout(Duration::from_secs(5), reader.read(&mut buffer)).await {
            Err(_) => panic!("a slow head kept the connection open"),
            Ok(Ok(0) | Err(_)) => break started.elapsed(),
            Ok(Ok(_)) => {}
        }
    };
    assert!(
        closed_after >= Duration::from_millis(400) && closed_after < Duration::from_secs(3),
        "{closed_after:?}"
    );
    dripping.abort();

    // A client that sends its head at once is served.
    let response = live.http.get(live.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let service: Arc<dyn Service> = Arc::new(core().await);
    let mut options = HttpOptions::default();
    options.header_read_timeout = Duration::from_secs(30);
    options.idle_timeout = Duration::from_millis(400);
    let live = Live::start(service, options).await;

    // Connects and says nothing.
    let mut silent = TcpStream::connect(live.address).await.unwrap();
    let closed_after = time_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(
        closed_after >= Duration::from_millis(300) && closed_after < Duration::from_secs(3),
        "{closed_after:?}"
    );

    // Sends its head, then stalls in the body.
    let mut stalled = TcpStream::connect(live.address).await.unwrap();
    stalled
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nhost: test\r\n\
              content-type: application/json\r\ncontent-length: 100\r\n\r\n{\"lo",
        )
        .await
        .unwrap();
    let closed_after = time_until_closed(&mut stalled, Duration::from_secs(5)).await;
    assert!(closed_after < Duration::from_secs(3), "{closed_after:?}");

    // An active client is served as usual.
    let response = live.http.get(live.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_session_cookie_is_secure_unless_turned_off() {
    let service: Arc<dyn Service> = Arc::new(core().await);
    let secure = in_process(service.clone(), HttpOptions::default());
    let response = secure
        .post("/api/v1/auth/register")
        .body_json(&json!({"username": "ada", "password": SECRET}))
        .send()
        .await;
    let cookie = response.0.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let token = cookie.split(';').next().unwrap().to_owned();
    let response = secure
        .post("/api/v1/auth/logout")
        .header("cookie", token)
        .send()
        .await;
    response.assert_status(StatusCode::NO_CONTENT);
    let cleared = response.0.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.contains("Max-Age=0") && cleared.ends_with("; Secure"),
        "{cleared}"
    );

    let mut options = HttpOptions::default();
    options.secure_cookies = false;
    let plain = in_process(service, options);
    let response = plain
        .post("/api/v1/auth/register")
        .body_json(&json!({"username": "bob", "password": SECRET}))
        .send()
        .await;
    let cookie = response.0.headers()["set-cookie"].to_str().unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn the_openapi_document_declares_429_where_limits_apply() {
    let service: Arc<dyn Service> = Arc::new(core().await);
    let document: Value =
        serde_json::from_str(&openapi_document(service, &HttpOptions::default())).unwrap();
    let mut operations = std::collections::HashMap::new();
    for (_, methods) in document["paths"].as_object().unwrap() {
        for (_, operation) in methods.as_object().unwrap() {
            if let Some(id) = operation["operationId"].as_str() {
                operations.insert(id.to_owned(), operation.clone());
            }
        }
    }
    for id in [
        "login",
        "register",
        "change_password",
        "request_password_reset",
        "confirm_password_reset",
        "request_verification",
        "confirm_verification",
        "unregister",
        "update_profile",
        "send_message",
        "forward_message",
        "set_avatar",
        "add_contact",
        "block_user",
        "create_group",
        "create_invite",
    ] {
        let operation = operations
            .get(id)
            .unwrap_or_else(|| panic!("no operation {id}"));
        let limited = &operation["responses"]["429"];
        assert!(limited.is_object(), "{id} does not declare 429");
        let headers = limited["headers"].as_object().unwrap();
        assert!(
            headers
                .keys()
                .any(|name| name.eq_ignore_ascii_case("retry-after")),
            "{id}: 429 without Retry-After: {limited}"
        );
    }
}
