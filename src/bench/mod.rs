//! Benchmarks that print figures (`visage bench ...`): each reports a baseline measured in the
//! same run, so results are ratios, comparable across machines.

mod enroll;
mod pipeline;
mod service;

pub use enroll::enroll;
pub use pipeline::{median_ms, pipeline};
pub use service::{service, ServiceOptions};
