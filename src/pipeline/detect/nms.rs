//! Greedy non-maximum suppression.

use super::Detection;

/// Keeps the highest-scoring box of every group overlapping by more than `iou`.
pub fn suppress(mut candidates: Vec<Detection>, iou: f32) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for c in candidates {
        if kept.iter().all(|k| k.bbox.iou(&c.bbox) <= iou) {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::super::BBox;
    use super::*;

    fn det(x: f32, score: f32) -> Detection {
        Detection { bbox: BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 10.0 }, score, landmarks: [[0.0; 2]; 5] }
    }

    #[test]
    fn keeps_best_of_overlapping_and_all_disjoint() {
        let kept = suppress(vec![det(0.0, 0.7), det(1.0, 0.9), det(50.0, 0.6)], 0.3);
        let xs: Vec<f32> = kept.iter().map(|d| d.bbox.x1).collect();
        assert_eq!(xs, vec![1.0, 50.0]);
    }
}
