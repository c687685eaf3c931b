//! Storage hygiene: `fsck` (the database and the blob store agree) and the orphan cleaner.
//! (Retention GC of the design is not built yet.)

mod fsck;
mod orphans;

pub use fsck::{FsckReport, Problem, fsck};
pub use orphans::{OrphanReport, clean_orphans};
