//! The memory floor: how fast this machine reads memory, on one core and on all, and how many
//! bytes one scan query streams, so that a search's time reads as a multiple of the least it
//! could take here (and one machine's figures can be set beside another's).

use std::time::Instant;

use rayon::prelude::*;

/// Bytes read per measurement: far past any cache.
const BYTES: usize = 1 << 30;

/// Read bandwidth in bytes per second.
#[derive(Debug, Clone, Copy)]
pub struct Bandwidth {
    pub one_core: f64,
    pub all_cores: f64,
}

impl Bandwidth {
    /// The best of three reads of 1 GiB, on one thread and on every thread of rayon's pool.
    pub fn measure() -> Self {
        let words = vec![1u64; BYTES / 8];
        let best = |f: &dyn Fn() -> u64| {
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(f());
                    BYTES as f64 / t.elapsed().as_secs_f64()
                })
                .fold(0.0, f64::max)
        };
        let one_core = best(&|| sum(&words));
        let share = words.len().div_ceil(rayon::current_num_threads());
        let all_cores = best(&|| words.par_chunks(share).map(sum).sum());
        Self { one_core, all_cores }
    }
}

/// A sum the compiler vectorises: four independent lanes of wrapping adds.
fn sum(words: &[u64]) -> u64 {
    let mut acc = [0u64; 4];
    for c in words.chunks_exact(4) {
        for (a, w) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(*w);
        }
    }
    acc.iter().fold(0, |s, a| s.wrapping_add(*a))
}

/// Bytes one single-query scan streams from memory at `n` vectors of padded dimension `dp`:
/// identification reads the sign codes and factor bytes; a top-k scan, in which nearly every
/// block passes, also reads the second plane, gains and spreads. (The few int8 codes and
/// vectors looked at twice are left out.)
pub fn streamed(n: usize, dp: usize) -> (f64, f64) {
    let sign = (dp / 8 + 1) as f64;
    let second = (dp / 8 + 4 + 1) as f64;
    (n as f64 * sign, n as f64 * (sign + second))
}
