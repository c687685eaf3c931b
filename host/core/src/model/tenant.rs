//! Tenants: owners of executions, blobs and events, with quotas and API tokens.

use super::ids::{TenantId, TokenId};
use super::time::Timestamp;

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Unique name: 1–64 of `a-z 0-9 _ -`.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its limits.
    pub quotas: Quotas,
}

/// A tenant's limits; `None`: unlimited.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Quotas {
    /// Executions running at once.
    pub max_concurrent: Option<u64>,
    /// Bytes stored: blobs (file contents and components), checkpoint states, events and
    /// captured output. Checked at start and resume, and at each exit.
    pub max_stored_bytes: Option<u64>,
    /// Node attempts started in any hour.
    pub max_nodes_per_hour: Option<u64>,
    /// Node attempts running at once in one process (below the host's
    /// `attempt_slots_per_tenant`), so a tenant's queue cannot hold every slot.
    #[serde(default)]
    pub max_running_attempts: Option<u64>,
}

/// An API token: its secret is shown once and stored only as a SHA-256 hash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    /// Its id (what `wtb token revoke` takes).
    pub id: TokenId,
    /// The tenant it acts for.
    pub tenant: TenantId,
    /// A label.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked; a revoked token authenticates nobody.
    pub revoked_at: Option<Timestamp>,
}

/// Whether `name` can label an API token (1-128 characters, not blank).
pub fn valid_token_name(name: &str) -> bool {
    !name.trim().is_empty() && name.len() <= 128
}

/// Whether `name` can name a tenant.
pub fn valid_tenant_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
