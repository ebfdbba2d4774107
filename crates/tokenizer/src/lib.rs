//! Turns a [`graph_ir::Graph`] into per-node feature tokens and a symmetric
//! adjacency, the input of the NAR-Former V2 models.
//!
//! - [`cell`]: the 128-dim cell tokenizer (reference `predictor/data_process/data_and_encoding_generate.py`).
//! - [`network`]: the whole-network tokenizer (reference `predictor/feature/`), 152 dims with the
//!   reference vocabulary, 184 with the extended one.
//! - [`encoding`]: the sinusoidal scalar encodings shared by the tokenizers.

pub mod cell;
pub mod encoding;
pub mod network;
mod tokens;

pub use cell::{CellTokenizer, CellVocab, TokenizeError};
pub use network::{CompactTokens, NetworkTokenizer, NetworkVocab};
pub use tokens::GraphTokens;
