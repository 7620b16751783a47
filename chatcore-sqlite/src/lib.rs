#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

use std::path::Path;
use std::time::Duration;

use chatcore::storage::sqlite::{Connections, FileSettings};
use chatcore::{ChatCore, Result};

/// How durable a commit is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a write is fsynced before it is acknowledged, so it survives a power
    /// loss. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: faster; an acknowledged write survives a crash of the process but
    /// may be lost if the machine loses power.
    Normal,
}

/// SQLite settings. Start from `SqliteOptions::default()`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Commit durability. Default: [`Durability::Full`].
    pub durability: Durability,
    /// How long a connection waits for a lock before failing. Default: 5 s.
    pub busy_timeout: Duration,
    /// Connections for reads (writes go through one writer). Default: 8.
    pub read_connections: u32,
    /// The most writes one commit may hold (group commit). Default: 256.
    pub max_batch: usize,
    /// Opens the file read-only: reads work, and writes answer
    /// [`chatcore::Error::Unavailable`]. Migrations are skipped. Default: `false`.
    pub read_only: bool,
    /// More `PRAGMA name = value` for every connection, after chatcore's own (for instance
    /// `("cache_size", "-65536")`).
    pub pragmas: Vec<(String, String)>,
    /// Service settings (token secret and lifetime, ...).
    pub service: chatcore::Options,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            read_connections: 8,
            max_batch: 256,
            read_only: false,
            pragmas: Vec::new(),
            service: chatcore::Options::default(),
        }
    }
}

impl SqliteOptions {
    /// Sets the commit durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Opens the file read-only.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Adds a `PRAGMA name = value` for every connection.
    pub fn pragma(mut self, name: &str, value: &str) -> Self {
        self.pragmas.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the service settings.
    pub fn service(mut self, service: chatcore::Options) -> Self {
        self.service = service;
        self
    }
}

/// Opens (creating if needed) a chat database file with the default settings: WAL, foreign
/// keys, `synchronous=FULL`, group commit.
///
/// # Errors
/// [`chatcore::Error::Internal`] if the file cannot be opened or migrated.
pub async fn open(path: impl AsRef<Path>) -> Result<ChatCore> {
    open_with(path, SqliteOptions::default()).await
}

/// Opens a chat database file with explicit settings.
///
/// # Errors
/// [`chatcore::Error::Internal`] if the file cannot be opened or migrated.
pub async fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<ChatCore> {
    let mut settings = FileSettings::default();
    settings.synchronous_full = options.durability == Durability::Full;
    settings.busy_timeout = options.busy_timeout;
    settings.readers = options.read_connections;
    settings.read_only = options.read_only;
    settings.pragmas = options.pragmas;
    let service = if options.read_only {
        options.service.migrate(false)
    } else {
        options.service
    };
    Connections::file(path.as_ref(), &settings)
        .await?
        .open(service, options.max_batch)
        .await
}

/// Opens a private in-memory database (gone when the service is dropped): for tests and
/// demos.
///
/// # Errors
/// [`chatcore::Error::Internal`] if SQLite fails.
pub async fn open_in_memory() -> Result<ChatCore> {
    open_in_memory_with(chatcore::Options::default()).await
}

/// Opens a private in-memory database with explicit service settings.
///
/// # Errors
/// [`chatcore::Error::Internal`] if SQLite fails.
pub async fn open_in_memory_with(service: chatcore::Options) -> Result<ChatCore> {
    chatcore::storage::sqlite::open_in_memory(service).await
}
