//! `POST /identity_/connect/token`: reads the form body, authenticates the client and hands
//! the request to the grant named by `grant_type`.
//!
//! Guarantees: only `application/x-www-form-urlencoded` bodies are accepted (a JSON body,
//! the classic client mistake, is `invalid_request`); every outcome is counted in
//! [`crate::stats::Stats`] (grant type on success, error code on failure); logs carry the
//! grant type, client id and error code, never a credential.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::config::AppConfig;
use super::error::{no_store, ErrorCode, OAuthError};
use super::grants::{self, TokenResponse};
use super::params::Params;
use super::tokens::constant_time_eq;
use super::Identity;

/// `POST /identity_/connect/token` (and `/identity/connect/token` when standalone).
pub(crate) async fn token(
    State(id): State<Arc<Identity>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&id, None, &headers, &body)
}

/// `POST /{org}/identity_/connect/token`: the client must belong to `org`.
pub(crate) async fn token_in_org(
    State(id): State<Arc<Identity>>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&id, Some(&org), &headers, &body)
}

fn handle(id: &Identity, org: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Response {
    let form = match read_form(headers, body) {
        Ok(form) => form,
        Err(e) => return refuse(id, None, None, e),
    };
    let grant_type = form.get("grant_type");
    let client_id = form.get("client_id");
    match dispatch(id, org, headers, &form) {
        Ok((grant, body)) => {
            id.stats.token_grant(grant);
            tracing::debug!(grant_type = grant, client_id, "token granted");
            let mut response = Json(body).into_response();
            no_store(&mut response);
            response
        }
        Err(e) => refuse(id, grant_type, client_id, e),
    }
}

fn refuse(
    id: &Identity,
    grant_type: Option<&str>,
    client_id: Option<&str>,
    e: OAuthError,
) -> Response {
    id.stats.token_error(e.code.as_str());
    tracing::debug!(
        grant_type,
        client_id,
        error = e.code.as_str(),
        "token request refused"
    );
    e.into_response()
}

/// The grant named by `grant_type`, after client authentication. Returns the grant type
/// as counted in stats.
fn dispatch(
    id: &Identity,
    org: Option<&str>,
    headers: &HeaderMap,
    form: &Params,
) -> Result<(&'static str, TokenResponse), OAuthError> {
    type Grant = fn(&Identity, &AppConfig, &Params) -> Result<TokenResponse, OAuthError>;
    let (name, grant): (&'static str, Grant) = match form.get("grant_type") {
        Some("client_credentials") => ("client_credentials", grants::client_credentials),
        Some("authorization_code") => ("authorization_code", grants::authorization_code),
        Some("refresh_token") => ("refresh_token", grants::refresh_token),
        Some(_) => return Err(unsupported(UNSUPPORTED)),
        None => return Err(unsupported("grant_type is missing")),
    };
    if name == "client_credentials" {
        if let Some(machine) = form.get("client_id").and_then(|c| id.config.machine(c)) {
            return Ok(("client_credentials", grants::machine(id, machine, form)?));
        }
    }
    let app = authenticate_client(id, org, headers, form)?;
    Ok((name, grant(id, app, form)?))
}

const UNSUPPORTED: &str =
    "this grant_type is not supported; use client_credentials, authorization_code or refresh_token";

fn unsupported(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::UnsupportedGrantType, description)
}

/// Parses the body, insisting on the form encoding the OAuth spec requires.
fn read_form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match content_type.as_deref() {
        Some("application/x-www-form-urlencoded") => {}
        // An empty body without a content type is an empty form (no grant_type).
        None if body.is_empty() => {}
        Some(ct) if ct.ends_with("json") => {
            return Err(OAuthError::invalid_request(
                "the token endpoint takes an application/x-www-form-urlencoded body, not JSON",
            ))
        }
        _ => {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ))
        }
    }
    Params::parse(body).map_err(|name| {
        OAuthError::invalid_request(format!("parameter `{name}` was sent more than once"))
    })
}

/// Client id and secret from the form or from HTTP Basic (RFC 6749 §2.3.1), not both.
fn client_credentials(
    headers: &HeaderMap,
    form: &Params,
) -> Result<(Option<String>, Option<String>), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    let Some((_, encoded)) = basic else {
        return Ok((
            form.get("client_id").map(str::to_owned),
            form.get("client_secret").map(str::to_owned),
        ));
    };
    if form.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "send client credentials either in the Authorization header or in the body, not both",
        ));
    }
    let malformed = || OAuthError::invalid_client("the Basic authorization header is malformed");
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    // Both halves are form-urlencoded before being joined.
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let (id, secret) = (unescape(id), unescape(secret));
    if let (Some(body_id), Some(basic_id)) = (form.get("client_id"), id.as_deref()) {
        if body_id != basic_id {
            return Err(OAuthError::invalid_client(
                "client_id differs between the body and the Authorization header",
            ));
        }
    }
    Ok((
        id.filter(|s| !s.is_empty()),
        secret.filter(|s| !s.is_empty()),
    ))
}

/// Finds the app and checks its secret (confidential apps) and organization.
fn authenticate_client<'a>(
    id: &'a Identity,
    org: Option<&str>,
    headers: &HeaderMap,
    form: &Params,
) -> Result<&'a AppConfig, OAuthError> {
    let (client_id, secret) = client_credentials(headers, form)?;
    let client_id = client_id.ok_or_else(|| OAuthError::invalid_client("client_id is required"))?;
    let app = id
        .config
        .app(&client_id)
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    if org.is_some_and(|org| !app.org.eq_ignore_ascii_case(org)) {
        return Err(OAuthError::invalid_client(
            "the client is not registered in this organization",
        ));
    }
    if let Some(expected) = &app.client_secret {
        let presented = secret.ok_or_else(|| {
            OAuthError::invalid_client("client_secret is required for a confidential application")
        })?;
        if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(OAuthError::invalid_client("invalid client credentials"));
        }
    }
    Ok(app)
}
