//! The one-time login of a refresh-token source: authorization code + PKCE (S256) in the
//! operator's browser, ending with a refresh token in the fleet's token cache.
//!
//! Steps: bind the loopback listener of the redirect URI (port 0 = any free port), build
//! the authorize URL (configured scopes + `offline_access`, S256 challenge, random
//! `state`), hand it to the caller to show, wait for the redirect, check `state`,
//! exchange the code, then store the refresh token under the family key (overwriting:
//! a login is newer than anything stored) and the access token beside it.
//!
//! Guarantees: nothing is stored unless the whole exchange succeeded; the code, verifier
//! and tokens never reach an error, a log line or `Debug` output.

use std::sync::Arc;
use std::time::Duration;

use fleet_core::{AccessToken, TokenCache, TokenKey};
use url::Url;

use super::callback::{Callback, CallbackListener};
use super::clock::SystemClock;
use super::flow::{access_token, family_key, split_scopes, DEFAULT_LIFETIME};
use super::identity::{post_form, retrying, TokenFailure};
use super::pkce::{new_state, Pkce};
use crate::error::ClientError;
use crate::source::{AuthConfig, SourceConfig};

/// Asked for at login so that the identity server issues a refresh token.
const OFFLINE_ACCESS: &str = "offline_access";

/// Tuning of [`login`].
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// How long to wait for the browser to come back (default 5 minutes).
    pub timeout: Duration,
    /// Timeout of the code exchange request (default 30 seconds).
    pub request_timeout: Duration,
    /// The HTTP client for the code exchange.
    pub http: reqwest::Client,
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            timeout: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            http: reqwest::Client::new(),
        }
    }
}

/// What a successful login stored.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// The family key the refresh token (and the access token) are stored under.
    pub key: TokenKey,
    /// The first access token, also stored in the cache.
    pub access_token: AccessToken,
    /// The scopes the identity server granted, as it listed them.
    pub granted_scopes: Vec<String>,
    /// The redirect URI used (with the port actually listened on).
    pub redirect_uri: Url,
}

/// Runs the login of `source` (which must use `auth.method = "refresh-token"`): calls
/// `on_url` with the URL the operator must open, waits up to `options.timeout` for the
/// redirect, exchanges the code and stores the tokens in `cache`.
pub async fn login(
    source: &SourceConfig,
    cache: Arc<dyn TokenCache>,
    options: LoginOptions,
    on_url: impl FnOnce(&Url),
) -> Result<LoginOutcome, ClientError> {
    let AuthConfig::RefreshToken {
        client_id,
        client_secret,
        scopes,
        redirect_uri,
    } = &source.auth
    else {
        return Err(ClientError::Config(format!(
            "sources.{}.auth: login is only for auth.method = \"refresh-token\"",
            source.name
        )));
    };
    let login_failed = |reason: String| ClientError::LoginRequired {
        client_id: client_id.clone(),
        reason,
    };
    let pkce = Pkce::new();
    let state = new_state();
    let listener = CallbackListener::bind(redirect_uri).await?;
    let redirect_uri = listener.redirect_uri().clone();
    let mut scope = split_scopes(scopes);
    if !scope.iter().any(|s| s == OFFLINE_ACCESS) {
        scope.push(OFFLINE_ACCESS.to_owned());
    }
    let mut url = source.authorize_url();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri.as_str())
        .append_pair("scope", &scope.join(" "))
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state);
    on_url(&url);

    let callback = tokio::time::timeout(options.timeout, listener.wait())
        .await
        .map_err(|_| {
            login_failed(format!(
                "the browser did not come back to {redirect_uri} within {:?}",
                options.timeout
            ))
        })??;
    let code = match callback {
        Callback::Error { error, description } => {
            return Err(login_failed(format!(
                "the sign-in was refused: {error}{}",
                TokenFailure::detail(&description)
            )))
        }
        Callback::Code { state: got, .. } if got.as_deref() != Some(state.as_str()) => {
            return Err(login_failed(
                "the redirect carried another state (a stale or forged browser tab); nothing was stored".into(),
            ))
        }
        Callback::Code { code, .. } => code,
    };

    let token_url = source.token_url();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("client_id", client_id.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    if let Some(secret) = client_secret {
        form.push(("client_secret", secret.expose()));
    }
    let granted = retrying("authorization_code", || {
        post_form(
            &options.http,
            &SystemClock,
            &token_url,
            &form,
            options.request_timeout,
        )
    })
    .await
    .map_err(|failure| match failure {
        TokenFailure::Other(e) => e,
        TokenFailure::OAuth { error, .. } if error == "invalid_client" => {
            ClientError::InvalidClient {
                client_id: client_id.clone(),
            }
        }
        TokenFailure::OAuth { error, description } => ClientError::TokenRejected {
            detail: TokenFailure::detail(&description),
            error,
        },
    })?;
    let Some(refresh_token) = granted.refresh_token.clone() else {
        return Err(login_failed(
            "the identity server issued no refresh token; allow offline_access for the external application".into(),
        ));
    };
    let key = family_key(source);
    cache
        .store_refresh_token(&key, &refresh_token, true)
        .await?;
    let access = access_token(&granted, DEFAULT_LIFETIME);
    cache.put(&key, &access).await?;
    tracing::info!(key = %key, "login stored a refresh token");
    Ok(LoginOutcome {
        key,
        access_token: access,
        granted_scopes: granted
            .scope
            .as_deref()
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        redirect_uri,
    })
}
