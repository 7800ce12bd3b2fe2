//! Detector input: the image downscaled so its longer side fits the detector's input size,
//! pasted at the top-left of a tensor whose sides are multiples of 32, zero padding elsewhere.
//! Coordinates found in the tensor map back to the original by dividing by `scale`.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::error::{Result, VisageError};

/// A prepared NCHW float tensor and the scale that produced it.
pub struct Letterbox {
    /// Planar channel data, 3 × `height` × `width`.
    pub data: Vec<f32>,
    pub width: usize,
    pub height: usize,
    /// Tensor pixels per original pixel (≤ 1).
    pub scale: f32,
}

impl Letterbox {
    /// Builds the tensor; `bgr` swaps channel order, each value becomes `(v - mean) * norm`.
    /// With `square` the tensor is always `max_side`² (models whose upsampling needs it).
    pub fn new(image: &RgbImage, max_side: u32, square: bool, bgr: bool, mean: f32, norm: f32) -> Result<Self> {
        let (w, h) = image.dimensions();
        let longest = w.max(h);
        let (sw, sh, scale) = if longest > max_side {
            let s = max_side as f32 / longest as f32;
            let sw = ((w as f32 * s).round() as u32).clamp(1, max_side);
            let sh = ((h as f32 * s).round() as u32).clamp(1, max_side);
            (sw, sh, s)
        } else {
            (w, h, 1.0)
        };
        let resized;
        let pixels: &[u8] = if scale < 1.0 {
            resized = downscale(image, sw, sh)?;
            &resized
        } else {
            image.as_raw()
        };
        let (tw, th) = if square {
            (max_side as usize, max_side as usize)
        } else {
            (sw.div_ceil(32) as usize * 32, sh.div_ceil(32) as usize * 32)
        };
        let plane = tw * th;
        let pad = (0.0 - mean) * norm;
        let mut data = vec![pad; 3 * plane];
        let (first, rest) = data.split_at_mut(plane);
        let (second, third) = rest.split_at_mut(plane);
        let (c0, c2) = if bgr { (2, 0) } else { (0, 2) };
        for (y, row) in pixels.chunks_exact(sw as usize * 3).enumerate() {
            let o = y * tw;
            for (x, px) in row.chunks_exact(3).enumerate() {
                first[o + x] = (f32::from(px[c0]) - mean) * norm;
                second[o + x] = (f32::from(px[1]) - mean) * norm;
                third[o + x] = (f32::from(px[c2]) - mean) * norm;
            }
        }
        Ok(Self { data, width: tw, height: th, scale })
    }
}

/// Antialiased bilinear downscale (a convolution, so no aliasing). At large ratios the image is
/// first sampled down to twice the target size, which costs little quality and most of the time.
fn downscale(image: &RgbImage, w: u32, h: u32) -> Result<Vec<u8>> {
    let src = ImageRef::new(image.width(), image.height(), image.as_raw(), PixelType::U8x3)
        .map_err(|e| VisageError::Inference(format!("resize: {e}")))?;
    let mut dst = Image::new(w, h, PixelType::U8x3);
    let alg = if image.width() > 4 * w {
        ResizeAlg::SuperSampling(FilterType::Bilinear, 2)
    } else {
        ResizeAlg::Convolution(FilterType::Bilinear)
    };
    let options = ResizeOptions::new().resize_alg(alg);
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| VisageError::Inference(format!("resize: {e}")))?;
    Ok(dst.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_images_are_padded_not_scaled() {
        let img = RgbImage::from_pixel(40, 20, image::Rgb([10, 20, 30]));
        let lb = Letterbox::new(&img, 640, false, true, 0.0, 1.0).unwrap();
        assert_eq!((lb.width, lb.height, lb.scale), (64, 32, 1.0));
        assert_eq!(lb.data[0], 30.0, "BGR: first plane is blue");
        assert_eq!(lb.data[2 * 64 * 32], 10.0);
        assert_eq!(lb.data[63], 0.0, "padding");
    }

    #[test]
    fn large_images_fit_the_input_size() {
        let img = RgbImage::new(5000, 4000);
        let lb = Letterbox::new(&img, 640, false, false, 127.5, 1.0 / 128.0).unwrap();
        assert_eq!((lb.width, lb.height), (640, 512));
        let square = Letterbox::new(&img, 640, true, false, 127.5, 1.0 / 128.0).unwrap();
        assert_eq!((square.width, square.height), (640, 640));
        assert!((lb.scale - 0.128).abs() < 1e-6);
        assert!((lb.data[0] + 127.5 / 128.0).abs() < 1e-6);
    }
}
