//! The hand-computed test fixture. Every vector has four entries of ½ on a 20-d basis, so it is a
//! unit vector and the cosine of two vectors is exactly (number of shared coordinates) / 4.
//!
//! ```text
//! a1 {1,2,3,4}   a2 {1,2,3,5}   a3 {1,5,6,7}        subject A
//! b1 {6,8,9,10}  b2 {8,9,10,11}                     subject B
//! c1 {12,13,14,15}  c2 {11,12,16,17}                subject C
//! d1 {7,16,17,19}                                   subject D (one sample)
//! ```
//! Genuine (5): a1a2 .75, a1a3 .25, a2a3 .5, b1b2 .75, c1c2 .25.
//! Impostor (23): c2d1 .5; a3b1, a3d1, b2c2 .25 (tied with the genuine .25s); the other 19 are 0.

use super::Sample;

fn vector(coords: [usize; 4]) -> Vec<f32> {
    let mut v = vec![0.0; 20];
    for c in coords {
        v[c - 1] = 0.5;
    }
    v
}

/// The eight samples, in the order a1 a2 a3 b1 b2 c1 c2 d1.
pub fn samples() -> Vec<Sample> {
    let rows: [(&str, &str, [usize; 4]); 8] = [
        ("A", "a1", [1, 2, 3, 4]),
        ("A", "a2", [1, 2, 3, 5]),
        ("A", "a3", [1, 5, 6, 7]),
        ("B", "b1", [6, 8, 9, 10]),
        ("B", "b2", [8, 9, 10, 11]),
        ("C", "c1", [12, 13, 14, 15]),
        ("C", "c2", [11, 12, 16, 17]),
        ("D", "d1", [7, 16, 17, 19]),
    ];
    rows.iter().map(|(l, i, c)| Sample { label: l.to_string(), item: i.to_string(), vector: vector(*c) }).collect()
}

/// The genuine and impostor scores listed above.
pub fn pair_scores() -> (Vec<f32>, Vec<f32>) {
    let genuine = vec![0.75, 0.25, 0.5, 0.75, 0.25];
    let mut impostor = vec![0.5, 0.25, 0.25, 0.25];
    impostor.extend([0.0; 19]);
    (genuine, impostor)
}
