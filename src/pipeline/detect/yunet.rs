//! YuNet output decoding: one prior per cell and stride; score = sqrt(cls · obj).

use super::{BBox, Detection, RawOutputs};

const STRIDES: [usize; 3] = [8, 16, 32];

/// Candidate faces (before NMS) in input-tensor pixels.
pub(crate) fn decode(raw: &RawOutputs, threshold: f32) -> Result<Vec<Detection>, String> {
    let find = |name: String| {
        raw.tensors.iter().find(|(n, _)| *n == name).map(|(_, d)| *d).ok_or(format!("missing output {name}"))
    };
    let mut out = Vec::new();
    for s in STRIDES {
        let (cols, rows) = (raw.input_width / s, raw.input_height / s);
        let n = cols * rows;
        let (cls, obj) = (find(format!("cls_{s}"))?, find(format!("obj_{s}"))?);
        let (bbox, kps) = (find(format!("bbox_{s}"))?, find(format!("kps_{s}"))?);
        if cls.len() != n || obj.len() != n || bbox.len() != 4 * n || kps.len() != 10 * n {
            return Err(format!(
                "stride {s}: output sizes do not match a {}x{} input",
                raw.input_width, raw.input_height
            ));
        }
        let sf = s as f32;
        for i in 0..n {
            let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
            if score < threshold {
                continue;
            }
            let (col, row) = ((i % cols) as f32, (i / cols) as f32);
            let b = &bbox[4 * i..4 * i + 4];
            let (cx, cy) = ((col + b[0]) * sf, (row + b[1]) * sf);
            let (w, h) = (b[2].exp() * sf, b[3].exp() * sf);
            let k = &kps[10 * i..10 * i + 10];
            let landmarks = std::array::from_fn(|j| [(col + k[2 * j]) * sf, (row + k[2 * j + 1]) * sf]);
            out.push(Detection {
                bbox: BBox { x1: cx - w / 2.0, y1: cy - h / 2.0, x2: cx + w / 2.0, y2: cy + h / 2.0 },
                score,
                landmarks,
            });
        }
    }
    Ok(out)
}
