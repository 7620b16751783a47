//! From the reduced square to the two outputs: turned upright, converted to RGB or RGBA,
//! resized to 512 and 128 pixels, encoded without metadata, and hashed.

use image::DynamicImage;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use sha2::{Digest, Sha256};

use super::super::AvatarSize;
use super::Processed;
use super::decode::Decoded;
use crate::{Error, Result};

/// JPEG quality of the outputs: visually clean at a fraction of the size.
const JPEG_QUALITY: u8 = 85;

/// Turns, converts, resizes, encodes and hashes a decoded square.
///
/// # Errors
/// [`Error::Internal`] should an encoder fail.
pub(super) fn finish(decoded: Decoded) -> Result<Processed> {
    let Decoded {
        mut square,
        orientation,
    } = decoded;
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
