//! Time travel's pure parts: which history stays live when an execution goes back to a
//! checkpoint ([`Rewind`]), and how two checkpoints differ ([`diff`]). The executor loads and
//! writes; nothing here does I/O.

pub mod diff;
mod rewind;

pub use diff::{Content, FileDiff, FileSide, StateDiff, TextChange, content_change};
pub use rewind::{AttemptFate, Rewind};
