//! Password hashing: argon2id with the argon2 crate's default parameters
//! (m = 19456 KiB, t = 2, p = 1), on threads of its own.
//!
//! Hashing is the one CPU-heavy thing chatcore does, and a burst of logins must not slow every
//! other request. It runs on one thread per core, at the lowest scheduling priority (nice 19 on
//! Unix): alone, logins use every core; next to other work, the other work goes first.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{LazyLock, Mutex};

use thread_priority::ThreadPriority;
use tokio::sync::oneshot;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::users::Password;
use crate::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads, started on first use.
static POOL: LazyLock<Sender<Job>> = LazyLock::new(|| {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = std::sync::Arc::new(Mutex::new(receiver));
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    for index in 0..threads {
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

/// Hashes a password into a PHC string.
pub(crate) async fn hash(password: &Password) -> Result<String> {
    let password = password.expose().to_owned();
    on_pool(move || hash_blocking(&password)).await?
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

/// Whether `password` matches `stored`; with no stored hash, spends the same effort and
/// answers no.
pub(crate) async fn verify(password: &str, stored: Option<String>) -> Result<bool> {
    let password = password.to_owned();
    on_pool(move || {
        let (phc, real) = match &stored {
            Some(phc) => (phc.as_str(), true),
            None => (DUMMY_HASH.as_deref().unwrap_or_default(), false),
        };
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        real && matches
    })
    .await
}

/// Computes the dummy hash ahead of the first unknown login.
pub(crate) async fn warm_up() {
    let _ = on_pool(|| DUMMY_HASH.is_some()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_default_argon2id_parameters() {
        let password = Password::parse("correct horse battery staple").unwrap();
        let phc = hash(&password).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            verify("correct horse battery staple", Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("wrong horse battery staple", Some(phc))
                .await
                .unwrap()
        );
        assert!(!verify("anything at all", None).await.unwrap());
    }
}
