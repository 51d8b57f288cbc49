//! The four ways a source authenticates, and how each gets a new access token.
//!
//! [`Flow::fetch`] is called only by the holder of the refresh lock on the flow's key
//! (see [`super::TokenProvider`]), which is what makes spending a rotating refresh token
//! safe: one spender at a time, fleet-wide.
//!
//! | flow | key | request |
//! |---|---|---|
//! | client credentials | (token URL, client id, scopes) | `grant_type=client_credentials` |
//! | refresh token | (token URL, client id) — the *family* key | `grant_type=refresh_token`, rotated by CAS |
//! | ROPC (standalone) | (Authenticate URL, user name) | JSON `Account/Authenticate`, 30-minute token |
//! | personal access token | (token URL, `pat:` + fingerprint) | none: a static bearer |
//! | User Key (legacy cloud) | (token URL, `user-key:` + tenant + key fingerprint) | JSON `grant_type=refresh_token` + `X-UIPATH-TenantName`, 24-hour token, no rotation |
//!
//! A client-credentials answer whose granted scopes share none with those asked for is a
//! machine's (robot) credentials: [`ClientError::MachineCredentials`], with what to create.

use std::sync::Arc;
use std::time::Duration;

use fleet_core::{AccessToken, Backoff, Secret, TokenCache, TokenKey};
use url::Url;

use super::clock::Clock;
use super::identity::{
    post_form, post_ropc, post_user_key, retry_while, retrying, Granted, TokenFailure,
};
use crate::error::ClientError;
use crate::source::{AuthConfig, Deployment, SourceConfig};

/// UiPath's access-token lifetime, assumed until a response says otherwise.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Standalone `Account/Authenticate` tokens last 30 minutes and the answer does not say.
pub(crate) const ROPC_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Tokens from a legacy User Key last 24 hours.
pub(crate) const USER_KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A source's credentials and where to present them.
#[derive(Debug)]
pub(crate) enum Flow {
    ClientCredentials {
        url: Url,
        client_id: String,
        secret: Secret,
        scopes: Vec<String>,
    },
    RefreshToken {
        url: Url,
        client_id: String,
        secret: Option<Secret>,
    },
    Ropc {
        url: Url,
        tenancy: String,
        username: String,
        password: Secret,
    },
    /// A static bearer: never fetched, never shared through the cache.
    Pat { token: AccessToken },
    /// The legacy User Key: presented as is every time (it does not rotate), so the cache
    /// holds only the access tokens it buys.
    UserKey {
        url: Url,
        client_id: String,
        key: Secret,
        tenant: String,
    },
}

/// What a fetch needs besides the flow's own credentials. Owned, so a fetch can run in
/// its own task.
pub(crate) struct FetchContext {
    pub http: reqwest::Client,
    pub clock: Arc<dyn Clock>,
    pub cache: Arc<dyn TokenCache>,
    pub key: TokenKey,
    /// Timeout of one request to the identity server.
    pub request_timeout: Duration,
}

/// Splits configured scopes ("A B" or ["A", "B"]) into single scopes.
pub(crate) fn split_scopes(scopes: &[String]) -> Vec<String> {
    scopes
        .iter()
        .flat_map(|s| s.split_whitespace())
        .map(str::to_owned)
        .collect()
}

