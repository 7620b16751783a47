//! The conformance suite on PostgreSQL: each test on a fresh database, dropped afterwards.
//!
//! Reads `CHATCORE_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`).
//! Without it the tests say so and pass vacuously, unless `CI=true`, where that is a failure.

#![allow(clippy::expect_used)]

use chatcore::sea_orm::{ConnectionTrait, Database};
use chatcore::testkit::{Harness, Notices};
use chatcore_postgres::PostgresOptions;

fn base_url() -> Option<String> {
    match std::env::var("CHATCORE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but CHATCORE_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!("skipped: set CHATCORE_TEST_POSTGRES_URL to run the PostgreSQL suite");
            None
        }
    }
}

/// `url` with its database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let prefix = match base.rfind('/') {
        Some(slash) if slash > "postgres://".len() => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{prefix}/{database}?{query}"),
        None => format!("{prefix}/{database}"),
    }
}

async fn fresh_database() -> Option<Harness> {
    let url = base_url()?;
    let name = format!("chatcore_test_{}", uuid::Uuid::now_v7().simple());
    let admin = Database::connect(&url)
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.expect("close");
    let notices = Notices::default();
    let mut options = PostgresOptions::default();
    options.service = notices.options();
    let service = chatcore_postgres::connect_with(&with_database(&url, &name), options)
        .await
        .expect("connect to the test database");
    Some(
        Harness::new(service)
            .with_notices(notices)
            .on_drop(move || drop_database(url, name)),
    )
}

/// Drops a test database, from a thread of its own because `Drop` cannot await.
fn drop_database(url: String, name: String) {
    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    let dropped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let admin = Database::connect(&url).await?;
            admin.execute_unprepared(&statement).await?;
            admin.close().await
        })
    })
    .join();
    if !matches!(dropped, Ok(Ok(()))) {
        eprintln!("could not drop test database {name}");
    }
}

chatcore::conformance_tests!(fresh_database);

#[test]
fn database_name_is_replaced() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/test?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
}
