//! The host app and the chat on one port, over a temporary SQLite file.
//!
//! Run with `cargo run -p example-axum`, open <http://127.0.0.1:3000/>, log in as `ada` /
//! `analytical` (or `alan` / `enigma`), then try the chat API at
//! <http://127.0.0.1:3000/chat/docs>.

use std::net::SocketAddr;
use std::sync::Arc;

use chatcore::Service;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let chat: Arc<dyn Service> = Arc::new(chatcore_sqlite::open(dir.path().join("chat.db")).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("host app on http://{}/", listener.local_addr()?);
    let app = example_axum::app(chat).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}