impl Flow {
    /// The flow of `source` and the cache key its tokens live under.
    pub fn from_source(source: &SourceConfig) -> (Flow, TokenKey) {
        let token_url = source.token_url();
        match &source.auth {
            AuthConfig::ClientCredentials {
                client_id,
                client_secret,
                scopes,
            } => {
                let scopes = split_scopes(scopes);
                let key = TokenKey::new(token_url.as_str(), client_id.as_str(), &scopes);
                let flow = Flow::ClientCredentials {
                    url: token_url,
                    client_id: client_id.clone(),
                    secret: client_secret.clone(),
                    scopes: key.scopes.clone(),
                };
                (flow, key)
            }
            AuthConfig::RefreshToken {
                client_id,
                client_secret,
                ..
            } => {
                let key = family_key(source);
                let flow = Flow::RefreshToken {
                    url: token_url,
                    client_id: client_id.clone(),
                    secret: client_secret.clone(),
                };
                (flow, key)
            }
            AuthConfig::Ropc { username, password } => {
                let url = source.ropc_url();
                let tenancy = match &source.deployment {
                    Deployment::Standalone { tenancy_name, .. } => tenancy_name.clone(),
                    Deployment::Cloud { tenant, .. } => tenant.clone(),
                };
                let key = TokenKey::new(url.as_str(), username.as_str(), Vec::<String>::new());
                let flow = Flow::Ropc {
                    url,
                    tenancy,
                    username: username.clone(),
                    password: password.clone(),
                };
                (flow, key)
            }
            AuthConfig::UserKey { .. } | AuthConfig::Machine { .. } => {
                let key = family_key(source);
                let flow = match &source.auth {
                    AuthConfig::UserKey {
                        user_key,
                        client_id,
                    } => Flow::UserKey {
                        url: token_url,
                        client_id: client_id.clone(),
                        key: user_key.clone(),
                        tenant: match &source.deployment {
                            Deployment::Cloud { tenant, .. } => tenant.clone(),
                            Deployment::Standalone { tenancy_name, .. } => tenancy_name.clone(),
                        },
                    },
                    // Refused by `validate`; should a caller skip it, the identity server's
                    // robot scopes are recognised below.
                    _ => Flow::ClientCredentials {
                        url: token_url,
                        client_id: key.principal.clone(),
                        secret: match &source.auth {
                            AuthConfig::Machine {
                                client_secret: Some(s),
                                ..
                            } => s.clone(),
                            _ => Secret::new(""),
                        },
                        scopes: Vec::new(),
                    },
                };
                (flow, key)
            }
            AuthConfig::PersonalAccessToken { token } => {
                let principal = format!("pat:{}", fleet_core::token::fingerprint(token));
                let key = TokenKey::new(token_url.as_str(), principal, Vec::<String>::new());
                let flow = Flow::Pat {
                    token: AccessToken {
                        token: token.clone(),
                        // The admin-set expiry is not known to the client: a 401 tells.
                        expires_at_ms: u64::MAX,
                    },
                };
                (flow, key)
            }
        }
    }

    /// How long this flow's tokens are assumed to live when neither the token nor a
    /// response says.
    pub fn default_lifetime(&self) -> Duration {
        match self {
            Flow::Ropc { .. } => ROPC_LIFETIME,
            Flow::UserKey { .. } => USER_KEY_LIFETIME,
            _ => DEFAULT_LIFETIME,
        }
    }

    /// The client id (or user name) errors name.
    fn principal(&self) -> &str {
        match self {
            Flow::ClientCredentials { client_id, .. } | Flow::RefreshToken { client_id, .. } => {
                client_id
            }
            Flow::Ropc { username, .. } => username,
            Flow::Pat { .. } => "personal access token",
            Flow::UserKey { .. } => "user key",
        }
    }

