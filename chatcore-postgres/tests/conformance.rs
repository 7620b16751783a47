//! The conformance suite on PostgreSQL: each test on a fresh database, dropped afterwards.
//!
//! Reads `CHATCORE_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`).
//! Without it the tests say so and pass vacuously, unless `CI=true`, where that is a failure.

#![allow(clippy::expect_used)]

use chatcore::testkit::{Harness, Notices, TestDatabase, with_database};
use chatcore_postgres::PostgresOptions;

async fn fresh_database() -> Option<Harness> {
    let database = TestDatabase::create("chatcore_test").await?;
    let notices = Notices::default();
    let mut options = PostgresOptions::default();
    options.service = notices.options();
    let service = chatcore_postgres::connect_with(database.url(), options)
        .await
        .expect("connect to the test database");
    Some(
        Harness::for_core(service)
            .with_notices(notices)
            .keep_alive(database),
    )
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
    assert_eq!(
        with_database(
            "postgresql://u:p%40ss@h:5433/test?sslmode=disable&application_name=t",
            "x"
        ),
        "postgresql://u:p%40ss@h:5433/x?sslmode=disable&application_name=t"
    );
    assert_eq!(
        with_database("postgres://u@h:5432?sslmode=disable", "x"),
        "postgres://u@h:5432/x?sslmode=disable"
    );
}
