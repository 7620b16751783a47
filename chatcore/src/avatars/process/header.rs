//! What an upload's header says: its format, its dimensions (checked against the pixel
//! budget) and, for the memory budget, how much decoding it will cost. Nothing here decodes a
//! pixel.

use std::io::{BufRead, Read, Seek, SeekFrom};

use image::{ImageError, ImageFormat, ImageReader};

use super::{MAX_SIDE, REDUCED_SIDE};
use crate::{Error, Result};

/// What an image's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) format: ImageFormat,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// How the pixels are stored, as far as decoding memory depends on it.
    pub(crate) layout: Layout,
}

/// The part of a format's header that decides its decoding memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// A PNG; interlaced (Adam7) ones are decoded through one full-size buffer.
    Png {
        interlaced: bool,
    },
    /// A JPEG with this many components: baseline or progressive, every coefficient may be
    /// alive at once (see [`Header::footprint`]).
    Jpeg {
        components: u8,
    },
    /// A WebP: lossless (`VP8L`), lossy (`VP8 `) or extended (`VP8X`, either, maybe with alpha).
    WebP {
        chunk: [u8; 4],
    },
    Gif,
}

impl Header {
    /// A generous estimate of the memory decoding and processing this image takes, in bytes:
    /// what the decoder of its format holds at its peak (see the `decode` module) plus the
    /// reduced square and its copies.
    pub(crate) fn footprint(&self) -> u64 {
        let pixels = u64::from(self.width) * u64::from(self.height);
        let side = u64::from(self.width.min(self.height));
        let factor = (side / u64::from(REDUCED_SIDE)).max(1);
        let reduced = side.div_ceil(factor).pow(2);
        // The reduced square at 4 bytes a pixel, its RGB(A) copy, the resampling buffers
        // (32-bit floats) and the outputs.
        let after = reduced * 4 * 2 + 512 * 1024 * 16 + (4 << 20);
        let decoding = match self.layout {
            // Two rows and the unfiltering buffer, or the one 8-bit RGBA buffer.
            Layout::Png { interlaced: false } => 1 << 20,
            Layout::Png { interlaced: true } => pixels * 4 + (1 << 20),
            Layout::Jpeg { components } => {
                let components = u64::from(components.max(1));
                // Each component's plane and the interleaved output, at the decoded scale.
                let scale = u64::from(super::decode::jpeg_scale(self.width, self.height));
                let scaled = pixels / (scale * scale) + 1;
                let output = scaled * components * 2;
                // Coefficients are 16 bits, one per sample (at most: no subsampling). A
                // progressive JPEG keeps them all until its last scan. A baseline one is no
                // better off: `jpeg-decoder` hands each row of blocks to a thread per component
                // through an unbounded channel, and the entropy decoding may run the whole
                // image ahead of them (seen: 286 MiB of growth with two 16 MP baseline JPEGs
                // charged 1 MiB each).
                let coefficients = pixels * components * 2;
                output + coefficients
            }
            // Lossless: one RGBA buffer. Lossy: the YUV planes and the RGB(A) buffer, and the
            // alpha plane.
            Layout::WebP { chunk } => match &chunk {
                b"VP8L" => pixels * 4,
                b"VP8 " => pixels * 3 / 2 + pixels * 3,
                _ => pixels * 3 / 2 + pixels * 5,
            },
            // The canvas in RGBA and the frame's indices.
            Layout::Gif => pixels * 5,
        };
        decoding + after
    }
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
    let (width, height, layout) = match format {
        ImageFormat::Jpeg => jpeg_frame(&mut reader)?,
        // The logical screen, which the first frame is drawn on: bytes 6 to 9.
        ImageFormat::Gif => {
            let mut header = [0u8; 10];
            reader.read_exact(&mut header).map_err(|_| damaged())?;
            (
                u32::from(u16::from_le_bytes([header[6], header[7]])),
                u32::from(u16::from_le_bytes([header[8], header[9]])),
                Layout::Gif,
            )
        }
        ImageFormat::Png => {
            let mut decoder = png::Decoder::new_with_limits(reader, png::Limits { bytes: 1 << 20 });
            let info = decoder.read_header_info().map_err(png_refused)?;
            let interlaced = info.interlaced;
            (info.width, info.height, Layout::Png { interlaced })
        }
        _ => {
            // RIFF, size, WEBP, then the first chunk's name.
            let mut chunk = [0u8; 4];
            chunk.copy_from_slice(&start[12..16]);
            let mut reader = ImageReader::with_format(reader, format);
            reader.no_limits();
            let (width, height) = reader.into_dimensions().map_err(refused)?;
            (width, height, Layout::WebP { chunk })
        }
    };
    within_budget(width, height, max_pixels)?;
    Ok(Header {
        format,
        width,
        height,
        layout,
    })
}

/// The dimensions and layout in a JPEG's frame header, found by walking its segments
/// (seeking past their bodies) up to the first SOF marker.
fn jpeg_frame<R: Read + Seek>(reader: &mut R) -> Result<(u32, u32, Layout)> {
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
            let components = byte(reader)?;
            // A height of 0 would be given by a DNL segment later: not supported.
            if height == 0 {
                return Err(damaged());
            }
            return Ok((
                u32::from(width),
                u32::from(height),
                Layout::Jpeg { components },
            ));
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
pub(super) fn within_budget(width: u32, height: u32, max_pixels: u64) -> Result<()> {
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

pub(super) fn damaged() -> Error {
    Error::InvalidFile("the image is damaged or truncated".into())
}

/// A decoder's own allocation limit was hit (the header was within the budget).
pub(super) fn too_large_plain() -> Error {
    Error::InvalidFile("the image is too large to process".into())
}

pub(super) fn refused(error: ImageError) -> Error {
    match error {
        ImageError::Limits(_) => too_large_plain(),
        ImageError::Unsupported(_) => {
            Error::InvalidFile("this kind of image is not supported".into())
        }
        _ => damaged(),
    }
}

pub(super) fn png_refused(error: png::DecodingError) -> Error {
    match error {
        png::DecodingError::LimitsExceeded => too_large_plain(),
        _ => damaged(),
    }
}
