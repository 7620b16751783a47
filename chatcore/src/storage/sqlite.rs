//! SQLite through rusqlite, each statement run by the thread that asks for it (feature
//! `sqlite`; `chatcore-sqlite` opens its databases with it).
//!
//! SeaORM reaches these connections through its proxy interface (`ProxyDatabaseTrait`), so
//! entities, queries and migrations stay SeaORM's; what changes is that no statement crosses
//! a thread. The writer's connection is used only by chatcore's writer thread, which runs a
//! whole group-commit batch on it; reads take one of a few reader connections on the task's
//! own thread for the few microseconds a statement lasts.
//!
//! Values are bound and read back the way sqlx's SQLite driver stores them (UUIDs as 16-byte
//! blobs, times as RFC 3339 text, booleans as integers), so a database written by one engine
//! is read by the other. A column's SeaORM type is known from its declared type
//! (`uuid_text`, `timestamp_with_timezone_text`, `boolean`, ...), which SQLite reports for
//! every result column taken straight from a table; computed columns come back as their
//! storage class (`BigInt`, `Double`, `String`, `Bytes`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::thread::ThreadId;
use std::time::Duration;

use sea_orm::sea_query::Value;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, ProxyDatabaseTrait,
    ProxyExecResult, ProxyRow, RuntimeErr, Statement, TryIntoModel,
};

use super::{FromValues, TransactionFailures, WriteConnection, sqlite_error};
use crate::messages::entity as messages;
use crate::{ChatCore, Options, WriteMode};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// WAL pages after which a commit checkpoints (`PRAGMA wal_autocheckpoint`; SQLite's default
/// is 1,000). The pages every send changes (its chat's newest messages, the chat, the
/// memberships, the event log's end) are written back to the database once per 64 MiB of WAL
/// rather than once per 4 MiB: sends run about 12% faster (`BENCHMARKS.md`, round nine), and
/// the WAL file grows to about 64 MiB.
const WAL_CHECKPOINT_PAGES: u32 = 16_000;

/// How database files are opened. Start from `FileSettings::default()`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FileSettings {
    /// `PRAGMA synchronous=FULL` (every commit fsynced: survives a power loss) when `true`,
    /// `NORMAL` when `false`. Default: `true`.
    pub synchronous_full: bool,
    /// How long a statement waits for another process's lock. Default: 5 s.
    pub busy_timeout: Duration,
    /// Reader connections (the writer has one of its own). Default: 8.
    pub readers: u32,
    /// Opens the file read-only: reads work, writes fail as unavailable. Default: `false`.
    pub read_only: bool,
    /// More `PRAGMA name = value` for every connection, after chatcore's own.
    pub pragmas: Vec<(String, String)>,
}

impl Default for FileSettings {
    fn default() -> Self {
        FileSettings {
            synchronous_full: true,
            busy_timeout: Duration::from_secs(5),
            readers: 8,
            read_only: false,
            pragmas: Vec::new(),
        }
    }
}

/// One connection and its transaction state, shared by whoever holds its lock.
struct Link {
    state: Mutex<LinkState>,
    /// Signalled when the writer's transaction on this connection ends (readers that share
    /// the writer's connection, as an in-memory database does, wait for it).
    idle: Condvar,
}

struct LinkState {
    connection: Connection,
    /// For each open transaction level, whether its `BEGIN` or `SAVEPOINT` succeeded.
    levels: Vec<bool>,
    /// The thread that runs the open transaction (the writer's).
    owner: Option<ThreadId>,
    /// The first failure of a transaction statement not yet asked for.
    failure: Option<DbErr>,
}

impl LinkState {
    fn busy_elsewhere(&self) -> bool {
        !self.levels.is_empty() && self.owner != Some(std::thread::current().id())
    }

    /// Runs a transaction statement; a failure is kept for [`TransactionFailures::take`].
    /// A single statement (`BEGIN`, `SAVEPOINT`, `RELEASE`, `COMMIT`: several per batch of
    /// writes) is prepared once and kept in the statement cache rather than parsed anew.
    fn transaction_statement(&mut self, sql: &str) -> bool {
        let done = if sql.contains(';') {
            self.connection.execute_batch(sql)
        } else {
            self.connection
                .prepare_cached(sql)
                .and_then(|mut statement| statement.execute([]))
                .map(drop)
        };
        match done {
            Ok(()) => true,
            Err(error) => {
                self.failure.get_or_insert(driver_error(error));
                false
            }
        }
    }
}

