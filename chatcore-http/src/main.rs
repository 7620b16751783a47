//! `chatcore-server`: `cargo run --release -p chatcore-http` starts a chat server on port 3000
//! with an SQLite file, no configuration needed. `--help` lists the settings;
//! `chatcore-server admin grant <username>` makes an existing account a server admin.

use chatcore_http::server::Command;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let config = chatcore_http::server::Config::parse();
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
        match chatcore_http::server::admin(&config, command).await {
            Ok(done) => println!("{done}"),
            Err(error) => {
                eprintln!("error: {error}");
                std::process::exit(1);
            }
        }
        return;
    }
    tracing_subscriber::fmt().with_env_filter(filter).init();
    if let Err(error) = chatcore_http::server::run(config).await {
        tracing::error!(%error, "chatcore-server failed");
        std::process::exit(1);
    }
}
