//! Password hashing: argon2id with the argon2 crate's default parameters
//! (m = 19456 KiB, t = 2, p = 1), always on a blocking thread.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::users::Password;
use crate::{Error, Result};

/// Hashes a password into a PHC string.
pub(crate) async fn hash(password: &Password) -> Result<String> {
    let password = password.expose().to_owned();
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(Error::internal)?
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
    tokio::task::spawn_blocking(move || {
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
    .map_err(Error::internal)
}

/// Computes the dummy hash ahead of the first unknown login.
pub(crate) async fn warm_up() {
    let _ = tokio::task::spawn_blocking(|| DUMMY_HASH.is_some()).await;
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
