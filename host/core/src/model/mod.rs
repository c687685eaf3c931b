//! The domain model: typed ids and the records WTB persists.
//!
//! Serde only; no I/O. Every type here has a table in `migrations/sqlite/` and a round-trip test
//! through it in `tests/all/roundtrip.rs`, so the schema cannot drift from the model.

mod boundary;
mod checkpoint;
mod digest;
mod event;
mod execution;
mod files;
mod ids;
mod state_chain;
mod state_patch;
mod tenant;
mod time;
mod touched;
mod tree;
mod tree_diff;

pub use boundary::{AttemptStatus, NodeBoundary, TrapKind};
pub use checkpoint::{Checkpoint, CheckpointKind};
pub use digest::{Digest, DigestParseError};
pub use event::{EventKind, OutboxEvent};
pub use execution::{
    CellTag, Environment, Execution, ExecutionStatus, IllegalTransition, Transition, WorkflowRecord,
};
pub use files::{
    BlobRecord, ChangeKind, EntryKind, FileChange, FileCommit, FileEntry, FileTree, SNAPSHOT_INTERVAL_MAX,
    SNAPSHOT_INTERVAL_MIN,
};
pub use ids::{
    BoundaryId, CheckpointId, EventId, ExecutionId, ExperimentId, FileCommitId, IdParseError, TenantId,
    TokenId, WorkflowId,
};
pub use state_chain::{STATE_CHAIN_MAX, StateChain, StateLink, StoredState, apply_state_patch};
pub use state_patch::state_patch;
pub use tenant::{ApiToken, Quotas, Tenant, valid_tenant_name, valid_token_name};
pub use time::Timestamp;
pub use touched::{Touched, is_under, join as join_path};
pub use tree::{TreeError, check_tree, is_plain_path};
pub use tree_diff::{FileConflict, apply_changes, diff_trees, merge_trees};

/// A string's schema in the API document, with its `format` and `pattern`.
#[doc(hidden)]
pub fn string_schema(
    format: Option<utoipa::openapi::KnownFormat>,
    pattern: Option<&str>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::{ObjectBuilder, SchemaFormat, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(format.map(SchemaFormat::KnownFormat))
        .pattern(pattern)
        .into()
}

/// A string stored in the database did not name a known enum variant.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownVariant {
    /// Which enum.
    pub what: &'static str,
    /// The text found.
    pub value: String,
}

/// Implements `as_str` / `FromStr` for a fieldless enum stored as text.
#[macro_export]
#[doc(hidden)]
macro_rules! text_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The stable text stored in the database and shown to users.
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
        impl std::str::FromStr for $ty {
            type Err = $crate::model::UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::model::UnknownVariant { what: $what, value: s.to_owned() }),
                }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
#[doc(hidden)]
pub use text_enum;