impl Link {
    fn new(connection: Connection) -> Arc<Link> {
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Arc::new(Link {
            state: Mutex::new(LinkState {
                connection,
                levels: Vec::new(),
                owner: None,
                failure: None,
            }),
            idle: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LinkState> {
        // A panic while the lock was held leaves SQLite consistent (a statement either ran or
        // did not), so the connection stays usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection outside of any transaction of another thread's. (The writer's own
    /// reads during its transaction see it, as they would on its connection.)
    fn lock_idle(&self) -> MutexGuard<'_, LinkState> {
        self.idle
            .wait_while(self.lock(), |state| state.busy_elsewhere())
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection if it is free now and outside of another thread's transaction.
    fn try_lock_idle(&self) -> Option<MutexGuard<'_, LinkState>> {
        let state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        (!state.busy_elsewhere()).then_some(state)
    }
}

/// Opens a database file with chatcore's settings: WAL, foreign keys, the given durability.
fn open_file(path: &Path, settings: &FileSettings) -> Result<Connection, DbErr> {
    let access = if settings.read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    };
    let flags = access | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let connection = Connection::open_with_flags(path, flags).map_err(connect_error)?;
    connection
        .busy_timeout(settings.busy_timeout)
        .map_err(connect_error)?;
    stable_plans(&connection)?;
    let mut pragmas = String::from("PRAGMA foreign_keys = ON;");
    if !settings.read_only {
        pragmas.push_str("PRAGMA journal_mode = WAL;");
        pragmas.push_str(&format!(
            "PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES};"
        ));
    }
    let synchronous = if settings.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    pragmas.push_str(&format!("PRAGMA synchronous = {synchronous};"));
    for (name, value) in &settings.pragmas {
        pragmas.push_str(&format!("PRAGMA {name} = {value};"));
    }
    connection.execute_batch(&pragmas).map_err(connect_error)?;
    Ok(connection)
}

/// Plans that do not depend on the values bound: SQLite otherwise recompiles a cached
/// statement whenever a parameter it looked at while planning is bound anew (its STAT4
/// estimates, or an expression compared with one in the query), which cost every history page
/// and chat list a full re-prepare of one of their statements.
fn stable_plans(connection: &Connection) -> Result<(), DbErr> {
    connection
        .set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(connect_error)?;
    Ok(())
}

/// The two SeaORM connections of a database: the readers' and the writer's.
#[derive(Debug)]
pub struct Connections {
    /// Reads, each statement on its own on the first free reader connection.
    pub read: DatabaseConnection,
    /// The writer's connection, with its transactions.
    pub write: WriteConnection,
    /// The readers again, for the hot reads that decode rows without SeaORM's proxy rows.
    direct: DirectReads,
}

impl Connections {
    /// A database file (created if missing): one writer connection and
    /// [`readers`](FileSettings::readers) reader connections.
    ///
    /// # Errors
    /// [`DbErr::Conn`] when the file cannot be opened.
    pub async fn file(path: &Path, settings: &FileSettings) -> Result<Connections, DbErr> {
        let writer = Link::new(open_file(path, settings)?);
        let readers = (0..settings.readers.max(1))
            .map(|_| open_file(path, settings).map(Link::new))
            .collect::<Result<Vec<_>, _>>()?;
        Connections::new(writer, readers).await
    }

    /// A private in-memory database: one connection, which reads use between the writer's
    /// transactions. Gone when the service is dropped.
    ///
    /// # Errors
    /// [`DbErr::Conn`] if SQLite fails.
    pub async fn memory() -> Result<Connections, DbErr> {
        let connection = Connection::open_in_memory().map_err(connect_error)?;
        stable_plans(&connection)?;
        connection
            .execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(connect_error)?;
        let link = Link::new(connection);
        Connections::new(link.clone(), vec![link]).await
    }

    async fn new(writer: Arc<Link>, readers: Vec<Arc<Link>>) -> Result<Connections, DbErr> {
        let readers = Readers {
            links: readers.into(),
            next: Arc::new(AtomicUsize::new(0)),
        };
        let write = sea_orm::Database::connect_proxy(
            DbBackend::Sqlite,
            Arc::new(Box::new(Writer(writer.clone()))),
        )
        .await?;
        let read = sea_orm::Database::connect_proxy(
            DbBackend::Sqlite,
            Arc::new(Box::new(readers.clone())),
        )
        .await?;
        Ok(Connections {
            read,
            write: WriteConnection::with_failures(write, Arc::new(Failures(writer))),
            direct: DirectReads(readers),
        })
    }

    /// Opens the service on these connections, with group commit of up to `max_batch` writes.
    ///
    /// # Errors
    /// As [`ChatCore::open`].
    pub async fn open(self, options: Options, max_batch: usize) -> crate::Result<ChatCore> {
        ChatCore::open_with(
            self.read,
            options
                .write_mode(WriteMode::GroupCommit { max_batch })
                .write_connection(self.write),
            Some(self.direct),
        )
        .await
    }
}

/// The service on a private in-memory database (gone when the service is dropped), with
/// group commit of up to 256 writes: for tests and demos.
///
/// # Errors
/// [`crate::Error::Internal`] if SQLite fails.
pub async fn open_in_memory(options: Options) -> crate::Result<ChatCore> {
    Connections::memory().await?.open(options, 256).await
}

/// The writer's connection: statements and transactions, on the writer's thread.
struct Writer(Arc<Link>);

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("inline SQLite writer")
    }
}

