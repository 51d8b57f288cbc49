//! `GET /identity_/connect/authorize`: the front half of the authorization-code flow.
//!
//! There is no login page: the first configured user of the app's organization approves
//! at once, so a test drives the flow with one redirect-less GET. Everything else follows
//! RFC 6749 §4.1 and RFC 7636:
//! - an unknown client or an unregistered `redirect_uri` gets a 400 HTML page and no
//!   redirect (redirecting to an unverified URI would make this an open redirector);
//! - every other problem redirects back with `error=...` and the client's `state`;
//! - public (non-confidential) apps must send an S256 `code_challenge`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::config::AppConfig;
use super::grants::OIDC_SCOPES;
use super::http::html_page;
use super::params::{split_scopes, Params};
use super::pkce;
use super::store::{CodeRecord, UserGrant};
use super::tokens::opaque_token;
use super::Identity;

pub(crate) async fn authorize(
    State(id): State<Arc<Identity>>,
    RawQuery(query): RawQuery,
) -> Response {
    handle(&id, None, query.as_deref().unwrap_or_default())
}

pub(crate) async fn authorize_in_org(
    State(id): State<Arc<Identity>>,
    Path(org): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    handle(&id, Some(&org), query.as_deref().unwrap_or_default())
}

/// An error to send back to the client's redirect URI (RFC 6749 §4.1.2.1).
struct Refusal {
    error: &'static str,
    description: String,
}

fn refusal(error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        error,
        description: description.into(),
    }
}

fn handle(id: &Identity, org: Option<&str>, query: &str) -> Response {
    let Ok(params) = Params::parse(query.as_bytes()) else {
        return bad_request("A request parameter was sent more than once.");
    };
    let Some(app) = params.get("client_id").and_then(|c| id.config.app(c)) else {
        return bad_request("Unknown client.");
    };
    if org.is_some_and(|org| !app.org.eq_ignore_ascii_case(org)) {
        return bad_request("The client is not registered in this organization.");
    }
    let redirect_uri = params.get("redirect_uri");
    let Some(redirect_uri) =
        redirect_uri.filter(|r| app.redirect_uris.iter().any(|u| redirect_matches(u, r)))
    else {
        return bad_request("The redirect_uri is not registered for this client.");
    };
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return bad_request("The registered redirect_uri is not a valid URL.");
    };
    let outcome = approve(id, app, redirect_uri, &params);
    {
        let mut query = target.query_pairs_mut();
        match &outcome {
            Ok((code, scope)) => {
                query.append_pair("code", code).append_pair("scope", scope);
            }
            Err(r) => {
                tracing::debug!(client_id = %app.client_id, error = r.error, "authorization refused");
                query
                    .append_pair("error", r.error)
                    .append_pair("error_description", &r.description);
            }
        }
        if let Some(state) = params.get("state") {
            query.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

/// Validates the request and issues a code; returns the code and the granted scope.
fn approve(
    id: &Identity,
    app: &AppConfig,
    redirect_uri: &str,
    params: &Params,
) -> Result<(String, String), Refusal> {
    if params.get("response_type") != Some("code") {
        return Err(refusal(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let scopes = split_scopes(params.get("scope"));
    if scopes.is_empty() {
        return Err(refusal("invalid_scope", "scope is required"));
    }
    if let Some(bad) = scopes
        .iter()
        .find(|s| !OIDC_SCOPES.contains(&s.as_str()) && !app.user_scopes.contains(s))
    {
        return Err(refusal(
            "invalid_scope",
            format!("scope {bad} is not allowed for this application"),
        ));
    }
    let challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, None) if !app.is_confidential() => {
            return Err(refusal(
                "invalid_request",
                "code_challenge is required for non-confidential applications",
            ))
        }
        (None, None) => None,
        (None, Some(_)) => {
            return Err(refusal(
                "invalid_request",
                "code_challenge_method was sent without code_challenge",
            ))
        }
        // An absent method means `plain` (RFC 7636 §4.3), which UiPath does not accept.
        (Some(_), method) if method != Some("S256") => {
            return Err(refusal(
                "invalid_request",
                "code_challenge_method must be S256",
            ))
        }
        (Some(c), _) if !pkce::is_valid_challenge(c) => {
            return Err(refusal(
                "invalid_request",
                "code_challenge is not a valid S256 challenge",
            ))
        }
        (Some(c), _) => Some(c.to_owned()),
    };
    let user = id.config.approving_user(&app.org).ok_or_else(|| {
        refusal(
            "access_denied",
            "no user of the organization can approve the request",
        )
    })?;
    let grant = UserGrant {
        client_id: app.client_id.clone(),
        username: user.username.clone(),
        org: user.org.clone(),
        folders: user.folders.clone(),
        scopes: scopes.clone(),
    };
    let now = Instant::now();
    let expires_at = now + Duration::from_secs(id.config.authorization_code_ttl_secs);
    let code = opaque_token();
    id.lock().insert_code(
        code.clone(),
        CodeRecord::new(grant, redirect_uri.to_owned(), challenge, expires_at),
        now,
    );
    tracing::debug!(client_id = %app.client_id, user = %user.username, "authorization approved");
    Ok((code, scopes.join(" ")))
}

/// A 400 page for errors that must not redirect. The message is fixed text, never input.
fn bad_request(message: &'static str) -> Response {
    html_page(StatusCode::BAD_REQUEST, "Error", message)
}

/// True when `requested` may be used for the registered redirect `registered`: the same
/// string, or — for loopback redirects of native apps (RFC 8252 §7.3) — the same scheme,
/// host, path and query on any port, because a CLI login listens on a port the OS picks.
pub(crate) fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(reg), Ok(req)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1") | Some("[::1]"))
    };
    loopback(&reg)
        && loopback(&req)
        && reg.host_str() == req.host_str()
        && reg.path() == req.path()
        && reg.query() == req.query()
}

#[cfg(test)]
mod redirect_tests {
    use super::redirect_matches;

    #[test]
    fn loopback_redirects_match_on_any_port_and_nothing_else_does() {
        let reg = "http://127.0.0.1:8765/callback";
        assert!(redirect_matches(reg, reg));
        assert!(redirect_matches(reg, "http://127.0.0.1:49152/callback"));
        assert!(!redirect_matches(reg, "http://127.0.0.1:49152/other"));
        assert!(!redirect_matches(reg, "http://localhost:8765/callback"));
        assert!(!redirect_matches(reg, "http://evil.example:8765/callback"));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
    }
}
