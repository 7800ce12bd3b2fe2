//! Face alignment: the least-squares similarity transform (Umeyama, 4 degrees of freedom) from
//! the 5 detected landmarks to the ArcFace 112×112 template, and a bilinear warp of the original
//! image through it (outside pixels are black, as OpenCV's `warpAffine` with a constant border).

use image::RgbImage;

use super::detect::Landmarks;

/// Side of the aligned crop.
pub const CROP_SIZE: u32 = 112;

/// Landmark positions of the standard ArcFace 112×112 template.
pub const TEMPLATE: Landmarks =
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

/// x' = a·x − b·y + tx, y' = b·x + a·y + ty (rotation, uniform scale, translation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f64,
    pub b: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Similarity {
    /// Least-squares similarity mapping `src` onto `dst`. For 2-D points this closed form is
    /// Umeyama's solution restricted to proper rotations.
    pub fn estimate(src: &Landmarks, dst: &Landmarks) -> Self {
        let n = src.len() as f64;
        let mean = |p: &Landmarks, k: usize| p.iter().map(|v| f64::from(v[k])).sum::<f64>() / n;
        let (sx, sy, dx, dy) = (mean(src, 0), mean(src, 1), mean(dst, 0), mean(dst, 1));
        let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
        for (s, d) in src.iter().zip(dst) {
            let (px, py) = (f64::from(s[0]) - sx, f64::from(s[1]) - sy);
            let (qx, qy) = (f64::from(d[0]) - dx, f64::from(d[1]) - dy);
            dot += px * qx + py * qy;
            cross += px * qy - py * qx;
            norm += px * px + py * py;
        }
        if norm <= f64::EPSILON {
            // Degenerate landmarks (all in one point): translate only.
            return Self { a: 1.0, b: 0.0, tx: dx - sx, ty: dy - sy };
        }
        let (a, b) = (dot / norm, cross / norm);
        Self { a, b, tx: dx - (a * sx - b * sy), ty: dy - (b * sx + a * sy) }
    }

    /// Applies the transform to a point.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        (self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty)
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Self {
        let d = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / d, -self.b / d);
        Self { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) }
    }
}

/// The aligned `CROP_SIZE`² crop of the face whose landmarks are `landmarks` in `image`.
pub fn align(image: &RgbImage, landmarks: &Landmarks) -> RgbImage {
    let inv = Similarity::estimate(landmarks, &TEMPLATE).inverse();
    warp(image, &inv, CROP_SIZE)
}

/// Samples `image` at `inv(x, y)` for every output pixel, bilinearly. Source positions step by
/// (a, b) along a row, so no per-pixel matrix product; only border pixels take the checked path.
fn warp(image: &RgbImage, inv: &Similarity, size: u32) -> RgbImage {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let raw = image.as_raw();
    let stride = w as usize * 3;
    let mut out = vec![0u8; (size * size * 3) as usize];
    for (oy, row) in out.chunks_exact_mut(size as usize * 3).enumerate() {
        let (mut sx, mut sy) = inv.apply(0.0, oy as f64);
        for px in row.chunks_exact_mut(3) {
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let weights = [(1.0 - fx) * (1.0 - fy), fx * (1.0 - fy), (1.0 - fx) * fy, fx * fy];
            if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
                let i = y0 as usize * stride + x0 as usize * 3;
                let taps = [i, i + 3, i + stride, i + stride + 3];
                for (c, v) in px.iter_mut().enumerate() {
                    let sum: f32 = taps.iter().zip(&weights).map(|(t, wt)| f32::from(raw[t + c]) * wt).sum();
                    *v = (sum + 0.5) as u8;
                }
            } else {
                // Border: taps outside the image count as black.
                let taps = [(x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)];
                for (c, v) in px.iter_mut().enumerate() {
                    let sum: f32 = taps
                        .iter()
                        .zip(&weights)
                        .filter(|((x, y), _)| *x >= 0 && *y >= 0 && *x < w && *y < h)
                        .map(|((x, y), wt)| f32::from(raw[*y as usize * stride + *x as usize * 3 + c]) * wt)
                        .sum();
                    *v = (sum + 0.5).min(255.0) as u8;
                }
            }
            sx += inv.a;
            sy += inv.b;
        }
    }
    RgbImage::from_raw(size, size, out).expect("buffer has size² RGB pixels")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn recovers_a_known_similarity() {
        let t = Similarity { a: 0.8, b: 0.3, tx: 12.0, ty: -7.0 };
        let src: Landmarks = [[100.0, 120.0], [160.0, 118.0], [130.0, 150.0], [105.0, 180.0], [155.0, 181.0]];
        let dst: Landmarks = src.map(|p| {
            let (x, y) = t.apply(f64::from(p[0]), f64::from(p[1]));
            [x as f32, y as f32]
        });
        let e = Similarity::estimate(&src, &dst);
        for (got, want) in [(e.a, t.a), (e.b, t.b), (e.tx, t.tx), (e.ty, t.ty)] {
            assert!((got - want).abs() < 1e-4, "{e:?} vs {t:?}");
        }
        let back = e.inverse();
        let (x, y) = back.apply(e.apply(3.0, 4.0).0, e.apply(3.0, 4.0).1);
        assert!((x - 3.0).abs() < 1e-9 && (y - 4.0).abs() < 1e-9);
    }

    #[test]
    fn template_landmarks_align_to_identity() {
        let mut img = RgbImage::new(112, 112);
        img.put_pixel(56, 71, Rgb([255, 0, 0]));
        let out = align(&img, &TEMPLATE);
        assert_eq!(out.get_pixel(56, 71), &Rgb([255, 0, 0]));
        assert_eq!(out.get_pixel(10, 10), &Rgb([0, 0, 0]));
    }
}
