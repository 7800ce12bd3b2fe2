//! Benchmarks that print figures (`visage bench ...`): each reports a baseline measured in the
//! same run, so results are ratios, comparable across machines.

pub mod client;
mod crash;
mod enroll;
mod gallery;
mod import;
mod pipeline;
pub mod server;
mod service;
mod soak;

pub use crash::{crash, CrashOptions};
pub use enroll::enroll;
pub use gallery::{gallery, GalleryOptions};
pub use import::{import, ImportOptions};
pub use pipeline::pipeline;
pub use service::{service, ServiceOptions};
pub use soak::{soak, SoakOptions};
