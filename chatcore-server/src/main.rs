//! `chatcore-server`: `cargo run --release -p chatcore-server` starts a chat server on port
//! 3000 with an SQLite file, no configuration needed. `--help` lists the settings;
//! `chatcore-server admin grant <username>` makes an existing account a server admin.
//!
//! Features (all on by default): `sqlite` and `postgres` (the database backends a build can
//! open), `mimalloc` (the allocator).

mod admin;
mod config;
mod database;
mod limits;
mod serve;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::config::{Command, Config};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let config = Config::parse();
    if let Err(message) = config.check() {
        eprintln!("error: {message}");
        std::process::exit(2);
    }
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    if let Some(Command::Admin(command)) = &config.command {
        // The command's answer goes to stdout, the log to stderr.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        match admin::admin(&config, command).await {
            Ok(done) => println!("{done}"),
            Err(error) => {
                eprintln!("error: {error}");
                std::process::exit(1);
            }
        }
        return;
    }
    tracing_subscriber::fmt().with_env_filter(filter).init();
    if let Err(error) = serve::run(config).await {
        tracing::error!(%error, "chatcore-server failed");
        std::process::exit(1);
    }
}
