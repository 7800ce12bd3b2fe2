//! Face quality measures for enrolment gates: resolution (distance between the eyes, in
//! original pixels) and sharpness (variance of the Laplacian of the aligned crop's luma; blur
//! lowers it).

use image::RgbImage;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::detect::Detection;

/// Quality of one detected face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Quality {
    /// Distance between the two eye landmarks in the original image, pixels.
    pub eye_distance: f32,
    /// Variance of the 4-neighbour Laplacian over the aligned 112×112 crop's luma.
    pub sharpness: f32,
}

/// Measures a face from its detection and its aligned crop.
pub fn assess(detection: &Detection, crop: &RgbImage) -> Quality {
    let [l, r] = [detection.landmarks[0], detection.landmarks[1]];
    Quality { eye_distance: (l[0] - r[0]).hypot(l[1] - r[1]), sharpness: laplacian_variance(crop) }
}

fn laplacian_variance(crop: &RgbImage) -> f32 {
    let (w, h) = (crop.width() as usize, crop.height() as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let luma: Vec<f32> =
        crop.pixels().map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])).collect();
    let (mut sum, mut sum_sq, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let v = f64::from(luma[i - 1] + luma[i + 1] + luma[i - w] + luma[i + w] - 4.0 * luma[i]);
            sum += v;
            sum_sq += v * v;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_lowers_sharpness() {
        let sharp = RgbImage::from_fn(112, 112, |x, y| image::Rgb([if (x / 4 + y / 4) % 2 == 0 { 255 } else { 0 }; 3]));
        let flat = RgbImage::from_pixel(112, 112, image::Rgb([128; 3]));
        assert!(laplacian_variance(&sharp) > 1000.0);
        assert_eq!(laplacian_variance(&flat), 0.0);
        let blurred = image::imageops::blur(&sharp, 2.0);
        assert!(laplacian_variance(&blurred) < laplacian_variance(&sharp) / 4.0);
    }
}
