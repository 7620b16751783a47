//! The image pipeline: bytes in, two clean square images out. Pure and synchronous; the
//! service runs it on threads of its own, one per core, at the lowest priority.
//!
//! # Memory
//!
//! An upload is refused from its header when it has more than the pixel budget
//! ([`Options::max_avatar_pixels`](crate::Options::max_avatar_pixels)), before any pixel is
//! decoded. What is accepted is reduced as early as the format allows, and only the centred
//! square is kept on the way:
//!
//! - **PNG** is decoded row by row (16-bit samples cut to 8 bits, palettes expanded) straight
//!   into a box filter, so no full-size buffer exists at all (interlaced PNGs, whose rows
//!   arrive out of order, are decoded in one 8-bit buffer first).
//! - **JPEG, WebP and GIF** are decoded once at full size in their own 8-bit layout (grey,
//!   RGB or RGBA as stored) and box-filtered from there; that buffer is dropped before
//!   anything else is allocated. The `image` crate's JPEG decoder (zune-jpeg) offers no DCT
//!   scaling, so a JPEG cannot be decoded at reduced scale.
//!
//! The box filter shrinks by a whole factor to between 1 and 2 times twice the largest output
//! side (1024 to 2047 pixels), so at most one full-size buffer is ever alive, and turning,
//! RGB or RGBA conversion and the final resampling all work on the reduced square.

use std::io::{BufRead, Cursor, Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, LazyLock, Mutex};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{
    DynamicImage, GrayAlphaImage, GrayImage, ImageDecoder, ImageError, ImageFormat, ImageReader,
    Limits, RgbImage, RgbaImage,
};
use sha2::{Digest, Sha256};
use thread_priority::ThreadPriority;
use tokio::sync::oneshot;

use super::AvatarSize;
use crate::{Error, Result};

/// The widest and tallest image accepted, whatever the pixel budget.
pub(crate) const MAX_SIDE: u32 = 8192;
/// The default pixel budget: 4096×4096, about 16.8 megapixels.
pub(crate) const DEFAULT_MAX_PIXELS: u64 = 4096 * 4096;
/// The box filter stops at this side or above: twice the large output, so that the final
/// Lanczos pass still has detail to work with.
const REDUCED_SIDE: u32 = 2 * 512;
/// JPEG quality of the outputs: visually clean at a fraction of the size.
const JPEG_QUALITY: u8 = 85;

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
    pub(crate) fn bytes(&self, size: AvatarSize) -> &[u8] {
        match size {
            AvatarSize::Large => &self.large,
            AvatarSize::Small => &self.small,
        }
    }
}

/// What an image's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) format: ImageFormat,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// Reads an image's format and dimensions from its header, and refuses it when it is over
/// `max_pixels` or [`MAX_SIDE`]. Reads only what the header needs (it seeks past JPEG
/// segments); decodes no pixel.
///
/// # Errors
/// [`Error::InvalidFile`] for anything but a PNG, JPEG, WebP or GIF whose header is intact
/// and within the limits; the message names the limit.
pub(crate) fn probe<R: BufRead + Seek>(mut reader: R, max_pixels: u64) -> Result<Header> {
    let mut start = [0u8; 32];
    let read = read_up_to(&mut reader, &mut start).map_err(|_| damaged())?;
    let format = supported_format(&start[..read])?;
    reader.seek(SeekFrom::Start(0)).map_err(|_| damaged())?;
    let (width, height) = match format {
        ImageFormat::Jpeg => jpeg_dimensions(&mut reader)?,
        // The logical screen, which the first frame is drawn on: bytes 6 to 9.
        ImageFormat::Gif => {
            let mut header = [0u8; 10];
            reader.read_exact(&mut header).map_err(|_| damaged())?;
            (
                u32::from(u16::from_le_bytes([header[6], header[7]])),
                u32::from(u16::from_le_bytes([header[8], header[9]])),
            )
        }
        ImageFormat::Png => {
            let mut decoder = png::Decoder::new_with_limits(reader, png::Limits { bytes: 1 << 20 });
            let info = decoder.read_header_info().map_err(png_refused)?;
            (info.width, info.height)
        }
        _ => {
            let mut reader = ImageReader::with_format(reader, format);
            reader.no_limits();
            reader.into_dimensions().map_err(refused)?
        }
    };
    within_budget(width, height, max_pixels)?;
    Ok(Header {
        format,
        width,
        height,
    })
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
    let (mut square, orientation) =
        catch_unwind(AssertUnwindSafe(|| decode_reduced(bytes, max_pixels)))
            .map_err(|_| Error::InvalidFile("the image could not be decoded".into()))??;
    square.apply_orientation(orientation);
    let translucent = uses_alpha(&square);
    let square = if translucent {
        DynamicImage::ImageRgba8(square.into_rgba8())
    } else {
        DynamicImage::ImageRgb8(square.into_rgb8())
    };
    let large = resize(square, AvatarSize::Large.pixels());
    // From the large one: as sharp, and a fraction of the work.
    let small = resize(large.clone(), AvatarSize::Small.pixels());
    let large = encode(&large, translucent)?;
    let small = encode(&small, translucent)?;
    let mut hasher = Sha256::new();
    hasher.update((large.len() as u64).to_be_bytes());
    hasher.update(&large);
    hasher.update(&small);
    let hash = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(Processed { hash, large, small })
}

