//! The image pipeline: bytes in, two clean square images out. Pure and synchronous; the
//! service runs it on the blocking pool.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

use super::AvatarSize;
use crate::{Error, Result};

/// The widest and tallest image accepted.
pub(crate) const MAX_SIDE: u32 = 8192;
/// The most memory the decoded image may take (about 5800×5800 RGBA, or 44 megapixels RGB).
pub(crate) const MAX_DECODED_BYTES: u64 = 128 * 1024 * 1024;
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

/// [`process`] on the blocking pool: decoding and resizing take tens of milliseconds of CPU.
pub(crate) async fn process_blocking(bytes: Vec<u8>) -> Result<Processed> {
    tokio::task::spawn_blocking(move || process(&bytes))
        .await
        .map_err(Error::internal)?
}

/// Decodes an uploaded image and re-encodes it as a clean 512×512 and 128×128 square.
///
/// The format is recognised from the bytes alone (PNG, JPEG, WebP, GIF's first frame); any
/// EXIF orientation is applied; the centred square is kept. The outputs are PNG if some pixel
/// is not fully opaque, JPEG otherwise, and carry no metadata of the upload.
///
/// # Errors
/// [`Error::InvalidFile`] for anything else, damaged or truncated data, or an image larger
/// than [`MAX_SIDE`] or [`MAX_DECODED_BYTES`] (refused from its header, before decoding).
pub(crate) fn process(bytes: &[u8]) -> Result<Processed> {
    // The decoders parse hostile input: should one panic, that is a bad file, not a crash.
    let square = catch_unwind(AssertUnwindSafe(|| decode_square(bytes)))
        .map_err(|_| Error::InvalidFile("the image could not be decoded".into()))??;
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

/// Decodes under limits, keeps the centred square and turns it the right way up.
fn decode_square(bytes: &[u8]) -> Result<DynamicImage> {
    let format = match image::guess_format(bytes) {
        Ok(
            format @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif),
        ) => format,
        _ => {
            return Err(Error::InvalidFile(
                "not a PNG, JPEG, WebP or GIF image".into(),
            ));
        }
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    // The header alone tells the size: a bomb is refused here, before any pixel is inflated.
    let mut decoder = reader.into_decoder().map_err(refused)?;
    if decoder.total_bytes() > MAX_DECODED_BYTES {
        return Err(too_large());
    }
    // A malformed EXIF block only costs the orientation.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(refused)?;
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err(Error::InvalidFile("the image is empty".into()));
    }
    // Cropping first halves the memory the turn needs; the centred square turns into the
    // centred square of the turned image.
    let side = width.min(height);
    let mut square = image.crop_imm((width - side) / 2, (height - side) / 2, side, side);
    drop(image);
    square.apply_orientation(orientation);
    Ok(square)
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
    // Lanczos over a huge source costs seconds; a box filter down to twice the target first
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

fn too_large() -> Error {
    Error::InvalidFile(
        format!(
            "the image is too large to process (at most {MAX_SIDE}×{MAX_SIDE} pixels and {} MiB decoded)",
            MAX_DECODED_BYTES / (1024 * 1024)
        )
        .into(),
    )
}

fn refused(error: ImageError) -> Error {
    match error {
        ImageError::Limits(_) => too_large(),
        ImageError::Unsupported(_) => {
            Error::InvalidFile("this kind of image is not supported".into())
        }
        _ => Error::InvalidFile("the image is damaged or truncated".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use image::codecs::gif::GifEncoder;
    use image::codecs::webp::WebPEncoder;
    use image::{GenericImageView, Rgb, RgbImage};

    use super::super::samples::*;
    use super::*;

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
        match process(bytes) {
            Err(error @ Error::InvalidFile(_)) => error.to_string(),
            Err(other) => panic!("expected invalid_file, got {other:?}"),
            Ok(_) => panic!("expected invalid_file, got an image"),
        }
    }

    #[test]
    fn opaque_images_become_two_jpeg_squares() {
        let processed = process(&sample_png(300, 200)).unwrap();
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
        let large = decoded(&process(&sample_png(300, 200)).unwrap().large);
        assert!(is_red(&large, 40, 256));
        assert!(is_blue(&large, 256, 256));
        assert!(is_blue(&large, 470, 256));
    }

    #[test]
    fn transparency_keeps_png() {
        let processed = process(&sample_transparent_png(200, 200)).unwrap();
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
        let processed = process(&jpeg).unwrap();
        let large = decoded(&processed.large);
        assert!(is_red(&large, 256, 40), "red must be at the top");
        assert!(is_blue(&large, 40, 256), "the left must not be red");
        assert!(is_blue(&large, 256, 470));
        for size in AvatarSize::ALL {
            assert!(!contains(processed.bytes(size), b"Exif"));
        }
    }

    #[test]
    fn without_orientation_the_image_stays_as_stored() {
        let large = decoded(
            &process(&sample_jpeg_with_orientation(300, 200, 1))
                .unwrap()
                .large,
        );
        assert!(is_red(&large, 40, 256));
        assert!(is_blue(&large, 256, 40));
    }

    #[test]
    fn webp_and_gif_are_accepted() {
        let picture = RgbImage::from_fn(90, 60, |x, _| {
            if x < 30 {
                Rgb(SAMPLE_RED)
            } else {
                Rgb([20, 80, 200])
            }
        });
        let mut webp = Vec::new();
        DynamicImage::ImageRgb8(picture.clone())
            .write_with_encoder(WebPEncoder::new_lossless(&mut webp))
            .unwrap();
        let mut gif = Vec::new();
        GifEncoder::new(&mut gif)
            .encode(
                DynamicImage::ImageRgb8(picture).into_rgba8().as_raw(),
                90,
                60,
                image::ExtendedColorType::Rgba8,
            )
            .unwrap();
        for bytes in [webp, gif] {
            let processed = process(&bytes).unwrap();
            let large = decoded(&processed.large);
            assert_eq!(large.dimensions(), (512, 512));
            assert!(is_blue(&large, 400, 256));
        }
    }

    #[test]
    fn small_images_are_scaled_up() {
        let processed = process(&sample_png(16, 16)).unwrap();
        assert_eq!(decoded(&processed.large).dimensions(), (512, 512));
        assert_eq!(decoded(&processed.small).dimensions(), (128, 128));
    }

    #[test]
    fn the_same_upload_gives_the_same_hash() {
        let png = sample_png(64, 48);
        assert_eq!(process(&png).unwrap().hash, process(&png).unwrap().hash);
        assert_ne!(
            process(&png).unwrap().hash,
            process(&sample_png(48, 64)).unwrap().hash
        );
    }

    #[test]
    fn bombs_are_refused_from_their_header() {
        let started = Instant::now();
        let message = assert_invalid(&png_bomb());
        assert!(message.contains("too large"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn images_over_the_memory_limit_are_refused() {
        // Within 8192 on each side, but 8192×8192 RGBA is 256 MiB decoded.
        let png = png_header_only(8192, 8192, 6);
        let message = assert_invalid(&png);
        assert!(message.contains("too large"), "{message}");
    }

    #[test]
    fn garbage_empty_and_truncated_files_are_refused() {
        assert_invalid(b"");
        assert_invalid(b"definitely not an image, just some text");
        assert_invalid(&[0u8; 64]);
        let png = sample_png(64, 64);
        assert_invalid(&png[..png.len() / 2]);
        assert_invalid(&png[..20]);
        let jpeg = sample_jpeg_with_orientation(64, 64, 1);
        assert_invalid(&jpeg[..jpeg.len() / 3]);
    }

    #[test]
    fn other_formats_are_refused() {
        let mut bmp = Vec::new();
        // A BMP header is enough to be recognised, and refused.
        bmp.extend_from_slice(b"BM");
        bmp.extend_from_slice(&[0; 60]);
        let message = assert_invalid(&bmp);
        assert!(message.contains("PNG, JPEG, WebP or GIF"), "{message}");
    }
}
