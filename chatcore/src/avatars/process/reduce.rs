//! Box-filtering the centred square of an image whose rows arrive one at a time.

use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};

use super::REDUCED_SIDE;
use super::header::{damaged, too_large_plain};
use crate::{Error, Result};

/// Box-filters a fully decoded image's centred square (see [`Reducer`]).
pub(super) fn reduce(image: &DynamicImage) -> Result<DynamicImage> {
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
pub(super) struct Reducer {
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
    pub(super) fn new(width: u32, height: u32, channels: usize) -> Result<Reducer> {
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
    pub(super) fn wants_more(&self) -> bool {
        self.next_row < self.y0 + self.side
    }

    /// Takes the next input row (all of it, in the reducer's channel layout).
    pub(super) fn push(&mut self, row: &[u8]) -> Result<()> {
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

    pub(super) fn finish(self) -> Result<DynamicImage> {
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
