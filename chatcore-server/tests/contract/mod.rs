//! What the contract tests (OpenAPI document, generated clients, schemathesis) share: the real `chatcore-server` on a free port, and the external
//! tools they drive (skipped with a message when missing, a failure with `CI=true`).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A `chatcore-server` process on SQLite in a temporary directory; killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_chatcore-server"))
            .current_dir(dir.path())
            .env(
                "CHATCORE_DATABASE_URL",
                format!("sqlite:{}", dir.path().join("chat.db").display()),
            )
            .env("CHATCORE_MEDIA_DIR", dir.path().join("media"))
            .env("CHATCORE_BIND", format!("127.0.0.1:{port}"))
            .env("CHATCORE_LOG", "warn")
            // The fuzzer and the client flows send far more than one person would; the
            // limits have tests of their own (chatcore-http/tests/limits.rs).
            .env("CHATCORE_NO_RATE_LIMITS", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start chatcore-server");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(response) = client.get(server.url("/healthz")).send().await
                && response.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chatcore-server did not come up");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The OpenAPI document the server serves.
    pub async fn document(&self) -> String {
        let response = reqwest::get(self.url("/api/v1/openapi.json"))
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.text().await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this is CI, where every tool must be there.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci == "true")
}

/// `None` (after saying so) when a tool is missing outside CI; a panic in CI.
pub fn missing(tool: &str, how: &str) -> Option<PathBuf> {
    if ci() {
        panic!("CI=true but {tool} is missing: {how}");
    }
    eprintln!("skipped: {tool} is missing ({how})");
    None
}

/// An executable on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Runs a command to completion; panics with its output unless it succeeds.
pub fn run(command: &mut Command) -> Output {
    let shown = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("{shown}: {error}"));
    assert!(
        output.status.success(),
        "{shown} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Both output streams, for looking for warnings.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Copies the files of `from` (not its subdirectories) into `to`.
pub fn copy_files(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