impl Writer {
    fn finish(&self, commit: bool) {
        let mut state = self.0.lock();
        let Some(opened) = state.levels.pop() else {
            state
                .failure
                .get_or_insert(internal("a transaction ended that had not begun"));
            return;
        };
        if opened {
            let depth = state.levels.len();
            let sql = match (depth, commit) {
                (0, true) => "COMMIT".to_owned(),
                (0, false) => "ROLLBACK".to_owned(),
                (depth, true) => format!("RELEASE SAVEPOINT chatcore_{depth}"),
                (depth, false) => {
                    format!(
                        "ROLLBACK TO SAVEPOINT chatcore_{depth}; RELEASE SAVEPOINT chatcore_{depth}"
                    )
                }
            };
            let done = state.transaction_statement(&sql);
            // A COMMIT that failed (busy, I/O) can leave the transaction open: end it, so that
            // the next batch starts clean.
            if !done && depth == 0 && !state.connection.is_autocommit() {
                let _ = state.connection.execute_batch("ROLLBACK");
            }
        }
        if state.levels.is_empty() {
            state.owner = None;
            drop(state);
            self.0.idle.notify_all();
        }
    }
}

#[async_trait::async_trait]
impl ProxyDatabaseTrait for Writer {
    async fn query(&self, statement: Statement) -> Result<Vec<ProxyRow>, DbErr> {
        query(&self.0.lock().connection, &statement)
    }

    async fn execute(&self, statement: Statement) -> Result<ProxyExecResult, DbErr> {
        execute(&self.0.lock().connection, &statement)
    }

    async fn begin(&self) {
        let mut state = self.0.lock();
        let depth = state.levels.len();
        let sql = if depth == 0 {
            // Take the write lock now rather than at the first write, so that a busy database
            // fails here and not halfway through a batch.
            "BEGIN IMMEDIATE".to_owned()
        } else {
            format!("SAVEPOINT chatcore_{depth}")
        };
        let opened = state.transaction_statement(&sql);
        state.levels.push(opened);
        state.owner = Some(std::thread::current().id());
    }

    async fn commit(&self) {
        self.finish(true);
    }

    async fn rollback(&self) {
        self.finish(false);
    }

    fn start_rollback(&self) {
        self.finish(false);
    }

    async fn ping(&self) -> Result<(), DbErr> {
        ping(&self.0.lock().connection)
    }
}

/// Where the writer's transaction statements report failures.
struct Failures(Arc<Link>);

impl fmt::Debug for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("inline SQLite writer failures")
    }
}

impl TransactionFailures for Failures {
    fn take(&self) -> Option<DbErr> {
        self.0.lock().failure.take()
    }
}

/// The reader connections: each statement on its own (autocommit), on the first free one.
#[derive(Clone)]
struct Readers {
    links: Arc<[Arc<Link>]>,
    next: Arc<AtomicUsize>,
}

impl fmt::Debug for Readers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "inline SQLite readers ({})", self.links.len())
    }
}

impl Readers {
    fn with<T>(&self, run: impl FnOnce(&Connection) -> T) -> T {
        let count = self.links.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        for offset in 0..count {
            if let Some(state) = self.links[(start + offset) % count].try_lock_idle() {
                return run(&state.connection);
            }
        }
        run(&self.links[start].lock_idle().connection)
    }

    fn no_transactions() {
        tracing::error!(
            "a transaction on chatcore's SQLite read connection: its statements run one by one \
             (writes that need a transaction go through the service's writer)"
        );
    }
}

#[async_trait::async_trait]
impl ProxyDatabaseTrait for Readers {
    async fn query(&self, statement: Statement) -> Result<Vec<ProxyRow>, DbErr> {
        self.with(|connection| query(connection, &statement))
    }

    async fn execute(&self, statement: Statement) -> Result<ProxyExecResult, DbErr> {
        self.with(|connection| execute(connection, &statement))
    }

    async fn begin(&self) {
        Readers::no_transactions();
    }

    async fn commit(&self) {
        Readers::no_transactions();
    }

    async fn rollback(&self) {
        Readers::no_transactions();
    }

    async fn ping(&self) -> Result<(), DbErr> {
        self.with(ping)
    }
}

/// Reads that decode SQLite's rows straight into SeaORM models, without the proxy's rows (a
/// `BTreeMap` keyed by column name per row, and a copy of every value read from it): the
/// history page and the chat list.
#[derive(Clone)]
pub(crate) struct DirectReads(Readers);

impl fmt::Debug for DirectReads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "direct SQLite reads ({})", self.0.links.len())
    }
}

