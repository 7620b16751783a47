//! Setting, removing and reading avatars.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter,
};

use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};

use super::process::{self, Processed};
use super::{AvatarImage, AvatarSize, Upload};
use crate::clock::now;
use crate::context::{Context, Written};
use crate::sessions::Caller;
use crate::users::account::{caller_row, profile_changed};
use crate::users::{User, entity as users};
use crate::{Error, Result, UserId};

pub(crate) async fn set(inner: &Context, caller: &Caller, upload: Upload) -> Result<User> {
    let avatars = &inner.avatars;
    let (max_bytes, max_pixels) = (avatars.max_bytes, avatars.max_pixels);
    let size = match &upload {
        Upload::Bytes(bytes) => bytes.len() as u64,
        Upload::File(file) => file.metadata().map_err(Error::internal)?.len(),
    };
    if size > max_bytes as u64 {
        return Err(Error::PayloadTooLarge);
    }
    // A gone account should not cost a decode.
    caller_row(&inner.db, caller).await?;
    // The header is read before queueing: an image over the budget is refused at once,
    // however long the queue.
    let (upload, header) = match upload {
        Upload::Bytes(bytes) => {
            let header = process::probe(Cursor::new(&bytes), max_pixels)?;
            (Upload::Bytes(bytes), header)
        }
        Upload::File(mut file) => tokio::task::spawn_blocking(move || {
            file.seek(SeekFrom::Start(0)).map_err(Error::internal)?;
            let header = process::probe(BufReader::new(&file), max_pixels)?;
            Ok::<_, Error>((Upload::File(file), header))
        })
        .await
        .map_err(Error::internal)??,
    };
    let processed = {
        // Its share of the memory budget, as the header says, then a processing slot.
        let _turn = avatars.turn(header.footprint()).await?;
        // A file is read only now, so that waiting uploads hold no memory.
        let bytes = match upload {
            Upload::Bytes(bytes) => bytes,
            Upload::File(file) => read_file(file, max_bytes).await?,
        };
        process::process_blocking(bytes, max_pixels).await?
    };
    let hash = processed.hash.clone();
    // Images first, then the row that points at them: a reader never finds a dangling hash.
    if let Err(error) = put_both(inner, processed).await {
        collect(inner, &hash).await;
        return Err(error);
    }
    let (user, previous) = match replace(inner, caller, Some(hash.clone())).await {
        Ok(done) => done,
        Err(error) => {
            collect(inner, &hash).await;
            return Err(error);
        }
    };
    if let Some(previous) = previous.filter(|previous| *previous != hash) {
        collect(inner, &previous).await;
    }
    Ok(user)
}

pub(crate) async fn remove(inner: &Context, caller: &Caller) -> Result<User> {
    let (user, previous) = replace(inner, caller, None).await?;
    if let Some(previous) = previous {
        collect(inner, &previous).await;
    }
    Ok(user)
}

pub(crate) async fn get(
    inner: &Context,
    _caller: &Caller,
    user_id: UserId,
    size: AvatarSize,
) -> Result<AvatarImage> {
    let hash = users::Entity::find_by_id(user_id.as_uuid())
        .one(&inner.db)
        .await?
        .filter(|user| user.deleted_at.is_none())
        .and_then(|user| user.avatar)
        .ok_or(Error::NotFound("avatar"))?;
    let key = size.key(&hash);
    // Missing bytes: the avatar was replaced between the two reads.
    let bytes = inner
        .avatars
        .store
        .get(&key)
        .await?
        .ok_or(Error::NotFound("avatar"))?;
    let content_type = process::content_type(&bytes)
        .ok_or_else(|| Error::internal(format!("avatar {key} is neither PNG nor JPEG")))?;
    Ok(AvatarImage {
        bytes,
        content_type,
        etag: format!("\"{key}\""),
    })
}

