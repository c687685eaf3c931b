//! Tenants and their API tokens: creating tenants and setting their quotas, issuing, listing
//! and revoking tokens, and mapping a token to the tenant it acts for. Every other operation
//! of an [`Executor`] acts for the one tenant it was opened or scoped for
//! ([`Executor::for_tenant`]).
//!
//! A sibling of the execution protocol, not part of it: its context is narrow (the database,
//! the clock, the id source, through the executor's accessors) and its errors are its own, so
//! a caller tells a taken name from a bad token without the protocol's errors in the way.
//! Quotas are set here and enforced by the executor (`executor/quota.rs`).

use crate::executor::Executor;
use sha2::{Digest as _, Sha256};
use wtb_core::model::{ApiToken, Quotas, Tenant, TenantId, TokenId, valid_tenant_name, valid_token_name};
use wtb_store::db::{self, DbError, UnitOfWork, Write, WriteError};

/// Why a tenancy operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    /// Not 1-64 of `a-z 0-9 _ -`.
    #[error("`{0}` is not a valid tenant name (1-64 of a-z 0-9 _ -)")]
    InvalidTenantName(String),
    /// The name is taken.
    #[error("a tenant named `{0}` already exists")]
    TenantExists(String),
    /// No tenant has this name.
    #[error("no tenant named `{0}` (see `wtb tenant list`)")]
    UnknownTenant(String),
    /// A token name must be 1-128 characters.
    #[error("a token name must be 1-128 characters")]
    InvalidTokenName,
    /// The tenant has no live token with this id (another tenant's is as unknown).
    #[error("no live token {0} for this tenant")]
    NoSuchToken(TokenId),
    /// An API token that is malformed, unknown or revoked: one error for all three, so a guess
    /// learns nothing.
    #[error("the API token is not valid (unknown, malformed or revoked)")]
    BadToken,
    /// The OS gave no randomness for a secret.
    #[error("reading OS randomness for a token: {0}")]
    Randomness(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The database failed to commit a change.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Tenancy operations of a host (see the module doc); from [`Executor::tenancy`].
pub struct Tenancy<'a> {
    exec: &'a Executor,
}

impl Executor {
    /// Tenants and tokens: the tenant-creating and token-mapping operations, apart from the
    /// protocol.
    pub fn tenancy(&self) -> Tenancy<'_> {
        Tenancy { exec: self }
    }
}

/// Secrets start with this, so a leaked one is recognisable (e.g. by secret scanners).
const TOKEN_PREFIX: &str = "wtb_";

/// A token as created: the only time its secret exists outside its holder.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NewToken {
    /// The stored part.
    pub token: ApiToken,
    /// `wtb_` and 64 hex digits (256 random bits).
    pub secret: String,
}

/// SHA-256 of a secret, hex: all that is stored.
pub(crate) fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Tenancy<'_> {
    /// Creates a tenant.
    pub async fn create_tenant(&self, name: &str, quotas: Quotas) -> Result<Tenant, TenancyError> {
        if !valid_tenant_name(name) {
            return Err(TenancyError::InvalidTenantName(name.to_owned()));
        }
        if self.exec.database().tenants().get_by_name(name).await?.is_some() {
            return Err(TenancyError::TenantExists(name.to_owned()));
        }
        let tenant = Tenant {
            id: TenantId::from_uuid(self.exec.ids().next()),
            name: name.to_owned(),
            created_at: self.exec.clock().now(),
            quotas,
        };
        self.exec.database().write(UnitOfWork::one(Write::Tenant(tenant.clone()))).await?;
        Ok(tenant)
    }

    /// Replaces a tenant's quotas.
    pub async fn set_quotas(&self, name: &str, quotas: Quotas) -> Result<Tenant, TenancyError> {
        let tenant = self.tenant_named(name).await?;
        self.exec.database().tenants().set_quotas(tenant.id, &quotas).await?;
        Ok(Tenant { quotas, ..tenant })
    }

    /// Every tenant, by name.
    pub async fn list(&self) -> Result<Vec<Tenant>, TenancyError> {
        Ok(self.exec.database().tenants().list().await?)
    }

    /// Every tenant with its usage now.
    pub async fn tenants(&self) -> Result<Vec<(Tenant, db::Usage)>, TenancyError> {
        let since = crate::executor::hour_before(self.exec.clock().now());
        let mut out = Vec::new();
        for t in self.exec.database().tenants().list().await? {
            let usage = self.exec.database().tenants().usage(t.id, since).await?;
            out.push((t, usage));
        }
        Ok(out)
    }

    /// The tenant called `name`, or [`TenancyError::UnknownTenant`].
    pub async fn tenant_named(&self, name: &str) -> Result<Tenant, TenancyError> {
        self.exec
            .database()
            .tenants()
            .get_by_name(name)
            .await?
            .ok_or_else(|| TenancyError::UnknownTenant(name.to_owned()))
    }

    /// Creates a token for this executor's tenant. The secret is in the result and nowhere
    /// else: show it once.
    pub async fn create_token(&self, name: &str) -> Result<NewToken, TenancyError> {
        if !valid_token_name(name) {
            return Err(TenancyError::InvalidTokenName);
        }
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| TenancyError::Randomness(e.to_string()))?;
        let secret = format!("{TOKEN_PREFIX}{}", hex::encode(random));
        let token = ApiToken {
            id: TokenId::from_uuid(self.exec.ids().next()),
            tenant: self.exec.tenant(),
            name: name.to_owned(),
            created_at: self.exec.clock().now(),
            revoked_at: None,
        };
        let hash = token_hash(&secret);
        self.exec.database().write(UnitOfWork::one(Write::Token { token: token.clone(), hash })).await?;
        Ok(NewToken { token, secret })
    }

    /// Revokes one of this tenant's tokens (another tenant's is as unknown as a made-up id).
    pub async fn revoke_token(&self, id: TokenId) -> Result<(), TenancyError> {
        match self
            .exec
            .database()
            .tenants()
            .revoke_token(self.exec.tenant(), id, self.exec.clock().now())
            .await?
        {
            true => Ok(()),
            false => Err(TenancyError::NoSuchToken(id)),
        }
    }

    /// This tenant's tokens (never their secrets).
    pub async fn tokens(&self) -> Result<Vec<ApiToken>, TenancyError> {
        Ok(self.exec.database().tenants().list_tokens(self.exec.tenant()).await?)
    }

    /// The tenant a secret acts for: this host scoped to it, or [`TenancyError::BadToken`] for an
    /// unknown, malformed or revoked one (the same error, so a guess learns nothing).
    pub async fn authenticate(&self, secret: &str) -> Result<Executor, TenancyError> {
        let secret = secret.trim();
        if !secret.starts_with(TOKEN_PREFIX) {
            return Err(TenancyError::BadToken);
        }
        match self.exec.database().tenants().token_by_hash(&token_hash(secret)).await? {
            Some(t) if t.revoked_at.is_none() => Ok(self.exec.for_tenant(t.tenant)),
            _ => Err(TenancyError::BadToken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_hash_stably() {
        assert_eq!(token_hash("wtb_x"), token_hash("wtb_x"));
        assert_ne!(token_hash("wtb_x"), token_hash("wtb_y"));
        assert_eq!(token_hash("a").len(), 64);
    }
}
