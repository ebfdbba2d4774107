//! Turns a [`graph_ir::Graph`] into per-node feature tokens and a symmetric
//! adjacency, the input of the NAR-Former V2 models.
//!
//! - [`cell`]: the 128-dim cell tokenizer (SPEC section 3).
//! - [`encoding`]: the sinusoidal scalar encodings shared by the tokenizers.

pub mod cell;
pub mod encoding;
mod tokens;

pub use cell::{CellTokenizer, CellVocab, TokenizeError};
pub use tokens::GraphTokens;