/// The whole file, from its start (it was read for its header); refused past `max` bytes.
async fn read_file(mut file: std::fs::File, max: usize) -> Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        file.seek(SeekFrom::Start(0)).map_err(Error::internal)?;
        // Sized from the start: grown by doubling, a 5 MiB upload would be copied through
        // buffers of every power of two up to 8 MiB.
        let length = file.metadata().map_err(Error::internal)?.len();
        let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(max).min(max) + 1);
        file.take(max as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(Error::internal)?;
        if bytes.len() > max {
            return Err(Error::PayloadTooLarge);
        }
        Ok(bytes)
    })
    .await
    .map_err(Error::internal)?
}

async fn put_both(inner: &Context, processed: Processed) -> Result<()> {
    let store = &inner.avatars.store;
    let Processed { hash, large, small } = processed;
    store.put(&AvatarSize::Large.key(&hash), large).await?;
    store.put(&AvatarSize::Small.key(&hash), small).await
}

/// Points the caller's avatar at `hash` (or at nothing); returns the user and the previous hash.
async fn replace(
    inner: &Context,
    caller: &Caller,
    hash: Option<String>,
) -> Result<(User, Option<String>)> {
    let caller = caller.clone();
    let (user, previous) = inner
        .write(move |txn| {
            Box::pin(async move {
                let current = caller_row(txn, &caller).await?;
                let previous = current.avatar.clone();
                if previous == hash {
                    return Ok(Written::quiet((current.into(), previous)));
                }
                let mut row = current.into_active_model();
                row.avatar = Set(hash);
                row.updated_at = Set(now());
                let row = row.update(txn).await?;
                let events = profile_changed(txn, &row).await?;
                Ok(Written::with((row.into(), previous), events))
            })
        })
        .await?;
    Ok((user, previous))
}

/// Deletes the images of `hash` unless some user still shows them. Best effort, after the
/// commit that let go of them: a failure leaves unused bytes behind, never a broken avatar.
///
/// Two users uploading the very same image while one of them replaces it could still lose
/// the images for the other: content addressing shares them, and the store is not
/// transactional with the database. Identical uploads at the same instant make that rare.
pub(crate) async fn collect(inner: &Context, hash: &str) {
    let users = users::Entity::find()
        .filter(users::Column::Avatar.eq(hash))
        .count(&inner.db)
        .await;
    match users {
        Ok(0) => {}
        Ok(_) => return,
        Err(error) => {
            tracing::warn!(%error, hash, "avatar images kept: could not count their users");
            return;
        }
    }
    for size in AvatarSize::ALL {
        if let Err(error) = inner.avatars.store.delete(&size.key(hash)).await {
            tracing::warn!(%error, hash, "could not delete unused avatar images");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::FsAvatarStore;
    use super::super::samples::sample_png;
    use crate::users::{Password, Register, Username};
    use crate::{Options, Service};

    #[tokio::test]
    async fn a_directory_store_holds_the_images() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsAvatarStore::new(dir.path()).unwrap();
        let chat = crate::storage::sqlite::open_in_memory(Options::default().avatar_store(store))
            .await
            .unwrap();
        let auth = chat
            .register(Register::new(
                Username::parse("framed").unwrap(),
                Password::parse("a long enough secret").unwrap(),
            ))
            .await
            .unwrap();
        let caller = chat.authenticate(&auth.session.token).await.unwrap();
        let files = || {
            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };

        let first = chat.set_avatar(&caller, sample_png(40, 30)).await.unwrap();
        let first = first.avatar.unwrap();
        assert_eq!(files(), [format!("{first}-128"), format!("{first}-512")]);
        let second = chat.set_avatar(&caller, sample_png(30, 40)).await.unwrap();
        let second = second.avatar.unwrap();
        assert_eq!(files(), [format!("{second}-128"), format!("{second}-512")]);
        chat.remove_avatar(&caller).await.unwrap();
        assert!(files().is_empty());
    }
}
