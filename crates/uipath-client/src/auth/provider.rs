//! [`TokenProvider`]: one bearer token per (token endpoint, client, scope set) for the
//! whole fleet, refreshed by one worker at a time.
//!
//! The protocol (fleet_core::token):
//! 1. In this process, callers line up behind one async mutex (single flight), so a burst
//!    of concurrent requests costs one cache read and at most one identity request. The
//!    last token handed out is memoized, so the hot path needs neither the mutex nor the
//!    cache.
//! 2. A token from the shared cache is used while it is *fresh*: it expires later than
//!    now + refresh-ahead, where refresh-ahead is at most half the token's lifetime.
//! 3. Otherwise take the refresh lock on the key. The winner re-reads the cache (someone
//!    may just have refreshed), fetches, `put`s, unlocks. Losers poll the cache every
//!    `poll_interval` (with jitter) until a fresh token appears, or take the lock when it
//!    lapses. A loser whose cached token is still *valid* (inside the refresh-ahead margin
//!    but not expired) uses it at once: nobody waits on a refresh ahead of expiry.
//! 4. After a 401, [`TokenProvider::invalidate`] deletes exactly the failing token
//!    (compare-and-delete by fingerprint), never a newer one another worker wrote.
//!
//! Steps 2 and 3 live in `shared`; this file holds the in-process part and the options.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleet_core::{AccessToken, TokenCache, TokenKey};

use super::clock::{Clock, SystemClock};
use super::flow::Flow;
use super::shared::Shared;
use super::TokenOptions;
use crate::error::ClientError;
use crate::source::SourceConfig;

/// Shortest refresh lock worth taking: a token request needs some time.
const MIN_LOCK_TTL: Duration = Duration::from_secs(1);

/// Hands out bearer tokens for one source, shared through the cache by every worker.
#[derive(Debug)]
pub struct TokenProvider {
    shared: Arc<Shared>,
    /// Single flight within this process: only the task holding it reads the shared cache
    /// or takes the refresh lock, so concurrent callers wait here and then find the token
    /// in `memo` instead of each asking the cache (or the identity server).
    flight: tokio::sync::Mutex<()>,
    /// The last token this provider handed out. A std mutex: held for a clone, never
    /// across an `.await`.
    memo: Mutex<Option<AccessToken>>,
}

impl TokenProvider {
    /// A provider for `source`'s credentials. `options` are clamped so that the request
    /// timeout (and the whole fetch with its retries) fits inside the lock TTL. Makes no
    /// request: the first [`TokenProvider::bearer`] does.
    pub fn new(
        source: &SourceConfig,
        cache: Arc<dyn TokenCache>,
        http: reqwest::Client,
        options: TokenOptions,
    ) -> Result<Self, ClientError> {
        // No `source.validate()` here: the process validates its config at startup, and
        // a mistake the identity server can name (a user scope with client credentials)
        // is better reported with the server's verdict.
        let (flow, key) = Flow::from_source(source);
        let shared = Shared {
            cache,
            key,
            flow: Arc::new(flow),
            http,
            options: options.normalized(),
            clock: Arc::new(SystemClock),
            learned_lifetime_ms: Arc::new(AtomicU64::new(0)),
        };
        Ok(TokenProvider {
            shared: Arc::new(shared),
            flight: tokio::sync::Mutex::new(()),
            memo: Mutex::new(None),
        })
    }

    /// The same provider reading time from `clock` (tests move time by hand).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        let shared = Shared {
            clock,
            ..Shared::clone(&self.shared)
        };
        TokenProvider {
            shared: Arc::new(shared),
            ..self
        }
    }

    /// The options in effect, after clamping.
    pub fn options(&self) -> &TokenOptions {
        &self.shared.options
    }

    /// A token good for at least `refresh_ahead` (or the freshest the issuer gives).
    ///
    /// May instead return a token that is still valid but inside the refresh-ahead margin
    /// while another worker refreshes, or while the identity server has a transient
    /// failure. Errors are the identity server's verdict (see [`ClientError`]).
    /// Cancel-safe: a refresh this call started completes and is stored even if the
    /// future is dropped.
    pub async fn bearer(&self) -> Result<AccessToken, ClientError> {
        if let Flow::Pat { token } = self.shared.flow.as_ref() {
            return Ok(token.clone());
        }
        if let Some(token) = self.memoized() {
            return Ok(token);
        }
        let _flight = self.flight.lock().await;
        // Whoever held the flight before us may have just brought a fresh token.
        if let Some(token) = self.memoized() {
            return Ok(token);
        }
        let token = self.shared.bearer().await?;
        *self.memo.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        Ok(token)
    }

    /// After a 401 with `token`: remove exactly that token from the shared cache (and from
    /// this provider's memo), so the next [`TokenProvider::bearer`] gets another. A no-op
    /// for a personal access token, which cannot be renewed.
    pub async fn invalidate(&self, token: &AccessToken) -> Result<(), ClientError> {
        if matches!(*self.shared.flow, Flow::Pat { .. }) {
            return Ok(());
        }
        let fingerprint = token.fingerprint();
        {
            let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
            if memo
                .as_ref()
                .is_some_and(|m| m.fingerprint() == fingerprint)
            {
                *memo = None;
            }
        }
        let key = &self.shared.key;
        let deleted = self.shared.cache.invalidate(key, &fingerprint).await?;
        tracing::debug!(%key, %fingerprint, deleted, "invalidated a refused token");
        Ok(())
    }

    /// The cache key this provider's tokens live under.
    pub fn key(&self) -> &TokenKey {
        &self.shared.key
    }

    fn memoized(&self) -> Option<AccessToken> {
        let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.as_ref()
            .filter(|t| self.shared.is_fresh(t, self.shared.clock.now_ms()))
            .cloned()
    }
}

impl TokenOptions {
    /// The options with their invariants enforced: a lock TTL of at least a second, a
    /// request timeout below the fetch budget (three quarters of the lock TTL), a poll
    /// interval of at least 5 ms.
    pub fn normalized(mut self) -> TokenOptions {
        self.lock_ttl = self.lock_ttl.max(MIN_LOCK_TTL);
        let budget = self.fetch_budget();
        if self.request_timeout > budget || self.request_timeout.is_zero() {
            tracing::debug!(
                request_timeout = ?self.request_timeout,
                lock_ttl = ?self.lock_ttl,
                "token request timeout clamped below the refresh lock TTL"
            );
            self.request_timeout = budget;
        }
        self.poll_interval = self.poll_interval.max(Duration::from_millis(5));
        self
    }

    /// How long a lock holder may spend fetching, retries included: three quarters of the
    /// lock TTL, leaving the rest as a margin for the `put` and clock differences.
    pub fn fetch_budget(&self) -> Duration {
        self.lock_ttl * 3 / 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_keep_the_request_inside_the_lock() {
        let o = TokenOptions {
            lock_ttl: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            ..TokenOptions::default()
        }
        .normalized();
        assert_eq!(o.request_timeout, Duration::from_millis(7500));
        assert!(o.request_timeout < o.lock_ttl);
        let d = TokenOptions::default().normalized();
        assert_eq!(d.request_timeout, Duration::from_secs(30));
        let tiny = TokenOptions {
            lock_ttl: Duration::ZERO,
            poll_interval: Duration::ZERO,
            ..TokenOptions::default()
        }
        .normalized();
        assert_eq!(tiny.lock_ttl, MIN_LOCK_TTL);
        assert!(tiny.request_timeout < tiny.lock_ttl);
        assert!(!tiny.poll_interval.is_zero());
    }
}
