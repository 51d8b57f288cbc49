//! Resource-owner password login of standalone Orchestrator, `POST /api/Account/Authenticate`
//! (and Automation Suite's back-compat `/{org}/{tenant}/api/account/authenticate`).
//!
//! Answers in Orchestrator's ABP envelope. The token acts with the user's full permissions
//! (pseudo-scope `*`), is bound to the tenant logged into, lives `ropc_token_ttl_secs`
//! (30 minutes) and cannot be refreshed: clients log in again. Failures say only
//! "Login failed!", never which of user, tenant or password was wrong.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::tokens::constant_time_eq;
use super::Identity;
use crate::auth::{Principal, PrincipalKind};

/// The tenant ABP logs into when the body names none.
const DEFAULT_TENANCY: &str = "Default";

/// `POST /api/Account/Authenticate` (standalone Orchestrator).
pub(crate) async fn authenticate(State(id): State<Arc<Identity>>, body: Bytes) -> Response {
    handle(&id, None, &body)
}

/// `POST /{org}/{tenant}/api/account/authenticate` (Automation Suite back-compat).
pub(crate) async fn authenticate_in_tenant(
    State(id): State<Arc<Identity>>,
    Path((org, tenant)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    handle(&id, Some((&org, &tenant)), &body)
}

fn handle(id: &Identity, path: Option<(&str, &str)>, body: &[u8]) -> Response {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return invalid_request(id, "The request body must be a JSON object.");
    };
    let (Some(username), Some(password)) = (
        field(&fields, "UsernameOrEmailAddress"),
        field(&fields, "Password"),
    ) else {
        return invalid_request(id, "UsernameOrEmailAddress and Password are required.");
    };
    let tenancy = field(&fields, "TenancyName")
        .or(path.map(|(_, tenant)| tenant))
        .unwrap_or(DEFAULT_TENANCY);
    let path_matches = path.is_none_or(|(_, tenant)| tenancy.eq_ignore_ascii_case(tenant));
    let user = id.config.users.iter().find(|u| {
        u.username.eq_ignore_ascii_case(username)
            && u.tenant.eq_ignore_ascii_case(tenancy)
            && path.is_none_or(|(org, _)| u.org.eq_ignore_ascii_case(org))
            && constant_time_eq(u.password.as_bytes(), password.as_bytes())
    });
    let Some(user) = user.filter(|_| path_matches) else {
        id.stats.token_error("invalid_grant");
        tracing::debug!(tenancy, "ropc login failed");
        let error = json!({
            "code": 0,
            "message": "Login failed!",
            "details": "Invalid user name or password",
            "validationErrors": null,
        });
        return envelope(StatusCode::BAD_REQUEST, Value::Null, error);
    };
    let principal = Principal {
        kind: PrincipalKind::User,
        client_id: None,
        user: Some(user.username.clone()),
        org: Some(user.org.clone()),
        tenant: Some(user.tenant.clone()),
        scopes: BTreeSet::from(["*".to_owned()]),
        folders: user.folders.clone(),
    };
    let now = Instant::now();
    let token = id.mint_access(
        &mut id.lock(),
        principal,
        id.config.ropc_token_ttl_secs,
        None,
        now,
    );
    id.stats.token_grant("password");
    tracing::debug!(user = %user.username, tenant = %user.tenant, "ropc login");
    envelope(StatusCode::OK, Value::String(token), Value::Null)
}

/// A body field, matched case-insensitively as ASP.NET model binding does.
fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
        .filter(|s| !s.is_empty())
}

fn invalid_request(id: &Identity, details: &'static str) -> Response {
    id.stats.token_error("invalid_request");
    let error = json!({ "code": 0, "message": "Your request is not valid!", "details": details, "validationErrors": null });
    envelope(StatusCode::BAD_REQUEST, Value::Null, error)
}

/// Orchestrator's ABP response envelope.
fn envelope(status: StatusCode, result: Value, error: Value) -> Response {
    let success = error.is_null();
    let body = json!({
        "result": result,
        "targetUrl": null,
        "success": success,
        "error": error,
        "unAuthorizedRequest": false,
        "__abp": true,
    });
    (status, Json(body)).into_response()
}
