//! SQLite storage that cannot take a write answers [`Error::Unavailable`] ("try again later",
//! HTTP 503 `unavailable`), not an internal error nor an authentication failure: a file that
//! is read-only, a database that is full, a lock held past the busy timeout. Reads go on, and
//! writes work again once the cause is gone.
//!
//! The tests run as root, where file permissions do not stop writes, so the file is made
//! read-only by opening it with `mode=ro`, and full with `max_page_count` (the error SQLite
//! reports is the same `SQLITE_FULL` as for a full disk).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use chatcore::messages::{HistoryQuery, MessageText, SendMessage};
use chatcore::testkit::{TestUser, register, say};
use chatcore::users::Login;
use chatcore::{ChatCore, ChatId, Error, Options, Service};
use chatcore_sqlite::SqliteOptions;

/// A database file with one user and one group holding one message.
async fn populated(path: &Path) -> (TestUser, ChatId) {
    let chat = chatcore_sqlite::open(path).await.unwrap();
    let rita = register(&chat, "rita").await;
    let group = chat
        .create_group(
            &rita.caller,
            chatcore::groups::CreateGroup::new(
                chatcore::groups::ChatTitle::parse("Archive").unwrap(),
                Vec::new(),
            ),
        )
        .await
        .unwrap();
    say(&chat, &rita, group.chat.id, "written before").await;
    (rita, group.chat.id)
}

/// The service over `path`, with `tune` applied to its settings.
async fn reopen(path: &Path, tune: impl FnOnce(SqliteOptions) -> SqliteOptions) -> ChatCore {
    let mut options = SqliteOptions::default();
    options.max_batch = 16;
    // Migrations ran when the file was made (and a read-only file cannot take them).
    options.service = Options::default().migrate(false);
    chatcore_sqlite::open_with(path, tune(options))
        .await
        .unwrap()
}

fn message(chat: ChatId, text: &str) -> SendMessage {
    SendMessage::new(chat, MessageText::parse(text).unwrap())
}

#[tokio::test]
async fn a_read_only_file_answers_unavailable_to_writes_and_serves_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let (rita, chat) = populated(&path).await;
    let service = reopen(&path, |options| options.read_only(true)).await;

    let history = service
        .list_messages(&rita.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    assert_eq!(history[0].text.as_deref(), Some("written before"));

    let sent = service
        .send_message(&rita.caller, message(chat, "lost?"))
        .await;
    assert!(matches!(sent, Err(Error::Unavailable(_))), "{sent:?}");
    let error = sent.unwrap_err();
    assert_eq!(error.code(), "unavailable");
    assert!(error.is_transient());
    let login = service
        .login(Login {
            login: "rita".into(),
            password: rita.password.clone(),
            user_agent: None,
        })
        .await;
    assert!(matches!(login, Err(Error::Unavailable(_))), "{login:?}");
    // A session opened before still authenticates: reading it needs no write.
    service
        .authenticate(&rita.auth.session.token)
        .await
        .unwrap();
    // Nothing was written.
    let history = service
        .list_messages(&rita.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
}

#[tokio::test]
async fn a_full_database_answers_unavailable_and_keeps_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let (rita, chat) = populated(&path).await;
    // No page may be added beyond the current size: SQLITE_FULL, as on a full disk.
    let service = reopen(&path, |options| options.pragma("max_page_count", "1")).await;

    let text = "x".repeat(2000);
    let mut acknowledged = 1;
    let failure = loop {
        match service
            .send_message(&rita.caller, message(chat, &text))
            .await
        {
            Ok(_) => acknowledged += 1,
            Err(error) => break error,
        }
        assert!(acknowledged < 10_000, "the database never filled up");
    };
    assert!(matches!(failure, Error::Unavailable(_)), "{failure:?}");
    // Reads go on, and every acknowledged message is there, once.
    let history = service
        .list_messages(
            &rita.caller,
            chat,
            HistoryQuery::new(None, None, Some(200)).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(history.len(), acknowledged);
    let seqs: Vec<i64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=acknowledged as i64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_past_the_busy_timeout_answers_unavailable_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let (rita, chat) = populated(&path).await;
    let mut options = SqliteOptions::default();
    options.busy_timeout = Duration::from_millis(200);
    let service = chatcore_sqlite::open_with(&path, options).await.unwrap();

    // Another process, say, holds the write lock.
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; CREATE TABLE holding_the_lock (x INTEGER);")
        .unwrap();

    let sent = service
        .send_message(&rita.caller, message(chat, "waits"))
        .await;
    assert!(matches!(sent, Err(Error::Unavailable(_))), "{sent:?}");
    // Reads are not blocked by a writer (WAL).
    service
        .list_messages(&rita.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();

    other.execute_batch("ROLLBACK").unwrap();
    let sent = service
        .send_message(&rita.caller, message(chat, "goes through"))
        .await
        .unwrap();
    assert_eq!(sent.seq, 2);
}
