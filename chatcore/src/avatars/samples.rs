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
    with_orientation(jpeg, orientation)
}

/// A big-endian TIFF structure with one IFD entry: Orientation (0x0112), SHORT, 1 value.
fn exif_orientation(orientation: u16) -> Vec<u8> {
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
    tiff
}

/// A JPEG or PNG with an EXIF Orientation tag added: in an APP1 segment right after a JPEG's
/// SOI, where cameras put it, or in an `eXIf` chunk right after a PNG's header.
pub fn with_orientation(mut image: Vec<u8>, orientation: u16) -> Vec<u8> {
    let tiff = exif_orientation(orientation);
    if image.starts_with(&[0xFF, 0xD8]) {
        let mut app1 = vec![0xff, 0xe1];
        let length = u16::try_from(2 + 6 + tiff.len()).expect("small segment");
        app1.extend_from_slice(&length.to_be_bytes());
        app1.extend_from_slice(b"Exif\0\0");
        app1.extend_from_slice(&tiff);
        image.splice(2..2, app1);
    } else {
        assert!(image.starts_with(b"\x89PNG"), "a JPEG or a PNG");
        let mut chunk = Vec::new();
        push_chunk(&mut chunk, b"eXIf", &tiff);
        // Signature (8) and IHDR (4 + 4 + 13 + 4).
        image.splice(33..33, chunk);
    }
    image
}

/// A `width`×`height` picture with one red corner (top left, a third wide and half high) on
/// blue, to tell all eight orientations apart.
pub fn corner_picture(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        if x < width / 3 && y < height / 2 {
            Rgb(SAMPLE_RED)
        } else {
            Rgb([20, 80, 200])
        }
    })
}

/// Encodes `image` in `format` with the image crate.
pub fn encoded(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    encode(image, format)
}

/// How [`handmade_jpeg`] codes its scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JpegCoding {
    /// One interleaved scan (SOF0).
    Baseline,
    /// A DC scan, then one AC scan per component (SOF2).
    Progressive,
}

/// The colour model of a [`handmade_jpeg`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JpegColor {
    /// One component.
    Gray,
    /// Three components, YCbCr as JFIF defines it.
    YCbCr,
    /// Four components with an Adobe marker (no transform), inverted as Photoshop writes it.
    Cmyk,
}

