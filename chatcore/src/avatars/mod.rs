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
//!
//! # Limits
//!
//! Processing is bounded in size, time and number, so that uploads cannot exhaust a server:
//!
//! - an upload over [`Options::max_avatar_bytes`](crate::Options::max_avatar_bytes) is
//!   refused with [`Error::PayloadTooLarge`] before anything is read;
//! - an image over [`Options::max_avatar_pixels`](crate::Options::max_avatar_pixels) (or 8192
//!   pixels a side) is refused with [`Error::InvalidFile`], naming the limit, from its header,
//!   before it waits for its turn and before any pixel is decoded;
//! - images are decoded one per core, at most one full-size buffer each, reduced as early as
//!   the format allows (PNG row by row, JPEG at 1/2 to 1/8 scale; see `process`);
//! - the images decoded at once share a memory budget of [`MEMORY_BUDGET_MIB`], each charged
//!   what its header says decoding it will cost: two of the costliest at the default pixel
//!   budget run side by side, and an upload that does not fit waits in the queue below;
//! - at most [`Options::max_avatar_queue`](crate::Options::max_avatar_queue) uploads wait for
//!   a turn, each for at most
//!   [`Options::avatar_queue_timeout`](crate::Options::avatar_queue_timeout); others get
//!   [`Error::Unavailable`] (a transient refusal, with a retry delay).
//!   [`Service::set_avatar_file`](crate::Service::set_avatar_file) reads a spooled upload only
//!   when its turn comes, so waiting uploads hold no memory.

pub(crate) mod entity;
mod link;
pub(crate) mod process;
pub(crate) mod queries;
#[cfg(any(test, feature = "testkit"))]
pub(crate) mod samples;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

pub(crate) use link::LinksKey;
pub use link::{AvatarLinks, AvatarUrl};
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

/// How much memory the images being decoded at once may take, by their estimate from the
/// header ([`process::Header::footprint`]), in MiB. Two of the costliest images at the
/// default pixel budget that are decoded through a full-size buffer (WebP, 64 MiB, plus the
/// reduced square) fit; a colour JPEG or a GIF at the budget (about 95 to 115 MiB) runs alone.
/// An image whose estimate is over this much still runs, alone.
pub(crate) const MEMORY_BUDGET_MIB: u32 = 176;

/// What the service needs to handle avatars.
pub(crate) struct Avatars {
    pub(crate) store: Arc<dyn AvatarStore>,
    pub(crate) max_bytes: usize,
    /// The most pixels an upload may have, checked from its header.
    pub(crate) max_pixels: u64,
    /// One permit per core: how many images are decoded at once.
    pub(crate) processing: Semaphore,
    /// One permit per MiB of [`MEMORY_BUDGET_MIB`]: a job takes its estimated footprint
    /// before it takes a processing permit, so that the images decoded at once stay within
    /// it whatever their number.
    pub(crate) memory: Semaphore,
    /// Uploads running or waiting for a [`processing`](Avatars::processing) permit: one per
    /// core plus the queue limit. An upload that finds none left is refused at once.
    pub(crate) admission: Semaphore,
    /// How long an upload waits for a processing permit before it is refused.
    pub(crate) queue_timeout: Duration,
}

/// An upload, in memory or in a file read only once its turn comes.
pub(crate) enum Upload {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

/// How the avatar work is bounded (from [`Options`](crate::Options)).
pub(crate) struct AvatarLimits {
    pub(crate) max_bytes: usize,
    pub(crate) max_pixels: u64,
    pub(crate) max_queue: usize,
    pub(crate) queue_timeout: Duration,
}

impl Avatars {
    pub(crate) fn new(store: Arc<dyn AvatarStore>, limits: AvatarLimits) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        Avatars {
            store,
            max_bytes: limits.max_bytes,
            max_pixels: limits.max_pixels,
            processing: Semaphore::new(cores),
            memory: Semaphore::new(MEMORY_BUDGET_MIB as usize),
            admission: Semaphore::new(cores.saturating_add(limits.max_queue)),
            queue_timeout: limits.queue_timeout,
        }
    }

