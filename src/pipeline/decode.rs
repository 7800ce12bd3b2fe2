//! Bytes → RGB image: format sniffing, size limits checked before any pixel is allocated,
//! EXIF orientation applied, every colour type (grey, alpha, CMYK, 16-bit) reduced to RGB8.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};

use crate::error::{Result, VisageError};
use serde::{Deserialize, Serialize};

/// Limits applied to every image before and while it is decoded.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ImageLimits {
    pub max_image_bytes: usize,
    pub max_image_pixels: u64,
    pub max_image_side: u32,
}

/// Decodes an encoded image (JPEG, PNG, WebP, BMP, TIFF, GIF; first frame) into RGB8,
/// honouring EXIF orientation. Oversized inputs fail before their pixels are allocated.
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(VisageError::EmptyImage);
    }
    if bytes.len() > limits.max_image_bytes {
        return Err(VisageError::ImageTooLarge(format!(
            "{} bytes exceeds the limit of {} bytes",
            bytes.len(),
            limits.max_image_bytes
        )));
    }
    // Decoders are third-party code fed untrusted bytes: a panic in one must not take the process down.
    std::panic::catch_unwind(|| decode_checked(bytes, limits))
        .unwrap_or_else(|_| Err(VisageError::CorruptImage("the decoder rejected the data".into())))
}

fn decode_checked(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| VisageError::CorruptImage(e.to_string()))?;
    let Some(format) = reader.format() else {
        return Err(VisageError::UnsupportedFormat(String::new()));
    };
    if format == image::ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        // The JPEG decoder fills missing scan data with grey; a half-grey face must not be embedded.
        return Err(VisageError::CorruptImage("truncated JPEG (no end-of-image marker after the scan data)".into()));
    }
    let mut decoder = reader.into_decoder().map_err(|e| classify(e, format))?;
    let (w, h) = decoder.dimensions();
    check_dimensions(w, h, limits)?;
    let mut decoder_limits = Limits::default();
    decoder_limits.max_image_width = Some(limits.max_image_side);
    decoder_limits.max_image_height = Some(limits.max_image_side);
    // Room for the decoded frame at 16 bits per channel with alpha, plus decoder working memory.
    decoder_limits.max_alloc = Some(limits.max_image_pixels.saturating_mul(8).saturating_add(64 << 20));
    decoder.set_limits(decoder_limits).map_err(|e| classify(e, format))?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| classify(e, format))?;
    image.apply_orientation(orientation);
    Ok(match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

fn check_dimensions(w: u32, h: u32, limits: &ImageLimits) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(VisageError::CorruptImage(format!("image has no pixels ({w}x{h})")));
    }
    if w > limits.max_image_side || h > limits.max_image_side || u64::from(w) * u64::from(h) > limits.max_image_pixels {
        return Err(VisageError::ImageTooLarge(format!(
            "{w}x{h} exceeds the limits ({} pixels, {} per side)",
            limits.max_image_pixels, limits.max_image_side
        )));
    }
    Ok(())
}

/// True when the JPEG's first scan is followed by an end-of-image marker. Marker segments are
/// walked by their lengths so that an EXIF thumbnail's own markers are not mistaken for the image's.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut pos = 2;
    while pos + 4 <= bytes.len() {
        if bytes[pos] != 0xFF {
            return false;
        }
        let marker = bytes[pos + 1];
        if marker == 0xFF {
            pos += 1; // fill byte
            continue;
        }
        if marker == 0xDA {
            return bytes[pos..].windows(2).any(|w| w == [0xFF, 0xD9]);
        }
        let len = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
        pos += 2 + len;
    }
    false
}

fn classify(e: image::ImageError, format: image::ImageFormat) -> VisageError {
    use image::ImageError::*;
    match e {
        Limits(l) => VisageError::ImageTooLarge(l.to_string()),
        Unsupported(u) => VisageError::UnsupportedFormat(format!(" ({format:?}: {u})")),
        other => VisageError::CorruptImage(format!("{format:?}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ImageLimits =
        ImageLimits { max_image_bytes: 1 << 20, max_image_pixels: 4_000_000, max_image_side: 4000 };

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        RgbImage::new(w, h).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn rejects_empty_text_and_truncated_input() {
        assert_eq!(decode(b"", &LIMITS).unwrap_err().code(), "empty_image");
        assert_eq!(decode(b"hello, not an image", &LIMITS).unwrap_err().code(), "unsupported_format");
        let bytes = png(64, 64);
        let err = decode(&bytes[..bytes.len() / 2], &LIMITS).unwrap_err();
        assert_eq!(err.code(), "corrupt_image", "{err}");
    }

    #[test]
    fn truncated_jpeg_is_rejected_but_a_complete_one_decodes() {
        let mut jpeg = Vec::new();
        RgbImage::from_pixel(64, 48, image::Rgb([200, 100, 50]))
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .unwrap();
        assert_eq!(decode(&jpeg, &LIMITS).unwrap().dimensions(), (64, 48));
        let err = decode(&jpeg[..jpeg.len() - 40], &LIMITS).unwrap_err();
        assert_eq!(err.code(), "corrupt_image", "{err}");
    }

    #[test]
    fn declared_dimensions_over_the_limit_fail_before_decoding() {
        let bytes = png(4001, 10);
        assert_eq!(decode(&bytes, &LIMITS).unwrap_err().code(), "image_too_large");
        let big = png(2500, 2000);
        assert_eq!(decode(&big, &LIMITS).unwrap_err().code(), "image_too_large");
        let ok = decode(&png(2000, 2000), &LIMITS).unwrap();
        assert_eq!(ok.dimensions(), (2000, 2000));
    }
}
