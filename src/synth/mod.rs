//! Deterministic synthetic galleries shaped like real face embeddings, for tests and benchmarks.
//!
//! Uniform random unit vectors are the worst case for a graph index and look nothing like a
//! gallery. Real SFace/ArcFace galleries are clustered: photos of one person score 0.6–0.8
//! against each other, different people 0 ± 0.1. Here each identity has a random unit centre,
//! and a photo is `normalise(centre + σ·g)` with `g` standard normal; with `σ²·d = u` the
//! expected cosine of two photos of one identity is `1 / (1 + u)`, and `u` is drawn per
//! identity in [0.25, 0.67], i.e. 0.6–0.8. Different identities: cosine ≈ N(0, 1/d)
//! (sd 0.09 at 128-d).
//!
//! [`Identities::isotropic`] is the other shape, fitted to real SFace photos and shaped like a
//! MegaFace distractor set: a direction shared by every face (impostor cosine 0.07 ± 0.09),
//! identity centres and per-photo spread (genuine cosine 0.78), two photos per identity. Here a
//! probe's neighbours other than its own person all sit at nearly the same score, the case
//! where graph and IVF indexes lose the true neighbour.

mod rng;

pub use rng::Rng;

/// A set of synthetic identities: a centre and a noise level each, around a mean shared by all.
#[derive(Debug, Clone)]
pub struct Identities {
    dim: usize,
    /// Shared by every face (zero for the clustered shape).
    mean: Vec<f32>,
    /// Weight of an identity's unit centre.
    weight: f64,
    centres: Vec<f32>,
    sigma: Vec<f64>,
}

/// Isotropic shape: squared norms of the shared mean, the identity centre and the photo noise
/// (they add up to 1): impostor cosine ≈ 0.07, genuine ≈ 0.07 + 0.71 = 0.78.
const ISO_MEAN: f64 = 0.07;
const ISO_CENTRE: f64 = 0.71;
const ISO_NOISE: f64 = 0.22;

/// The two data shapes of the index tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// 10 photos per identity, genuine 0.6–0.8, impostors 0 ± 0.09.
    Clustered,
    /// MegaFace-like: 2 photos per identity, shared mean, impostors 0.07 ± 0.09, genuine 0.78.
    Isotropic,
}

impl Shape {
    /// Photos per identity in a gallery of this shape.
    pub fn per_identity(self) -> usize {
        match self {
            Self::Clustered => 10,
            Self::Isotropic => 2,
        }
    }

    /// `count` identities of this shape.
    pub fn identities(self, count: usize, dim: usize, seed: u64) -> Identities {
        match self {
            Self::Clustered => Identities::new(count, dim, seed),
            Self::Isotropic => Identities::isotropic(count, dim, seed),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Clustered => "clustered",
            Self::Isotropic => "isotropic",
        }
    }
}

impl std::str::FromStr for Shape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Clustered, Self::Isotropic]
            .into_iter()
            .find(|shape| shape.name() == s)
            .ok_or_else(|| format!("unknown shape {s:?} (clustered or isotropic)"))
    }
}

impl Identities {
    /// `count` clustered identities in `dim` dimensions, determined by `seed`.
    pub fn new(count: usize, dim: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut centres = Vec::with_capacity(count * dim);
        let mut sigma = Vec::with_capacity(count);
        for _ in 0..count {
            centres.extend(rng.unit_vector(dim));
            let u = 0.25 + (0.667 - 0.25) * rng.uniform();
            sigma.push((u / dim as f64).sqrt());
        }
        Self { dim, mean: vec![0.0; dim], weight: 1.0, centres, sigma }
    }

    /// `count` identities of the isotropic shape (see the module documentation).
    pub fn isotropic(count: usize, dim: usize, seed: u64) -> Self {
        let mean = Rng::new(seed ^ 0x4D45_414E).unit_vector(dim).iter().map(|x| x * ISO_MEAN.sqrt() as f32).collect();
        Self::around(mean, count, dim, seed)
    }

    fn around(mean: Vec<f32>, count: usize, dim: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let centres = (0..count).flat_map(|_| rng.unit_vector(dim)).collect();
        let sigma = vec![(ISO_NOISE / dim as f64).sqrt(); count];
        Self { dim, mean, weight: ISO_CENTRE.sqrt(), centres, sigma }
    }

