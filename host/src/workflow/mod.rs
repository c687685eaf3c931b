//! What runs: the workflow manifest, its validation and the state merge. Pure: no I/O.
//!
//! Reading the file and resolving components happens in [`crate::executor::load`]; this module
//! only turns text into a validated [`Manifest`] or an error that names file, line and field.

mod error;
mod manifest;
mod state;

pub use error::{ManifestError, Position};
pub use manifest::{Manifest, NodeLimits, NodeSpec};
pub use state::{UpdateError, merge_update, parse_update};
