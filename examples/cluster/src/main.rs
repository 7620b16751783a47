//! Two chatcore server nodes on one PostgreSQL, as behind a load balancer: a client on node A
//! sends, a client on node B receives the message live over its event stream.
//!
//! ```sh
//! CHATCORE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p example-cluster
//! ```

use std::sync::Arc;
use std::time::Duration;

use chatcore::Service;
use chatcore_http::{HttpOptions, app};
use poem::Server;
use poem::listener::TcpListener;
use serde_json::{Value, json};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Starts a node: its own connection pool and event bus, the same database.
async fn node(url: &str, port: u16) -> Result<String, AnyError> {
    let service: Arc<dyn Service> = Arc::new(chatcore_postgres::connect(url).await?);
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"));
    tokio::spawn(Server::new(listener).run(app(service, HttpOptions::default())));
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            return Ok(base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("node did not start".into())
}

async fn register(http: &reqwest::Client, base: &str, name: &str) -> Result<Value, AnyError> {
    Ok(http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"username": name, "password": format!("{name} long secret")}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let url = std::env::var("CHATCORE_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let node_a = node(&url, 3101).await?;
    let node_b = node(&url, 3102).await?;
    println!("node A: {node_a}\nnode B: {node_b}");

    let http = reqwest::Client::new();
    let suffix = &uuid::Uuid::now_v7().simple().to_string()[20..];
    let alice = register(&http, &node_a, &format!("alice_{suffix}")).await?;
    let bruno = register(&http, &node_b, &format!("bruno_{suffix}")).await?;
    let alice_token = alice["session"]["token"].as_str().unwrap_or_default();
    let bruno_token = bruno["session"]["token"].as_str().unwrap_or_default();

    let chat: Value = http
        .post(format!("{node_a}/api/v1/chats/direct"))
        .bearer_auth(alice_token)
        .json(&json!({"user_id": bruno["user"]["id"]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let chat_id = chat["id"].as_str().unwrap_or_default().to_owned();

    // Bruno listens on node B.
    let mut events = http
        .get(format!("{node_b}/api/v1/events"))
        .bearer_auth(bruno_token)
        .header("accept", "text/event-stream")
        .send()
        .await?
        .error_for_status()?;

    // Alice writes on node A.
    http.post(format!("{node_a}/api/v1/chats/{chat_id}/messages"))
        .bearer_auth(alice_token)
        .json(&json!({"text": "Hello from node A"}))
        .send()
        .await?
        .error_for_status()?;
    println!("alice sent a message through node A");

    let mut buffer = String::new();
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = events.chunk().await? {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            for line in buffer.lines() {
                if let Some(data) = line.strip_prefix("data:")
                    && let Ok(event) = serde_json::from_str::<Value>(data.trim())
                    && event["kind"] == "message_created"
                {
                    return Ok::<Value, AnyError>(event);
                }
            }
        }
        Err("the stream ended".into())
    })
    .await??;
    println!(
        "bruno received it through node B: {:?} (cursor {})",
        received["data"]["text"].as_str().unwrap_or_default(),
        received["cursor"]
    );
    Ok(())
}
