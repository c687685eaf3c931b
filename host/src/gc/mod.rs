//! Storage hygiene. So far: `fsck`, which checks that the database and the blob store agree.
//! (The orphan cleaner and retention GC of the design are not built yet.)

mod fsck;

pub use fsck::{FsckReport, Problem, fsck};
