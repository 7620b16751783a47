//! `cargo run -p example-web`, then open <http://localhost:3000>: the web chat and the API
//! on one port, over the SQLite file `./example-web.db` (kept between runs). `--help` lists
//! the flags.

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chatcore::Service;
use chatcore::limits::{RateLimited, RateLimits};
use chatcore_http::HttpOptions;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The chatcore web chat example: a chat page and the chatcore API on one port.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    bind: SocketAddr,
    /// The SQLite database file, created when missing.
    #[arg(long, default_value = "example-web.db")]
    database: PathBuf,
    /// Turn off the rate limits (per account and per client address), e.g. for tests that
    /// register many users from one address.
    #[arg(long)]
    no_rate_limits: bool,
    /// Let the session cookie travel over plain HTTP. Browsers accept the default `Secure`
    /// cookie from http://localhost; reaching the server by another name without HTTPS
    /// needs this.
    #[arg(long)]
    insecure_cookies: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let core = chatcore_sqlite::open(&args.database).await?;
    let chat: Arc<dyn Service> = if args.no_rate_limits {
        Arc::new(core)
    } else {
        Arc::new(RateLimited::new(core, RateLimits::default()))
    };
    let (stopping, shutdown) = tokio::sync::watch::channel(false);
    let mut options = HttpOptions::default();
    options.secure_cookies = !args.insecure_cookies;
    options.shutdown = Some(shutdown);
    if args.no_rate_limits {
        options.ip_limits = None;
    }

    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    let address = listener.local_addr()?;
    println!(
        "web chat on http://{address}/ (database {}, API docs at /docs)",
        args.database.display()
    );
    let stop = async move {
        let _ = tokio::signal::ctrl_c().await;
        // Event streams end now; other requests get the grace period.
        let _ = stopping.send(true);
    };
    let app = example_web::app(chat, options.clone());
    chatcore_http::serve(listener, app, &options, stop, Duration::from_secs(5)).await?;
    Ok(())
}