impl DirectReads {
    /// The models of entity `E` that `statement` selects. Its result columns must be columns
    /// of `E`, by name, and name all of them (as `E::find()` selects). Integers are read as
    /// `i64`, so the entity's integer fields must be `i64` too.
    pub(crate) fn models<E>(&self, statement: &Statement) -> Result<Vec<E::Model>, DbErr>
    where
        E: EntityTrait,
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        self.0.with(|connection| {
            let mut prepared = connection
                .prepare_cached(&statement.sql)
                .map_err(driver_error)?;
            let columns = prepared
                .columns()
                .iter()
                .map(|column| {
                    let field = E::Column::from_str(column.name()).map_err(|_| {
                        internal(&format!(
                            "no column {} in {}",
                            column.name(),
                            E::default().table_name()
                        ))
                    })?;
                    Ok((field, Kind::declared(column.decl_type())))
                })
                .collect::<Result<Vec<_>, DbErr>>()?;
            let mut rows = prepared
                .query(rusqlite::params_from_iter(params(statement)))
                .map_err(driver_error)?;
            let mut models = Vec::new();
            while let Some(row) = rows.next().map_err(driver_error)? {
                let mut model = <E::ActiveModel as ActiveModelTrait>::default();
                for (index, (field, kind)) in columns.iter().enumerate() {
                    let raw = row.get_ref(index).map_err(driver_error)?;
                    model.try_set(*field, kind.read(raw))?;
                }
                models.push(model.try_into_model()?);
            }
            Ok(models)
        })
    }

    /// The rows `statement` selects, as tuples of its result columns, which must be
    /// `columns`, in this order.
    pub(crate) fn tuples<T: FromValues>(
        &self,
        statement: &Statement,
        columns: &[&str],
    ) -> Result<Vec<T>, DbErr> {
        self.0.with(|connection| {
            let mut prepared = connection
                .prepare_cached(&statement.sql)
                .map_err(driver_error)?;
            let names = prepared.column_names();
            if names != columns || columns.len() != T::COLUMNS {
                return Err(internal(&format!(
                    "result columns {names:?} read as {} columns {columns:?}",
                    T::COLUMNS
                )));
            }
            let kinds: Vec<Kind> = prepared
                .columns()
                .iter()
                .map(|column| Kind::declared(column.decl_type()))
                .collect();
            let mut rows = prepared
                .query(rusqlite::params_from_iter(params(statement)))
                .map_err(driver_error)?;
            let mut tuples = Vec::new();
            while let Some(row) = rows.next().map_err(driver_error)? {
                let mut failure = None;
                let mut values =
                    kinds
                        .iter()
                        .enumerate()
                        .map_while(|(index, kind)| match row.get_ref(index) {
                            Ok(raw) => Some(kind.read(raw)),
                            Err(error) => {
                                failure = Some(driver_error(error));
                                None
                            }
                        });
                let tuple = T::from_values(&mut values);
                if let Some(error) = failure {
                    return Err(error);
                }
                tuples.push(tuple?);
            }
            Ok(tuples)
        })
    }
}

/// The columns [`DirectReads::messages`] reads, in this order: every column of `messages`.
pub(crate) const MESSAGE_COLUMNS: [&str; 13] = [
    "id",
    "chat_id",
    "seq",
    "sender_id",
    "text",
    "client_id",
    "created_at",
    "edited_at",
    "deleted_at",
    "reply_to_id",
    "forwarded_message_id",
    "forwarded_sender_id",
    "reactions",
];

impl DirectReads {
    /// The messages `statement` selects, its result columns being [`MESSAGE_COLUMNS`]: a
    /// history page, the hottest read, decoded by position without SeaORM's conversion of
    /// every value (as [`DirectReads::models`] does it, a third of the page's cost).
    pub(crate) fn messages(&self, statement: &Statement) -> Result<Vec<messages::Model>, DbErr> {
        self.0.with(|connection| {
            let mut prepared = connection
                .prepare_cached(&statement.sql)
                .map_err(driver_error)?;
            let names = prepared.column_names();
            if names != MESSAGE_COLUMNS {
                return Err(internal(&format!(
                    "result columns {names:?} read as a message"
                )));
            }
            let mut rows = prepared
                .query(rusqlite::params_from_iter(params(statement)))
                .map_err(driver_error)?;
            let mut models = Vec::new();
            while let Some(row) = rows.next().map_err(driver_error)? {
                let at = Columns(row);
                models.push(messages::Model {
                    id: at.uuid(0)?,
                    chat_id: at.uuid(1)?,
                    seq: at.integer(2)?,
                    sender_id: at.uuid(3)?,
                    text: at.text(4)?,
                    client_id: at.text(5)?,
                    created_at: at.time(6)?,
                    edited_at: at.optional_time(7)?,
                    deleted_at: at.optional_time(8)?,
                    reply_to_id: at.optional_uuid(9)?,
                    forwarded_message_id: at.optional_uuid(10)?,
                    forwarded_sender_id: at.optional_uuid(11)?,
                    reactions: at.integer(12)?,
                });
            }
            Ok(models)
        })
    }
}

/// A row's values by position, read as [`Kind::read`] reads them.
struct Columns<'a, 'r>(&'a rusqlite::Row<'r>);

impl Columns<'_, '_> {
    fn raw(&self, index: usize) -> Result<ValueRef<'_>, DbErr> {
        self.0.get_ref(index).map_err(driver_error)
    }

    fn mismatch(&self, index: usize, wanted: &str) -> DbErr {
        DbErr::Type(format!("column {index} is not {wanted}"))
    }

    fn optional_uuid(&self, index: usize) -> Result<Option<uuid::Uuid>, DbErr> {
        match self.raw(index)? {
            ValueRef::Null => Ok(None),
            raw => read_uuid(raw)
                .map(Some)
                .ok_or_else(|| self.mismatch(index, "a uuid")),
        }
    }

    fn uuid(&self, index: usize) -> Result<uuid::Uuid, DbErr> {
        self.optional_uuid(index)?
            .ok_or_else(|| self.mismatch(index, "a uuid"))
    }

    fn integer(&self, index: usize) -> Result<i64, DbErr> {
        match self.raw(index)? {
            ValueRef::Integer(value) => Ok(value),
            _ => Err(self.mismatch(index, "an integer")),
        }
    }

    fn text(&self, index: usize) -> Result<Option<String>, DbErr> {
        match self.raw(index)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(text) => Ok(Some(String::from_utf8_lossy(text).into_owned())),
            _ => Err(self.mismatch(index, "text")),
        }
    }

    fn optional_time(&self, index: usize) -> Result<Option<DateTime<Utc>>, DbErr> {
        match self.raw(index)? {
            ValueRef::Null => Ok(None),
            raw => read_time(raw)
                .map(Some)
                .ok_or_else(|| self.mismatch(index, "a time")),
        }
    }

    fn time(&self, index: usize) -> Result<DateTime<Utc>, DbErr> {
        self.optional_time(index)?
            .ok_or_else(|| self.mismatch(index, "a time"))
    }
}

