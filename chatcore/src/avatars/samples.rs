//! Test images made in code, so no binary fixture is committed. Re-exported by the testkit.
//!
//! Every sample has the same picture: its **left third is red** and the rest a blue gradient,
//! so a test can tell which way up an image came out.
#![allow(clippy::expect_used)]

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// The red of the left third.
pub const SAMPLE_RED: [u8; 3] = [220, 30, 30];

fn sample_pixel(x: u32, y: u32, width: u32, height: u32) -> Rgb<u8> {
    if x < width / 3 {
        Rgb(SAMPLE_RED)
    } else {
        let shade = u8::try_from(60 * y / height.max(1)).unwrap_or(60);
        Rgb([20, 60 + shade, 200])
    }
}

fn sample(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| sample_pixel(x, y, width, height))
}

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encoding into memory");
    bytes
}

/// An opaque `width`×`height` PNG of the sample picture.
pub fn sample_png(width: u32, height: u32) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgb8(sample(width, height)),
        ImageFormat::Png,
    )
}

/// A `width`×`height` PNG of the sample picture, transparent outside the centred disc.
pub fn sample_transparent_png(width: u32, height: u32) -> Vec<u8> {
    let radius = f64::from(width.min(height)) / 2.0;
    let image = RgbaImage::from_fn(width, height, |x, y| {
        let Rgb([r, g, b]) = sample_pixel(x, y, width, height);
        let dx = f64::from(x) + 0.5 - f64::from(width) / 2.0;
        let dy = f64::from(y) + 0.5 - f64::from(height) / 2.0;
        let alpha = if dx.hypot(dy) <= radius { 255 } else { 0 };
        Rgba([r, g, b, alpha])
    });
    encode(DynamicImage::ImageRgba8(image), ImageFormat::Png)
}

/// A `width`×`height` JPEG of the sample picture (as stored: red on the left) carrying an
/// EXIF Orientation tag, as cameras write it. With `orientation` 6 a viewer turns it 90°
/// clockwise: it shows `height`×`width`, red at the top.
pub fn sample_jpeg_with_orientation(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    DynamicImage::ImageRgb8(sample(width, height))
        .write_with_encoder(JpegEncoder::new_with_quality(&mut jpeg, 90))
        .expect("encoding into memory");
    // A big-endian TIFF structure with one IFD entry: Orientation (0x0112), SHORT, 1 value.
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0\x2a");
    tiff.extend_from_slice(&8u32.to_be_bytes());
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    let mut app1 = vec![0xff, 0xe1];
    let length = u16::try_from(2 + 6 + tiff.len()).expect("small segment");
    app1.extend_from_slice(&length.to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    // Right after SOI, where cameras put it.
    jpeg.splice(2..2, app1);
    jpeg
}

/// A decompression bomb: a valid, tiny PNG whose header declares 100000×100000 pixels
/// (30 GB decoded).
pub fn png_bomb() -> Vec<u8> {
    png_header_only(100_000, 100_000, 2)
}

/// A valid PNG declaring `width`×`height` pixels of `color_type` (2 RGB, 6 RGBA) at 8 bits,
/// with hardly any pixel data.
pub(crate) fn png_header_only(width: u32, height: u32, color_type: u8) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // 8 bits per sample, deflate, adaptive filtering, no interlace.
    header.extend_from_slice(&[8, color_type, 0, 0, 0]);
    push_chunk(&mut png, b"IHDR", &header);
    // An empty zlib stream: far too little data, but a decoder must not get that far.
    push_chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    push_chunk(&mut png, b"IEND", &[]);
    png
}

fn push_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(
        &u32::try_from(data.len())
            .expect("small chunk")
            .to_be_bytes(),
    );
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(kind.iter().chain(data));
    png.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (IEEE, reflected), as PNG chunks carry it; bitwise, since speed does not matter.
fn crc32<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn the_bomb_header_is_well_formed() {
        let bomb = png_bomb();
        let mut reader = image::ImageReader::with_format(Cursor::new(&bomb), ImageFormat::Png);
        reader.no_limits();
        assert_eq!(reader.into_dimensions().unwrap(), (100_000, 100_000));
    }
}
