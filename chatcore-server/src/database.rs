//! The database a URL names, opened with the backend built in for it.

use chatcore::{ChatCore, Options};

use crate::config::Config;

/// The error of opening a database.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The backend a database URL needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:PATH`, `sqlite://PATH` or a bare path.
    Sqlite,
    /// `postgres://...` or `postgresql://...`.
    Postgres,
}

impl Backend {
    /// The backend `url` needs.
    pub fn of(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// Whether this binary was built with the backend (features `sqlite` and `postgres`,
    /// both on by default).
    pub fn built(self) -> bool {
        match self {
            Backend::Sqlite => cfg!(feature = "sqlite"),
            Backend::Postgres => cfg!(feature = "postgres"),
        }
    }

    /// `Ok` when this binary can open the backend, else what to do about it.
    ///
    /// # Errors
    /// The message naming the feature this binary was built without.
    pub fn check_built(self) -> Result<(), String> {
        let (feature, urls) = match self {
            Backend::Sqlite => ("sqlite", "`sqlite:PATH`"),
            Backend::Postgres => ("postgres", "`postgres://`"),
        };
        if self.built() {
            Ok(())
        } else {
            Err(format!(
                "this chatcore-server was built without the `{feature}` feature, so it cannot \
                 open {urls} database URLs; build it with `--features {feature}` (on by \
                 default)"
            ))
        }
    }
}

/// Opens the service on the configured database with these options.
///
/// # Errors
/// A backend this binary was built without, or whatever opening the database fails with.
#[cfg_attr(
    not(all(feature = "sqlite", feature = "postgres")),
    allow(unused_variables, clippy::unused_async)
)]
pub async fn open(config: &Config, options: Options) -> Result<ChatCore, BoxError> {
    let url = config.database_url.as_str();
    let backend = Backend::of(url);
    backend.check_built()?;
    match backend {
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            let mut postgres = chatcore_postgres::PostgresOptions::default().acquire_timeout(
                std::time::Duration::from_millis(config.database_acquire_timeout_ms.max(1)),
            );
            postgres.service = options;
            Ok(chatcore_postgres::connect_with(url, postgres).await?)
        }
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            let mut sqlite = chatcore_sqlite::SqliteOptions::default();
            sqlite.service = options;
            Ok(chatcore_sqlite::open_with(path, sqlite).await?)
        }
        #[allow(unreachable_patterns)]
        _ => Err(backend.check_built().err().unwrap_or_default().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(Backend::of("sqlite:./chatcore.db"), Backend::Sqlite);
        assert_eq!(Backend::of("./chatcore.db"), Backend::Sqlite);
        assert_eq!(Backend::of("postgres://app@db/chat"), Backend::Postgres);
        assert_eq!(
            Backend::of("postgresql://app@db/chat?sslmode=disable"),
            Backend::Postgres
        );
    }

    #[test]
    fn a_backend_left_out_is_named_with_its_feature() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            match backend.check_built() {
                Ok(()) => assert!(backend.built()),
                Err(message) => {
                    assert!(!backend.built());
                    assert!(message.contains("--features"), "{message}");
                }
            }
        }
    }
}
