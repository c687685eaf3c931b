//! `/admin/...` (admin token): tenants, their quotas and their API tokens — what `wtb tenant`
//! and `wtb token` do, over HTTP.

use super::{Admin, AppState, Problem, body, id};
use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use wtb_core::model::{ApiToken, Quotas, Tenant, TokenId};
use wtb_store::db::Usage;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(quotas))
        .routes(routes!(tokens, create_token))
        .routes(routes!(revoke))
}

/// A tenant's quotas; absent: unlimited.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct QuotaBody {
    /// Executions running at once.
    max_concurrent: Option<u64>,
    /// Bytes stored (blobs, states, events, output).
    max_stored_bytes: Option<u64>,
    /// Node attempts in any hour.
    max_nodes_per_hour: Option<u64>,
    /// Node attempts running at once in one process.
    max_running_attempts: Option<u64>,
}

impl From<QuotaBody> for Quotas {
    fn from(q: QuotaBody) -> Self {
        Quotas {
            max_concurrent: q.max_concurrent,
            max_stored_bytes: q.max_stored_bytes,
            max_nodes_per_hour: q.max_nodes_per_hour,
            max_running_attempts: q.max_running_attempts,
        }
    }
}

/// `POST /admin/tenants` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    /// 1–64 of `a-z 0-9 _ -`.
    name: String,
    /// Its quotas.
    #[serde(default)]
    quotas: Option<QuotaBody>,
}

/// Every tenant with its usage now.
#[utoipa::path(get, path = "/admin/tenants", tag = "admin", responses((status = 200, description = "tenants with usage", body = TenantList), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list(Admin(host): Admin) -> Result<Json<TenantList>, Problem> {
    let all = host.tenancy().tenants().await?;
    Ok(Json(TenantList {
        tenants: all.into_iter().map(|(tenant, usage)| TenantUsage { tenant, usage }).collect(),
    }))
}

/// Every tenant.
#[derive(Serialize, ToSchema)]
struct TenantList {
    /// With what each uses now.
    tenants: Vec<TenantUsage>,
}

/// A tenant and what it uses, against its quotas.
#[derive(Serialize, ToSchema)]
struct TenantUsage {
    /// The tenant.
    tenant: Tenant,
    /// Its usage now.
    usage: Usage,
}

/// A tenant's tokens.
#[derive(Serialize, ToSchema)]
struct TokenList {
    /// Without their secrets.
    tokens: Vec<ApiToken>,
}

/// Creates a tenant (409 if the name is taken).
#[utoipa::path(post, path = "/admin/tenants", tag = "admin", request_body = NewTenant, responses((status = 201, description = "the tenant", body = Tenant), (status = 400, body = Problem), (status = 409, body = Problem)))]
async fn create(
    Admin(host): Admin,
    b: Result<Json<NewTenant>, JsonRejection>,
) -> Result<(StatusCode, Json<Tenant>), Problem> {
    let b = body(b)?;
    if !wtb_core::model::valid_tenant_name(&b.name) {
        return Err(Problem::bad_field(
            "name",
            format!("`{}` is not a valid tenant name (1-64 of a-z 0-9 _ -)", b.name),
        ));
    }
    let t = host.tenancy().create_tenant(&b.name, b.quotas.unwrap_or_default().into()).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Replaces a tenant's quotas.
#[utoipa::path(put, path = "/admin/tenants/{name}/quotas", tag = "admin", params(("name" = String, Path, description = "tenant name")), request_body = QuotaBody,
    responses((status = 200, description = "the tenant", body = Tenant), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn quotas(
    Admin(host): Admin,
    Path(name): Path<String>,
    b: Result<Json<QuotaBody>, JsonRejection>,
) -> Result<Json<Tenant>, Problem> {
    let q = body(b)?;
    Ok(Json(host.tenancy().set_quotas(&name, q.into()).await?))
}

/// A tenant's tokens (never their secrets).
#[utoipa::path(get, path = "/admin/tenants/{name}/tokens", tag = "admin", params(("name" = String, Path, description = "tenant name")),
    responses((status = 200, description = "the tokens", body = TokenList), (status = 404, body = Problem)))]
async fn tokens(Admin(host): Admin, Path(name): Path<String>) -> Result<Json<TokenList>, Problem> {
    let t = host.tenancy().tenant_named(&name).await?;
    Ok(Json(TokenList { tokens: host.for_tenant(t.id).tenancy().tokens().await? }))
}

/// `POST /admin/tenants/{name}/tokens` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTokenBody {
    /// A label (1–128 characters).
    name: String,
}

/// A new token: its secret appears in this response only.
#[derive(Serialize, ToSchema)]
struct CreatedToken {
    /// The token's id (to revoke it).
    id: TokenId,
    /// `wtb_` and 64 hex digits: send as `Authorization: Bearer <secret>`.
    #[schema(pattern = "^wtb_[0-9a-f]{64}$")]
    secret: String,
}

/// Creates an API token for a tenant.
#[utoipa::path(post, path = "/admin/tenants/{name}/tokens", tag = "admin", params(("name" = String, Path, description = "tenant name")), request_body = NewTokenBody,
    responses((status = 201, body = CreatedToken), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn create_token(
    Admin(host): Admin,
    Path(name): Path<String>,
    b: Result<Json<NewTokenBody>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedToken>), Problem> {
    let b = body(b)?;
    if !wtb_core::model::valid_token_name(&b.name) {
        return Err(Problem::bad_field("name", "a token name must be 1-128 characters"));
    }
    let t = host.tenancy().tenant_named(&name).await?;
    let new = host.for_tenant(t.id).tenancy().create_token(&b.name).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { id: new.token.id, secret: new.secret })))
}

/// Revokes a tenant's token: it authenticates nobody from now on.
#[utoipa::path(delete, path = "/admin/tenants/{name}/tokens/{token}", tag = "admin", params(("name" = String, Path, description = "tenant name"), ("token" = String, Path, description = "token id")),
    responses((status = 204), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn revoke(
    Admin(host): Admin,
    Path((name, token)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let token: TokenId = id("token", &token)?;
    let t = host.tenancy().tenant_named(&name).await?;
    host.for_tenant(t.id).tenancy().revoke_token(token).await?;
    Ok(StatusCode::NO_CONTENT)
}
