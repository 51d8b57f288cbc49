//! `POST /oauth/token`: the legacy "API access" User Key exchange, standing in for
//! `https://account.uipath.com/oauth/token` (docs/credentials.md has the sources).
//!
//! Request: a JSON body `{"grant_type": "refresh_token", "client_id": <the fixed
//! Orchestrator client id>, "refresh_token": <User Key>}` and the header
//! `X-UIPATH-TenantName: <tenant logical name>`. Answer: an access token that lives
//! `user_key_token_ttl_secs` (24 h by default), carries the user's rights rather than
//! scopes (the pseudo-scope `*`: every Orchestrator endpoint of that tenant accepts it)
//! and no new refresh token: the key does not rotate.
//!
//! Refusals, modelled on the Auth0 server behind account.uipath.com: an unknown or revoked
//! key is HTTP 403 `{"error": "invalid_grant", "error_description": "Unknown or invalid
//! refresh token."}`; a wrong client id is 401 `invalid_client`; a missing or foreign
//! tenant header is 400 `invalid_request`. No key ever appears in an answer or a log.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::error::no_store;
use super::tokens::constant_time_eq;
use super::Identity;
use crate::auth::{Principal, PrincipalKind};

/// What Auth0 answers for a refresh token it does not know (or no longer knows).
pub(crate) const UNKNOWN_KEY: &str = "Unknown or invalid refresh token.";

#[derive(Deserialize)]
struct Body {
    grant_type: Option<String>,
    client_id: Option<String>,
    refresh_token: Option<String>,
}

fn refuse(id: &Identity, status: StatusCode, error: &'static str, description: &str) -> Response {
    id.stats.token_error(error);
    tracing::debug!(error, "user key exchange refused");
    let mut response = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    no_store(&mut response);
    response
}

pub(crate) async fn token(
    State(id): State<Arc<Identity>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Body>(&body) else {
        return refuse(
            &id,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be JSON with grant_type, client_id and refresh_token",
        );
    };
    if body.grant_type.as_deref() != Some("refresh_token") {
        return refuse(
            &id,
            StatusCode::FORBIDDEN,
            "unsupported_grant_type",
            "grant_type must be refresh_token",
        );
    }
    if body.client_id.as_deref() != Some(id.config.user_key_client_id.as_str()) {
        return refuse(
            &id,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client",
        );
    }
    let presented = body.refresh_token.unwrap_or_default();
    let Some(key) = id
        .config
        .user_keys
        .iter()
        .find(|k| constant_time_eq(k.key.as_bytes(), presented.as_bytes()))
        .filter(|k| !id.user_key_revoked(&k.key))
    else {
        return refuse(&id, StatusCode::FORBIDDEN, "invalid_grant", UNKNOWN_KEY);
    };
    let tenant = headers
        .get("x-uipath-tenantname")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !tenant.eq_ignore_ascii_case(&key.tenant) {
        return refuse(
            &id,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "X-UIPATH-TenantName must name the tenant the key was issued for",
        );
    }
    let folders = id
        .config
        .user(&key.org, &key.user)
        .and_then(|u| u.folders.clone());
    let principal = Principal {
        kind: PrincipalKind::User,
        client_id: Some(id.config.user_key_client_id.clone()),
        user: Some(key.user.clone()),
        org: Some(key.org.clone()),
        tenant: Some(key.tenant.clone()),
        // The user's own rights, not scopes.
        scopes: BTreeSet::from(["*".to_owned()]),
        folders,
    };
    let ttl = id.config.user_key_token_ttl_secs;
    let access_token = id.mint_access(&mut id.lock(), principal, ttl, None, Instant::now());
    id.stats.token_grant("user_key");
    let mut response = Json(json!({
        "access_token": access_token,
        "scope": "openid profile email offline_access",
        "expires_in": ttl,
        "token_type": "Bearer",
    }))
    .into_response();
    no_store(&mut response);
    response
}
