//! A fresh PostgreSQL database per test: the one place that creates and drops test databases.
//!
//! Reads `CHATCORE_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`, query
//! strings such as `?sslmode=disable` included). Without it the tests say so and skip, unless
//! `CI=true`, where that is a failure.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database};

/// The variable naming the PostgreSQL server the tests create their databases on.
pub const TEST_POSTGRES_URL: &str = "CHATCORE_TEST_POSTGRES_URL";

/// A database created for one test on the server at `CHATCORE_TEST_POSTGRES_URL`; dropped
/// (`WITH (FORCE)`, closing whatever connections are left) when this value is dropped, also
/// when the test panics.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// A fresh, empty database named `<label>_<uuid>`, or `None` (after saying so) when
    /// `CHATCORE_TEST_POSTGRES_URL` is not set, unless `CI=true`.
    ///
    /// `label` says which tests made it (lowercase letters, digits and `_`; at most 30).
    ///
    /// # Panics
    /// With `CI=true` and no URL, with an invalid label or URL, or when the database cannot
    /// be created.
    pub async fn create(label: &str) -> Option<TestDatabase> {
        assert!(
            !label.is_empty()
                && label.len() <= 30
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "a test database label is 1 to 30 of [a-z0-9_], not {label:?}"
        );
        let admin_url = postgres_url()?;
        let name = format!("{label}_{}", uuid::Uuid::now_v7().simple());
        let url = with_database(&admin_url, &name);
        let admin = admin_connection(&admin_url)
            .await
            .expect("connect to the PostgreSQL of CHATCORE_TEST_POSTGRES_URL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        Some(TestDatabase {
            url,
            admin_url,
            name,
        })
    }

    /// The URL of this database: the configured one with its database name replaced, query
    /// string kept.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // `Drop` cannot await, and may run inside a runtime (or while a test unwinds): the
        // drop runs on a thread of its own with its own runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let admin = admin_connection(&admin_url).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                admin.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test database {}: {error}", self.name),
            Err(_) => eprintln!("could not drop test database {}", self.name),
        }
    }
}

/// One connection to the server's administrative database (the configured URL's).
async fn admin_connection(url: &str) -> Result<sea_orm::DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options).await
}

/// `CHATCORE_TEST_POSTGRES_URL`, or `None` (after saying so) when it is not set, unless
/// `CI=true`.
///
/// # Panics
/// With `CI=true` and no URL.
pub fn postgres_url() -> Option<String> {
    match std::env::var(TEST_POSTGRES_URL) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but {TEST_POSTGRES_URL} is not set")
        }
        _ => {
            eprintln!("skipped: set {TEST_POSTGRES_URL} to run the PostgreSQL tests");
            None
        }
    }
}

/// `url` (a PostgreSQL URL) with its database name replaced by `database`; user, password,
/// host, port and query string are kept.
///
/// # Panics
/// When `url` is not a URL.
pub fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url)
        .unwrap_or_else(|error| panic!("{TEST_POSTGRES_URL} is not a URL ({error}): {url}"));
    parsed.set_path(&format!("/{database}"));
    parsed.into()
}
