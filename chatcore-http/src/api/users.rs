//! `/users`: profiles and search.

use chatcore::UserId;
use chatcore::avatars::{AvatarSize, AvatarUrl};
use chatcore::users::{
    DisplayName, Email, Phone, ProfileUpdate, Status, User, UserProfile, UserSearch, Username,
};
use poem::Body;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::MaybeUndefined;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiRequest, ApiResponse, Multipart, Object, OpenApi};

use super::{ApiResult, Shared, Tag};
use crate::auth::Auth;
use crate::models::{ProfilePatch, UnregisterRequest, UserPage};

pub(crate) struct UsersApi(pub(crate) Shared);

#[derive(ApiResponse)]
enum Deleted {
    /// The account is deleted and every session ended.
    #[oai(status = 204)]
    NoContent,
}

/// An avatar upload: a form with the image in field `file`, or the image itself as the body.
#[derive(ApiRequest)]
enum AvatarUpload {
    /// `multipart/form-data` with the image in field `file`.
    Form(AvatarForm),
    /// The image bytes (its format is read from the bytes, not from the content type).
    Raw(Binary<Body>),
}

/// An avatar upload form.
#[derive(Multipart)]
struct AvatarForm {
    /// The image: PNG, JPEG, WebP or GIF.
    file: Upload,
}

/// Where the new avatar is served.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
struct AvatarSet {
    /// The avatar URL (add `&size=128` for the small one).
    #[oai(skip_serializing_if = "AvatarUrl::unlinked")]
    avatar_url: Option<AvatarUrl>,
    /// The updated account.
    user: User,
}

#[derive(ApiResponse)]
enum AvatarBytes {
    /// The image.
    #[oai(status = 200)]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Type")] String,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "X-Content-Type-Options")] String,
    ),
    /// The client's copy (`If-None-Match`) is current.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

/// `None` keeps a field, `Some(None)` clears it.
fn patch<T>(
    value: MaybeUndefined<String>,
    parse: impl Fn(String) -> chatcore::Result<T>,
) -> chatcore::Result<Option<Option<T>>> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(value) => Ok(Some(Some(parse(value)?))),
    }
}

/// Profiles and user search.
#[OpenApi(prefix_path = "/users", tag = "Tag::Users")]
impl UsersApi {
    /// My account
    #[oai(path = "/me", method = "get", operation_id = "get_me")]
    async fn me(&self, auth: Auth) -> ApiResult<Json<User>> {
        Ok(Json(self.0.service.get_me(auth.caller()).await?))
    }

    /// Edit my profile
    ///
    /// Absent fields stay as they are; `null` clears a field. Username and email stay unique.
    /// Changing the username or email (setting or removing it) needs `current_password`:
    /// 400 `invalid_input` (field `current_password`) without it, 401 `invalid_login` when it
    /// is wrong. A changed email answers `verified: false` until confirmed again.
    #[oai(path = "/me", method = "patch", operation_id = "update_profile")]
    async fn update(&self, auth: Auth, body: Json<ProfilePatch>) -> ApiResult<Json<User>> {
        let body = body.0;
        let update = ProfileUpdate {
            current_password: body.current_password,
            username: body.username.map(Username::parse).transpose()?,
            email: patch(body.email, Email::parse)?,
            display_name: patch(body.display_name, DisplayName::parse)?,
            status: patch(body.status, Status::parse)?,
            phone: patch(body.phone, Phone::parse)?,
        };
        Ok(Json(
            self.0.service.update_profile(auth.caller(), update).await?,
        ))
    }

    /// Delete my account
    ///
    /// Needs the password. Personal data is removed and every session ends; messages stay,
    /// shown as from a deleted user.
    #[oai(path = "/me", method = "delete", operation_id = "unregister")]
    async fn unregister(&self, auth: Auth, body: Json<UnregisterRequest>) -> ApiResult<Deleted> {
        self.0
            .service
            .unregister(auth.caller(), &body.0.password)
            .await?;
        Ok(Deleted::NoContent)
    }