/// The content type of an image this pipeline wrote.
pub(crate) fn content_type(bytes: &[u8]) -> Option<&'static str> {
    match image::guess_format(bytes) {
        Ok(ImageFormat::Png) => Some("image/png"),
        Ok(ImageFormat::Jpeg) => Some("image/jpeg"),
        _ => None,
    }
}

/// The centred square of the image, box-filtered down (see the module docs), as stored (not
/// yet turned), with the orientation to apply.
fn decode_reduced(bytes: &[u8], max_pixels: u64) -> Result<(DynamicImage, Orientation)> {
    let header = probe(Cursor::new(bytes), max_pixels)?;
    if header.format == ImageFormat::Png {
        return decode_png(bytes, max_pixels);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // The decoded image in its own layout (at most 4 bytes a pixel), with room to spare.
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    let mut reader = ImageReader::with_format(Cursor::new(bytes), header.format);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let (width, height) = decoder.dimensions();
    within_budget(width, height, max_pixels)?;
    // A malformed EXIF block only costs the orientation.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(refused)?;
    let reduced = reduce(&image)?;
    Ok((reduced, orientation))
}

/// PNG, row by row into the box filter (interlaced: through one 8-bit buffer).
fn decode_png(bytes: &[u8], max_pixels: u64) -> Result<(DynamicImage, Orientation)> {
    // Enough for the one buffer of an interlaced image at 4 bytes a pixel, and its metadata.
    let budget = usize::try_from(max_pixels.saturating_mul(4))
        .unwrap_or(usize::MAX)
        .saturating_add(16 << 20);
    let mut decoder =
        png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: budget });
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    decoder.set_ignore_text_chunk(true);
    decoder.set_ignore_iccp_chunk(true);
    let mut reader = decoder.read_info().map_err(png_refused)?;
    let info = reader.info();
    let (width, height, interlaced) = (info.width, info.height, info.interlaced);
    within_budget(width, height, max_pixels)?;
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let channels = reader.output_color_type().0.samples();
    let mut reducer = Reducer::new(width, height, channels)?;
    if interlaced {
        let size = reader.output_buffer_size().ok_or_else(too_large_plain)?;
        let mut buffer = vec![0u8; size];
        let frame = reader.next_frame(&mut buffer).map_err(png_refused)?;
        for row in buffer.chunks_exact(frame.line_size.max(1)) {
            if !reducer.wants_more() {
                break;
            }
            reducer.push(row)?;
        }
    } else {
        // Rows below the square are never needed.
        while reducer.wants_more() {
            match reader.next_row().map_err(png_refused)? {
                Some(row) => reducer.push(row.data())?,
                None => break,
            }
        }
    }
    Ok((reducer.finish()?, orientation))
}

/// Box-filters a fully decoded image's centred square (see [`Reducer`]).
fn reduce(image: &DynamicImage) -> Result<DynamicImage> {
    let converted;
    // The decoders used here give 8-bit images; anything else is converted, at full size.
    let image = match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => image,
        other => {
            converted = DynamicImage::ImageRgba8(other.to_rgba8());
            &converted
        }
    };
    let channels = usize::from(image.color().channel_count());
    let mut reducer = Reducer::new(image.width(), image.height(), channels)?;
    let row_bytes = (image.width() as usize * channels).max(1);
    for row in image.as_bytes().chunks_exact(row_bytes) {
        if !reducer.wants_more() {
            break;
        }
        reducer.push(row)?;
    }
    reducer.finish()
}

/// Keeps the centred square of an image whose rows arrive one at a time, averaging each
/// `factor`×`factor` block of it into one pixel: memory for one output row of sums and the
/// reduced square, whatever the input's size.
struct Reducer {
    channels: usize,
    /// The square's first column and row, and its side, in the input.
    x0: usize,
    y0: u32,
    side: u32,
    factor: u32,
    /// The reduced square's side.
    out_side: usize,
    /// Per output pixel of the band being summed: the sums of its channels.
    sums: Vec<u32>,
    rows_in_band: u32,
    /// The input row the next [`push`](Reducer::push) gets.
    next_row: u32,
    out: Vec<u8>,
}

impl Reducer {
    fn new(width: u32, height: u32, channels: usize) -> Result<Reducer> {
        if width == 0 || height == 0 {
            return Err(Error::InvalidFile("the image is empty".into()));
        }
        if !(1..=4).contains(&channels) {
            return Err(Error::InvalidFile(
                "this kind of image is not supported".into(),
            ));
        }
        let side = width.min(height);
        let factor = (side / REDUCED_SIDE).max(1);
        let out_side = side.div_ceil(factor) as usize;
        Ok(Reducer {
            channels,
            x0: ((width - side) / 2) as usize,
            y0: (height - side) / 2,
            side,
            factor,
            out_side,
            sums: vec![0; out_side * channels],
            rows_in_band: 0,
            next_row: 0,
            out: Vec::with_capacity(out_side * out_side * channels),
        })
    }

