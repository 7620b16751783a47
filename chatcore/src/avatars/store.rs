//! Where avatar images live: the service's own database by default, or a directory.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};

use super::entity;
use crate::clock::now;
use crate::write::Writer;
use crate::{Error, Result};

/// Keeps avatar images by key.
///
/// Keys are content addresses (`{sha-256 hex}-{pixels}`): the bytes under a key never change,
/// so writing a key again may keep the first copy. Every key is 1 to 128 characters of
/// `a-z`, `0-9`, `_` and `-`; implementations may refuse others with
/// [`Error::InvalidInput`], and the ones here do.
///
/// Set one with [`Options::avatar_store`](crate::Options::avatar_store); by default avatars
/// live in the service's own database.
#[async_trait]
pub trait AvatarStore: Send + Sync + 'static {
    /// Stores `bytes` under `key`; durable once this returns.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()>;

    /// The bytes under `key`, or `None`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Forgets `key`. Deleting a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<()>;
}

impl fmt::Debug for dyn AvatarStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AvatarStore")
    }
}

/// Refuses any key that is not 1 to 128 of `a-z0-9_-`: such a key can name no path but a
/// plain file name (no separator, no `..`, no hidden file).
pub(crate) fn check_key(key: &str) -> Result<()> {
    let valid = (1..=128).contains(&key.len())
        && key.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
        });
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(
            "key",
            "must be 1 to 128 of a-z, 0-9, _ and -",
        ))
    }
}

/// Avatars as files in one directory, one file per key.
///
/// Writes are atomic (a temporary file in the same directory, fsynced, then renamed over the
/// key), so a reader never sees half an image, even after a crash.
#[derive(Clone, Debug)]
pub struct FsAvatarStore {
    dir: PathBuf,
}

impl FsAvatarStore {
    /// A store in `dir`, created if missing.
    ///
    /// # Errors
    /// [`Error::Internal`] when the directory cannot be created.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(Error::internal)?;
        Ok(FsAvatarStore { dir })
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.dir.join(key))
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)
}

#[async_trait]
impl AvatarStore for FsAvatarStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(key)?;
        let dir = self.dir.clone();
        blocking(move || {
            // Content-addressed: an existing file already holds these bytes.
            if path.exists() {
                return Ok(());
            }
            let mut file = tempfile::NamedTempFile::new_in(&dir)?;
            file.write_all(&bytes)?;
            file.as_file().sync_all()?;
            file.persist(&path).map_err(|error| error.error)?;
            sync_dir(&dir)
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        blocking(move || match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        blocking(move || match std::fs::remove_file(path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        })
        .await
    }
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; its renames are journaled by NTFS.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Avatars in the `avatar_blobs` table of the service's own database (the default): nothing
/// else to set up or back up, and every node sharing the database sees them.
pub(crate) struct DbAvatarStore {
    db: DatabaseConnection,
    writer: Writer,
}

impl DbAvatarStore {
    pub(crate) fn new(db: DatabaseConnection, writer: Writer) -> Self {
        DbAvatarStore { db, writer }
    }
}

#[async_trait]
impl AvatarStore for DbAvatarStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        check_key(key)?;
        let row = entity::ActiveModel {
            key: Set(key.to_owned()),
            bytes: Set(bytes),
            created_at: Set(now()),
        };
        self.writer
            .run(move |txn| {
                Box::pin(async move {
                    // Content-addressed: an existing row already holds these bytes.
                    entity::Entity::insert(row)
                        .on_conflict(
                            OnConflict::column(entity::Column::Key)
                                .do_nothing()
                                .to_owned(),
                        )
                        .exec_without_returning(txn)
                        .await?;
                    Ok(())
                })
            })
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        Ok(entity::Entity::find_by_id(key.to_owned())
            .one(&self.db)
            .await?
            .map(|row| row.bytes))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        let key = key.to_owned();
        self.writer
            .run(move |txn| {
                Box::pin(async move {
                    entity::Entity::delete_by_id(key).exec(txn).await?;
                    Ok(())
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_name_paths() {
        for bad in [
            "", "../x", "a/b", "a\\b", ".hidden", "ABC", "a.b", "a b", "é",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_key(&"a".repeat(129)).is_err());
        for good in ["0123abcdef-512", "a", "x_y-z", &"f".repeat(128)] {
            check_key(good).unwrap();
        }
    }

    #[tokio::test]
    async fn files_round_trip_and_stay_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsAvatarStore::new(dir.path().join("avatars")).unwrap();
        assert_eq!(store.get("abc-128").await.unwrap(), None);

        store.put("abc-128", b"first".to_vec()).await.unwrap();
        assert_eq!(
            store.get("abc-128").await.unwrap().as_deref(),
            Some(&b"first"[..])
        );
        // Content-addressed: a second put of the same key is harmless.
        store.put("abc-128", b"first".to_vec()).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(store.dir()).unwrap().collect();
        assert_eq!(files.len(), 1, "no temporary file is left behind");

        store.delete("abc-128").await.unwrap();
        assert_eq!(store.get("abc-128").await.unwrap(), None);
        store.delete("abc-128").await.unwrap();

        let error = store.put("../x", b"escape".to_vec()).await.unwrap_err();
        assert_eq!(error.code(), "invalid_input");
        assert!(!dir.path().join("x").exists());
        assert!(store.get("../x").await.is_err());
        assert!(store.delete("../avatars").await.is_err());
    }
}
