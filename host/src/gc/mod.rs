//! Storage hygiene: `fsck` (the database and the blob store agree), the orphan cleaner and
//! retention GC (expired executions, then mark-and-sweep of commits and blobs).

mod fsck;
mod orphans;
mod policy;
mod retention;

pub use fsck::{FsckReport, Problem, fsck};
pub use orphans::{OrphanReport, clean_orphans};
pub use policy::{Keep, retained};
pub use retention::{GcReport, collect_garbage};