    /// A new access token from the identity server. The caller holds the refresh lock on
    /// `cx.key` for longer than this can take.
    pub async fn fetch(&self, cx: &FetchContext) -> Result<AccessToken, ClientError> {
        match self {
            Flow::ClientCredentials {
                url,
                client_id,
                secret,
                scopes,
            } => {
                let scope = scopes.join(" ");
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.expose()),
                    ("scope", scope.as_str()),
                ];
                let granted = retrying("client_credentials", || {
                    post_form(&cx.http, cx.clock.as_ref(), url, &form, cx.request_timeout)
                })
                .await
                .map_err(|f| self.oauth_error(f, &scope))?;
                if let Some(given) = robot_scopes(scopes, granted.scope.as_deref()) {
                    tracing::warn!(client_id = %client_id, granted = %given, "the identity server granted robot scopes: machine credentials");
                    return Err(ClientError::MachineCredentials {
                        client_id: client_id.clone(),
                        scopes: scope,
                        granted: given,
                    });
                }
                Ok(access_token(&granted, DEFAULT_LIFETIME))
            }
            Flow::UserKey {
                url,
                client_id,
                key,
                tenant,
            } => {
                let granted = retrying("user_key", || {
                    post_user_key(
                        &cx.http,
                        cx.clock.as_ref(),
                        url,
                        client_id,
                        key,
                        tenant,
                        cx.request_timeout,
                    )
                })
                .await
                .map_err(|f| match f {
                    TokenFailure::OAuth { error, .. } if error == "invalid_grant" => {
                        tracing::warn!(%tenant, "the user key was refused (invalid_grant)");
                        ClientError::UserKeyRevoked {
                            tenant: tenant.clone(),
                        }
                    }
                    other => self.oauth_error(other, ""),
                })?;
                Ok(access_token(&granted, USER_KEY_LIFETIME))
            }
            Flow::RefreshToken {
                url,
                client_id,
                secret,
            } => self.refresh(cx, url, client_id, secret.as_ref()).await,
            Flow::Ropc {
                url,
                tenancy,
                username,
                password,
            } => {
                let granted = retrying("ropc", || {
                    post_ropc(
                        &cx.http,
                        cx.clock.as_ref(),
                        url,
                        tenancy,
                        username,
                        password,
                        cx.request_timeout,
                    )
                })
                .await
                .map_err(|f| self.oauth_error(f, ""))?;
                Ok(access_token(&granted, ROPC_LIFETIME))
            }
            Flow::Pat { token } => Ok(token.clone()),
        }
    }

    /// Spends the family's refresh token and stores its successor before anything else.
    async fn refresh(
        &self,
        cx: &FetchContext,
        url: &Url,
        client_id: &str,
        secret: Option<&Secret>,
    ) -> Result<AccessToken, ClientError> {
        let login_required = |reason: &str| ClientError::LoginRequired {
            client_id: client_id.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(spent) = cx.cache.refresh_token(&cx.key).await? else {
            return Err(login_required("none stored"));
        };
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", spent.expose()),
        ];
        if let Some(secret) = secret {
            form.push(("client_secret", secret.expose()));
        }
        // Retrying a transport failure is safe enough: if the lost request had reached the
        // server, `spent` is already spent and the family is lost whatever we do next
        // (the replay gets invalid_grant, which ends in "log in again" below).
        let result = retrying("refresh_token", || {
            post_form(&cx.http, cx.clock.as_ref(), url, &form, cx.request_timeout)
        })
        .await;
        let granted = match result {
            Ok(granted) => granted,
            Err(TokenFailure::OAuth { error, .. }) if error == "invalid_grant" => {
                // Revoked, expired or already spent: nobody can use it again. Deleting it
                // (if still the one we read) makes every later caller fail fast with
                // "none stored" instead of replaying it.
                let discarded = cx.cache.discard_refresh_token(&cx.key, &spent).await?;
                tracing::warn!(key = %cx.key, discarded, "refresh token rejected (invalid_grant); login required");
                return Err(login_required(
                    "the identity server rejected the stored refresh token: revoked, expired or already used",
                ));
            }
            Err(failure) => return Err(self.oauth_error(failure, "")),
        };
        match &granted.refresh_token {
            Some(next) => {
                if !rotate(cx, &spent, next).await? {
                    // Only a new login replaces a token under our lock; its token is newer.
                    tracing::warn!(key = %cx.key, "the stored refresh token changed during a refresh (a new login?); keeping the newer one");
                }
            }
            None => {
                tracing::debug!(key = %cx.key, "the identity server did not rotate the refresh token")
            }
        }
        Ok(access_token(&granted, DEFAULT_LIFETIME))
    }

    /// What an identity-server refusal means for this flow (`invalid_grant` of a refresh
    /// token is handled before, since it must also discard the token).
    fn oauth_error(&self, failure: TokenFailure, scopes: &str) -> ClientError {
        let (error, description) = match failure {
            TokenFailure::Other(e) => return e,
            TokenFailure::OAuth { error, description } => (error, description),
        };
        let client_id = self.principal().to_owned();
        match error.as_str() {
            "invalid_client" => ClientError::InvalidClient { client_id },
            "unauthorized_client" if matches!(self, Flow::ClientCredentials { .. }) => {
                ClientError::UnauthorizedClient {
                    client_id,
                    scopes: scopes.to_owned(),
                }
            }
            "invalid_scope" => ClientError::InvalidScope {
                scopes: scopes.to_owned(),
                detail: TokenFailure::detail(&description),
            },
            _ => ClientError::TokenRejected {
                detail: TokenFailure::detail(&description),
                error,
            },
        }
    }
}

