//! Steps 2 and 3 of the token protocol (see [`super::TokenProvider`]): judge the shared
//! cache's token, take the refresh lock or wait for whoever holds it, and refresh as the
//! holder.
//!
//! Guarantees:
//! - a token is *fresh* while it expires later than now + refresh-ahead, where
//!   refresh-ahead is at most half its lifetime (read from the JWT, else learned from the
//!   last fetch, else the flow's default);
//! - nobody waits on a refresh ahead of expiry: a still-valid token is used meanwhile;
//! - the holder's work (re-read, fetch, rotate, `put`, unlock) runs in its own task and
//!   finishes even if the caller gives up: cancelling between the identity server's
//!   answer and the cache write would lose a rotated refresh token (and replaying the
//!   spent one revokes the whole family) and leave the lock to lapse;
//! - the fetch, retries included, is bounded by the fetch budget, which ends before the
//!   lock lapses, so a slow holder gives up before anyone else may spend the same refresh
//!   token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use fleet_core::{AccessToken, LockToken, TokenCache, TokenKey};
use rand::Rng as _;

use super::clock::Clock;
use super::flow::{FetchContext, Flow};
use super::TokenOptions;
use crate::error::{ClientError, Disposition};

/// What the protocol needs; behind an `Arc` so the holder's work can run in its own task.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub cache: Arc<dyn TokenCache>,
    pub key: TokenKey,
    pub flow: Arc<Flow>,
    pub http: reqwest::Client,
    /// Normalized by [`TokenOptions::normalized`].
    pub options: TokenOptions,
    pub clock: Arc<dyn Clock>,
    /// Lifetime (ms) of the last token fetched, for judging tokens whose own lifetime
    /// cannot be read (0 = none fetched yet).
    pub learned_lifetime_ms: Arc<AtomicU64>,
}

impl Shared {
    /// A token from the shared cache, or a new one; called under the in-process flight.
    pub async fn bearer(self: &Arc<Self>) -> Result<AccessToken, ClientError> {
        // Past this the lock has lapsed at least once and we could have taken it:
        // something is wrong with the cache, or every holder is failing.
        let patience = self.options.lock_ttl * 2;
        let give_up = tokio::time::Instant::now() + patience;
        loop {
            let now = self.clock.now_ms();
            let cached = self.cache.get(&self.key).await?;
            if let Some(token) = cached.as_ref().filter(|t| self.is_fresh(t, now)) {
                return Ok(token.clone());
            }
            let still_valid = cached.filter(|t| t.fresh_at(now, Duration::ZERO));
            if let Some(lock) = self
                .cache
                .try_lock(&self.key, self.options.lock_ttl)
                .await?
            {
                // No `.await` between taking the lock and handing it to the task, so a
                // cancelled caller cannot strand it.
                let shared = Arc::clone(self);
                let holder =
                    tokio::spawn(async move { shared.refresh_holding(lock, still_valid).await });
                return holder.await.map_err(|e| ClientError::Transport {
                    path: self.endpoint_path(),
                    detail: format!("the token refresh task failed: {e}"),
                })?;
            }
            if let Some(token) = still_valid {
                tracing::debug!(key = %self.key, "another worker is refreshing; using the current token meanwhile");
                return Ok(token);
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(ClientError::Transport {
                    path: self.endpoint_path(),
                    detail: format!(
                        "waited {patience:?} for another worker to refresh the token without seeing one"
                    ),
                });
            }
            tokio::time::sleep(jittered(self.options.poll_interval)).await;
        }
    }

    /// As the holder of the refresh lock: fetch and store, then release the lock whatever
    /// happened. A transient failure with a still-valid token in hand returns that token.
    async fn refresh_holding(
        &self,
        lock: LockToken,
        still_valid: Option<AccessToken>,
    ) -> Result<AccessToken, ClientError> {
        let result = self.fetch_and_put().await;
        if let Err(e) = self.cache.unlock(&self.key, &lock).await {
            tracing::warn!(key = %self.key, error = %e, "could not release the token refresh lock; it lapses by itself");
        }
        match (result, still_valid) {
            (Err(e), Some(token)) if matches!(e.disposition(), Disposition::Retry { .. }) => {
                tracing::warn!(key = %self.key, error = %e, "token refresh failed; the current token is still valid, using it");
                Ok(token)
            }
            (result, _) => result,
        }
    }

