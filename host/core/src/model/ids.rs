//! Typed ids: UUIDv7 newtypes, so an execution id can never be passed where a checkpoint id is
//! expected, and ids sort by creation time (which keeps pagination and B-trees cheap).

use uuid::Uuid;

/// An id string that is not a UUID.
#[derive(Debug, thiserror::Error)]
#[error("`{input}` is not a valid {what} id (expected a UUID)")]
pub struct IdParseError {
    /// Which kind of id was expected.
    pub what: &'static str,
    /// The text given.
    pub input: String,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID (from an [`IdGen`](crate::clock::IdGen) or the database).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            /// The UUID inside.
            pub const fn uuid(&self) -> Uuid {
                self.0
            }
        }

        /// In the API document: a UUID string.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::model::string_schema(Some(utoipa::openapi::KnownFormat::Uuid), None)
            }
        }
        impl utoipa::ToSchema for $name {}

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| IdParseError { what: $what, input: s.to_owned() })
            }
        }
    };
}

id_type!(
    /// Owner of executions, blobs and events; nothing crosses between tenants.
    TenantId, "tenant"
);
id_type!(
    /// A validated workflow manifest, stored content-hashed.
    WorkflowId, "workflow"
);
id_type!(
    /// One run of a workflow.
    ExecutionId, "execution"
);
id_type!(
    /// An immutable entry or exit checkpoint.
    CheckpointId, "checkpoint"
);
id_type!(
    /// An immutable snapshot of a workspace.
    FileCommitId, "file commit"
);
id_type!(
    /// An outbox event.
    EventId, "event"
);
id_type!(
    /// One node attempt: the pair of an entry and an exit checkpoint.
    BoundaryId, "node boundary"
);

id_type!(
    /// An API token (its id, never its secret).
    TokenId, "token"
);

id_type!(
    /// An experiment: a matrix of executions of one workflow.
    ExperimentId, "experiment"
);

impl TenantId {
    /// The tenant every single-user installation runs as; created by the first migration.
    pub const DEFAULT: Self = Self(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001));
}
