//! The image pipeline: bytes in, two clean square images out. Pure and synchronous; the
//! service runs it on threads of its own, one per core, at the lowest priority.
//!
//! - [`header`]: format and dimensions from the header, the pixel budget, and an estimate of
//!   what decoding will cost ([`Header::footprint`]), which the service charges against its
//!   memory budget before a job starts;
//! - [`decode`]: the per-format decoders, each reducing the centred square as early as the
//!   format allows;
//! - [`reduce`]: the box filter rows are pushed through;
//! - [`output`]: orientation, RGB(A) conversion, resizing, encoding and the content hash.
//!
//! # Memory
//!
//! An upload is refused from its header when it has more than the pixel budget
//! ([`Options::max_avatar_pixels`](crate::Options::max_avatar_pixels)), before any pixel is
//! decoded. What is accepted is reduced as early as the format allows, and only the centred
//! square is kept on the way (see [`decode`]): PNG row by row, JPEG at 1/2 to 1/8 scale from
//! its DCT, WebP and GIF through one full-size buffer in their own 8-bit layout.
//!
//! The box filter shrinks by a whole factor to between 1 and 2 times the largest output side
//! (512 to 1023 pixels), so at most one full-size buffer is ever alive, and turning, RGB or
//! RGBA conversion and the final resampling all work on the reduced square.

mod decode;
mod header;
mod output;
mod reduce;
#[cfg(test)]
mod tests;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, LazyLock, Mutex};

use image::ImageFormat;
use thread_priority::ThreadPriority;
use tokio::sync::oneshot;

pub(crate) use header::probe;

use crate::{Error, Result};

/// The widest and tallest image accepted, whatever the pixel budget.
pub(crate) const MAX_SIDE: u32 = 8192;
/// The default pixel budget: 4096×4096, about 16.8 megapixels.
pub(crate) const DEFAULT_MAX_PIXELS: u64 = 4096 * 4096;
/// The box filter stops at this side or above: the large output's. A whole-factor box average
/// down to it keeps the detail the output can show, and leaves the Lanczos pass at most a
/// 1023-pixel square: from 1024 pixels, that pass was over a third of the CPU time of a
/// 4096×4096 upload, which now needs none.
const REDUCED_SIDE: u32 = 512;

/// Both sizes of a processed avatar.
pub(crate) struct Processed {
    /// The content hash both sizes are stored under (lowercase hex SHA-256 of both images).
    pub(crate) hash: String,
    /// The 512×512 image.
    pub(crate) large: Vec<u8>,
    /// The 128×128 image.
    pub(crate) small: Vec<u8>,
}

#[cfg(test)]
impl Processed {
    /// The bytes of one size.
    pub(crate) fn bytes(&self, size: super::AvatarSize) -> &[u8] {
        match size {
            super::AvatarSize::Large => &self.large,
            super::AvatarSize::Small => &self.small,
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The processing threads, one per core, started on first use. Their own threads rather than
/// the blocking pool: the allocator keeps what a thread freed for that thread's next use, so a
/// fixed few threads keep the memory that images leave behind to a few images' worth; and
/// they run at the lowest priority, so that next to them every other request (a refusal from
/// the header included) goes first.
static POOL: LazyLock<Sender<Job>> = LazyLock::new(|| {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    for index in 0..threads {
        let receiver = receiver.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("chatcore-avatar-{index}"))
            .spawn(move || processing_thread(&receiver));
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start an avatar processing thread");
        }
    }
    sender
});

fn processing_thread(jobs: &Mutex<Receiver<Job>>) {
    if let Err(error) = thread_priority::set_current_thread_priority(ThreadPriority::Min) {
        tracing::debug!(?error, "avatar processing runs at normal priority");
    }
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            // A panic loses that one job (its caller hears of it), not the thread.
            Ok(job) => drop(catch_unwind(AssertUnwindSafe(job))),
            Err(_) => return,
        }
    }
}

/// [`process`] on a processing thread: decoding and resizing take tens to hundreds of
/// milliseconds of CPU. The service lets only one job per core in at a time, so a job never
/// waits here.
pub(crate) async fn process_blocking(bytes: Vec<u8>, max_pixels: u64) -> Result<Processed> {
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(process(&bytes, max_pixels));
    });
    POOL.send(job)
        .map_err(|_| Error::internal("avatar processing is unavailable"))?;
    answer
        .await
        .map_err(|_| Error::internal("avatar processing failed"))?
}

/// Decodes an uploaded image and re-encodes it as a clean 512×512 and 128×128 square.
///
/// The format is recognised from the bytes alone (PNG, JPEG, WebP, GIF's first frame); any
/// EXIF orientation is applied; the centred square is kept. The outputs are PNG if some pixel
/// is not fully opaque, JPEG otherwise, and carry no metadata of the upload.
///
/// # Errors
/// [`Error::InvalidFile`] for anything else, damaged or truncated data, or an image with more
/// than `max_pixels` pixels or more than [`MAX_SIDE`] a side (refused from its header, before
/// decoding).
pub(crate) fn process(bytes: &[u8], max_pixels: u64) -> Result<Processed> {
    // The decoders parse hostile input: should one panic, that is a bad file, not a crash.
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        decode::decode_reduced(bytes, max_pixels)
    }))
    .map_err(|_| Error::InvalidFile("the image could not be decoded".into()))??;
    output::finish(decoded)
}

/// The content type of an image this pipeline wrote.
pub(crate) fn content_type(bytes: &[u8]) -> Option<&'static str> {
    match image::guess_format(bytes) {
        Ok(ImageFormat::Png) => Some("image/png"),
        Ok(ImageFormat::Jpeg) => Some("image/jpeg"),
        _ => None,
    }
}
