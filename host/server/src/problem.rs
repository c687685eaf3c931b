//! RFC 9457 problem details: every API error is `application/problem+json` with the status, a
//! title, a precise detail and, for bad input, the field — never a 500 for a user's mistake.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wtb_engine::executor::ExecError;
use wtb_engine::experiments::ExperimentError;
use wtb_engine::tenancy::TenancyError;
use wtb_engine::travel::TravelError;

/// An API error.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The status's short name.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What exactly is wrong.
    pub detail: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    /// A problem with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
        }
    }

    /// A 400 about one field.
    pub fn bad_field(field: &str, detail: impl Into<String>) -> Self {
        Self { field: Some(field.to_owned()), ..Self::new(StatusCode::BAD_REQUEST, detail) }
    }

    /// The 401 every unauthenticated request gets.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&self)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<TravelError> for Problem {
    fn from(e: TravelError) -> Self {
        match e {
            TravelError::Exec(e) => e.into(),
            // What the request asked cannot be done to this history as it stands.
            refused => Self::new(StatusCode::CONFLICT, refused.to_string()),
        }
    }
}

impl From<ExperimentError> for Problem {
    fn from(e: ExperimentError) -> Self {
        let status = match e {
            ExperimentError::Exec(e) => return e.into(),
            ExperimentError::Fork(e) => return e.into(),
            ExperimentError::Unknown(_) => StatusCode::NOT_FOUND,
            ExperimentError::Load(_)
            | ExperimentError::BadFrom { .. }
            | ExperimentError::BadFixture { .. } => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.to_string())
    }
}

impl From<TenancyError> for Problem {
    fn from(e: TenancyError) -> Self {
        let status = match &e {
            TenancyError::InvalidTenantName(_) | TenancyError::InvalidTokenName => StatusCode::BAD_REQUEST,
            TenancyError::TenantExists(_) => StatusCode::CONFLICT,
            TenancyError::UnknownTenant(_) | TenancyError::NoSuchToken(_) => StatusCode::NOT_FOUND,
            TenancyError::BadToken => StatusCode::UNAUTHORIZED,
            TenancyError::Randomness(_) | TenancyError::Db(_) | TenancyError::Write(_) => {
                tracing::error!("api: {e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self::new(status, e.to_string())
    }
}

impl From<ExecError> for Problem {
    fn from(e: ExecError) -> Self {
        let status = match &e {
            ExecError::UnknownExecution(_)
            | ExecError::UnknownCheckpoint(_)
            | ExecError::UnknownWorkflow(_)
            | ExecError::UnknownEvent(_)
            | ExecError::NoFile { .. }
            | ExecError::NotAFile { .. } => StatusCode::NOT_FOUND,
            ExecError::Quota { .. } => StatusCode::TOO_MANY_REQUESTS,
            ExecError::Busy { .. }
            | ExecError::Illegal(_)
            | ExecError::NotEmpty(_)
            | ExecError::Superseded { .. }
            | ExecError::NothingDead(_)
            | ExecError::LeaseLost => StatusCode::CONFLICT,
            ExecError::InvalidState(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ExecError::Db(_)
            | ExecError::Workspace { .. }
            | ExecError::Io { .. }
            | ExecError::Injected(_)
            | ExecError::Task(_)
            | ExecError::StoredWorkflow(_)
            | ExecError::LeaseExpired => {
                tracing::error!("api: {e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self::new(status, e.to_string())
    }
}