fn ping(connection: &Connection) -> Result<(), DbErr> {
    connection
        .query_row("SELECT 1", [], |_| Ok(()))
        .map_err(driver_error)
}

fn query(connection: &Connection, statement: &Statement) -> Result<Vec<ProxyRow>, DbErr> {
    let mut prepared = connection
        .prepare_cached(&statement.sql)
        .map_err(driver_error)?;
    let columns: Vec<(String, Kind)> = prepared
        .columns()
        .iter()
        .map(|column| (column.name().to_owned(), Kind::declared(column.decl_type())))
        .collect();
    let mut rows = prepared
        .query(rusqlite::params_from_iter(params(statement)))
        .map_err(driver_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(driver_error)? {
        let mut values = BTreeMap::new();
        for (index, (name, kind)) in columns.iter().enumerate() {
            let raw = row.get_ref(index).map_err(driver_error)?;
            values.insert(name.clone(), kind.read(raw));
        }
        out.push(ProxyRow::new(values));
    }
    Ok(out)
}

fn execute(connection: &Connection, statement: &Statement) -> Result<ProxyExecResult, DbErr> {
    let params = params(statement);
    let rows_affected = if params.is_empty() {
        // Unprepared SQL (migrations) may hold several statements.
        connection
            .execute_batch(&statement.sql)
            .map_err(driver_error)?;
        connection.changes()
    } else {
        let mut prepared = connection
            .prepare_cached(&statement.sql)
            .map_err(driver_error)?;
        let changed = prepared
            .execute(rusqlite::params_from_iter(params))
            .map_err(driver_error)?;
        u64::try_from(changed).unwrap_or(u64::MAX)
    };
    Ok(ProxyExecResult {
        last_insert_id: u64::try_from(connection.last_insert_rowid()).unwrap_or_default(),
        rows_affected,
    })
}

fn params(statement: &Statement) -> Vec<Param<'_>> {
    statement
        .values
        .iter()
        .flat_map(|values| values.0.iter())
        .map(Param)
        .collect()
}

/// A SeaORM value bound as sqlx's SQLite driver binds it.
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as Owned;
        let integer = |value: i64| Some(ToSqlOutput::Owned(Owned::Integer(value)));
        let text = |value: String| Some(ToSqlOutput::Owned(Owned::Text(value)));
        let bound = match self.0 {
            Value::Bool(v) => v.and_then(|v| integer(i64::from(v))),
            Value::TinyInt(v) => v.and_then(|v| integer(i64::from(v))),
            Value::SmallInt(v) => v.and_then(|v| integer(i64::from(v))),
            Value::Int(v) => v.and_then(|v| integer(i64::from(v))),
            Value::BigInt(v) => v.and_then(integer),
            Value::TinyUnsigned(v) => v.and_then(|v| integer(i64::from(v))),
            Value::SmallUnsigned(v) => v.and_then(|v| integer(i64::from(v))),
            Value::Unsigned(v) => v.and_then(|v| integer(i64::from(v))),
            Value::BigUnsigned(v) => match v {
                Some(v) => Some(ToSqlOutput::Owned(Owned::Integer(
                    i64::try_from(*v)
                        .map_err(|error| rusqlite::Error::ToSqlConversionFailure(error.into()))?,
                ))),
                None => None,
            },
            Value::Float(v) => v.map(|v| ToSqlOutput::Owned(Owned::Real(f64::from(v)))),
            Value::Double(v) => v.map(|v| ToSqlOutput::Owned(Owned::Real(v))),
            Value::String(v) => v
                .as_deref()
                .map(|v| ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes()))),
            Value::Char(v) => v.and_then(|v| text(v.to_string())),
            Value::Bytes(v) => v
                .as_deref()
                .map(|v| ToSqlOutput::Borrowed(ValueRef::Blob(v))),
            Value::Uuid(v) => v
                .as_ref()
                .map(|v| ToSqlOutput::Borrowed(ValueRef::Blob(v.as_bytes()))),
            Value::ChronoDateTimeUtc(v) => {
                v.and_then(|v| text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false)))
            }
            Value::ChronoDateTimeWithTimeZone(v) => {
                v.and_then(|v| text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false)))
            }
            Value::ChronoDateTimeLocal(v) => {
                v.and_then(|v| text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false)))
            }
            Value::ChronoDateTime(v) => v.and_then(|v| text(v.format("%F %T%.f").to_string())),
            Value::ChronoDate(v) => v.and_then(|v| text(v.format("%F").to_string())),
            Value::ChronoTime(v) => v.and_then(|v| text(v.format("%T%.f").to_string())),
            Value::Json(v) => v.as_ref().and_then(|v| text(v.to_string())),
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("chatcore-sqlite cannot bind {other:?}").into(),
                ));
            }
        };
        Ok(bound.unwrap_or(ToSqlOutput::Owned(Owned::Null)))
    }
}

