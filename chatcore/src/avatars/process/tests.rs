use std::io::Cursor;
use std::time::{Duration, Instant};

use image::codecs::gif::GifEncoder;
use image::codecs::webp::WebPEncoder;
use image::{GenericImageView, ImageBuffer, Rgb, Rgba};

use super::super::samples::*;
use super::*;
use crate::Error;
use image::{DynamicImage, ImageFormat, RgbaImage};

use super::super::AvatarSize;
use super::reduce::Reducer;

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
    // 1026×1024: the square starts at column 1 and halves to 512; columns alternate
    // 200 and 0 from there, so every 2×2 block averages 100.
    let mut reducer = Reducer::new(1026, 1024, 1).unwrap();
    let row: Vec<u8> = (0..1026)
        .map(|x| if x % 2 == 1 { 200 } else { 0 })
        .collect();
    while reducer.wants_more() {
        reducer.push(&row).unwrap();
    }
    let image = reducer.finish().unwrap();
    assert_eq!(image.dimensions(), (512, 512));
    assert!(image.as_bytes().iter().all(|&v| v == 100));
    // An odd side leaves a last column and row of half blocks, averaged on their own.
    let mut reducer = Reducer::new(1025, 1025, 2).unwrap();
    let row: Vec<u8> = (0..1025)
        .flat_map(|x| [if x == 1024 { 250 } else { 10 }, 255])
        .collect();
    while reducer.wants_more() {
        reducer.push(&row).unwrap();
    }
    let image = reducer.finish().unwrap();
    assert_eq!(image.dimensions(), (513, 513));
    let bytes = image.as_bytes();
    assert_eq!(&bytes[..2], &[10, 255]);
    assert_eq!(&bytes[512 * 2..513 * 2], &[250, 255]);
    // Too few rows is a truncated image; a short row is damaged.
    let mut reducer = Reducer::new(4, 4, 3).unwrap();
    reducer.push(&[0; 12]).unwrap();
    assert!(reducer.push(&[0; 5]).is_err());
    assert!(Reducer::new(4, 4, 3).unwrap().finish().is_err());
}

#[test]
fn jpeg_is_decoded_at_the_smallest_scale_that_keeps_512_pixels() {
    assert_eq!(decode::jpeg_scale(4096, 4096), 8);
    assert_eq!(decode::jpeg_scale(4096, 4095), 8);
    assert_eq!(decode::jpeg_scale(4096, 4088), 4);
    assert_eq!(decode::jpeg_scale(3000, 4000), 4);
    assert_eq!(decode::jpeg_scale(2048, 1536), 2);
    assert_eq!(decode::jpeg_scale(1000, 800), 1);
    assert_eq!(decode::jpeg_scale(16, 16), 1);
    // Scaled decoding keeps the picture: 2048×1536, decoded at half scale, in every coding
    // and colour model.
    let picture = corner_picture(2048, 1536);
    let pixel = |x: u32, y: u32| picture.get_pixel(x, y).0;
    for coding in [JpegCoding::Baseline, JpegCoding::Progressive] {
        for color in [JpegColor::YCbCr, JpegColor::Cmyk] {
            let jpeg = handmade_jpeg(2048, 1536, coding, color, pixel);
            let what = format!("2048×1536 {coding:?} {color:?}");
            assert_red_corner(&large(&jpeg), Corner::TopLeft, false, &what);
        }
    }
    // Orientation survives scaling.
    let jpeg = with_orientation(
        encoded(
            DynamicImage::ImageRgb8(corner_picture(2400, 1600)),
            ImageFormat::Jpeg,
        ),
        6,
    );
    assert_red_corner(
        &large(&jpeg),
        Corner::TopRight,
        true,
        "2400×1600 oriented 6",
    );
}

#[test]
fn the_footprint_estimate_follows_the_decoder() {
    let header = |bytes: &[u8]| probe(Cursor::new(bytes), BUDGET).unwrap();
    let mib = |bytes: u64| bytes >> 20;
    // A PNG is decoded row by row; interlaced, through one RGBA buffer (64 MiB at the budget).
    let plain = header(&png_header_only(4096, 4096, 6));
    assert!(mib(plain.footprint()) < 32, "{plain:?}");
    let plain = header(&handmade_png(256, 256, 2, 8, false, |_, _| vec![0, 0]));
    let adam7 = header(&handmade_png(256, 256, 2, 8, true, |_, _| vec![0, 0]));
    assert!(adam7.footprint() >= plain.footprint() + 256 * 256 * 4);
    // A JPEG, baseline or progressive, is charged all its coefficients (16 bits a sample):
    // 96 MiB for a 16 MP colour one, so that it runs alone.
    let baseline = header(&jpeg_header_only(4096, 4096));
    assert!(
        (96..128).contains(&mib(baseline.footprint())),
        "{baseline:?}"
    );
    let picture = |_: u32, _: u32| [0, 0, 0];
    let progressive = handmade_jpeg(512, 512, JpegCoding::Progressive, JpegColor::YCbCr, picture);
    let progressive = header(&progressive);
    assert!(progressive.footprint() >= 512 * 512 * 3 * 2);
    assert_eq!(progressive.layout, header::Layout::Jpeg { components: 3 });
    // WebP is decoded into one full-size buffer: 64 MiB at the budget.
    let webp = header(&webp_header_only(4096, 4096));
    assert!((64..128).contains(&mib(webp.footprint())), "{webp:?}");
}
