//! Error bodies in the shapes UiPath serves, so clients are tested against the real
//! envelopes: Orchestrator's `{"message","errorCode","traceId"}`, the identity-style scope
//! error, and a bare 401 with `WWW-Authenticate`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

static TRACE: AtomicU64 = AtomicU64::new(1);

/// A W3C trace id like the ones Orchestrator returns (`00-<32 hex>-<16 hex>-00`).
fn trace_id() -> String {
    let n = TRACE.fetch_add(1, Ordering::Relaxed);
    format!("00-{:032x}-{:016x}-00", u128::from(n) * 0x9E37_79B9, n)
}

/// Orchestrator's business-error envelope.
pub fn odata_error(status: StatusCode, message: &str, error_code: i64) -> Response {
    (
        status,
        axum::Json(json!({
            "message": message,
            "errorCode": error_code,
            "traceId": trace_id(),
        })),
    )
        .into_response()
}

/// 403 for a token that lacks the entity's scope, in the identity server's words.
pub fn scope_error(family: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({
            "errorMessage": format!(
                "Scope(s) is(are) invalid. Expect to have '{family}' or '{family}.Read'."
            ),
        })),
    )
        .into_response()
}

/// 401 with the reason in `WWW-Authenticate` (never the token itself).
pub fn unauthorized(reason: &str) -> Response {
    let challenge = format!(
        "Bearer error=\"invalid_token\", error_description=\"{}\"",
        reason.replace('"', "'")
    );
    let mut resp = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = challenge.parse() {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}
