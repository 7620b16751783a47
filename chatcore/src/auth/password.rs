//! Password hashing: argon2id with the argon2 crate's default parameters
//! (m = 19456 KiB, t = 2, p = 1), on threads of its own.
//!
//! Hashing is the one CPU-heavy thing chatcore does, and a burst of logins must not slow every
//! other request. It runs on one thread per core, at the lowest scheduling priority (nice 19 on
//! Unix): alone, logins use every core; next to other work, the other work goes first.
//!
//! The queue in front of those threads is bounded per service ([`Hashing`]): when
//! [`Options::max_waiting_password_jobs`](crate::Options::max_waiting_password_jobs) jobs are
//! already waiting, a login, registration or password change is answered
//! [`Error::Unavailable`] at once instead of joining a queue that would only grow.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, LazyLock, Mutex};

use thread_priority::ThreadPriority;
use tokio::sync::oneshot;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::users::Password;
use crate::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// How many hashing threads run: one per core.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The hashing threads, started on first use.
static POOL: LazyLock<Sender<Job>> = LazyLock::new(|| {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = std::sync::Arc::new(Mutex::new(receiver));
    for index in 0..threads() {
        let receiver = receiver.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("chatcore-argon2-{index}"))
            .spawn(move || hashing_thread(&receiver));
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start a password hashing thread");
        }
    }
    sender
});

fn hashing_thread(jobs: &Mutex<Receiver<Job>>) {
    if let Err(error) = thread_priority::set_current_thread_priority(ThreadPriority::Min) {
        tracing::debug!(?error, "password hashing runs at normal priority");
    }
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Runs `work` on a hashing thread.
async fn on_pool<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(work());
    });
    POOL.send(job)
        .map_err(|_| Error::internal("password hashing is unavailable"))?;
    answer
        .await
        .map_err(|_| Error::internal("password hashing failed"))
}

/// One service's way onto the hashing threads, with at most `max_waiting` of its jobs
/// waiting for a thread at any time. Cheap to clone; clones share the count.
#[derive(Clone, Debug)]
pub(crate) struct Hashing {
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    /// Set while jobs are being refused, so that the log says so once per episode.
    saturated: Arc<AtomicBool>,
}

/// A place in the queue, given back when the job starts (or is dropped unrun).
struct Ticket(Arc<AtomicUsize>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Hashing {
    /// Admission for at most `max_waiting` (at least 1) waiting jobs.
    pub(crate) fn new(max_waiting: usize) -> Self {
        Hashing {
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: max_waiting.max(1),
            saturated: Arc::new(AtomicBool::new(false)),
        }
    }

    /// How many jobs wait for a thread now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Runs `work` on a hashing thread, or answers [`Error::Unavailable`] at once when the
    /// queue is full.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let max = self.max_waiting;
        let admitted = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                (waiting < max).then_some(waiting + 1)
            });
        if admitted.is_err() {
            if !self.saturated.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    max_waiting = max,
                    "password hashing is saturated: refusing logins and registrations until the queue drains"
                );
            }
            return Err(Error::Unavailable(
                "the password hashing queue is full".into(),
            ));
        }
        self.saturated.store(false, Ordering::Relaxed);
        let ticket = Ticket(self.waiting.clone());
        on_pool(move || {
            drop(ticket);
            work()
        })
        .await
    }

    /// Hashes a password into a PHC string.
    pub(crate) async fn hash(&self, password: &Password) -> Result<String> {
        let password = password.expose().to_owned();
        self.run(move || hash_blocking(&password)).await?
    }

    /// Whether `password` matches `stored`; with no stored hash, spends the same effort and
    /// answers no.
    pub(crate) async fn verify(&self, password: &str, stored: Option<String>) -> Result<bool> {
        let password = password.to_owned();
        self.run(move || verify_blocking(&password, stored.as_deref()))
            .await
    }
}

fn hash_blocking(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| Error::internal(error.to_string()))
}

/// A hash of a random password, verified against when the login is unknown, so that an
/// unknown login costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let random: [u8; 16] = rand::random();
    hash_blocking(&format!("{random:x?}")).ok()
});

fn verify_blocking(password: &str, stored: Option<&str>) -> bool {
    let (phc, real) = match stored {
        Some(phc) => (phc, true),
        None => (DUMMY_HASH.as_deref().unwrap_or_default(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    real && matches
}

/// Computes the dummy hash ahead of the first unknown login.
pub(crate) async fn warm_up() {
    let _ = on_pool(|| DUMMY_HASH.is_some()).await;
}

#[cfg(test)]
/// Occupies every hashing thread until dropped.
pub(crate) struct BusyThreads {
    /// Dropping these lets the occupying jobs end.
    _releases: Vec<std::sync::mpsc::Sender<()>>,
}

#[cfg(test)]
impl BusyThreads {
    pub(crate) async fn start() -> BusyThreads {
        let mut releases = Vec::new();
        let mut started = Vec::new();
        for _ in 0..threads() {
            let (release, wait) = std::sync::mpsc::channel::<()>();
            let (running, is_running) = oneshot::channel();
            releases.push(release);
            started.push(is_running);
            tokio::spawn(on_pool(move || {
                let _ = running.send(());
                let _ = wait.recv();
            }));
        }
        for running in started {
            let _ = running.await;
        }
        BusyThreads {
            _releases: releases,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_default_argon2id_parameters() {
        let hashing = Hashing::new(64);
        let password = Password::parse("correct horse battery staple").unwrap();
        let phc = hashing.hash(&password).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            hashing
                .verify("correct horse battery staple", Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hashing
                .verify("wrong horse battery staple", Some(phc))
                .await
                .unwrap()
        );
        assert!(!hashing.verify("anything at all", None).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_is_refused_at_once_and_accepts_again_once_drained() {
        let hashing = Hashing::new(2);
        let password = Password::parse("correct horse battery staple").unwrap();
        let busy = BusyThreads::start().await;

        // Two jobs wait behind the busy threads; the third is refused without waiting.
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let hashing = hashing.clone();
                let password = password.clone();
                tokio::spawn(async move { hashing.hash(&password).await })
            })
            .collect();
        while hashing.waiting() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let refused = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            hashing.verify("correct horse battery staple", None),
        )
        .await
        .expect("refused at once, not queued")
        .unwrap_err();
        assert_eq!(refused.code(), "unavailable");
        assert!(refused.retry_after().is_some());

        // Once the threads are free the queued jobs finish and new ones are taken again.
        drop(busy);
        for job in queued {
            let phc = job.await.unwrap().unwrap();
            assert!(phc.starts_with("$argon2id$"));
        }
        assert_eq!(hashing.waiting(), 0);
        assert!(
            !hashing
                .verify("correct horse battery staple", None)
                .await
                .unwrap()
        );
    }
}