/// The SeaORM type a result column is read as, from its declared type.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Uuid,
    Time,
    Bool,
    Integer,
    Real,
    Text,
    Blob,
    /// A computed column: by its storage class.
    Any,
}

impl Kind {
    fn declared(declared: Option<&str>) -> Kind {
        let Some(declared) = declared else {
            return Kind::Any;
        };
        let is = |names: &[&str]| names.iter().any(|name| declared.eq_ignore_ascii_case(name));
        if is(&["uuid_text", "uuid", "uuid_blob"]) {
            Kind::Uuid
        } else if is(&["timestamp_with_timezone_text", "timestamptz", "datetime"]) {
            Kind::Time
        } else if is(&["boolean", "bool"]) {
            Kind::Bool
        } else if is(&["integer", "bigint", "int", "smallint", "tinyint"]) {
            Kind::Integer
        } else if is(&["real", "double", "float"]) {
            Kind::Real
        } else if is(&["text", "json_text", "varchar"]) {
            Kind::Text
        } else if is(&["blob", "blob_text"]) {
            Kind::Blob
        } else {
            Kind::Any
        }
    }

    fn read(self, raw: ValueRef<'_>) -> Value {
        match (self, raw) {
            (Kind::Uuid, ValueRef::Null) => Value::Uuid(None),
            (Kind::Time, ValueRef::Null) => Value::ChronoDateTimeUtc(None),
            (Kind::Bool, ValueRef::Null) => Value::Bool(None),
            (Kind::Integer, ValueRef::Null) => Value::BigInt(None),
            (Kind::Real, ValueRef::Null) => Value::Double(None),
            (Kind::Text | Kind::Any, ValueRef::Null) => Value::String(None),
            (Kind::Blob, ValueRef::Null) => Value::Bytes(None),
            (Kind::Uuid, ValueRef::Blob(_) | ValueRef::Text(_)) => match read_uuid(raw) {
                Some(id) => Value::Uuid(Some(id)),
                None => Kind::Any.read(raw),
            },
            (Kind::Time, ValueRef::Text(_)) => match read_time(raw) {
                Some(time) => Value::ChronoDateTimeUtc(Some(time)),
                None => Kind::Any.read(raw),
            },
            (Kind::Bool, ValueRef::Integer(value)) => Value::Bool(Some(value != 0)),
            (_, ValueRef::Integer(value)) => Value::BigInt(Some(value)),
            (_, ValueRef::Real(value)) => Value::Double(Some(value)),
            // A computed time (`MIN(read_at)`) has no declared type: text in exactly the
            // shape times are written in is read as a time.
            (Kind::Any, ValueRef::Text(text)) => match std::str::from_utf8(text)
                .ok()
                .filter(|text| looks_like_written_time(text))
                .and_then(parse_time)
            {
                Some(time) => Value::ChronoDateTimeUtc(Some(time)),
                None => Value::String(Some(String::from_utf8_lossy(text).into_owned())),
            },
            (_, ValueRef::Text(text)) => {
                Value::String(Some(String::from_utf8_lossy(text).into_owned()))
            }
            (_, ValueRef::Blob(bytes)) => Value::Bytes(Some(bytes.to_vec())),
        }
    }
}

/// A uuid as [`Param`] writes it (16 bytes), or as text.
fn read_uuid(raw: ValueRef<'_>) -> Option<uuid::Uuid> {
    match raw {
        ValueRef::Blob(bytes) => uuid::Uuid::from_slice(bytes).ok(),
        ValueRef::Text(text) => std::str::from_utf8(text).ok()?.parse().ok(),
        _ => None,
    }
}

/// A time stored as text ([`parse_time`]).
fn read_time(raw: ValueRef<'_>) -> Option<DateTime<Utc>> {
    match raw {
        ValueRef::Text(text) => parse_time(std::str::from_utf8(text).ok()?),
        _ => None,
    }
}

/// Whether `text` has the shape [`Param`] writes times in: `YYYY-MM-DDTHH:MM:SS`, an
/// optional fraction, and `+00:00`.
fn looks_like_written_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    (25..=35).contains(&bytes.len())
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && text.ends_with("+00:00")
        && bytes[..4].iter().all(u8::is_ascii_digit)
}

/// A time as sqlx writes it (RFC 3339), or SQLite's own `YYYY-MM-DD HH:MM:SS[.fff]` in UTC.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    parse_written_time(text).or_else(|| parse_any_time(text))
}

