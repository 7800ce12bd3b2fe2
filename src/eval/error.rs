//! Errors of the evaluation library.

use thiserror::Error;

/// Why an evaluation (or a parse) could not be done at all. Data that is merely too small for one
/// figure is not an error: that figure is `null` in the report, with a `reason`.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EvalError {
    /// No samples were given.
    #[error("no samples to evaluate")]
    Empty,
    /// A vector's length differs from the first sample's.
    #[error("{what} {index} has {got} dimensions, expected {expected}")]
    Dimension {
        /// `"sample"` or `"distractor"`.
        what: &'static str,
        /// Its index.
        index: usize,
        /// The first sample's dimension.
        expected: usize,
        /// Its dimension.
        got: usize,
    },
    /// A vector is empty or has a NaN or infinite component.
    #[error("{what} {index} has an empty or non-finite vector")]
    BadVector {
        /// `"sample"` or `"distractor"`.
        what: &'static str,
        /// Its index.
        index: usize,
    },
    /// An option is out of range.
    #[error("invalid option: {0}")]
    Option(String),
    /// An explicit pair refers to a sample that does not exist.
    #[error("pair {pair} refers to sample {sample}, but there are {len} samples")]
    PairIndex {
        /// Index of the pair.
        pair: usize,
        /// The sample index out of range.
        sample: usize,
        /// Number of samples.
        len: usize,
    },
    /// The distractors could not be read, or the index refused them.
    #[error("distractors: {0}")]
    Distractors(String),
    /// A malformed line in a pairs file.
    #[error("pairs file line {line}: {message}")]
    Pairs {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}
