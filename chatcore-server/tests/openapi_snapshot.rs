//! The OpenAPI document the real `chatcore-server` serves equals the committed snapshot
//! `chatcore-http/openapi.json`, so that API changes show in review.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod contract;

/// The served document equals `chatcore-http/openapi.json`, so that API changes show in review.
/// `UPDATE_OPENAPI_SNAPSHOT=1 cargo test -p chatcore-server --test openapi_snapshot` rewrites it.
#[tokio::test]
async fn the_served_document_matches_the_snapshot() {
    let server = contract::Server::start().await;
    let served = server.document().await;
    let snapshot = contract::workspace().join("chatcore-http/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI_SNAPSHOT").is_some() {
        std::fs::write(&snapshot, format!("{served}\n")).unwrap();
        eprintln!("wrote {}", snapshot.display());
        return;
    }
    let committed = std::fs::read_to_string(&snapshot).unwrap_or_default();
    if committed.trim_end() != served.trim_end() {
        let first = committed
            .lines()
            .zip(served.lines())
            .position(|(old, new)| old != new)
            .unwrap_or_else(|| committed.lines().count().min(served.lines().count()));
        panic!(
            "the served OpenAPI document differs from chatcore-http/openapi.json (first at line \
             {}):\n  committed: {}\n  served:    {}\nIf the change is meant, update the snapshot \
             with `UPDATE_OPENAPI_SNAPSHOT=1 cargo test -p chatcore-server --test openapi_snapshot` and \
             commit it.",
            first + 1,
            committed.lines().nth(first).unwrap_or("(end)"),
            served.lines().nth(first).unwrap_or("(end)"),
        );
    }
}
