//! What the end-to-end tests share: the real `chatcore-server` binary on a free port, and small
//! HTTP helpers. Their PostgreSQL databases come from `chatcore::testkit::TestDatabase` (a
//! fresh one per test, from `CHATCORE_TEST_POSTGRES_URL`; without it the PostgreSQL tests say
//! so and skip, unless `CI=true`).

#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

#[path = "../../../chatcore-postgres/tests/support/proxy.rs"]
pub mod proxy;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// A running `chatcore-server`; killed when dropped.
pub struct Server {
    child: Child,
    /// The port it listens on (a restarted server may take it again).
    pub port: u16,
    pub base: String,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts the server on a free port and waits until it answers.
    pub async fn start(database_url: &str, work_dir: &Path) -> Server {
        Server::start_with(database_url, work_dir, free_port(), &[]).await
    }

    /// Starts the server on `port`, with extra settings as environment variables, and waits
    /// until `/healthz` answers.
    pub async fn start_with(
        database_url: &str,
        work_dir: &Path,
        port: u16,
        env: &[(&str, &str)],
    ) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatcore-server"));
        command
            .current_dir(work_dir)
            .env("CHATCORE_DATABASE_URL", database_url)
            .env("CHATCORE_BIND", format!("127.0.0.1:{port}"))
            .env("CHATCORE_LOG", "warn")
            // Several nodes on one PostgreSQL share avatars through the database.
            .env(
                "CHATCORE_AVATAR_STORE",
                if database_url.starts_with("postgres") {
                    "database"
                } else {
                    "files"
                },
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("start chatcore-server");
        let mut server = Server {
            child,
            port,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = Client::new();
        for _ in 0..400 {
            if let Ok(response) = client.get(server.url("/healthz")).send().await
                && response.status() == StatusCode::OK
            {
                return server;
            }
            if let Ok(Some(exit)) = server.child.try_wait() {
                panic!("chatcore-server exited at start with {exit}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chatcore-server did not come up");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }

    /// SIGTERM, then wait: a graceful stop exits 0.
    pub fn stop(self) {
        let exit = self.terminate();
        assert!(exit.success(), "chatcore-server exited with {exit}");
    }

    /// SIGKILL: the process dies at once, mid-request, mid-commit.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn expect(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// POSTs JSON, with a bearer token if given, and expects `status`.
pub async fn post(
    http: &Client,
    url: String,
    token: Option<&str>,
    body: Value,
    status: u16,
) -> Value {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    expect(request.send().await.unwrap(), status).await
}

/// GETs with a bearer token and expects `status`.
pub async fn get(http: &Client, url: String, token: &str, status: u16) -> Value {
    expect(
        http.get(url).bearer_auth(token).send().await.unwrap(),
        status,
    )
    .await
}

/// Registers a user on a node: their token and id.
pub async fn register_on(http: &Client, server: &Server, name: &str) -> (String, String) {
    let body = post(
        http,
        server.url("/api/v1/auth/register"),
        None,
        json!({"username": name, "password": format!("{name} long secret")}),
        201,
    )
    .await;
    (
        body["session"]["token"].as_str().unwrap().to_owned(),
        body["user"]["id"].as_str().unwrap().to_owned(),
    )
}

/// Starts a direct chat with `other` as the token's user; the chat's id.
pub async fn start_direct(http: &Client, server: &Server, token: &str, other: &str) -> String {
    post(
        http,
        server.url("/api/v1/chats/direct"),
        Some(token),
        json!({"user_id": other}),
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The whole history of a chat, oldest first, page by page.
pub async fn full_history(http: &Client, server: &Server, token: &str, chat: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    let mut after = 0;
    loop {
        let page = get(
            http,
            server.url(&format!(
                "/api/v1/chats/{chat}/messages?after={after}&limit=100"
            )),
            token,
            200,
        )
        .await;
        let page = page.as_array().unwrap().clone();
        let Some(last) = page.last() else {
            return messages;
        };
        after = last["seq"].as_i64().unwrap();
        messages.extend(page);
    }
}
