//! Renders detections onto a copy of the image (for `visage detect --draw`).

use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_circle_mut, draw_hollow_rect_mut};
use imageproc::rect::Rect;

use super::detect::Detection;

const BOX: Rgb<u8> = Rgb([0, 255, 0]);
/// Eyes, nose, mouth corners.
const POINTS: [Rgb<u8>; 5] =
    [Rgb([255, 0, 0]), Rgb([0, 0, 255]), Rgb([0, 255, 255]), Rgb([255, 0, 255]), Rgb([255, 255, 0])];

/// A copy of `image` with each face's box and landmarks drawn, lines scaled to the image size.
pub fn draw(image: &RgbImage, faces: &[Detection]) -> RgbImage {
    let mut out = image.clone();
    let thickness = (image.width().max(image.height()) / 400).max(1) as i32;
    for face in faces {
        let b = face.bbox;
        for t in 0..thickness {
            let (x, y) = (b.x1.round() as i32 - t, b.y1.round() as i32 - t);
            let (w, h) = ((b.width().round() as i32 + 2 * t).max(1), (b.height().round() as i32 + 2 * t).max(1));
            draw_hollow_rect_mut(&mut out, Rect::at(x, y).of_size(w as u32, h as u32), BOX);
        }
        for (p, color) in face.landmarks.iter().zip(POINTS) {
            draw_filled_circle_mut(&mut out, (p[0].round() as i32, p[1].round() as i32), thickness + 1, color);
        }
    }
    out
}

/// Encodes an image as PNG (kept face crops).
pub fn png(image: &RgbImage) -> crate::Result<Vec<u8>> {
    let mut out = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| crate::VisageError::Store(format!("encoding a PNG: {e}")))?;
    Ok(out)
}
