//! The local system, written once for every crate: durable file writes
//! ([`write_atomic`]: temporary file, fsync, rename, fsync of the directory),
//! JSON documents ([`write_json`], [`read_json`]), the progress bar of long
//! work ([`progress_bar`]), the machine's description and activity
//! ([`machine`]), and where the ONNX Runtime library is set up ([`onnxruntime`]).

mod files;
pub mod machine;
pub mod onnxruntime;
mod progress;

pub use files::{FileError, read_json, write_atomic, write_json};
pub use progress::progress_bar;