/// A JPEG written by hand, where the image crate cannot (progressive, CMYK): every 8×8 block
/// has the one colour `pixel` gives for its top-left pixel, coded as DC coefficients alone
/// (quantiser 1, no subsampling). `width` and `height` are multiples of 8.
pub fn handmade_jpeg(
    width: u16,
    height: u16,
    coding: JpegCoding,
    color: JpegColor,
    pixel: impl Fn(u32, u32) -> [u8; 3],
) -> Vec<u8> {
    assert!(width.is_multiple_of(8) && height.is_multiple_of(8) && width > 0 && height > 0);
    let components: usize = match color {
        JpegColor::Gray => 1,
        JpegColor::YCbCr => 3,
        JpegColor::Cmyk => 4,
    };
    let (blocks_x, blocks_y) = (u32::from(width / 8), u32::from(height / 8));
    // The samples of every block, component by component.
    let samples: Vec<Vec<u8>> = (0..blocks_y)
        .flat_map(|by| (0..blocks_x).map(move |bx| (bx, by)))
        .map(|(bx, by)| {
            let [r, g, b] = pixel(bx * 8, by * 8);
            let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
            let clamp = |value: f64| value.round().clamp(0.0, 255.0) as u8;
            match color {
                JpegColor::Gray => vec![clamp(0.299 * r + 0.587 * g + 0.114 * b)],
                JpegColor::YCbCr => vec![
                    clamp(0.299 * r + 0.587 * g + 0.114 * b),
                    clamp(128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b),
                    clamp(128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b),
                ],
                // Inverted ink: 255 is none. No black ink at all.
                JpegColor::Cmyk => vec![clamp(r), clamp(g), clamp(b), 255],
            }
        })
        .collect();
    let mut jpeg = vec![0xFF, 0xD8];
    let segment = |jpeg: &mut Vec<u8>, marker: u8, body: &[u8]| {
        jpeg.extend_from_slice(&[0xFF, marker]);
        let length = u16::try_from(body.len() + 2).expect("small segment");
        jpeg.extend_from_slice(&length.to_be_bytes());
        jpeg.extend_from_slice(body);
    };
    if color == JpegColor::Cmyk {
        // "Adobe", version 100, no flags, transform 0 (CMYK as is).
        segment(&mut jpeg, 0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x00");
    }
    let mut quantiser = vec![0u8];
    quantiser.extend_from_slice(&[1; 64]);
    segment(&mut jpeg, 0xDB, &quantiser);
    let mut frame = vec![8];
    frame.extend_from_slice(&height.to_be_bytes());
    frame.extend_from_slice(&width.to_be_bytes());
    frame.push(components as u8);
    for id in 1..=components as u8 {
        frame.extend_from_slice(&[id, 0x11, 0]);
    }
    let sof = match coding {
        JpegCoding::Baseline => 0xC0,
        JpegCoding::Progressive => 0xC2,
    };
    segment(&mut jpeg, sof, &frame);
    // DC: categories 0 to 11, each a 4-bit code (the category itself). AC: only EOB, "0".
    let mut dc_table = vec![0x00, 0, 0, 0, 12];
    dc_table.extend_from_slice(&[0; 12]);
    dc_table.extend(0..12u8);
    segment(&mut jpeg, 0xC4, &dc_table);
    let mut ac_table = vec![0x10, 1];
    ac_table.extend_from_slice(&[0; 15]);
    ac_table.push(0x00);
    segment(&mut jpeg, 0xC4, &ac_table);
    let scan_header = |ids: &[u8], start: u8, end: u8| {
        let mut body = vec![ids.len() as u8];
        for &id in ids {
            body.extend_from_slice(&[id, 0x00]);
        }
        body.extend_from_slice(&[start, end, 0]);
        body
    };
    let ids: Vec<u8> = (1..=components as u8).collect();
    let dc_scan = |jpeg: &mut Vec<u8>, with_eob: bool| {
        let mut bits = BitWriter::default();
        let mut previous = vec![0i32; components];
        for block in &samples {
            for (component, &sample) in block.iter().enumerate() {
                let dc = 8 * (i32::from(sample) - 128);
                bits.dc_difference(dc - previous[component]);
                previous[component] = dc;
                if with_eob {
                    bits.put(0, 1);
                }
            }
        }
        jpeg.extend(bits.finish());
    };
    match coding {
        JpegCoding::Baseline => {
            segment(&mut jpeg, 0xDA, &scan_header(&ids, 0, 63));
            dc_scan(&mut jpeg, true);
        }
        JpegCoding::Progressive => {
            segment(&mut jpeg, 0xDA, &scan_header(&ids, 0, 0));
            dc_scan(&mut jpeg, false);
            for &id in &ids {
                segment(&mut jpeg, 0xDA, &scan_header(&[id], 1, 63));
                let mut bits = BitWriter::default();
                for _ in &samples {
                    // EOB0: this block has no more coefficients.
                    bits.put(0, 1);
                }
                jpeg.extend(bits.finish());
            }
        }
    }
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

/// Entropy-coded JPEG bits, with 0xFF bytes stuffed.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    pending: u32,
    count: u32,
}

impl BitWriter {
    fn put(&mut self, code: u32, length: u32) {
        for shift in (0..length).rev() {
            self.pending = (self.pending << 1) | ((code >> shift) & 1);
            self.count += 1;
            if self.count == 8 {
                let byte = self.pending as u8;
                self.bytes.push(byte);
                if byte == 0xFF {
                    self.bytes.push(0);
                }
                self.pending = 0;
                self.count = 0;
            }
        }
    }

    /// A DC difference: its category's code, then its bits (one's complement if negative).
    fn dc_difference(&mut self, difference: i32) {
        let category = 32 - difference.unsigned_abs().leading_zeros();
        self.put(category, 4);
        if category > 0 {
            let bits = if difference < 0 {
                difference + (1 << category) - 1
            } else {
                difference
            };
            self.put(bits as u32, category);
        }
    }

    /// The bytes, the last one padded with ones.
    fn finish(mut self) -> Vec<u8> {
        while self.count != 0 {
            self.put(1, 1);
        }
        self.bytes
    }
}

/// A PNG written by hand, where the image crate cannot (interlaced): `pixel` gives each
/// pixel's bytes for `color_type` at `bit_depth` (8 or 16); the data is stored uncompressed.
pub fn handmade_png(
    width: u32,
    height: u32,
    color_type: u8,
    bit_depth: u8,
    interlaced: bool,
    pixel: impl Fn(u32, u32) -> Vec<u8>,
) -> Vec<u8> {
    // Adam7's passes as (first column, first row, column step, row step).
    const ADAM7: [(u32, u32, u32, u32); 7] = [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ];
    let passes: &[(u32, u32, u32, u32)] = if interlaced { &ADAM7 } else { &[(0, 0, 1, 1)] };
    let mut raw = Vec::new();
    for &(x0, y0, dx, dy) in passes {
        if x0 >= width || y0 >= height {
            continue;
        }
        for y in (y0..height).step_by(dy as usize) {
            raw.push(0);
            for x in (x0..width).step_by(dx as usize) {
                raw.extend(pixel(x, y));
            }
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let length = u16::try_from(block.len()).expect("stored block");
        zlib.extend_from_slice(&length.to_le_bytes());
        zlib.extend_from_slice(&(!length).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    if blocks.is_empty() {
        zlib.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[bit_depth, color_type, 0, 0, u8::from(interlaced)]);
    push_chunk(&mut png, b"IHDR", &header);
    push_chunk(&mut png, b"IDAT", &zlib);
    push_chunk(&mut png, b"IEND", &[]);
    png
}

/// A JPEG that is a frame header alone: `width`×`height` pixels and no data.
pub fn jpeg_header_only(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 8];
    jpeg.extend_from_slice(&height.to_be_bytes());
    jpeg.extend_from_slice(&width.to_be_bytes());
    jpeg.extend_from_slice(&[3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

/// A lossless WebP that is a header alone: `width`×`height` pixels (up to 16383) and no data.
pub fn webp_header_only(width: u32, height: u32) -> Vec<u8> {
    let bits = (width - 1) | ((height - 1) << 14);
    let mut chunk = vec![0x2F];
    chunk.extend_from_slice(&bits.to_le_bytes());
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&(4 + 8 + chunk.len() as u32 + 1).to_le_bytes());
    webp.extend_from_slice(b"WEBPVP8L");
    webp.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
    webp.extend_from_slice(&chunk);
    // Chunks are padded to an even length.
    webp.push(0);
    webp
}

/// A GIF that is a screen descriptor alone: `width`×`height` pixels and no frame.
pub fn gif_header_only(width: u16, height: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0, 0, 0, 0x3B]);
    gif
}

/// A decompression bomb: a valid, tiny PNG whose header declares 100000×100000 pixels
/// (30 GB decoded).
pub fn png_bomb() -> Vec<u8> {
    png_header_only(100_000, 100_000, 2)
}

/// A valid PNG declaring `width`×`height` pixels of `color_type` (2 RGB, 6 RGBA) at 8 bits,
/// with hardly any pixel data.
pub fn png_header_only(width: u32, height: u32, color_type: u8) -> Vec<u8> {
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