/// The granted scopes when they share none with those asked for (and `OR.Default`, which
/// expands to whatever the application holds, was not asked for): what a machine's
/// robot credentials get. `None` when the grant looks like an external application's.
fn robot_scopes(asked: &[String], granted: Option<&str>) -> Option<String> {
    let granted = granted?.trim();
    if granted.is_empty() || asked.iter().any(|s| s == "OR.Default") {
        return None;
    }
    let disjoint = granted
        .split_whitespace()
        .all(|g| !asked.iter().any(|a| a == g));
    disjoint.then(|| granted.to_owned())
}

/// The key refresh tokens of a refresh-token source live under (and its access tokens:
/// one login, one token).
pub fn family_key(source: &SourceConfig) -> TokenKey {
    if let AuthConfig::UserKey { user_key, .. } = &source.auth {
        let tenant = match &source.deployment {
            Deployment::Cloud {
                organization,
                tenant,
                ..
            } => format!("{organization}/{tenant}"),
            Deployment::Standalone { tenancy_name, .. } => tenancy_name.clone(),
        };
        let principal = format!(
            "user-key:{tenant}:{}",
            fleet_core::token::fingerprint(user_key)
        );
        return TokenKey::new(source.token_url().as_str(), principal, Vec::<String>::new());
    }
    let client_id = match &source.auth {
        AuthConfig::RefreshToken { client_id, .. }
        | AuthConfig::ClientCredentials { client_id, .. } => client_id.as_str(),
        AuthConfig::Ropc { username, .. } => username.as_str(),
        AuthConfig::Machine { client_id, .. } => client_id.as_str(),
        AuthConfig::PersonalAccessToken { .. } | AuthConfig::UserKey { .. } => "",
    };
    TokenKey::new(source.token_url().as_str(), client_id, Vec::<String>::new())
}

/// The cached form of a granted token: expiry counted from when the request was sent.
pub(crate) fn access_token(granted: &Granted, default_lifetime: Duration) -> AccessToken {
    let lifetime_ms = granted
        .expires_in
        .map_or(default_lifetime.as_millis() as u64, |s| {
            s.saturating_mul(1000)
        });
    AccessToken {
        token: granted.access_token.clone(),
        expires_at_ms: granted.sent_at_ms.saturating_add(lifetime_ms),
    }
}

/// Stores the successor of `spent`, retrying a cache hiccup: losing the new refresh token
/// would leave the spent one stored, and replaying it revokes the whole family.
async fn rotate(cx: &FetchContext, spent: &Secret, next: &Secret) -> Result<bool, ClientError> {
    let policy = Backoff::new(Duration::from_millis(50), Duration::from_secs(1))
        .with_retries(4)
        .with_jitter();
    let stored = retry_while(
        policy,
        || cx.cache.rotate_refresh_token(&cx.key, spent, next),
        |e| matches!(e, fleet_core::CacheError::Backend(_)),
        |e, after| tracing::warn!(error = %e, ?after, "storing the rotated refresh token failed; retrying"),
    )
    .await?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn robot_scopes_are_a_grant_that_shares_nothing_with_the_request() {
        let a = asked(&["OR.Folders.Read", "OR.Jobs.Read"]);
        assert_eq!(
            robot_scopes(&a, Some("Orchestrator.Robot")),
            Some("Orchestrator.Robot".into())
        );
        assert_eq!(robot_scopes(&a, Some("OR.Jobs.Read OR.Folders.Read")), None);
        // A narrower grant is the identity server's business, not a machine.
        assert_eq!(robot_scopes(&a, Some("OR.Jobs.Read")), None);
        assert_eq!(robot_scopes(&a, None), None);
        assert_eq!(robot_scopes(&a, Some(" ")), None);
        assert_eq!(robot_scopes(&asked(&["OR.Default"]), Some("OR.Jobs")), None);
    }
}