    /// Whether rows of the square are still to come.
    fn wants_more(&self) -> bool {
        self.next_row < self.y0 + self.side
    }

    /// Takes the next input row (all of it, in the reducer's channel layout).
    fn push(&mut self, row: &[u8]) -> Result<()> {
        let y = self.next_row;
        self.next_row += 1;
        if y < self.y0 || y >= self.y0 + self.side {
            return Ok(());
        }
        let start = self.x0 * self.channels;
        let end = start + self.side as usize * self.channels;
        let pixels = row.get(start..end).ok_or_else(damaged)?;
        let block = self.factor as usize * self.channels;
        match self.channels {
            1 => accumulate::<1>(&mut self.sums, pixels, block),
            2 => accumulate::<2>(&mut self.sums, pixels, block),
            3 => accumulate::<3>(&mut self.sums, pixels, block),
            _ => accumulate::<4>(&mut self.sums, pixels, block),
        }
        self.rows_in_band += 1;
        if self.rows_in_band == self.factor || y + 1 == self.y0 + self.side {
            self.emit_band();
        }
        Ok(())
    }

    /// Turns the band's sums into one output row (the last column and row of blocks may be
    /// narrower than `factor`).
    fn emit_band(&mut self) {
        let (factor, side) = (self.factor as usize, self.side as usize);
        let rows = self.rows_in_band as usize;
        for (x, sums) in self.sums.chunks_exact_mut(self.channels).enumerate() {
            let columns = factor.min(side - x * factor);
            let count = u32::try_from(columns * rows).unwrap_or(u32::MAX).max(1);
            for sum in sums {
                let mean = (*sum + count / 2) / count;
                self.out.push(u8::try_from(mean).unwrap_or(u8::MAX));
                *sum = 0;
            }
        }
        self.rows_in_band = 0;
    }

    fn finish(self) -> Result<DynamicImage> {
        if self.wants_more() {
            return Err(damaged());
        }
        let side = u32::try_from(self.out_side).map_err(|_| too_large_plain())?;
        let image = match self.channels {
            1 => GrayImage::from_raw(side, side, self.out).map(DynamicImage::ImageLuma8),
            2 => GrayAlphaImage::from_raw(side, side, self.out).map(DynamicImage::ImageLumaA8),
            3 => RgbImage::from_raw(side, side, self.out).map(DynamicImage::ImageRgb8),
            _ => RgbaImage::from_raw(side, side, self.out).map(DynamicImage::ImageRgba8),
        };
        image.ok_or_else(damaged)
    }
}

/// Adds each block of `block` bytes of `pixels` into the next output pixel's sums.
fn accumulate<const C: usize>(sums: &mut [u32], pixels: &[u8], block: usize) {
    for (pixel_sums, block) in sums.chunks_exact_mut(C).zip(pixels.chunks(block)) {
        let mut totals = [0u32; C];
        for pixel in block.chunks_exact(C) {
            for (total, &sample) in totals.iter_mut().zip(pixel) {
                *total += u32::from(sample);
            }
        }
        for (sum, total) in pixel_sums.iter_mut().zip(totals) {
            *sum += total;
        }
    }
}

/// The dimensions in a JPEG's frame header, found by walking its segments (seeking past
/// their bodies) up to the first SOF marker.
fn jpeg_dimensions<R: Read + Seek>(reader: &mut R) -> Result<(u32, u32)> {
    if (byte(reader)?, byte(reader)?) != (0xFF, 0xD8) {
        return Err(damaged());
    }
    loop {
        // Anything between segments is skipped up to the next marker; 0xFF may repeat as fill.
        while byte(reader)? != 0xFF {}
        let mut marker = byte(reader)?;
        while marker == 0xFF {
            marker = byte(reader)?;
        }
        match marker {
            // Standalone markers (and a stuffed zero) have no length.
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            // The image data or its end came before any frame header.
            0xD9 | 0xDA => return Err(damaged()),
            _ => {}
        }
        let length = u16::from_be_bytes([byte(reader)?, byte(reader)?]);
        // SOF0 to SOF15, except DHT (C4), JPG (C8) and DAC (CC).
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let _precision = byte(reader)?;
            let height = u16::from_be_bytes([byte(reader)?, byte(reader)?]);
            let width = u16::from_be_bytes([byte(reader)?, byte(reader)?]);
            // A height of 0 would be given by a DNL segment later: not supported.
            if height == 0 {
                return Err(damaged());
            }
            return Ok((u32::from(width), u32::from(height)));
        }
        let skip = i64::from(length.checked_sub(2).ok_or_else(damaged)?);
        reader
            .seek(SeekFrom::Current(skip))
            .map_err(|_| damaged())?;
    }
}

