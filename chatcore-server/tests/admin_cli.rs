//! Server admins are accounts an operator promotes with `chatcore-server admin grant`, end to
//! end with the real binary on an SQLite file: the role stays with the account, and whoever
//! takes a freed name later is an ordinary user.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_chatcore-server");

/// `chatcore-server` with the test's database and media directory.
fn server_command(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_remove("CHATCORE_ADMINS")
        .env(
            "CHATCORE_DATABASE_URL",
            format!("sqlite:{}", dir.join("chat.db").display()),
        )
        .env("CHATCORE_MEDIA_DIR", dir.join("media"))
        .env("CHATCORE_LOG", "warn");
    command
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(dir: &Path) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = server_command(dir)
            .env("CHATCORE_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start chatcore-server");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = Client::new();
        for _ in 0..200 {
            if let Ok(response) = client.get(server.url("/healthz")).send().await
                && response.status() == StatusCode::OK
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chatcore-server did not come up");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "chatcore-server exited with {exit}");
    }

    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Value) -> Reply {
        let mut request = Client::new().request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// Registers `name`: its token and account.
    async fn register(&self, name: &str) -> (String, Value) {
        let reply = self
            .call(
                Method::POST,
                "/api/v1/auth/register",
                None,
                json!({"username": name, "password": format!("{name} long secret")}),
            )
            .await
            .expect(201);
        (
            reply["session"]["token"].as_str().unwrap().to_owned(),
            reply["user"].clone(),
        )
    }

    /// Logs in: the account as the server now sees it, and a token.
    async fn login(&self, name: &str, password: &str) -> (String, Value) {
        let reply = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                json!({"login": name, "password": password}),
            )
            .await
            .expect(200);
        (
            reply["session"]["token"].as_str().unwrap().to_owned(),
            reply["user"].clone(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }
}

/// Runs `chatcore-server` with these arguments to completion.
fn run(dir: &Path, args: &[&str]) -> Output {
    server_command(dir).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn operators_promote_existing_accounts_and_names_grant_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    let server = Server::start(dir).await;
    let (token, boss) = server.register("boss").await;
    assert_eq!(boss["role"], "user");
    let reply = server
        .call(
            Method::GET,
            "/api/v1/admin/reports",
            Some(&token),
            Value::Null,
        )
        .await;
    assert_eq!(reply.status, 403);
    server.stop();

    // The old flag, and its environment variable, now stop the server with directions.
    let refused = run(dir, &["--admin", "boss"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("chatcore-server admin grant <username>"),
        "{}",
        text(&refused.stderr)
    );
    let refused = server_command(dir)
        .env("CHATCORE_ADMINS", "boss")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));

    // Unknown names are refused; an existing account is promoted.
    let unknown = run(dir, &["admin", "grant", "nobody"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("no account is named `nobody`"),
        "{}",
        text(&unknown.stderr)
    );
    let granted = run(dir, &["admin", "grant", "BOSS"]);
    assert!(granted.status.success(), "{}", text(&granted.stderr));
    let said = text(&granted.stdout);
    assert!(
        said.contains("boss") && said.contains(boss["id"].as_str().unwrap()),
        "{said}"
    );

    let server = Server::start(dir).await;
    let (token, me) = server.login("boss", "boss long secret").await;
    assert_eq!(me["role"], "admin");
    server
        .call(
            Method::GET,
            "/api/v1/admin/reports",
            Some(&token),
            Value::Null,
        )
        .await
        .expect(200);

    // The admin renames: the role stays with the account, not with the name.
    let renamed = server
        .call(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&token),
            json!({"username": "chief", "current_password": "boss long secret"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (&renamed["username"], &renamed["role"]),
        (&json!("chief"), &json!("admin"))
    );
    let (newcomer_token, newcomer) = server.register("boss").await;
    assert_eq!(newcomer["role"], "user");
    let reply = server
        .call(
            Method::GET,
            "/api/v1/admin/reports",
            Some(&newcomer_token),
            Value::Null,
        )
        .await;
    assert_eq!(reply.status, 403);
    server.stop();

    // Nor does a restart hand the name anything; revoking ends the role.
    let revoked = run(dir, &["admin", "revoke", "chief"]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let server = Server::start(dir).await;
    let (_, newcomer) = server.login("boss", "boss long secret").await;
    assert_eq!(newcomer["role"], "user");
    let (_, chief) = server.login("chief", "boss long secret").await;
    assert_eq!(chief["role"], "user");
    server.stop();
}
