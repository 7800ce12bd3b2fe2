//! Renders detections onto a copy of the image (for `visage detect --draw`).

use image::{Rgb, RgbImage};

use super::detect::Detection;

const BOX: Rgb<u8> = Rgb([0, 255, 0]);
/// Eyes, nose, mouth corners.
const POINTS: [Rgb<u8>; 5] =
    [Rgb([255, 0, 0]), Rgb([0, 0, 255]), Rgb([0, 255, 255]), Rgb([255, 0, 255]), Rgb([255, 255, 0])];

/// A copy of `image` with each face's box and landmarks drawn, lines scaled to the image size.
pub fn draw(image: &RgbImage, faces: &[Detection]) -> RgbImage {
    let mut out = image.clone();
    let thickness = (image.width().max(image.height()) / 400).max(1) as i64;
    for face in faces {
        let b = face.bbox;
        let (x0, y0) = (b.x1.round() as i64, b.y1.round() as i64);
        let (x1, y1) = (x0 + (b.width().round() as i64).max(1) - 1, y0 + (b.height().round() as i64).max(1) - 1);
        let t = thickness - 1;
        // The outline grows outwards: the box's own edge is its innermost line.
        fill(&mut out, (x0 - t, x1 + t), (y0 - t, y0), BOX);
        fill(&mut out, (x0 - t, x1 + t), (y1, y1 + t), BOX);
        fill(&mut out, (x0 - t, x0), (y0 - t, y1 + t), BOX);
        fill(&mut out, (x1, x1 + t), (y0 - t, y1 + t), BOX);
        for (p, color) in face.landmarks.iter().zip(POINTS) {
            let (cx, cy, r) = (p[0].round() as i64, p[1].round() as i64, thickness + 1);
            for dy in -r..=r {
                let dx = ((r * r - dy * dy) as f64).sqrt() as i64;
                fill(&mut out, (cx - dx, cx + dx), (cy + dy, cy + dy), color);
            }
        }
    }
    out
}

/// Paints the pixels of columns `xs.0..=xs.1` and rows `ys.0..=ys.1` that lie inside the image.
fn fill(image: &mut RgbImage, xs: (i64, i64), ys: (i64, i64), color: Rgb<u8>) {
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    for y in ys.0.max(0)..=ys.1.min(h - 1) {
        for x in xs.0.max(0)..=xs.1.min(w - 1) {
            image.put_pixel(x as u32, y as u32, color);
        }
    }
}

/// Encodes an image as PNG (kept face crops).
pub fn png(image: &RgbImage) -> crate::Result<Vec<u8>> {
    let mut out = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| crate::VisageError::Store(format!("encoding a PNG: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::detect::BBox;

    fn face(x1: f32, y1: f32, x2: f32, y2: f32) -> Detection {
        Detection { bbox: BBox { x1, y1, x2, y2 }, score: 0.9, landmarks: [[(x1 + x2) / 2.0, (y1 + y2) / 2.0]; 5] }
    }

    #[test]
    fn draws_the_outline_and_landmarks_inside_the_image_only() {
        let image = RgbImage::new(40, 30);
        // One face inside, one hanging over the top-left corner, one past the bottom-right.
        let out =
            draw(&image, &[face(10.0, 8.0, 20.0, 18.0), face(-5.0, -5.0, 4.0, 4.0), face(35.0, 25.0, 60.0, 50.0)]);
        for (x, y) in [(10, 8), (19, 8), (10, 17), (19, 17), (15, 8), (10, 12), (3, 0), (0, 3), (35, 29), (39, 25)] {
            assert_eq!(out.get_pixel(x, y).0, BOX.0, "({x}, {y})");
        }
        // The interior is untouched but for the landmark disc (radius 2) at the centre.
        assert_eq!(out.get_pixel(12, 10).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(15, 13).0, POINTS[4].0);
        assert_eq!(out.get_pixel(15, 11).0, POINTS[4].0);
        assert_eq!(out.get_pixel(17, 15).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(20, 8).0, [0, 0, 0]);
    }
}