    /// Search users
    ///
    /// Active users whose username or display name contains `q` (any case), by username.
    /// Without `q`, everyone.
    #[oai(path = "/", method = "get", operation_id = "search_users")]
    async fn search(
        &self,
        auth: Auth,
        /// A substring of the username or display name (at most 64 characters).
        q: Query<Option<String>>,
        /// The page, from 1.
        page: Query<Option<u32>>,
        /// The page size, 1 to 100 (default 10).
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<UserPage>> {
        let search = UserSearch {
            query: q.0,
            page: super::page(page.0, limit.0)?,
        };
        Ok(Json(
            self.0
                .service
                .search_users(auth.caller(), search)
                .await?
                .into(),
        ))
    }

    /// Upload my avatar
    ///
    /// `multipart/form-data` (field `file`) or the raw image. PNG, JPEG, WebP or GIF (first
    /// frame), detected from the bytes; it is oriented, cropped to a square, re-encoded at
    /// 512 and 128 pixels with no metadata kept. Images over the server's pixel budget are
    /// refused from their header (400 `invalid_file`, naming the limit); when too many
    /// uploads already wait for processing, 503 `unavailable` with `Retry-After`.
    #[oai(path = "/me/avatar", method = "put", operation_id = "set_avatar")]
    async fn set_avatar(&self, auth: Auth, body: AvatarUpload) -> ApiResult<Json<AvatarSet>> {
        let max = self.0.options.max_upload_bytes;
        // The upload waits for its turn on disk, not in memory.
        let file = match body {
            AvatarUpload::Form(form) => {
                if form.file.size() > max {
                    return Err(chatcore::Error::PayloadTooLarge.into());
                }
                form.file.into_file().into_std().await
            }
            AvatarUpload::Raw(body) => spool(body.0, max).await?,
        };
        let user = self.0.service.set_avatar_file(auth.caller(), file).await?;
        Ok(Json(AvatarSet {
            avatar_url: user.avatar_url.clone(),
            user,
        }))
    }

    /// Remove my avatar
    #[oai(path = "/me/avatar", method = "delete", operation_id = "remove_avatar")]
    async fn remove_avatar(&self, auth: Auth) -> ApiResult<Json<User>> {
        Ok(Json(self.0.service.remove_avatar(auth.caller()).await?))
    }

    /// A user's avatar
    ///
    /// The image bytes with their content type, a strong `ETag` (answering 304 to a matching
    /// `If-None-Match`) and long caching: the URL in `avatar_url` changes with the image.
    #[oai(path = "/:id/avatar", method = "get", operation_id = "get_avatar")]
    async fn avatar(
        &self,
        auth: Auth,
        id: Path<UserId>,
        /// 512 (default) or 128 pixels.
        size: Query<Option<u32>>,
        /// The version in `avatar_url` (ignored: it only makes the URL change).
        #[oai(name = "v")]
        _version: Query<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ApiResult<AvatarBytes> {
        let size = match size.0 {
            Some(pixels) => AvatarSize::from_pixels(pixels)?,
            None => AvatarSize::Large,
        };
        let image = self.0.service.get_avatar(auth.caller(), id.0, size).await?;
        if if_none_match
            .0
            .as_deref()
            .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == image.etag))
        {
            return Ok(AvatarBytes::NotModified(image.etag));
        }
        Ok(AvatarBytes::Ok(
            Binary(image.bytes),
            image.content_type.to_owned(),
            image.etag,
            "private, max-age=31536000, immutable".to_owned(),
            "nosniff".to_owned(),
        ))
    }

    /// A user's profile
    #[oai(path = "/:id", method = "get", operation_id = "get_user")]
    async fn get(&self, auth: Auth, id: Path<UserId>) -> ApiResult<Json<UserProfile>> {
        Ok(Json(self.0.service.get_user(auth.caller(), id.0).await?))
    }
}

/// Streams a raw upload into an anonymous temporary file (gone once closed), refusing it as
/// soon as it passes `max` bytes; returns the file positioned at its start.
async fn spool(body: Body, max: usize) -> ApiResult<std::fs::File> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    let unreadable = |_| chatcore::Error::InvalidFile("the upload could not be read".into());
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(spool_failed)?
        .map_err(spool_failed)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut limited = body.into_async_read().take(max as u64 + 1);
    let written = tokio::io::copy(&mut limited, &mut file)
        .await
        .map_err(unreadable)?;
    if written > max as u64 {
        return Err(chatcore::Error::PayloadTooLarge.into());
    }
    file.flush().await.map_err(spool_failed)?;
    file.seek(std::io::SeekFrom::Start(0))
        .await
        .map_err(spool_failed)?;
    Ok(file.into_std().await)
}

/// A failure of the server's own disk while spooling: logged here, told as `internal`.
fn spool_failed<E>(error: E) -> chatcore::Error
where
    E: std::fmt::Display + Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tracing::error!(%error, "could not spool an avatar upload");
    chatcore::Error::Internal(error.into())
}