    /// `count` new identities of the same shape (sharing the mean): strangers to this set.
    pub fn strangers(&self, count: usize, seed: u64) -> Self {
        if self.weight == 1.0 {
            Self::new(count, self.dim, seed)
        } else {
            Self::around(self.mean.clone(), count, self.dim, seed)
        }
    }

    pub fn len(&self) -> usize {
        self.sigma.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sigma.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// A fresh "photo" of `identity`: unit length.
    pub fn sample(&self, identity: usize, rng: &mut Rng) -> Vec<f32> {
        let centre = &self.centres[identity * self.dim..(identity + 1) * self.dim];
        let s = self.sigma[identity];
        let v: Vec<f64> = centre
            .iter()
            .zip(&self.mean)
            .map(|(c, m)| *m as f64 + self.weight * *c as f64 + s * rng.normal())
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter().map(|x| (x / norm) as f32).collect()
    }
}

/// Vectors with ids, row-major.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub dim: usize,
    pub ids: Vec<u64>,
    pub vectors: Vec<f32>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }

    /// `(id, vector)` pairs for [`crate::index::VectorIndex::add`].
    pub fn items(&self) -> Vec<(u64, &[f32])> {
        self.ids.iter().copied().zip(self.vectors.chunks_exact(self.dim)).collect()
    }
}

/// `per_identity` photos of every identity; photo `j` of identity `i` has id `i·per_identity + j`.
pub fn gallery(identities: &Identities, per_identity: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let n = identities.len() * per_identity;
    let mut ids = Vec::with_capacity(n);
    let mut vectors = Vec::with_capacity(n * identities.dim());
    for i in 0..identities.len() {
        for j in 0..per_identity {
            ids.push((i * per_identity + j) as u64);
            vectors.extend(identities.sample(i, &mut rng));
        }
    }
    Dataset { dim: identities.dim(), ids, vectors }
}

/// Queries: `seen` fresh photos of random enrolled identities, then `unseen` photos of new
/// identities (people not in the gallery).
pub fn queries(identities: &Identities, seen: usize, unseen: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<Vec<f32>> = (0..seen).map(|_| identities.sample(rng.below(identities.len()), &mut rng)).collect();
    let strangers = identities.strangers(unseen, seed ^ 0xDEAD_BEEF);
    out.extend((0..unseen).map(|i| strangers.sample(i, &mut rng)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::dot;

    #[test]
    fn similarities_look_like_a_face_gallery() {
        let ids = Identities::new(200, 128, 7);
        let g = gallery(&ids, 2, 8);
        let same: Vec<f32> = (0..200).map(|i| dot(g.row(2 * i), g.row(2 * i + 1))).collect();
        let diff: Vec<f32> = (0..199).map(|i| dot(g.row(2 * i), g.row(2 * i + 2))).collect();
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        let sd = |v: &[f32]| (v.iter().map(|x| (x - mean(v)).powi(2)).sum::<f32>() / v.len() as f32).sqrt();
        assert!((0.6..0.8).contains(&mean(&same)), "same-identity mean {}", mean(&same));
        assert!(mean(&diff).abs() < 0.03 && (0.05..0.13).contains(&sd(&diff)), "{} {}", mean(&diff), sd(&diff));
        // Deterministic.
        assert_eq!(gallery(&ids, 2, 8).vectors, g.vectors);
    }

    #[test]
    fn isotropic_shape_matches_real_impostor_and_genuine_scores() {
        let ids = Identities::isotropic(300, 128, 3);
        let g = gallery(&ids, 2, 4);
        let same: Vec<f32> = (0..300).map(|i| dot(g.row(2 * i), g.row(2 * i + 1))).collect();
        let diff: Vec<f32> = (0..299).map(|i| dot(g.row(2 * i), g.row(2 * i + 2))).collect();
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        let sd = |v: &[f32]| (v.iter().map(|x| (x - mean(v)).powi(2)).sum::<f32>() / v.len() as f32).sqrt();
        assert!((0.74..0.82).contains(&mean(&same)), "genuine {}", mean(&same));
        assert!(
            (0.05..0.09).contains(&mean(&diff)) && (0.07..0.11).contains(&sd(&diff)),
            "{} {}",
            mean(&diff),
            sd(&diff)
        );
        // Strangers share the mean direction.
        let s = ids.strangers(50, 5);
        let mut rng = Rng::new(6);
        let cross: Vec<f32> = (0..50).map(|i| dot(&s.sample(i, &mut rng), g.row(i))).collect();
        assert!((0.03..0.11).contains(&mean(&cross)), "stranger {}", mean(&cross));
    }
}
