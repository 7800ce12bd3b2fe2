//! Which instruction-set path the scan runs: chosen once per index, when it is created or
//! opened, as the best the processor has unless the settings force one it supports
//! (`index.scan.kernel`, or `VISAGE_INDEX__SCAN__KERNEL`), so that every path can be run and
//! tested on any machine that has it.

use serde::{Deserialize, Serialize};

/// A path of the scan's kernels, from the most portable to the fastest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernel {
    /// Portable code: every processor (aarch64 included).
    Scalar,
    /// AVX2 and FMA (x86-64 from Haswell and Zen 1): table look-ups for single queries, u8 × i8
    /// multiply-adds for batches.
    Avx2,
    /// AVX2 for single queries, AVX-512 F/BW/VNNI for batches (Ice Lake, Sapphire Rapids,
    /// Zen 4 and later).
    Avx512,
}

impl Kernel {
    pub const ALL: [Kernel; 3] = [Kernel::Scalar, Kernel::Avx2, Kernel::Avx512];

    pub fn name(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
        }
    }

    /// True when this processor can run the path.
    pub fn supported(self) -> bool {
        match self {
            Self::Scalar => true,
            Self::Avx2 => has_avx2(),
            Self::Avx512 => has_avx512(),
        }
    }

    /// The paths this processor can run, most portable first.
    pub fn available() -> Vec<Kernel> {
        Self::ALL.into_iter().filter(|k| k.supported()).collect()
    }

    /// The fastest path this processor has.
    pub fn best() -> Kernel {
        Self::ALL.into_iter().rev().find(|k| k.supported()).unwrap_or(Self::Scalar)
    }

    /// The forced path, when the processor has it, or else the best.
    pub fn resolve(forced: Option<Kernel>) -> Result<Kernel, String> {
        match forced {
            None => Ok(Self::best()),
            Some(k) if k.supported() => Ok(k),
            Some(k) => Err(format!(
                "index.scan.kernel = {:?}: this processor lacks the instructions it needs; it has {}",
                k.name(),
                Self::available().iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

impl std::fmt::Display for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Kernel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown scan kernel {s:?} (scalar, avx2 or avx512)"))
    }
}

/// AVX2 and FMA (checked once).
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// AVX-512 F, BW and VNNI, and AVX2 (checked once).
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            has_avx2()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vnni")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_what_the_processor_has() {
        assert!(Kernel::Scalar.supported());
        assert_eq!(Kernel::resolve(None), Ok(Kernel::best()));
        assert_eq!(Kernel::available().last(), Some(&Kernel::best()));
        for k in Kernel::ALL {
            assert_eq!(k.name().parse::<Kernel>(), Ok(k));
            match Kernel::resolve(Some(k)) {
                Ok(got) => assert!(k.supported() && got == k),
                Err(e) => assert!(!k.supported() && e.contains(k.name()) && e.contains("scalar"), "{e}"),
            }
        }
        assert!("sse".parse::<Kernel>().is_err());
    }
}
