//! Visage: face detection, alignment and embedding (the `pipeline`), a gallery and its use
//! cases (the `service` engine), usable without HTTP; `http` and `cli` are the doors.

pub mod bench;
pub mod calibrate;
pub mod cli;
pub mod config;
mod config_list;
pub mod enroll;
pub mod error;
pub mod eval;
#[cfg(feature = "testing")]
pub mod fuzzing;
pub mod gallery;
pub mod http;
pub mod index;
pub mod pipeline;
pub mod service;
pub mod synth;

pub use config::Settings;
pub use error::{Result, VisageError};
pub use pipeline::Pipeline;
pub use service::Engine;
