//! Builders for the cells of NAS search spaces, and the relabelled twin used by
//! the consistency loss.

mod nb101;
mod nb101_space;
mod nb201;
mod twin;

pub use nb101::{NB101_MAX_VERTICES, Nb101Cell, Nb101Op};
pub use nb101_space::{
    BadModuleHash, ModuleHash, NB101_MAX_EDGES, NB101_SPACE_SIZE, enumerate_nb101, module_hash,
};
pub use nb201::{Nb201Cell, Nb201Op};
pub use twin::relabelled_twin;

use thiserror::Error;

/// Why a cell description was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CellError {
    #[error("malformed NAS-Bench-201 cell string {input:?}: {reason}")]
    Nb201 { input: String, reason: String },
    #[error("invalid NAS-Bench-101 cell: {reason}")]
    Nb101 { reason: String },
}
