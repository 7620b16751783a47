//! Avatars: an uploaded image is validated, re-encoded without metadata in two square sizes,
//! and kept in an [`AvatarStore`] under content-addressed keys.
//!
//! # The output format
//!
//! Whatever the upload (PNG, JPEG, WebP or the first frame of a GIF), both sizes are
//! **PNG when the image has at least one pixel that is not fully opaque**, and **JPEG at
//! quality 85 otherwise**. Transparency therefore survives, and photos stay small. The EXIF
//! orientation is applied, the image is cropped to its centred square and resized (up or
//! down) to exactly 512×512 and 128×128 pixels; no metadata of the upload survives.

pub(crate) mod entity;
pub(crate) mod process;
pub(crate) mod queries;
#[cfg(any(test, feature = "testkit"))]
pub(crate) mod samples;
mod store;

use std::fmt;
use std::sync::Arc;

use tokio::sync::Semaphore;

pub(crate) use store::DbAvatarStore;
pub use store::{AvatarStore, FsAvatarStore};

use crate::{Error, Result};

/// One of the two sizes every avatar comes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AvatarSize {
    /// 128×128 pixels: lists and chat headers.
    Small,
    /// 512×512 pixels: profiles.
    Large,
}

impl AvatarSize {
    /// Both sizes, largest first.
    pub const ALL: [AvatarSize; 2] = [AvatarSize::Large, AvatarSize::Small];

    /// The side of the square image, in pixels.
    pub fn pixels(self) -> u32 {
        match self {
            AvatarSize::Small => 128,
            AvatarSize::Large => 512,
        }
    }

    /// The size with this side in pixels.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `size`) for anything but 128 or 512.
    pub fn from_pixels(pixels: u32) -> Result<Self> {
        match pixels {
            128 => Ok(AvatarSize::Small),
            512 => Ok(AvatarSize::Large),
            _ => Err(Error::invalid("size", "must be 128 or 512")),
        }
    }

    /// The store key of this size of the avatar with content hash `hash`.
    pub(crate) fn key(self, hash: &str) -> String {
        format!("{hash}-{}", self.pixels())
    }
}

/// One size of an avatar, ready to serve.
#[derive(Clone, PartialEq, Eq)]
pub struct AvatarImage {
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// `image/jpeg` or `image/png`.
    pub content_type: &'static str,
    /// A strong HTTP entity tag, quotes included (`"<hash>-<pixels>"`). The bytes behind a
    /// tag never change, so clients may cache them for as long as they like.
    pub etag: String,
}

impl fmt::Debug for AvatarImage {
    // Image bytes are noise in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AvatarImage")
            .field("bytes", &self.bytes.len())
            .field("content_type", &self.content_type)
            .field("etag", &self.etag)
            .finish()
    }
}

/// What the service needs to handle avatars.
pub(crate) struct Avatars {
    pub(crate) store: Arc<dyn AvatarStore>,
    pub(crate) max_bytes: usize,
    /// Decoding takes up to [`process::MAX_DECODED_BYTES`] of memory and a core; this bounds
    /// how many run at once, so a burst of uploads cannot exhaust either.
    pub(crate) processing: Semaphore,
}

impl Avatars {
    pub(crate) fn new(store: Arc<dyn AvatarStore>, max_bytes: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        Avatars {
            store,
            max_bytes,
            processing: Semaphore::new(cores),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_from_pixels() {
        for size in AvatarSize::ALL {
            assert_eq!(AvatarSize::from_pixels(size.pixels()).unwrap(), size);
        }
        let error = AvatarSize::from_pixels(256).unwrap_err();
        assert_eq!(error.field(), Some("size"));
    }

    #[test]
    fn keys_carry_the_size() {
        assert_eq!(AvatarSize::Large.key("abc"), "abc-512");
        assert_eq!(AvatarSize::Small.key("abc"), "abc-128");
    }
}
