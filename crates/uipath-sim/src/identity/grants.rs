//! The three OAuth grants of UiPath external applications, run after the client has been
//! authenticated: `client_credentials` (application scopes), `authorization_code`
//! (user scopes, PKCE) and `refresh_token` (rotation).
//!
//! Guarantees: `client_credentials` never returns a refresh token and refuses user-only
//! scopes with `unauthorized_client`; a refresh token is returned only when
//! `offline_access` was authorized; rotation checks and spends the presented refresh token
//! under one lock, so of any number of concurrent presentations exactly one succeeds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::config::{AppConfig, MachineConfig, ROBOT_SCOPE};
use super::error::{ErrorCode, OAuthError};
use super::params::{split_scopes, Params};
use super::pkce;
use super::store::{GrantRejection, UserGrant};
use super::tokens::{constant_time_eq, opaque_token};
use super::Identity;
use crate::auth::{Principal, PrincipalKind};

/// Requests the whole set of application scopes (Orchestrator "fine-grained" permissions).
const OR_DEFAULT: &str = "OR.Default";
/// Asks for a refresh token; only meaningful in the authorization-code flow.
pub(crate) const OFFLINE_ACCESS: &str = "offline_access";
/// OpenID scopes: allowed in user flows, but grant nothing on the resource servers.
pub(crate) const OIDC_SCOPES: [&str; 3] = ["openid", "profile", OFFLINE_ACCESS];

/// Data Service scopes are user scopes by design; UiPath refuses them to client credentials.
pub(crate) fn is_user_only(scope: &str) -> bool {
    scope.starts_with("DataService.")
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub expires_in: u64,
    pub token_type: &'static str,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

pub(crate) fn client_credentials(
    id: &Identity,
    app: &AppConfig,
    form: &Params,
) -> Result<TokenResponse, OAuthError> {
    if !app.is_confidential() {
        return Err(OAuthError::invalid_client(
            "a non-confidential application cannot use client_credentials; use the authorization code flow with PKCE",
        ));
    }
    let requested = split_scopes(form.get("scope"));
    if requested.is_empty() {
        return Err(OAuthError::invalid_scope("scope is required"));
    }
    if requested.iter().any(|s| s == OFFLINE_ACCESS) {
        return Err(OAuthError::invalid_scope(
            "offline_access is not allowed with client_credentials; refresh tokens are only issued by the authorization code flow",
        ));
    }
    if let Some(scope) = requested.iter().find(|s| is_user_only(s)) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("{scope} is a user scope; user scopes require the authorization code flow"),
        ));
    }
    let mut granted: Vec<String> = Vec::new();
    for scope in &requested {
        let expansion: Vec<&String> = if scope == OR_DEFAULT {
            app.app_scopes.iter().filter(|s| !is_user_only(s)).collect()
        } else if app.app_scopes.contains(scope) {
            vec![scope]
        } else {
            return Err(OAuthError::invalid_scope(format!(
                "scope {scope} is not granted to this application"
            )));
        };
        for s in expansion {
            if !granted.contains(s) {
                granted.push(s.clone());
            }
        }
    }
    if granted.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the application has no application scopes to grant",
        ));
    }
    let principal = Principal {
        kind: PrincipalKind::Application,
        client_id: Some(app.client_id.clone()),
        user: None,
        org: Some(app.org.clone()),
        tenant: None,
        scopes: granted.iter().cloned().collect(),
        folders: app.folders.clone(),
    };
    let ttl = id.config.access_token_ttl_secs;
    let now = Instant::now();
    let access_token = id.mint_access(&mut id.lock(), principal, ttl, None, now);
    Ok(TokenResponse {
        access_token,
        expires_in: ttl,
        token_type: "Bearer",
        scope: granted.join(" "),
        refresh_token: None,
    })
}

/// A machine's client id and secret (robot credentials): whatever is asked for, the token
/// carries only [`ROBOT_SCOPE`], which no list endpoint accepts (403). No public UiPath
/// material documents a machine token reading Jobs, QueueItems or logs, so the simulator
/// grants nothing more; the `scope` field of the answer is how a client can tell.
pub(crate) fn machine(
    id: &Identity,
    machine: &MachineConfig,
    form: &Params,
) -> Result<TokenResponse, OAuthError> {
    let presented = form.get("client_secret").unwrap_or_default();
    if !constant_time_eq(presented.as_bytes(), machine.client_secret.as_bytes()) {
        return Err(OAuthError::invalid_client("invalid client credentials"));
    }
    let principal = Principal {
        kind: PrincipalKind::Application,
        client_id: Some(machine.client_id.clone()),
        user: None,
        org: Some(machine.org.clone()),
        tenant: None,
        scopes: BTreeSet::from([ROBOT_SCOPE.to_owned()]),
        folders: None,
    };
    let ttl = id.config.access_token_ttl_secs;
    let access_token = id.mint_access(&mut id.lock(), principal, ttl, None, Instant::now());
    Ok(TokenResponse {
        access_token,
        expires_in: ttl,
        token_type: "Bearer",
        scope: ROBOT_SCOPE.to_owned(),
        refresh_token: None,
    })
}

