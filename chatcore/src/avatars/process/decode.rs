//! The per-format decoders. Each gives the centred square of the image, box-filtered down to
//! at most [`REDUCED_SIDE`](super::REDUCED_SIDE) × 2 a side, as stored (not yet turned), with
//! the orientation to apply; and none keeps more than one full-size buffer alive:
//!
//! - **PNG** row by row into the box filter (no full-size buffer; interlaced images through
//!   one 8-bit buffer);
//! - **JPEG** with `jpeg-decoder` at reduced DCT scale (1/2, 1/4 or 1/8, the smallest that
//!   keeps 512 pixels on the short side), in its own layout (grey, RGB or CMYK), converted to
//!   RGB only once reduced; its coefficients are its one full-size buffer (a progressive
//!   JPEG keeps them to its last scan; a baseline one's rows may queue up for the decoder's
//!   worker threads);
//! - **WebP and GIF** with the `image` crate into one buffer in their own 8-bit layout. A
//!   lossless WebP without alpha is decoded as RGBA (the decoder would otherwise fill an RGBA
//!   buffer and copy it into a second, RGB one) and its alpha dropped once reduced.

use std::borrow::Cow;
use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use super::MAX_SIDE;
use super::header::{
    Header, Layout, damaged, png_refused, probe, refused, too_large_plain, within_budget,
};
use super::reduce::{Reducer, reduce};
use crate::{Error, Result};

/// The smallest side a JPEG is decoded at, where its scale allows: the large avatar's.
const JPEG_MIN_SIDE: u32 = 512;

/// The reduced square and the orientation to apply to it.
pub(super) struct Decoded {
    pub(super) square: DynamicImage,
    pub(super) orientation: Orientation,
}

/// Decodes the centred square of an image, reduced (see the module docs).
pub(super) fn decode_reduced(bytes: &[u8], max_pixels: u64) -> Result<Decoded> {
    let header = probe(Cursor::new(bytes), max_pixels)?;
    match header.format {
        ImageFormat::Png => decode_png(bytes, max_pixels),
        ImageFormat::Jpeg => decode_jpeg(bytes, &header),
        _ => decode_other(bytes, &header, max_pixels),
    }
}

/// By how much a `width`×`height` JPEG is scaled down while decoding: 8, 4, 2 or 1, the most
/// that keeps [`JPEG_MIN_SIDE`] on the short side.
pub(super) fn jpeg_scale(width: u32, height: u32) -> u32 {
    let short = width.min(height);
    [8, 4, 2]
        .into_iter()
        .find(|&scale| short.div_ceil(scale) >= JPEG_MIN_SIDE)
        .unwrap_or(1)
}

/// JPEG at reduced DCT scale, through the box filter, then to RGB.
fn decode_jpeg(bytes: &[u8], header: &Header) -> Result<Decoded> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    // What the decoded image may take at most: 4 bytes a pixel at full scale.
    let most = u64::from(header.width) * u64::from(header.height) * 4;
    decoder.set_max_decoding_buffer_size(usize::try_from(most).unwrap_or(usize::MAX));
    decoder.read_info().map_err(jpeg_refused)?;
    let info = decoder.info().ok_or_else(damaged)?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    if (width, height) != (header.width, header.height) {
        return Err(damaged());
    }
    let scale = jpeg_scale(width, height);
    let (width, height) = if scale > 1 {
        let (w, h) = decoder
            .scale(
                u16::try_from(width.div_ceil(scale)).map_err(|_| damaged())?,
                u16::try_from(height.div_ceil(scale)).map_err(|_| damaged())?,
            )
            .map_err(jpeg_refused)?;
        (u32::from(w), u32::from(h))
    } else {
        (width, height)
    };
    let pixels = decoder.decode().map_err(jpeg_refused)?;
    // A malformed EXIF block only costs the orientation.
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let cmyk = matches!(info.pixel_format, jpeg_decoder::PixelFormat::CMYK32);
    let (pixels, channels) = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => (Cow::Borrowed(&pixels[..]), 1),
        // 16-bit grey (lossless JPEG), native-endian: the high byte.
        jpeg_decoder::PixelFormat::L16 => (
            Cow::Owned(
                pixels
                    .chunks_exact(2)
                    .map(|pair| u16::from_ne_bytes([pair[0], pair[1]]).to_be_bytes()[0])
                    .collect(),
            ),
            1,
        ),
        jpeg_decoder::PixelFormat::RGB24 => (Cow::Borrowed(&pixels[..]), 3),
        jpeg_decoder::PixelFormat::CMYK32 => (Cow::Borrowed(&pixels[..]), 4),
    };
    let mut reducer = Reducer::new(width, height, channels)?;
    let row_bytes = (width as usize * channels).max(1);
    for row in pixels.chunks_exact(row_bytes) {
        if !reducer.wants_more() {
            break;
        }
        reducer.push(row)?;
    }
    drop(pixels);
    let square = reducer.finish()?;
    let square = if cmyk { cmyk_to_rgb(&square)? } else { square };
    Ok(Decoded {
        square,
        orientation,
    })
}