    async fn fetch_and_put(&self) -> Result<AccessToken, ClientError> {
        // Someone may have refreshed between our read and our lock.
        if let Some(token) = self.cache.get(&self.key).await? {
            if self.is_fresh(&token, self.clock.now_ms()) {
                return Ok(token);
            }
        }
        let cx = FetchContext {
            http: self.http.clone(),
            clock: Arc::clone(&self.clock),
            cache: Arc::clone(&self.cache),
            key: self.key.clone(),
            request_timeout: self.options.request_timeout,
        };
        let budget = self.options.fetch_budget();
        let token = tokio::time::timeout(budget, self.flow.fetch(&cx))
            .await
            .map_err(|_| ClientError::Transport {
                path: self.endpoint_path(),
                detail: format!(
                    "no token from the identity server within {budget:?} (retries included); gave up before the refresh lock lapses"
                ),
            })??;
        let lifetime = token.expires_at_ms.saturating_sub(self.clock.now_ms());
        self.learned_lifetime_ms.store(lifetime, Ordering::Relaxed);
        if let Err(e) = self.cache.put(&self.key, &token).await {
            // The token is good; other workers fetch their own until the cache is back.
            tracing::warn!(key = %self.key, error = %e, "could not store the new token in the shared cache");
        }
        tracing::debug!(key = %self.key, fingerprint = %token.fingerprint(), "fetched a new token");
        Ok(token)
    }

    /// Fresh = expires later than now + refresh-ahead (at most half its lifetime).
    pub fn is_fresh(&self, token: &AccessToken, now_ms: u64) -> bool {
        token.fresh_at(now_ms, self.refresh_ahead_for(token))
    }

    fn refresh_ahead_for(&self, token: &AccessToken) -> Duration {
        let learned = self.learned_lifetime_ms.load(Ordering::Relaxed);
        let lifetime = jwt_lifetime(token)
            .or((learned > 0).then(|| Duration::from_millis(learned)))
            .unwrap_or_else(|| self.flow.default_lifetime());
        self.options.refresh_ahead.min(lifetime / 2)
    }

    /// The identity endpoint's path, for errors.
    fn endpoint_path(&self) -> String {
        url::Url::parse(&self.key.endpoint)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| self.key.endpoint.clone())
    }
}

/// The lifetime a JWT access token states (`exp - iat`), read without verifying it: it
/// only tunes how early to refresh, so a forged value costs at most an early refresh.
fn jwt_lifetime(token: &AccessToken) -> Option<Duration> {
    let payload = token.token.expose().split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_u64()?;
    let iat = claims.get("iat").or_else(|| claims.get("nbf"))?.as_u64()?;
    (exp > iat).then(|| Duration::from_secs(exp - iat))
}

/// `interval` ± 50%, so waiting workers do not poll in lockstep.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::rng().random_range(0.5..1.5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_core::Secret;

    fn jwt(claims: &str) -> AccessToken {
        AccessToken {
            token: Secret::new(format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims))),
            expires_at_ms: 0,
        }
    }

    #[test]
    fn reads_a_jwt_lifetime_and_ignores_other_tokens() {
        assert_eq!(
            jwt_lifetime(&jwt(r#"{"exp":1700003600,"iat":1700000000}"#)),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(jwt_lifetime(&jwt(r#"{"exp":5}"#)), None);
        let opaque = AccessToken {
            token: Secret::new("opaque"),
            expires_at_ms: 0,
        };
        assert_eq!(jwt_lifetime(&opaque), None);
    }

    #[test]
    fn jitter_stays_within_half_either_way() {
        for _ in 0..100 {
            let d = jittered(Duration::from_millis(100));
            assert!(
                d >= Duration::from_millis(50) && d < Duration::from_millis(150),
                "{d:?}"
            );
        }
    }
}
