//! Storage hygiene: `fsck` (the database and the blob store agree), the orphan cleaner and
//! retention GC (expired executions, then mark-and-sweep of commits and blobs).

mod fsck;
mod orphans;
mod retention;

pub use fsck::{FsckReport, Problem, fsck};
pub use orphans::{OrphanReport, clean_orphans};
pub use retention::{GcReport, collect_garbage};
pub use wtb_core::retention::{Keep, retained};