/// CMYK as `jpeg-decoder` gives it (ink amounts, Adobe's inversion undone) to RGB.
fn cmyk_to_rgb(square: &DynamicImage) -> Result<DynamicImage> {
    let (width, height) = (square.width(), square.height());
    let rgb: Vec<u8> = square
        .as_bytes()
        .chunks_exact(4)
        .flat_map(|pixel| {
            let k = 255 - u16::from(pixel[3]);
            [0, 1, 2].map(|i| {
                let ink = 255 - u16::from(pixel[i]);
                u8::try_from(ink * k / 255).unwrap_or(u8::MAX)
            })
        })
        .collect();
    RgbImage::from_raw(width, height, rgb)
        .map(DynamicImage::ImageRgb8)
        .ok_or_else(damaged)
}

fn jpeg_refused(error: jpeg_decoder::Error) -> Error {
    match error {
        jpeg_decoder::Error::Unsupported(_) => {
            Error::InvalidFile("this kind of image is not supported".into())
        }
        _ => damaged(),
    }
}

/// WebP and GIF, decoded once at full size in their own 8-bit layout, then box-filtered.
fn decode_other(bytes: &[u8], header: &Header, max_pixels: u64) -> Result<Decoded> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // The decoded image in its own layout (at most 4 bytes a pixel), with room to spare.
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    // A lossless WebP that says it has no alpha is read as if it had some: one RGBA buffer
    // rather than an RGBA one copied into an RGB one. Its alpha is dropped once reduced.
    let opaque_lossless = header.layout == Layout::WebP { chunk: *b"VP8L" }
        && bytes.get(24).is_some_and(|&bits| bits & 0x10 == 0);
    let bytes = if opaque_lossless {
        let mut flagged = bytes.to_vec();
        // Byte 24 holds the top bits of the VP8L header: 0x10 is "alpha is used".
        if let Some(bits) = flagged.get_mut(24) {
            *bits |= 0x10;
        }
        Cow::Owned(flagged)
    } else {
        Cow::Borrowed(bytes)
    };
    let mut reader = ImageReader::with_format(Cursor::new(&bytes[..]), header.format);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let (width, height) = decoder.dimensions();
    within_budget(width, height, max_pixels)?;
    // A malformed EXIF block only costs the orientation.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(refused)?;
    drop(bytes);
    let square = reduce(&image)?;
    drop(image);
    let square = if opaque_lossless {
        DynamicImage::ImageRgb8(square.into_rgb8())
    } else {
        square
    };
    Ok(Decoded {
        square,
        orientation,
    })
}

/// PNG, row by row into the box filter (interlaced: through one 8-bit buffer).
fn decode_png(bytes: &[u8], max_pixels: u64) -> Result<Decoded> {
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
    Ok(Decoded {
        square: reducer.finish()?,
        orientation,
    })
}
