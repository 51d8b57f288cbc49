//! The HTTP API (axum). Routes, and the rules every route follows:
//!
//! - `/v1/*` needs `Authorization: Bearer <api_token>` when a token is configured (401
//!   otherwise, with `WWW-Authenticate`); `/healthz`, `/readyz` and `/metrics` are open
//!   so probes and scrapers need no secret.
//! - Errors are JSON `{"error": "...", "fields": [{"field", "message"}], "hint": "..."}`:
//!   400 for a body that is not JSON, 422 for fields that are wrong (each named), 404 for
//!   an unknown request, 502 when a UiPath source failed, 503 when the ledger or broker
//!   is unreachable, 413 for a body over [`MAX_BODY_BYTES`] (refused before it is parsed).
//!
//! | route                       | does                                               |
//! |-----------------------------|----------------------------------------------------|
//! | `POST /v1/backfills`        | submit a backfill (202 new with its `estimate`, 200 identical earlier); `?dry_run=true`: the estimate only, nothing stored |
//! | `POST /v1/syncs`            | submit a sync (201 new, 200 identical earlier)     |
//! | `GET /v1/requests`          | requests, newest first, with progress (`?limit=`)  |
//! | `GET /v1/requests/{id}`     | one request, progress, sync streams                |
//! | `DELETE /v1/requests/{id}`  | cancel                                             |
//! | `GET /v1/sources`           | configured sources (no secrets)                    |
//! | `GET /v1/datasets`          | datasets; `?source=` adds its Data Service entities|
//! | `POST /v1/preview`          | a few records of a dataset and range               |
//! | `GET /healthz` `/readyz` `/metrics` | liveness, readiness, Prometheus       |

mod handlers;
pub mod views;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fleet_core::plan::{FieldError, RequestError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::CoordinatorError;
use crate::service::Coordinator;

/// The largest request body the API reads. A request with a `select` of every field of
/// every dataset is a few dozen KiB; a body over this is refused (413) as it arrives,
/// before any of it is parsed.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The API's router over a coordinator.
pub fn router(coordinator: Coordinator) -> Router {
    let v1 = Router::new()
        .route("/v1/backfills", post(handlers::submit_backfill))
        .route("/v1/syncs", post(handlers::submit_sync))
        .route("/v1/requests", get(handlers::list_requests))
        .route(
            "/v1/requests/{id}",
            get(handlers::get_request).delete(handlers::cancel_request),
        )
        .route("/v1/sources", get(handlers::sources))
        .route("/v1/datasets", get(handlers::datasets))
        .route("/v1/preview", post(handlers::preview))
        .route_layer(middleware::from_fn_with_state(
            coordinator.clone(),
            require_token,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .merge(v1)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(handlers::readyz))
        .route("/metrics", get(handlers::metrics))
        .layer(middleware::from_fn_with_state(
            coordinator.clone(),
            count_calls,
        ))
        .with_state(coordinator)
}

/// 401 unless the request carries the configured bearer token. Digests are compared so
/// the comparison time does not depend on how much of the token matched.
async fn require_token(State(c): State<Coordinator>, request: Request, next: Next) -> Response {
    let Some(expected) = &c.config().api_token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    let ok = given.is_some_and(|g| {
        Sha256::digest(g.as_bytes()) == Sha256::digest(expected.expose().as_bytes())
    });
    if ok {
        return next.run(request).await;
    }
    let mut response = ApiError {
        status: StatusCode::UNAUTHORIZED,
        error: "missing or wrong bearer token: send `Authorization: Bearer <api token>`".into(),
        fields: Vec::new(),
        hint: None,
    }
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"uipath-fleet\""),
    );
    response
}

/// The credentials of an `Authorization: Bearer <token>` value. The scheme is
/// case-insensitive (RFC 9110 §11.1: `bearer`, `BEARER` are the same scheme).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Count every call by route template (never the raw path: ids would explode the label
/// set) and status.
async fn count_calls(State(c): State<Coordinator>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    c.metrics()
        .api_requests
        .with_label_values(&[route.as_str(), response.status().as_str()])
        .inc();
    response
}

/// An error answer: the status, and as JSON what went wrong, each wrong field and what
/// to do. The server builds it; the client ([`crate::remote`]) decodes it (the status
/// from the response) and shows it with [`std::fmt::Display`], naming each field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.status {
            StatusCode::UNAUTHORIZED => "the coordinator refused the API token (401)",
            StatusCode::NOT_FOUND => "not found (404)",
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
                "the coordinator rejected the request"
            }
            StatusCode::BAD_GATEWAY => "a UiPath source failed (502)",
            StatusCode::SERVICE_UNAVAILABLE => {
                "the coordinator cannot reach RabbitMQ or Redis (503)"
            }
            _ => "the coordinator answered with an error",
        };
        write!(f, "{what}: {}", self.error)?;
        for field in &self.fields {
            write!(f, "\n  {}: {}", field.field, field.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        } else if self.status == StatusCode::UNAUTHORIZED {
            write!(
                f,
                "\n  hint: pass the coordinator's token with --api-token, UIPATH_FLEET_API_TOKEN or coordinator.api_token"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

impl From<CoordinatorError> for ApiError {
    fn from(e: CoordinatorError) -> ApiError {
        let e = e.for_api();
        let (status, fields, hint) = match &e {
            CoordinatorError::Request(RequestError::Syntax(_)) => {
                (StatusCode::BAD_REQUEST, Vec::new(), None)
            }
            CoordinatorError::Request(RequestError::Fields(f)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, f.clone(), None)
            }
            CoordinatorError::NotFound(_) => (StatusCode::NOT_FOUND, Vec::new(), None),
            CoordinatorError::Source { hint, .. } => {
                (StatusCode::BAD_GATEWAY, Vec::new(), hint.clone())
            }
            CoordinatorError::Ledger(_) | CoordinatorError::Broker(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, Vec::new(), None)
            }
            // `for_api` left no planning variant; they are listed for the match only.
            CoordinatorError::Config(_)
            | CoordinatorError::Io(_)
            | CoordinatorError::Planning { .. }
            | CoordinatorError::Invalid(_)
            | CoordinatorError::Busy(_) => (StatusCode::INTERNAL_SERVER_ERROR, Vec::new(), None),
        };
        let error = match &e {
            CoordinatorError::Request(RequestError::Fields(_)) => "invalid request".to_owned(),
            other => other.to_string(),
        };
        ApiError {
            status,
            error,
            fields,
            hint,
        }
    }
}
