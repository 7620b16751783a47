//! The write path: every change runs in a transaction through [`Writer`].
//!
//! With group commit on (the SQLite backend's default), one thread of its own owns all writes:
//! it takes every request that is waiting, runs each in its own savepoint inside one
//! transaction, commits once, and only then answers each caller. Concurrent writers therefore
//! share one fsync, and SQLite never sees two writers at once (no "database is locked"). A
//! request that fails rolls back its savepoint alone; the others in its batch still commit.
//! When the writer's connection executes statements on the calling thread (the SQLite
//! connections of [`crate::storage::sqlite`]), a whole batch costs one hand-over between
//! threads, not one per statement.
//!
//! Without group commit (PostgreSQL), each request is its own transaction and the database
//! arbitrates concurrency.
//!
//! Database failures reach callers classified (see `crate::error::storage_fault`): storage
//! that cannot be reached or cannot take the write is [`Error::Unavailable`], anything else
//! [`Error::Internal`]. A commit that failed may still have been applied (the connection
//! dropped after the server committed), which is why retried writes carry idempotency keys.

use std::fmt;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use std::panic::AssertUnwindSafe;
use tokio::sync::{mpsc, oneshot};

use crate::error::{db_error_unlogged, log_db_error};
use crate::{Error, Result};

/// Where a connection reports a failed `BEGIN`, `COMMIT`, `ROLLBACK` or savepoint statement
/// that it could not return: SeaORM's proxy connections (`ProxyDatabaseTrait`) run those
/// statements in hooks without a result. The writer asks after each of them, so that a commit
/// that failed is never acknowledged.
pub trait TransactionFailures: Send + Sync + fmt::Debug {
    /// The first failure since the last call, if any.
    fn take(&self) -> Option<DbErr>;
}

/// The connection the writer runs on.
#[derive(Clone, Debug)]
pub struct WriteConnection {
    pub(crate) db: DatabaseConnection,
    failures: Option<Arc<dyn TransactionFailures>>,
}

impl WriteConnection {
    /// A connection whose transaction statements report their own failures (any SeaORM
    /// driver connection).
    pub fn new(db: DatabaseConnection) -> Self {
        WriteConnection { db, failures: None }
    }

    /// A proxy connection, with where it reports the failures of its transaction hooks.
    pub fn with_failures(db: DatabaseConnection, failures: Arc<dyn TransactionFailures>) -> Self {
        WriteConnection {
            db,
            failures: Some(failures),
        }
    }

    /// `result`, unless the connection reported a failure meanwhile.
    fn settle<T>(&self, result: std::result::Result<T, DbErr>) -> std::result::Result<T, DbErr> {
        let value = result?;
        match self.failures.as_ref().and_then(|failures| failures.take()) {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    /// Drops what a hook reported outside of a batch (a transaction dropped unfinished).
    fn forget_failures(&self) {
        if let Some(failures) = &self.failures {
            let _ = failures.take();
        }
    }

    async fn begin(&self) -> std::result::Result<DatabaseTransaction, DbErr> {
        self.settle(self.db.begin().await)
    }

    async fn begin_in(
        &self,
        txn: &DatabaseTransaction,
    ) -> std::result::Result<DatabaseTransaction, DbErr> {
        self.settle(txn.begin().await)
    }

    async fn commit(&self, txn: DatabaseTransaction) -> std::result::Result<(), DbErr> {
        self.settle(txn.commit().await)
    }

    async fn rollback(&self, txn: DatabaseTransaction) -> std::result::Result<(), DbErr> {
        self.settle(txn.rollback().await)
    }
}

/// How writes reach the database.
#[derive(Clone, Debug, Default)]
pub enum WriteMode {
    /// Each write is its own transaction.
    #[default]
    Direct,
    /// Concurrent writes share one transaction and one commit.
    GroupCommit {
        /// The most writes one commit may hold.
        max_batch: usize,
    },
}

/// A unit of work run inside a transaction (or a savepoint of a shared one).
pub(crate) type Work<T> =
    Box<dyn for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Result<T>> + Send>;

type Deliver = Box<dyn FnOnce(Option<Error>) + Send>;

trait Job: Send {
    /// Runs the work; says whether it succeeded and how to answer once the commit is known.
    fn run<'c>(self: Box<Self>, txn: &'c DatabaseTransaction) -> BoxFuture<'c, (bool, Deliver)>;
    /// Answers with an error without running.
    fn fail(self: Box<Self>, error: Error);
}

struct TypedJob<T> {
    work: Work<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T: Send + 'static> Job for TypedJob<T> {
    fn run<'c>(self: Box<Self>, txn: &'c DatabaseTransaction) -> BoxFuture<'c, (bool, Deliver)> {
        let TypedJob { work, reply } = *self;
        Box::pin(async move {
            let outcome = AssertUnwindSafe(work(txn)).catch_unwind().await;
            match outcome {
                Ok(Ok(value)) => {
                    let deliver: Deliver = Box::new(move |commit_error| {
                        let _ = reply.send(match commit_error {
                            None => Ok(value),
                            Some(error) => Err(error),
                        });
                    });
                    (true, deliver)
                }
                Ok(Err(error)) => {
                    let deliver: Deliver = Box::new(move |_| {
                        let _ = reply.send(Err(error));
                    });
                    (false, deliver)
                }
                Err(_) => {
                    let deliver: Deliver = Box::new(move |_| {
                        let _ = reply.send(Err(Error::internal("write panicked")));
                    });
                    (false, deliver)
                }
            }
        })
    }

    fn fail(self: Box<Self>, error: Error) {
        let _ = self.reply.send(Err(error));
    }
}