fn byte<R: Read>(reader: &mut R) -> Result<u8> {
    let mut one = [0u8; 1];
    reader.read_exact(&mut one).map_err(|_| damaged())?;
    Ok(one[0])
}

/// Reads until `buffer` is full or the input ends; returns how much was read.
fn read_up_to<R: Read>(reader: &mut R, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

fn supported_format(start: &[u8]) -> Result<ImageFormat> {
    match image::guess_format(start) {
        Ok(
            format @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif),
        ) => Ok(format),
        _ => Err(Error::InvalidFile(
            "not a PNG, JPEG, WebP or GIF image".into(),
        )),
    }
}

/// Refuses an empty image, or one over the pixel budget or [`MAX_SIDE`], naming the limits.
fn within_budget(width: u32, height: u32, max_pixels: u64) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::InvalidFile("the image is empty".into()));
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > max_pixels {
        return Err(Error::InvalidFile(
            format!(
                "the image is too large: {width}×{height} pixels; at most {max_pixels} pixels \
                 ({:.1} megapixels) and {MAX_SIDE} pixels a side are accepted",
                max_pixels as f64 / 1e6
            )
            .into(),
        ));
    }
    Ok(())
}

/// Whether any pixel is not fully opaque.
fn uses_alpha(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageLumaA8(image) => image.pixels().any(|pixel| pixel.0[1] < u8::MAX),
        DynamicImage::ImageRgba8(image) => image.pixels().any(|pixel| pixel.0[3] < u8::MAX),
        DynamicImage::ImageLumaA16(image) => image.pixels().any(|pixel| pixel.0[1] < u16::MAX),
        DynamicImage::ImageRgba16(image) => image.pixels().any(|pixel| pixel.0[3] < u16::MAX),
        DynamicImage::ImageRgba32F(image) => image.pixels().any(|pixel| pixel.0[3] < 1.0),
        other => other.color().has_alpha(),
    }
}

/// Resizes a square to `side`×`side`.
fn resize(square: DynamicImage, side: u32) -> DynamicImage {
    if square.width() == side {
        return square;
    }
    // Lanczos over a large source costs a lot; a box filter down to twice the target first
    // costs one pass and loses nothing visible.
    let square = if square.width() > side * 2 {
        square.thumbnail_exact(side * 2, side * 2)
    } else {
        square
    };
    square.resize_exact(side, side, FilterType::Lanczos3)
}

/// Encodes without any metadata: PNG keeps transparency, JPEG suits everything else.
fn encode(image: &DynamicImage, translucent: bool) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let written = if translucent {
        image.write_with_encoder(PngEncoder::new(&mut bytes))
    } else {
        image.write_with_encoder(JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY))
    };
    written.map_err(Error::internal)?;
    Ok(bytes)
}

fn damaged() -> Error {
    Error::InvalidFile("the image is damaged or truncated".into())
}

/// A decoder's own allocation limit was hit (the header was within the budget).
fn too_large_plain() -> Error {
    Error::InvalidFile("the image is too large to process".into())
}

fn refused(error: ImageError) -> Error {
    match error {
        ImageError::Limits(_) => too_large_plain(),
        ImageError::Unsupported(_) => {
            Error::InvalidFile("this kind of image is not supported".into())
        }
        _ => damaged(),
    }
}

