//! The configuration: flags, or the environment variables beside them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::database;
use crate::limits::LimitArgs;

/// A chat server: the chatcore REST API over SQLite or PostgreSQL.
///
/// Without a command it serves. `chatcore-server admin grant <username>` makes an existing
/// account a server admin.
#[derive(Debug, Clone, Parser)]
#[command(name = "chatcore-server", version, about)]
pub struct Config {
    /// What to do instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Database URL: `sqlite:PATH` (created if missing) or `postgres://...`.
    #[arg(
        long,
        env = "CHATCORE_DATABASE_URL",
        default_value = "sqlite:./chatcore.db",
        global = true
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
    /// Removed: a name no longer makes an admin (whoever registered it would be one). Only
    /// read to tell an operator who still passes it what to do instead; see
    /// [`Config::check`].
    #[arg(long = "admin", env = "CHATCORE_ADMINS", hide = true)]
    pub removed_admin: Option<String>,
    /// How long a session lasts, in hours.
    #[arg(long, env = "CHATCORE_SESSION_HOURS", default_value_t = 720)]
    pub session_hours: i64,
    /// The largest upload accepted, in bytes.
    #[arg(long, env = "CHATCORE_MAX_UPLOAD_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_upload_bytes: usize,
    /// Send the session cookie without `Secure`, so that browsers also send it over plain
    /// HTTP to hosts other than localhost (which browsers treat as secure anyway). Only for
    /// a deployment without HTTPS.
    #[arg(long, env = "CHATCORE_INSECURE_COOKIES")]
    pub insecure_cookies: bool,
    /// Do not serve Socket.IO at `/socket.io/` (chatcore-socketio): REST, WebSocket and SSE
    /// only.
    #[arg(long, env = "CHATCORE_NO_SOCKETIO")]
    pub no_socketio: bool,
    /// Accepted so that earlier command lines still start: `Secure` is the default now.
    #[arg(long, hide = true, conflicts_with = "insecure_cookies")]
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
    /// Rate limits, body limits and connection timeouts.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// What `chatcore-server` does instead of serving.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Grants or revokes the server admin role of an existing account.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// `chatcore-server admin ...`: server admins are accounts an operator chose.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AdminCommand {
    /// Makes the account now called USERNAME a server admin. The name is resolved to the
    /// account once: the role stays with that account if it is renamed, and nobody who takes
    /// the name later gets it.
    Grant {
        /// The account's current username (any case).
        username: String,
    },
    /// Makes the account now called USERNAME an ordinary user again.
    Revoke {
        /// The account's current username (any case).
        username: String,
    },
}

impl Config {
    /// Refuses settings that no longer exist, saying what replaced them, and a database URL
    /// of a backend this build leaves out.
    ///
    /// # Errors
    /// The message to show when `--admin` or `CHATCORE_ADMINS` is given, or when the
    /// database URL needs a feature (`sqlite`, `postgres`) this binary was built without.
    pub fn check(&self) -> Result<(), String> {
        if self
            .removed_admin
            .as_deref()
            .is_some_and(|names| !names.trim().is_empty())
        {
            return Err(
                "--admin (CHATCORE_ADMINS) was removed: it made whoever registered a \
                        name a server admin. Promote an existing account instead with \
                        `chatcore-server admin grant <username>` (the role is stored with the \
                        account), then start the server without --admin."
                    .to_owned(),
            );
        }
        database::Backend::of(&self.database_url).check_built()
    }
}

/// Where avatars are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AvatarStoreKind {
    /// Files in the media directory, written atomically.
    Files,
    /// The database the service uses.
    Database,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chatcore_http::HttpOptions;

    use super::*;

    #[test]
    fn defaults_need_no_configuration() {
        let config = Config::parse_from(["chatcore-server"]);
        assert_eq!(config.database_url, "sqlite:./chatcore.db");
        assert_eq!(config.bind.port(), 3000);
        assert_eq!(config.command, None);
        assert_eq!(config.check(), Ok(()));
        assert_eq!(config.database_acquire_timeout_ms, 5000);
        assert!(!config.insecure_cookies);
        assert!(!config.no_socketio);
        let limits = config.limits.rate_limits().unwrap();
        assert_eq!(limits, chatcore::limits::RateLimits::default());
        let mut options = HttpOptions::default();
        config.limits.apply(&mut options);
        assert_eq!(options.ip_limits, Some(chatcore_http::IpLimits::default()));
        assert!(options.trusted_proxies.is_empty());
        assert_eq!(
            options.header_read_timeout,
            HttpOptions::default().header_read_timeout
        );
        assert_eq!(options.idle_timeout, HttpOptions::default().idle_timeout);
        assert_eq!(
            options.body_read_timeout,
            HttpOptions::default().body_read_timeout
        );
    }

    #[test]
    fn the_removed_admin_flag_points_to_admin_grant() {
        let config = Config::try_parse_from(["chatcore-server", "--admin", "boss"]).unwrap();
        let message = config.check().unwrap_err();
        assert!(
            message.contains("chatcore-server admin grant <username>"),
            "{message}"
        );
    }

    #[test]
    fn admin_commands_take_a_username_and_the_database_anywhere() {
        let config = Config::try_parse_from([
            "chatcore-server",
            "admin",
            "grant",
            "boss",
            "--database-url",
            "sqlite:./other.db",
        ])
        .unwrap();
        assert_eq!(
            config.command,
            Some(Command::Admin(AdminCommand::Grant {
                username: "boss".to_owned()
            }))
        );
        assert_eq!(config.database_url, "sqlite:./other.db");
        let config =
            Config::try_parse_from(["chatcore-server", "admin", "revoke", "boss"]).unwrap();
        assert_eq!(
            config.command,
            Some(Command::Admin(AdminCommand::Revoke {
                username: "boss".to_owned()
            }))
        );
        assert!(Config::try_parse_from(["chatcore-server", "admin", "grant"]).is_err());
    }

    #[test]
    fn limits_are_set_by_flags() {
        let config = Config::parse_from([
            "chatcore-server",
            "--send-rate",
            "5/10s",
            "--lockout",
            "1h",
            "--trusted-proxies",
            "10.0.0.0/8,192.0.2.1",
            "--ip-logins",
            "3/m",
            "--header-read-timeout",
            "5s",
        ]);
        let limits = config.limits.rate_limits().unwrap();
        assert_eq!(limits.sends.to_string(), "5/10s");
        assert_eq!(limits.lockout, Duration::from_secs(3600));
        let mut options = HttpOptions::default();
        config.limits.apply(&mut options);
        assert_eq!(options.trusted_proxies.len(), 2);
        assert_eq!(options.ip_limits.unwrap().logins.to_string(), "3/1m");
        assert_eq!(options.header_read_timeout, Duration::from_secs(5));

        let off = Config::parse_from(["chatcore-server", "--no-rate-limits"]);
        assert!(off.limits.rate_limits().is_none());
        let mut options = HttpOptions::default();
        off.limits.apply(&mut options);
        assert!(options.ip_limits.is_none());
        assert!(Config::try_parse_from(["chatcore-server", "--send-rate", "fast"]).is_err());
    }
}
