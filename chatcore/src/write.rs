//! The write path: every change runs in a transaction through [`Writer`].
//!
//! With group commit on (the SQLite backend's default), one task owns all writes: it takes
//! every request that is waiting, runs each in its own savepoint inside one transaction, commits
//! once, and only then answers each caller. Concurrent writers therefore share one fsync, and
//! SQLite never sees two writers at once (no "database is locked"). A request that fails rolls
//! back its savepoint alone; the others in its batch still commit.
//!
//! Without group commit (PostgreSQL), each request is its own transaction and the database
//! arbitrates concurrency.
//!
//! Database failures reach callers classified (see `crate::error::storage_fault`): storage
//! that cannot be reached or cannot take the write is [`Error::Unavailable`], anything else
//! [`Error::Internal`]. A commit that failed may still have been applied (the connection
//! dropped after the server committed), which is why retried writes carry idempotency keys.

use futures::FutureExt;
use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use std::panic::AssertUnwindSafe;
use tokio::sync::{mpsc, oneshot};

use crate::error::{db_error_unlogged, log_db_error};
use crate::{Error, Result};

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
    db: DatabaseConnection,
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
}

impl Writer {
    pub(crate) fn new(db: DatabaseConnection, mode: &WriteMode) -> Self {
        let queue = match *mode {
            WriteMode::Direct => None,
            WriteMode::GroupCommit { max_batch } => {
                let (sender, receiver) = mpsc::channel(max_batch.max(1) * 4);
                tokio::spawn(batch_loop(db.clone(), receiver, max_batch.max(1)));
                Some(sender)
            }
        };
        Writer { db, queue }
    }

    /// Runs `work` in a transaction and returns its result once that transaction committed.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let Some(queue) = &self.queue else {
            let txn = self.db.begin().await?;
            let value = work(&txn).await?;
            txn.commit().await?;
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
    db: DatabaseConnection,
    mut receiver: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while receiver.recv_many(&mut batch, max_batch).await > 0 {
        run_batch(&db, std::mem::take(&mut batch)).await;
    }
}

async fn run_batch(db: &DatabaseConnection, jobs: Vec<Box<dyn Job>>) {
    // One database failure answers every job of the batch: it is logged once, and each job
    // gets it classified (unavailable or internal) like any other database error.
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
        let savepoint = match txn.begin().await {
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
            savepoint.commit().await
        } else {
            savepoint.rollback().await
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
        let _ = txn.rollback().await;
        for deliver in answers {
            deliver(Some(db_error_unlogged(reason.clone())));
        }
        return;
    }
    match txn.commit().await {
        Ok(()) => answers.into_iter().for_each(|deliver| deliver(None)),
        Err(error) => {
            log_db_error(&error);
            for deliver in answers {
                deliver(Some(db_error_unlogged(error.clone())));
            }
        }
    }
}
