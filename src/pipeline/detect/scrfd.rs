//! SCRFD / InsightFace `det_*.onnx` output decoding: anchors centred on each cell, box as
//! distances (left, top, right, bottom) and keypoints as offsets, both in units of the stride.
//! Outputs are taken by position, as InsightFace does: scores, then boxes, then keypoints.

use super::{BBox, Detection, RawOutputs};

/// Candidate faces (before NMS) in input-tensor pixels.
pub(crate) fn decode(raw: &RawOutputs, threshold: f32) -> Result<Vec<Detection>, String> {
    let strides: &[usize] = match raw.tensors.len() {
        9 => &[8, 16, 32],
        15 => &[8, 16, 32, 64, 128],
        n => return Err(format!("{n} outputs: expected 9 or 15 (an InsightFace detector with keypoints)")),
    };
    let levels = strides.len();
    let mut out = Vec::new();
    for (level, &s) in strides.iter().enumerate() {
        let (cols, rows) = (raw.input_width / s, raw.input_height / s);
        let cells = cols * rows;
        let (scores, bbox, kps) =
            (raw.tensors[level].1, raw.tensors[levels + level].1, raw.tensors[2 * levels + level].1);
        if cells == 0 || scores.len() % cells != 0 {
            return Err(format!("stride {s}: {} scores for {cells} cells", scores.len()));
        }
        let anchors = scores.len() / cells;
        if bbox.len() != 4 * scores.len() || kps.len() != 10 * scores.len() {
            return Err(format!("stride {s}: box/keypoint outputs do not match the score output"));
        }
        let sf = s as f32;
        for (i, &score) in scores.iter().enumerate() {
            if score < threshold {
                continue;
            }
            let cell = i / anchors;
            let (cx, cy) = (((cell % cols) * s) as f32, ((cell / cols) * s) as f32);
            let b = &bbox[4 * i..4 * i + 4];
            let k = &kps[10 * i..10 * i + 10];
            out.push(Detection {
                bbox: BBox { x1: cx - b[0] * sf, y1: cy - b[1] * sf, x2: cx + b[2] * sf, y2: cy + b[3] * sf },
                score,
                landmarks: std::array::from_fn(|j| [cx + k[2 * j] * sf, cy + k[2 * j + 1] * sf]),
            });
        }
    }
    Ok(out)
}