fn png_refused(error: png::DecodingError) -> Error {
    match error {
        png::DecodingError::LimitsExceeded => too_large_plain(),
        _ => damaged(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use image::codecs::gif::GifEncoder;
    use image::codecs::webp::WebPEncoder;
    use image::{GenericImageView, ImageBuffer, Rgb, Rgba};

    use super::super::samples::*;
    use super::*;

    const BUDGET: u64 = DEFAULT_MAX_PIXELS;

    fn decoded(bytes: &[u8]) -> DynamicImage {
        image::load_from_memory(bytes).unwrap()
    }

    fn is_red(image: &DynamicImage, x: u32, y: u32) -> bool {
        let [r, g, b, _] = image.get_pixel(x, y).0;
        r > 180 && g < 80 && b < 80
    }

    fn is_blue(image: &DynamicImage, x: u32, y: u32) -> bool {
        let [r, _, b, _] = image.get_pixel(x, y).0;
        r < 80 && b > 150
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    fn assert_invalid(bytes: &[u8]) -> String {
        match process(bytes, BUDGET) {
            Err(error @ Error::InvalidFile(_)) => error.to_string(),
            Err(other) => panic!("expected invalid_file, got {other:?}"),
            Ok(_) => panic!("expected invalid_file, got an image"),
        }
    }

    /// The large output, checked to be a clean 512×512 square.
    fn large(bytes: &[u8]) -> DynamicImage {
        let processed = process(bytes, BUDGET).unwrap();
        let image = decoded(&processed.large);
        assert_eq!(image.dimensions(), (512, 512));
        image
    }

    /// Whether the point at (`fx`, `fy`) of the side, measured from `corner`, is red.
    fn red_from(image: &DynamicImage, corner: Corner, fx: f64, fy: f64) -> bool {
        let side = f64::from(image.width() - 1);
        let (x, y) = ((fx * side) as u32, (fy * side) as u32);
        let last = image.width() - 1;
        let (x, y) = match corner {
            Corner::TopLeft => (x, y),
            Corner::TopRight => (last - x, y),
            Corner::BottomRight => (last - x, last - y),
            Corner::BottomLeft => (x, last - y),
        };
        is_red(image, x, y)
    }

    #[derive(Clone, Copy, Debug)]
    enum Corner {
        TopLeft,
        TopRight,
        BottomRight,
        BottomLeft,
    }

    const CORNERS: [Corner; 4] = [
        Corner::TopLeft,
        Corner::TopRight,
        Corner::BottomRight,
        Corner::BottomLeft,
    ];

    /// Checks an output of [`corner_picture`]`(240, 160)` as shown: red in `corner` only,
    /// over a quarter of the side along x and half along y, or the other way round when
    /// `turned` (orientations 5 to 8 swap the axes).
    fn assert_red_corner(image: &DynamicImage, corner: Corner, turned: bool, what: &str) {
        for other in CORNERS {
            let red = red_from(image, other, 0.05, 0.05);
            let expected = matches!(
                (other, corner),
                (Corner::TopLeft, Corner::TopLeft)
                    | (Corner::TopRight, Corner::TopRight)
                    | (Corner::BottomRight, Corner::BottomRight)
                    | (Corner::BottomLeft, Corner::BottomLeft)
            );
            assert_eq!(red, expected, "{what}: corner {other:?}");
        }
        // The centred square of 240×160 keeps x in 40..200: red is x < 40 of 160, y < 80.
        assert_eq!(red_from(image, corner, 0.4, 0.1), turned, "{what}: along x");
        assert_eq!(
            red_from(image, corner, 0.1, 0.4),
            !turned,
            "{what}: along y"
        );
        assert!(!red_from(image, corner, 0.6, 0.6), "{what}: the middle");
    }

    #[test]
    fn opaque_images_become_two_jpeg_squares() {
        let processed = process(&sample_png(300, 200), BUDGET).unwrap();
        for size in AvatarSize::ALL {
            let bytes = processed.bytes(size);
            assert_eq!(content_type(bytes), Some("image/jpeg"));
            let image = decoded(bytes);
            assert_eq!(image.dimensions(), (size.pixels(), size.pixels()));
        }
        assert_eq!(processed.hash.len(), 64);
        assert!(
            processed
                .hash
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn the_centred_square_is_kept() {
        // 300×200 keeps x in 50..250: red (x < 100) covers the left quarter of the output.
        let large = large(&sample_png(300, 200));
        assert!(is_red(&large, 40, 256));
        assert!(is_blue(&large, 256, 256));
        assert!(is_blue(&large, 470, 256));
        // Tall: 200×300 keeps y in 50..250, all of x: red stays the left third.
        let large = self::large(&sample_png(200, 300));
        assert!(is_red(&large, 150, 256));
        assert!(is_blue(&large, 200, 256));
    }

    #[test]
    fn transparency_keeps_png() {
        let processed = process(&sample_transparent_png(200, 200), BUDGET).unwrap();
        for size in AvatarSize::ALL {
            let bytes = processed.bytes(size);
            assert_eq!(content_type(bytes), Some("image/png"));
            let image = decoded(bytes);
            assert_eq!(image.dimensions(), (size.pixels(), size.pixels()));
            assert_eq!(
                image.get_pixel(0, 0).0[3],
                0,
                "the corner stays transparent"
            );
            let middle = size.pixels() / 2;
            assert_eq!(image.get_pixel(middle, middle).0[3], 255);
        }
    }

    #[test]
    fn exif_orientation_is_applied_and_dropped() {
        // Stored 300×200 with red on the left; orientation 6 shows it 200×300, red on top.
        let jpeg = sample_jpeg_with_orientation(300, 200, 6);
        assert!(contains(&jpeg, b"Exif"));
        let processed = process(&jpeg, BUDGET).unwrap();
        let large = decoded(&processed.large);
        assert!(is_red(&large, 256, 40), "red must be at the top");
        assert!(is_blue(&large, 40, 256), "the left must not be red");
        assert!(is_blue(&large, 256, 470));
        for size in AvatarSize::ALL {
            assert!(!contains(processed.bytes(size), b"Exif"));
        }
    }

    #[test]
    fn every_exif_orientation_shows_the_image_upright_in_jpeg_and_png() {
        // Where the stored top-left corner is shown, orientations 1 to 8.
        let shown = [
            (1, Corner::TopLeft, false),
            (2, Corner::TopRight, false),
            (3, Corner::BottomRight, false),
            (4, Corner::BottomLeft, false),
            (5, Corner::TopLeft, true),
            (6, Corner::TopRight, true),
            (7, Corner::BottomRight, true),
            (8, Corner::BottomLeft, true),
        ];
        let picture = DynamicImage::ImageRgb8(corner_picture(240, 160));
        let jpeg = encoded(picture.clone(), ImageFormat::Jpeg);
        let png = encoded(picture, ImageFormat::Png);
        for (orientation, corner, turned) in shown {
            for (format, bytes) in [("jpeg", &jpeg), ("png", &png)] {
                let image = large(&with_orientation(bytes.clone(), orientation));
                assert_red_corner(&image, corner, turned, &format!("{format} {orientation}"));
            }
        }
        // No tag at all is orientation 1.
        assert_red_corner(&large(&jpeg), Corner::TopLeft, false, "untagged");
    }

    #[test]
    fn jpeg_baseline_progressive_grey_and_cmyk_are_decoded() {
        let picture = corner_picture(240, 160);
        let pixel = |x: u32, y: u32| picture.get_pixel(x, y).0;
        for coding in [JpegCoding::Baseline, JpegCoding::Progressive] {
            for color in [JpegColor::YCbCr, JpegColor::Cmyk] {
                let jpeg = handmade_jpeg(240, 160, coding, color, pixel);
                let what = format!("{coding:?} {color:?}");
                assert_red_corner(&large(&jpeg), Corner::TopLeft, false, &what);
            }
            let grey = handmade_jpeg(240, 160, coding, JpegColor::Gray, pixel);
            let image = large(&grey);
            let [r, g, b, _] = image.get_pixel(20, 20).0;
            assert!(r == g && g == b, "grey stays grey");
            // Red's luma (87) in the corner, blue's (76) elsewhere.
            assert!((83..=91).contains(&r), "{r}");
            let elsewhere = image.get_pixel(400, 400).0[0];
            assert!((72..=80).contains(&elsewhere), "{elsewhere}");
        }
        // The image crate writes baseline JPEGs; they decode the same.
        let jpeg = encoded(DynamicImage::ImageRgb8(picture), ImageFormat::Jpeg);
        assert_red_corner(&large(&jpeg), Corner::TopLeft, false, "encoder");
    }

    #[test]
    fn png_in_16_bits_grey_palette_free_and_interlaced_layouts() {
        let picture = corner_picture(240, 160);
        let rgb16: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(240, 160, |x, y| {
            Rgb(picture.get_pixel(x, y).0.map(|v| u16::from(v) * 257))
        });
        let png16 = encoded(DynamicImage::ImageRgb16(rgb16), ImageFormat::Png);
        assert_red_corner(&large(&png16), Corner::TopLeft, false, "rgb16");
        // 16-bit with alpha: transparency survives the cut to 8 bits.
        let rgba16: ImageBuffer<Rgba<u16>, Vec<u16>> = ImageBuffer::from_fn(240, 160, |x, y| {
            let [r, g, b] = picture.get_pixel(x, y).0.map(|v| u16::from(v) * 257);
            Rgba([r, g, b, if y < 80 { 0 } else { u16::MAX }])
        });
        let png16 = encoded(DynamicImage::ImageRgba16(rgba16), ImageFormat::Png);
        let processed = process(&png16, BUDGET).unwrap();
        assert_eq!(content_type(&processed.large), Some("image/png"));
        let image = decoded(&processed.large);
        assert_eq!(image.get_pixel(256, 100).0[3], 0);
        assert_eq!(image.get_pixel(256, 400).0[3], 255);
        // Grey at 16 bits.
        let grey = encoded(
            DynamicImage::ImageLuma16(ImageBuffer::from_fn(64, 64, |x, _| {
                image::Luma([if x < 32 { 0 } else { u16::MAX }])
            })),
            ImageFormat::Png,
        );
        let image = large(&grey);
        assert!(image.get_pixel(10, 10).0[0] < 10 && image.get_pixel(500, 10).0[0] > 245);
        // Interlaced (Adam7), 8 and 16 bits, RGB and grey with alpha.
        let interlaced = handmade_png(240, 160, 2, 8, true, |x, y| {
            picture.get_pixel(x, y).0.to_vec()
        });
        assert_red_corner(&large(&interlaced), Corner::TopLeft, false, "adam7 rgb8");
        let interlaced = handmade_png(240, 160, 2, 16, true, |x, y| {
            picture
                .get_pixel(x, y)
                .0
                .iter()
                .flat_map(|&v| [v, v])
                .collect()
        });
        assert_red_corner(&large(&interlaced), Corner::TopLeft, false, "adam7 rgb16");
        let interlaced = handmade_png(240, 160, 4, 8, true, |x, _| {
            vec![200, if x < 120 { 0 } else { 255 }]
        });
        let image = decoded(&process(&interlaced, BUDGET).unwrap().large);
        assert_eq!(image.get_pixel(10, 256).0[3], 0);
        assert_eq!(image.get_pixel(500, 256).0[3], 255);
        // The same stored non-interlaced by hand.
        let plain = handmade_png(240, 160, 2, 8, false, |x, y| {
            picture.get_pixel(x, y).0.to_vec()
        });
        assert_red_corner(&large(&plain), Corner::TopLeft, false, "plain rgb8");
    }

    #[test]
    fn webp_and_gif_are_accepted() {
        let picture = corner_picture(240, 160);
        let mut webp = Vec::new();
        DynamicImage::ImageRgb8(picture.clone())
            .write_with_encoder(WebPEncoder::new_lossless(&mut webp))
            .unwrap();
        let mut gif = Vec::new();
        GifEncoder::new(&mut gif)
            .encode(
                DynamicImage::ImageRgb8(picture).into_rgba8().as_raw(),
                240,
                160,
                image::ExtendedColorType::Rgba8,
            )
            .unwrap();
        for (what, bytes) in [("webp", webp), ("gif", gif)] {
            assert_red_corner(&large(&bytes), Corner::TopLeft, false, what);
        }
        let translucent = encoded(
            DynamicImage::ImageRgba8(RgbaImage::from_fn(64, 64, |x, _| {
                Rgba([20, 80, 200, if x < 32 { 0 } else { 255 }])
            })),
            ImageFormat::WebP,
        );
        let processed = process(&translucent, BUDGET).unwrap();
        assert_eq!(content_type(&processed.large), Some("image/png"));
    }

    #[test]
    fn small_images_are_scaled_up() {
        let processed = process(&sample_png(16, 16), BUDGET).unwrap();
        assert_eq!(decoded(&processed.large).dimensions(), (512, 512));
        assert_eq!(decoded(&processed.small).dimensions(), (128, 128));
        let processed = process(&sample_png(1, 1), BUDGET).unwrap();
        assert_eq!(decoded(&processed.small).dimensions(), (128, 128));
    }

    #[test]
    fn the_same_upload_gives_the_same_hash() {
        let png = sample_png(64, 48);
        let hash = |bytes: &[u8]| process(bytes, BUDGET).unwrap().hash;
        assert_eq!(hash(&png), hash(&png));
        assert_ne!(hash(&png), hash(&sample_png(48, 64)));
    }

    #[test]
    fn just_over_the_pixel_budget_is_refused_from_the_header_at_once() {
        // One column over 4096×4096, in every format, with no pixel data at all: decoding
        // would fail as damaged, so "too large" can only come from the header.
        let over = [
            ("png", png_header_only(4097, 4096, 2)),
            ("jpeg", jpeg_header_only(4097, 4096)),
            ("webp", webp_header_only(4097, 4096)),
            ("gif", gif_header_only(4097, 4096)),
        ];
        for (what, bytes) in over {
            let started = Instant::now();
            let message = assert_invalid(&bytes);
            let took = started.elapsed();
            assert!(took < Duration::from_millis(50), "{what}: {took:?}");
            assert!(message.contains("too large"), "{what}: {message}");
            assert!(message.contains("16777216 pixels"), "{what}: {message}");
            assert_eq!(
                probe(Cursor::new(&bytes), BUDGET).unwrap_err().to_string(),
                message,
                "{what}"
            );
        }
        // At the budget, the header passes.
        for bytes in [png_header_only(4096, 4096, 2), jpeg_header_only(4096, 4096)] {
            let header = probe(Cursor::new(&bytes), BUDGET).unwrap();
            assert_eq!((header.width, header.height), (4096, 4096));
        }
        // A complete image one pixel over a budget is refused as well; at it, accepted.
        let png = sample_png(101, 100);
        let message = process(&png, 100 * 100).err().unwrap().to_string();
        assert!(message.contains("10000 pixels"), "{message}");
        process(&sample_png(100, 100), 100 * 100).unwrap();
    }

    #[test]
    fn huge_dimensions_with_tiny_bodies_are_refused() {
        for (what, bytes) in [
            ("png bomb", png_bomb()),
            ("png 8193 wide", png_header_only(8193, 16, 6)),
            ("jpeg", jpeg_header_only(65_000, 65_000)),
            ("jpeg 8193 tall", jpeg_header_only(16, 8193)),
            ("webp", webp_header_only(16_383, 16_383)),
            ("gif", gif_header_only(65_535, 65_535)),
        ] {
            assert!(bytes.len() < 100, "{what}");
            let started = Instant::now();
            let message = assert_invalid(&bytes);
            assert!(started.elapsed() < Duration::from_millis(50), "{what}");
            assert!(message.contains("too large"), "{what}: {message}");
        }
        assert!(assert_invalid(&png_header_only(0, 16, 2)).contains("damaged"));
        assert!(assert_invalid(&gif_header_only(0, 0)).contains("empty"));
    }

    #[test]
    fn truncated_files_are_refused_or_decoded_and_never_panic() {
        let picture = corner_picture(240, 160);
        let pixel = |x: u32, y: u32| picture.get_pixel(x, y).0;
        let rgba16: ImageBuffer<Rgba<u16>, Vec<u16>> = ImageBuffer::from_fn(240, 160, |x, y| {
            Rgba([x as u16 * 200, y as u16 * 300, 7, 60_000])
        });
        let samples = [
            (
                "png",
                encoded(DynamicImage::ImageRgb8(picture.clone()), ImageFormat::Png),
            ),
            (
                "png16",
                encoded(DynamicImage::ImageRgba16(rgba16), ImageFormat::Png),
            ),
            (
                "adam7",
                handmade_png(240, 160, 2, 8, true, |x, y| pixel(x, y).to_vec()),
            ),
            (
                "jpeg",
                encoded(DynamicImage::ImageRgb8(picture.clone()), ImageFormat::Jpeg),
            ),
            (
                "baseline",
                handmade_jpeg(240, 160, JpegCoding::Baseline, JpegColor::YCbCr, pixel),
            ),
            (
                "progressive",
                handmade_jpeg(240, 160, JpegCoding::Progressive, JpegColor::YCbCr, pixel),
            ),
            (
                "cmyk",
                handmade_jpeg(240, 160, JpegCoding::Progressive, JpegColor::Cmyk, pixel),
            ),
            (
                "webp",
                encoded(DynamicImage::ImageRgb8(picture.clone()), ImageFormat::WebP),
            ),
            (
                "gif",
                encoded(DynamicImage::ImageRgb8(picture.clone()), ImageFormat::Gif),
            ),
        ];
        for (what, bytes) in samples {
            large(&bytes);
            let len = bytes.len();
            let mut cuts = vec![
                1,
                8,
                16,
                30,
                60,
                len / 4,
                len / 3,
                len / 2,
                3 * len / 4,
                len - 2,
            ];
            cuts.retain(|&cut| cut < len);
            for cut in cuts {
                match process(&bytes[..cut], BUDGET) {
                    Ok(processed) => {
                        assert_eq!(decoded(&processed.large).dimensions(), (512, 512));
                    }
                    Err(Error::InvalidFile(message)) => {
                        assert_ne!(
                            message, "the image could not be decoded",
                            "{what} at {cut}: a decoder panicked"
                        );
                    }
                    Err(other) => panic!("{what} at {cut}: {other:?}"),
                }
            }
        }
        // Plain truncations are caught for PNG and JPEG.
        let png = sample_png(64, 64);
        assert!(assert_invalid(&png[..png.len() / 2]).contains("damaged"));
        let jpeg = sample_jpeg_with_orientation(64, 64, 1);
        assert_invalid(&jpeg[..jpeg.len() / 3]);
    }

    #[test]
    fn garbage_and_other_formats_are_refused() {
        assert_invalid(b"");
        assert_invalid(b"definitely not an image, just some text");
        assert_invalid(&[0u8; 64]);
        assert_invalid(&[0xFF, 0xD8, 0xFF]);
        let mut bmp = Vec::new();
        // A BMP header is enough to be recognised, and refused.
        bmp.extend_from_slice(b"BM");
        bmp.extend_from_slice(&[0; 60]);
        let message = assert_invalid(&bmp);
        assert!(message.contains("PNG, JPEG, WebP or GIF"), "{message}");
    }

    #[test]
    fn the_reducer_averages_blocks_of_the_centred_square() {
        // 2050×2048: the square starts at column 1 and halves to 1024; columns alternate
        // 200 and 0 from there, so every 2×2 block averages 100.
        let mut reducer = Reducer::new(2050, 2048, 1).unwrap();
        let row: Vec<u8> = (0..2050)
            .map(|x| if x % 2 == 1 { 200 } else { 0 })
            .collect();
        while reducer.wants_more() {
            reducer.push(&row).unwrap();
        }
        let image = reducer.finish().unwrap();
        assert_eq!(image.dimensions(), (1024, 1024));
        assert!(image.as_bytes().iter().all(|&v| v == 100));
        // An odd side leaves a last column and row of half blocks, averaged on their own.
        let mut reducer = Reducer::new(2049, 2049, 2).unwrap();
        let row: Vec<u8> = (0..2049)
            .flat_map(|x| [if x == 2048 { 250 } else { 10 }, 255])
            .collect();
        while reducer.wants_more() {
            reducer.push(&row).unwrap();
        }
        let image = reducer.finish().unwrap();
        assert_eq!(image.dimensions(), (1025, 1025));
        let bytes = image.as_bytes();
        assert_eq!(&bytes[..2], &[10, 255]);
        assert_eq!(&bytes[1024 * 2..1025 * 2], &[250, 255]);
        // Too few rows is a truncated image; a short row is damaged.
        let mut reducer = Reducer::new(4, 4, 3).unwrap();
        reducer.push(&[0; 12]).unwrap();
        assert!(reducer.push(&[0; 5]).is_err());
        assert!(Reducer::new(4, 4, 3).unwrap().finish().is_err());
    }
}
