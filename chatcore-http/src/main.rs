//! `chatcore-server`: `cargo run --release -p chatcore-http` starts a chat server on port 3000
//! with an SQLite file, no configuration needed. `--help` lists the settings.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let config = chatcore_http::server::Config::parse();
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    if let Err(error) = chatcore_http::server::run(config).await {
        tracing::error!(%error, "chatcore-server failed");
        std::process::exit(1);
    }
}
