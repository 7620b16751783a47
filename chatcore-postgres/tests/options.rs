//! Connection settings that cannot work together are refused before anything starts.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use chatcore::Service;
use chatcore::testkit::TestDatabase;
use chatcore_postgres::PostgresOptions;

/// Without LISTEN/NOTIFY a node sees only its own changes; the single-node cache would then
/// quietly serve stale sessions and memberships when other nodes share the database.
#[tokio::test]
async fn notify_events_off_with_the_cache_on_is_refused() {
    let options = PostgresOptions::default().notify_events(false);
    assert!(options.service.cache, "the cache is on by default");
    // Refused before connecting: no database is needed to see it.
    let error = chatcore_postgres::connect_with("postgres://nobody@127.0.0.1:1/none", options)
        .await
        .err()
        .expect("refused");
    assert_eq!(error.code(), "invalid_input");
    assert_eq!(error.field(), Some("notify_events"));
    assert!(error.to_string().contains("cache"), "{error}");
}

#[tokio::test]
async fn notify_events_off_works_with_the_cache_off() {
    let Some(database) = TestDatabase::create("chatcore_test").await else {
        return;
    };
    let options = PostgresOptions::default()
        .notify_events(false)
        .service(chatcore::Options::default().cache(false));
    let service = chatcore_postgres::connect_with(database.url(), options)
        .await
        .expect("connects");
    let user = chatcore::testkit::register(&service, "solo").await;
    assert_eq!(service.get_me(&user.caller).await.unwrap().username, "solo");
    drop(service);
}