pub(crate) fn authorization_code(
    id: &Identity,
    app: &AppConfig,
    form: &Params,
) -> Result<TokenResponse, OAuthError> {
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let now = Instant::now();
    let mut store = id.lock();
    let record = store
        .consume_code(code, now)
        .map_err(|r| rejected("authorization code", r))?;
    if record.grant.client_id != app.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if form.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (record.challenge.as_deref(), form.get("code_verifier")) {
        (None, None) => {}
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ))
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge",
            ))
        }
    }
    let family = store.new_family();
    store.bind_code(code, family);
    let grant = Arc::new(record.grant);
    let ttl = id.config.access_token_ttl_secs;
    let access_token = id.mint_access(
        &mut store,
        user_principal(&grant, &grant.scopes),
        ttl,
        Some(family),
        now,
    );
    let refresh_token = grant.scopes.iter().any(|s| s == OFFLINE_ACCESS).then(|| {
        let token = opaque_token();
        let expires_at = now + Duration::from_secs(id.config.refresh_token_ttl_secs);
        store.insert_refresh(token.clone(), family, Arc::clone(&grant), expires_at, now);
        token
    });
    Ok(TokenResponse {
        access_token,
        expires_in: ttl,
        token_type: "Bearer",
        scope: grant.scopes.join(" "),
        refresh_token,
    })
}

pub(crate) fn refresh_token(
    id: &Identity,
    app: &AppConfig,
    form: &Params,
) -> Result<TokenResponse, OAuthError> {
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let requested = split_scopes(form.get("scope"));
    let now = Instant::now();
    // Check, spend and re-issue under one guard: this is what makes rotation race-free.
    let mut store = id.lock();
    let (family, grant) = store
        .check_refresh(presented, &app.client_id, now)
        .map_err(|r| rejected("refresh token", r))?;
    // A refresh may narrow the scope for this access token (RFC 6749 §6), never widen it.
    let scopes = if requested.is_empty() {
        grant.scopes.clone()
    } else if let Some(extra) = requested.iter().find(|s| !grant.scopes.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope {extra} was not part of the original grant"
        )));
    } else {
        requested
    };
    store.spend_refresh(presented);
    let next = opaque_token();
    let expires_at = now + Duration::from_secs(id.config.refresh_token_ttl_secs);
    // The new refresh token keeps the family's original scope, whatever this request narrowed.
    store.insert_refresh(next.clone(), family, Arc::clone(&grant), expires_at, now);
    let ttl = id.config.access_token_ttl_secs;
    let access_token = id.mint_access(
        &mut store,
        user_principal(&grant, &scopes),
        ttl,
        Some(family),
        now,
    );
    Ok(TokenResponse {
        access_token,
        expires_in: ttl,
        token_type: "Bearer",
        scope: scopes.join(" "),
        refresh_token: Some(next),
    })
}

/// The principal of a user token: the user's organization (every tenant of it) and
/// folders, with the OpenID scopes left out.
fn user_principal(grant: &UserGrant, scopes: &[String]) -> Principal {
    let scopes: BTreeSet<String> = scopes
        .iter()
        .filter(|s| !OIDC_SCOPES.contains(&s.as_str()))
        .cloned()
        .collect();
    Principal {
        kind: PrincipalKind::User,
        client_id: Some(grant.client_id.clone()),
        user: Some(grant.username.clone()),
        org: Some(grant.org.clone()),
        tenant: None,
        scopes,
        folders: grant.folders.clone(),
    }
}

/// Describes a refused code or refresh token without echoing it.
fn rejected(what: &'static str, reason: GrantRejection) -> OAuthError {
    let why = match reason {
        GrantRejection::Unknown => "is invalid or has been revoked",
        GrantRejection::Expired => "has expired",
        GrantRejection::Reused => {
            "has already been used; every token issued from it has been revoked"
        }
        GrantRejection::WrongClient => "was issued to another client",
    };
    OAuthError::invalid_grant(format!("the {what} {why}"))
}