/// The shape chatcore writes every time in (`YYYY-MM-DDTHH:MM:SS[.f…]+00:00`), read without
/// chrono's general parser: a page of history or of the chat list reads a hundred times.
fn parse_written_time(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.strip_suffix("+00:00")?.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes.get(range)?.iter().try_fold(0u32, |value, byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if bytes.len() < 19 || separators.iter().any(|(at, byte)| bytes[*at] != *byte) {
        return None;
    }
    let nanos = match bytes.len() {
        19 => 0,
        21..=29 if bytes[19] == b'.' => {
            let digits = bytes.len() - 20;
            number(20..bytes.len())? * 10u32.pow(u32::try_from(9 - digits).ok()?)
        }
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(number(0..4)?).ok()?,
        number(5..7)?,
        number(8..10)?,
    )?;
    let time = date.and_hms_nano_opt(number(11..13)?, number(14..16)?, number(17..19)?, nanos)?;
    Some(time.and_utc())
}

/// [`parse_time`] for the shapes other writers use.
fn parse_any_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|time| time.and_utc())
        })
}

fn driver_error(error: rusqlite::Error) -> DbErr {
    match &error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.clone().unwrap_or_else(|| failure.to_string());
            sqlite_error(failure.extended_code, &message)
        }
        _ => internal(&error.to_string()),
    }
}

fn connect_error(error: rusqlite::Error) -> DbErr {
    match driver_error(error) {
        DbErr::Exec(runtime) | DbErr::Query(runtime) => DbErr::Conn(runtime),
        other => other,
    }
}