    /// Waits for a turn to process an image that takes `footprint` bytes to decode: refused
    /// at once when the queue is full, and after [`queue_timeout`](Avatars::queue_timeout)
    /// when no turn came. A turn is a share of the memory budget (the footprint in MiB, at
    /// most all of it) and a processing slot, taken in that order.
    ///
    /// # Errors
    /// [`Error::Unavailable`] in both cases (a transient refusal: `Retry-After`).
    pub(crate) async fn turn(&self, footprint: u64) -> Result<Turn<'_>> {
        let queued = self.admission.try_acquire().map_err(|_| busy("full"))?;
        let mib = u32::try_from(footprint.div_ceil(1 << 20))
            .unwrap_or(u32::MAX)
            .clamp(1, MEMORY_BUDGET_MIB);
        let wait = async {
            let memory = self.memory.acquire_many(mib).await?;
            let running = self.processing.acquire().await?;
            Ok::<_, tokio::sync::AcquireError>((memory, running))
        };
        let (memory, running) = tokio::time::timeout(self.queue_timeout, wait)
            .await
            .map_err(|_| busy("timed out"))?
            .map_err(Error::internal)?;
        Ok(Turn {
            _queued: queued,
            _memory: memory,
            _running: running,
        })
    }
}

/// A job's turn: its place in the queue, its share of the memory budget and its processing
/// slot, all given back when it is dropped.
#[derive(Debug)]
pub(crate) struct Turn<'a> {
    _queued: SemaphorePermit<'a>,
    _memory: SemaphorePermit<'a>,
    _running: SemaphorePermit<'a>,
}

fn busy(why: &'static str) -> Error {
    tracing::debug!(why, "avatar upload refused: the processing queue is busy");
    Error::Unavailable(format!("avatar processing is busy (queue {why})").into())
}

/// The whole of an uploaded file, read from its start (off the async threads).
///
/// # Errors
/// [`Error::Internal`] when the file cannot be read.
pub(crate) async fn read_whole(mut file: std::fs::File) -> Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek, SeekFrom};
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))?;
        file.read_to_end(&mut bytes)?;
        Ok::<_, std::io::Error>(bytes)
    })
    .await
    .map_err(Error::internal)?
    .map_err(Error::internal)
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

    #[tokio::test]
    async fn turns_are_refused_when_the_queue_is_full_or_the_wait_too_long() {
        let dir = tempfile::tempdir().unwrap();
        let avatars = Avatars::new(
            Arc::new(FsAvatarStore::new(dir.path()).unwrap()),
            AvatarLimits {
                max_bytes: 1024,
                max_pixels: 100,
                max_queue: 1,
                queue_timeout: std::time::Duration::from_millis(50),
            },
        );
        let slots = avatars.processing.available_permits();
        let turns: Vec<_> = futures::future::join_all((0..slots).map(|_| avatars.turn(1)))
            .await
            .into_iter()
            .collect::<Result<_>>()
            .unwrap();
        // One may wait, and gives up after the timeout; a second one is refused at once.
        let started = std::time::Instant::now();
        let (waited, refused) = tokio::join!(avatars.turn(1), async {
            tokio::task::yield_now().await;
            avatars.turn(1).await
        });
        for error in [waited.unwrap_err(), refused.unwrap_err()] {
            assert_eq!(error.code(), "unavailable");
            assert!(error.retry_after().is_some());
        }
        assert!(started.elapsed() >= std::time::Duration::from_millis(50));
        // A freed slot goes to the next in line.
        drop(turns);
        let _turn = avatars.turn(1).await.unwrap();
    }

    #[tokio::test]
    async fn turns_share_the_memory_budget_by_footprint() {
        let dir = tempfile::tempdir().unwrap();
        let avatars = Avatars::new(
            Arc::new(FsAvatarStore::new(dir.path()).unwrap()),
            AvatarLimits {
                max_bytes: 1024,
                max_pixels: 100,
                max_queue: 4,
                queue_timeout: std::time::Duration::from_millis(100),
            },
        );
        const MIB: u64 = 1 << 20;
        let half = u64::from(MEMORY_BUDGET_MIB) / 2 + 1;
        // Over half the budget: a second such job waits (here: until the timeout), while a
        // small one still fits beside it.
        let first = avatars.turn(half * MIB).await.unwrap();
        let error = avatars.turn(half * MIB).await.err().unwrap();
        assert_eq!(error.code(), "unavailable");
        let small = avatars.turn(MIB).await.unwrap();
        drop(small);
        // Once the first is done, the second goes.
        drop(first);
        let second = avatars.turn(half * MIB).await.unwrap();
        drop(second);
        // A job over the whole budget still runs, alone: it takes all of it.
        let whole = avatars
            .turn(10 * u64::from(MEMORY_BUDGET_MIB) * MIB)
            .await
            .unwrap();
        assert_eq!(avatars.memory.available_permits(), 0);
        drop(whole);
        assert_eq!(
            avatars.memory.available_permits(),
            MEMORY_BUDGET_MIB as usize
        );
    }

    #[test]
    fn keys_carry_the_size() {
        assert_eq!(AvatarSize::Large.key("abc"), "abc-512");
        assert_eq!(AvatarSize::Small.key("abc"), "abc-128");
    }
}
