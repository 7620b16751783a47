//! Serving: the service the configuration names, wrapped in its rate limits, behind the
//! HTTP API until SIGINT or SIGTERM, then a graceful stop.

use std::sync::Arc;
use std::time::Duration;

use chatcore::avatars::FsAvatarStore;
use chatcore::limits::RateLimited;
use chatcore::{ChatCore, Options, Service};
use chatcore_http::{ClientAddr, HttpOptions, app};
use chatcore_socketio::{ClientOf, SocketIoOptions};
use tower_layer::Layer;

use crate::config::{AvatarStoreKind, Config};
use crate::database::{self, BoxError};

/// Opens the service the configuration names.
///
/// # Errors
/// Whatever opening the database fails with.
pub async fn open_service(config: &Config) -> Result<ChatCore, BoxError> {
    let mut options = Options::default()
        .session_lifetime(chrono::Duration::hours(config.session_hours.max(1)))
        .max_avatar_bytes(config.max_upload_bytes);
    if config.avatar_store == AvatarStoreKind::Files {
        options = options.avatar_store(FsAvatarStore::new(config.media_dir.clone())?);
    }
    database::open(config, options).await
}

/// Runs the server until SIGINT or SIGTERM, then lets in-flight requests finish.
///
/// # Errors
/// When the database cannot be opened or the address cannot be bound.
pub async fn run(config: Config) -> Result<(), BoxError> {
    let core = open_service(&config).await?;
    let service: Arc<dyn Service> = match config.limits.rate_limits() {
        Some(limits) => Arc::new(RateLimited::new(core, limits)),
        None => {
            tracing::warn!("rate limits are off (--no-rate-limits)");
            Arc::new(core)
        }
    };
    let (stopping, shutdown) = tokio::sync::watch::channel(false);
    let mut options = HttpOptions::default();
    options.secure_cookies = !config.insecure_cookies;
    options.max_upload_bytes = config.max_upload_bytes;
    options.shutdown = Some(shutdown);
    config.limits.apply(&mut options);
    let signal = ShutdownSignal::listen()?;
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    tracing::info!(bind = %config.bind, database = %redact(&config.database_url), socketio = !config.no_socketio, "chatcore-server listening");
    let stop = async move {
        signal.recv().await;
        // Event streams end now; other requests get the grace period.
        let _ = stopping.send(true);
    };
    let grace = Duration::from_secs(config.shutdown_grace);
    if config.no_socketio {
        chatcore_http::serve(
            listener,
            app(service, options.clone()),
            &options,
            stop,
            grace,
        )
        .await?;
    } else {
        // Socket.IO in front, at the hyper level (its WebSocket upgrade must reach it); every
        // other request goes on to the HTTP app.
        let http = chatcore_http::tower::service(service.clone(), options.clone())
            .peer_addr(|extensions| extensions.get::<ClientAddr>().map(|client| client.0));
        let mut socketio = SocketIoOptions {
            avatar_links: Some(options.avatar_links()),
            allowed_origins: options.allowed_origins.clone(),
            // `user login` and `user register` count against the HTTP app's per-address rates.
            sign_in: Some(ClientOf(http.sign_in())),
            ..SocketIoOptions::default()
        };
        socketio.connection.shutdown = options.shutdown.clone();
        // Engine.IO's requests (handshakes, polls) count against the app's per-address
        // ceiling too.
        let ceiling = http.ceiling_under(socketio.path.clone());
        let app = ceiling.layer(chatcore_socketio::layer(service, socketio).layer(http));
        chatcore_http::serve_tower(listener, app, &options, stop, grace).await?;
    }
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

/// SIGINT or SIGTERM, listened for from the moment this is made: a signal that arrives while
/// the server starts (after it answers, before its stop future first runs) still stops it
/// gracefully instead of killing it.
struct ShutdownSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn listen() -> std::io::Result<ShutdownSignal> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignal {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(ShutdownSignal {})
        }
    }

    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
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
}
