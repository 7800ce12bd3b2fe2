//! Visage: face detection, alignment and embedding (the `pipeline`), usable without HTTP.

pub mod bench;
pub mod calibrate;
pub mod cli;
pub mod config;
pub mod enroll;
pub mod error;
pub mod eval;
pub mod gallery;
pub mod http;
pub mod index;
pub mod pipeline;

pub use config::Settings;
pub use error::{Result, VisageError};
pub use pipeline::Pipeline;
