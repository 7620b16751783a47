//! The conformance suite on SQLite: on a real file with the default (durable) settings.

#![allow(clippy::expect_used)]

use chatcore::testkit::Harness;

async fn file_backed() -> Option<Harness> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let service = chatcore_sqlite::open(dir.path().join("chat.db"))
        .await
        .expect("open SQLite");
    Some(Harness::new(service).keep_alive(dir))
}

chatcore::conformance_tests!(file_backed);

mod in_memory {
    use chatcore::testkit::Harness;

    async fn in_memory() -> Option<Harness> {
        let service = chatcore_sqlite::open_in_memory()
            .await
            .expect("open SQLite");
        Some(Harness::new(service))
    }

    chatcore::conformance_tests!(in_memory);
}