fn internal(message: &str) -> DbErr {
    DbErr::Query(RuntimeErr::Internal(message.to_owned()))
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{ExprTrait, Query};
    use sea_orm::{ConnectionTrait, EntityTrait, QueryTrait, TryGetableMany};
    use uuid::Uuid;

    use super::*;
    use crate::Service;
    use crate::chats::entity as chats;
    use crate::groups::{ChatTitle, CreateGroup};
    use crate::messages::{MessageText, SendMessage, entity as messages};
    use crate::test_support::user;
    use crate::users::entity as users;

    /// Files checkpoint every [`WAL_CHECKPOINT_PAGES`] WAL pages, unless the settings' own
    /// pragmas say otherwise.
    #[test]
    fn files_checkpoint_every_16000_wal_pages_unless_told_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        let checkpoint = |settings: &FileSettings| -> u32 {
            open_file(&path, settings)
                .unwrap()
                .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
                .unwrap()
        };
        assert_eq!(checkpoint(&FileSettings::default()), 16_000);
        let mut settings = FileSettings::default();
        settings
            .pragmas
            .push(("wal_autocheckpoint".to_owned(), "1000".to_owned()));
        assert_eq!(checkpoint(&settings), 1_000);
    }

    /// The fast reader of written times agrees with chrono's parser, and leaves every other
    /// shape to it.
    #[test]
    fn written_times_read_as_chrono_reads_them() {
        let mut texts: Vec<String> = [
            "2026-12-06T23:40:58+00:00",
            "2026-12-06T23:40:58.1+00:00",
            "2026-12-06T23:40:58.123+00:00",
            "2026-12-06T23:40:58.123456+00:00",
            "2026-12-06T23:40:58.123456789+00:00",
            "0000-01-01T00:00:00+00:00",
            "9999-12-31T23:59:59.999999+00:00",
            "2024-02-29T12:00:00+00:00",
        ]
        .map(str::to_owned)
        .to_vec();
        let mut seed: i64 = 7;
        for _ in 0..2_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let time =
                DateTime::from_timestamp_micros(seed.rem_euclid(253_402_300_799_000_000)).unwrap();
            texts.push(time.to_rfc3339());
        }
        for text in &texts {
            assert_eq!(parse_written_time(text), parse_any_time(text), "{text}");
            assert!(parse_written_time(text).is_some(), "{text}");
        }
        for other in [
            "2026-12-06 23:40:58.123",
            "2026-12-06T23:40:58Z",
            "2026-12-06T23:40:58.+00:00",
            "2026-12-06T23:40:58.1234567890+00:00",
            "2026-02-30T23:40:58+00:00",
            "2026-12-06T24:00:00+00:00",
            "2026-12-06T23:40:58+01:00",
            "2026-1a-06T23:40:58+00:00",
        ] {
            assert_eq!(parse_written_time(other), None, "{other}");
            assert_eq!(parse_time(other), parse_any_time(other), "{other}");
        }
    }

    /// A file with users, a group, a direct chat and messages (a reply, an edit, a deletion).
    async fn scene(dir: &Path) -> ChatCore {
        let connections = Connections::file(&dir.join("chat.db"), &FileSettings::default())
            .await
            .unwrap();
        let chat = connections.open(Options::default(), 16).await.unwrap();
        let (ada, bob) = (user(&chat, "ada").await, user(&chat, "bob").await);
        let group = chat
            .create_group(
                &ada,
                CreateGroup::new(ChatTitle::parse("Team").unwrap(), vec![bob.user_id()]),
            )
            .await
            .unwrap()
            .chat;
        let direct = chat
            .start_direct_chat(&ada, bob.user_id)
            .await
            .unwrap()
            .chat
            .chat;
        let text = |text: &str| MessageText::parse(text).unwrap();
        let first = chat
            .send_message(&ada, SendMessage::new(group.id, text("first")))
            .await
            .unwrap();
        let mut reply = SendMessage::new(group.id, text("reply"));
        reply.reply_to = Some(first.id);
        chat.send_message(&ada, reply).await.unwrap();
        let hello = chat
            .send_message(&bob, SendMessage::new(direct.id, text("hello")))
            .await
            .unwrap();
        chat.edit_message(&bob, direct.id, hello.id, text("hello!"))
            .await
            .unwrap();
        chat.delete_message(&ada, group.id, first.id).await.unwrap();
        chat
    }

    #[tokio::test]
    async fn direct_reads_decode_what_seaorm_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let chat = scene(dir.path()).await;
        let inner = &chat.inner;
        assert!(inner.direct.is_some());

        let expected = messages::Entity::find().all(&inner.db).await.unwrap();
        assert_eq!(expected.len(), 3);
        assert_eq!(inner.all(messages::Entity::find()).await.unwrap(), expected);
        let expected = users::Entity::find().all(&inner.db).await.unwrap();
        assert_eq!(inner.all(users::Entity::find()).await.unwrap(), expected);

        // Messages by position, as the history reads them: edited, deleted, replies.
        let sql = format!(
            "SELECT {} FROM messages ORDER BY chat_id, seq",
            MESSAGE_COLUMNS.join(", ")
        );
        let statement = Statement::from_string(DbBackend::Sqlite, sql);
        let expected = messages::Entity::find()
            .from_raw_sql(statement.clone())
            .all(&inner.db)
            .await
            .unwrap();
        assert_eq!(expected.len(), 3);
        assert!(expected.iter().any(|message| message.deleted_at.is_some()));
        assert!(expected.iter().any(|message| message.edited_at.is_some()));
        assert!(expected.iter().any(|message| message.reply_to_id.is_some()));
        assert_eq!(inner.messages(statement).await.unwrap(), expected);

        // Tuples: every kind of column the chat list reads, computed ones included.
        let query = Query::select()
            .columns([
                chats::Column::Id,
                chats::Column::Kind,
                chats::Column::Title,
                chats::Column::CreatedAt,
                chats::Column::LastActivity,
                chats::Column::LastMessageId,
                chats::Column::History,
                chats::Column::LastSeq,
            ])
            .from(chats::Entity)
            .to_owned();
        type Row = (
            Uuid,
            crate::chats::ChatKind,
            Option<String>,
            DateTime<Utc>,
            i64,
            Option<Uuid>,
            crate::chats::HistoryVisibility,
            i64,
        );
        let columns = [
            "id",
            "kind",
            "title",
            "created_at",
            "last_activity",
            "last_message_id",
            "history",
            "last_seq",
        ];
        let names: Vec<String> = columns.map(str::to_owned).into();
        let statement = DbBackend::Sqlite.build(&query);
        let expected: Vec<Row> = inner
            .db
            .query_all_raw(statement.clone())
            .await
            .unwrap()
            .iter()
            .map(|row| Row::try_get_many(row, "", &names).unwrap())
            .collect();
        assert_eq!(expected.len(), 2);
        assert_eq!(
            inner.tuples::<Row>(statement, &columns).await.unwrap(),
            expected
        );
        let count = Query::select()
            .column(messages::Column::ChatId)
            .expr_as(
                sea_orm::sea_query::Expr::col(messages::Column::Id).count(),
                "count",
            )
            .from(messages::Entity)
            .group_by_col(messages::Column::ChatId)
            .to_owned();
        let mut counts: Vec<(Uuid, i64)> = inner
            .tuples(DbBackend::Sqlite.build(&count), &["chat_id", "count"])
            .await
            .unwrap();
        counts.sort_by_key(|(_, count)| *count);
        assert_eq!(counts.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [1, 2]);
    }

    #[tokio::test]
    async fn direct_reads_refuse_rows_of_another_shape() {
        let dir = tempfile::tempdir().unwrap();
        let chat = scene(dir.path()).await;
        let inner = &chat.inner;
        let direct = inner.direct.as_ref().unwrap();
        // Two columns read as eight or under other names, and a chat row read as a message.
        let two = DbBackend::Sqlite.build(
            Query::select()
                .columns([chats::Column::Id, chats::Column::Kind])
                .from(chats::Entity),
        );
        type Eight = (Uuid, i64, i64, i64, i64, i64, i64, i64);
        assert!(direct.tuples::<Eight>(&two, &["id", "kind"]).is_err());
        assert!(
            direct
                .tuples::<(Uuid, String)>(&two, &["id", "title"])
                .is_err()
        );
        assert!(
            direct
                .tuples::<(Uuid, String)>(&two, &["id", "kind"])
                .is_ok()
        );
        let chats = chats::Entity::find().build(DbBackend::Sqlite);
        assert!(direct.models::<messages::Entity>(&chats).is_err());
        assert!(direct.messages(&chats).is_err());
        // A message's columns in another order.
        let mut shuffled = MESSAGE_COLUMNS;
        shuffled.swap(0, 1);
        let sql = format!("SELECT {} FROM messages", shuffled.join(", "));
        assert!(
            direct
                .messages(&Statement::from_string(DbBackend::Sqlite, sql))
                .is_err()
        );
        // A text column read as a number.
        let text = DbBackend::Sqlite.build(
            Query::select()
                .columns([users::Column::Id, users::Column::Username])
                .from(users::Entity),
        );
        assert!(
            direct
                .tuples::<(Uuid, i64)>(&text, &["id", "username"])
                .is_err()
        );
    }
}
