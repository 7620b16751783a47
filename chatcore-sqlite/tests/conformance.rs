//! The conformance suite on SQLite: on a real file with the default (durable) settings.

#![allow(clippy::expect_used)]

use chatcore::testkit::{Harness, Notices};
use chatcore_sqlite::SqliteOptions;

async fn file_backed() -> Option<Harness> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let notices = Notices::default();
    let mut options = SqliteOptions::default();
    options.service = notices.options();
    let service = chatcore_sqlite::open_with(dir.path().join("chat.db"), options)
        .await
        .expect("open SQLite");
    Some(
        Harness::for_core(service)
            .with_notices(notices)
            .keep_alive(dir),
    )
}

chatcore::conformance_tests!(file_backed);

mod in_memory {
    use chatcore::testkit::{Harness, Notices};

    async fn in_memory() -> Option<Harness> {
        let notices = Notices::default();
        let service = chatcore_sqlite::open_in_memory_with(notices.options())
            .await
            .expect("open SQLite");
        Some(Harness::for_core(service).with_notices(notices))
    }

    chatcore::conformance_tests!(in_memory);
}