/// Runs writes, directly or batched; cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    connection: Arc<WriteConnection>,
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
}

impl Writer {
    /// Starts the writer; with group commit, on a thread of its own that runs each batch from
    /// start to commit (inside the current Tokio runtime's context).
    pub(crate) fn new(connection: WriteConnection, mode: &WriteMode) -> Result<Self> {
        let connection = Arc::new(connection);
        let queue = match *mode {
            WriteMode::Direct => None,
            WriteMode::GroupCommit { max_batch } => {
                let (sender, receiver) = mpsc::channel(max_batch.max(1) * 4);
                let runtime = tokio::runtime::Handle::current();
                let batches = batch_loop(connection.clone(), receiver, max_batch.max(1));
                std::thread::Builder::new()
                    .name("chatcore-writer".to_owned())
                    .spawn(move || runtime.block_on(batches))
                    .map_err(Error::internal)?;
                Some(sender)
            }
        };
        Ok(Writer { connection, queue })
    }

    /// Runs `work` in a transaction and returns its result once that transaction committed.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let Some(queue) = &self.queue else {
            let txn = self.connection.begin().await?;
            let value = work(&txn).await?;
            self.connection.commit(txn).await?;
            return Ok(value);
        };
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob {
            work: Box::new(work),
            reply,
        });
        queue
            .send(job)
            .await
            .map_err(|_| Error::internal("the writer has stopped"))?;
        answer
            .await
            .map_err(|_| Error::internal("the writer dropped a request"))?
    }
}

async fn batch_loop(
    db: Arc<WriteConnection>,
    mut receiver: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while receiver.recv_many(&mut batch, max_batch).await > 0 {
        run_batch(&db, std::mem::take(&mut batch)).await;
    }
}

async fn run_batch(db: &WriteConnection, jobs: Vec<Box<dyn Job>>) {
    // One database failure answers every job of the batch: it is logged once, and each job
    // gets it classified (unavailable or internal) like any other database error.
    db.forget_failures();
    let txn = match db.begin().await {
        Ok(txn) => txn,
        Err(error) => {
            log_db_error(&error);
            for job in jobs {
                job.fail(db_error_unlogged(error.clone()));
            }
            return;
        }
    };
    let mut answers = Vec::with_capacity(jobs.len());
    let mut broken: Option<DbErr> = None;
    let mut pending = jobs.into_iter();
    for job in pending.by_ref() {
        let savepoint = match db.begin_in(&txn).await {
            Ok(savepoint) => savepoint,
            Err(error) => {
                log_db_error(&error);
                job.fail(db_error_unlogged(error.clone()));
                broken = Some(error);
                break;
            }
        };
        let (ok, deliver) = job.run(&savepoint).await;
        let closed = if ok {
            db.commit(savepoint).await
        } else {
            db.rollback(savepoint).await
        };
        match (ok, closed) {
            (true, Ok(())) => answers.push(deliver),
            // A failed job's answer does not depend on the commit.
            (false, Ok(())) => deliver(None),
            (_, Err(error)) => {
                log_db_error(&error);
                deliver(Some(db_error_unlogged(error.clone())));
                broken = Some(error);
                break;
            }
        }
    }
    if let Some(reason) = broken {
        for job in pending {
            job.fail(db_error_unlogged(reason.clone()));
        }
        let _ = db.rollback(txn).await;
        for deliver in answers {
            deliver(Some(db_error_unlogged(reason.clone())));
        }
        return;
    }
    match db.commit(txn).await {
        Ok(()) => answers.into_iter().for_each(|deliver| deliver(None)),
        Err(error) => {
            log_db_error(&error);
            for deliver in answers {
                deliver(Some(db_error_unlogged(error.clone())));
            }
        }
    }
}
