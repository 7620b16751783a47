//! The `chatcore-server` binary: configuration, startup and graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chatcore::avatars::FsAvatarStore;
use chatcore::users::Username;
use chatcore::{ChatCore, Options, Service};
use clap::Parser;
use poem::Server;
use poem::listener::TcpListener;

use crate::{HttpOptions, app};

/// A chat server: the chatcore REST API over SQLite or PostgreSQL.
#[derive(Debug, Clone, Parser)]
#[command(name = "chatcore-server", version, about)]
pub struct Config {
    /// Database URL: `sqlite:PATH` (created if missing) or `postgres://...`.
    #[arg(
        long,
        env = "CHATCORE_DATABASE_URL",
        default_value = "sqlite:./chatcore.db"
    )]
    pub database_url: String,
    /// Address to listen on.
    #[arg(long, env = "CHATCORE_BIND", default_value = "0.0.0.0:3000")]
    pub bind: SocketAddr,
    /// Directory for uploaded media (avatars), with `--avatar-store files`.
    #[arg(long, env = "CHATCORE_MEDIA_DIR", default_value = "./chatcore-media")]
    pub media_dir: PathBuf,
    /// Where avatars are kept: `files` (in the media directory) or `database` (shared by
    /// every node on one PostgreSQL).
    #[arg(long, env = "CHATCORE_AVATAR_STORE", value_enum, default_value_t = AvatarStoreKind::Files)]
    pub avatar_store: AvatarStoreKind,
    /// Usernames that are server admins (comma-separated or repeated).
    #[arg(long = "admin", env = "CHATCORE_ADMINS", value_delimiter = ',')]
    pub admins: Vec<String>,
    /// How long a session lasts, in hours.
    #[arg(long, env = "CHATCORE_SESSION_HOURS", default_value_t = 720)]
    pub session_hours: i64,
    /// The largest upload accepted, in bytes.
    #[arg(long, env = "CHATCORE_MAX_UPLOAD_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_upload_bytes: usize,
    /// Mark the session cookie `Secure` (when served over HTTPS).
    #[arg(long, env = "CHATCORE_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `chatcore=debug,info`.
    #[arg(long, env = "CHATCORE_LOG", default_value = "info")]
    pub log: String,
    /// Seconds that in-flight requests get to finish on shutdown.
    #[arg(long, env = "CHATCORE_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,
    /// PostgreSQL: milliseconds a request waits for a database connection before it answers
    /// 503 `unavailable` (while the database is down, every request waits this long).
    #[arg(
        long,
        env = "CHATCORE_DATABASE_ACQUIRE_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub database_acquire_timeout_ms: u64,
}

/// Where avatars are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AvatarStoreKind {
    /// Files in the media directory, written atomically.
    Files,
    /// The database the service uses.
    Database,
}

/// Opens the service the configuration names.
///
/// # Errors
/// Whatever opening the database fails with.
pub async fn open_service(config: &Config) -> chatcore::Result<ChatCore> {
    let admins = config
        .admins
        .iter()
        .map(|name| Username::parse(name.trim()))
        .collect::<chatcore::Result<Vec<_>>>()?;
    let mut options = Options::default()
        .session_lifetime(chrono::Duration::hours(config.session_hours.max(1)))
        .max_avatar_bytes(config.max_upload_bytes)
        .admin_usernames(admins);
    if config.avatar_store == AvatarStoreKind::Files {
        options = options.avatar_store(FsAvatarStore::new(config.media_dir.clone())?);
    }
    let url = config.database_url.as_str();
    let service = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let mut postgres = chatcore_postgres::PostgresOptions::default().acquire_timeout(
            Duration::from_millis(config.database_acquire_timeout_ms.max(1)),
        );
        postgres.service = options;
        chatcore_postgres::connect_with(url, postgres).await?
    } else {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let mut sqlite = chatcore_sqlite::SqliteOptions::default();
        sqlite.service = options;
        chatcore_sqlite::open_with(path, sqlite).await?
    };
    Ok(service)
}

/// Runs the server until SIGINT or SIGTERM, then lets in-flight requests finish.
///
/// # Errors
/// When the database cannot be opened or the address cannot be bound.
pub async fn run(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let service: Arc<dyn Service> = Arc::new(open_service(&config).await?);
    let (stopping, shutdown) = tokio::sync::watch::channel(false);
    let options = HttpOptions {
        secure_cookies: config.secure_cookies,
        max_upload_bytes: config.max_upload_bytes,
        shutdown: Some(shutdown),
        ..HttpOptions::default()
    };
    let listener = TcpListener::bind(config.bind);
    tracing::info!(bind = %config.bind, database = %redact(&config.database_url), "chatcore-server listening");
    Server::new(listener)
        .run_with_graceful_shutdown(
            app(service, options),
            async move {
                shutdown_signal().await;
                // Event streams end now; other requests get the grace period.
                let _ = stopping.send(true);
            },
            Some(Duration::from_secs(config.shutdown_grace)),
        )
        .await?;
    tracing::info!("chatcore-server stopped");
    Ok(())
}

/// The database URL without its password, for the log.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_the_log() {
        assert_eq!(
            redact("postgres://app:hunter2@db:5432/chat"),
            "postgres://app:***@db:5432/chat"
        );
        assert_eq!(redact("sqlite:./chatcore.db"), "sqlite:./chatcore.db");
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = Config::parse_from(["chatcore-server"]);
        assert_eq!(config.database_url, "sqlite:./chatcore.db");
        assert_eq!(config.bind.port(), 3000);
        assert!(config.admins.is_empty());
        assert_eq!(config.database_acquire_timeout_ms, 5000);
    }
}
