//! The fleet-wide OAuth token cache: one access token per (token endpoint, client, scope
//! set) shared by every worker, and the rotating refresh token behind it.
//!
//! The cache is storage with a few atomic operations; the protocol that uses them lives
//! in `uipath-client` (`auth::TokenProvider`):
//!
//! 1. read the cached token; if it is fresh, use it;
//! 2. otherwise [`TokenCache::try_lock`]; the winner re-reads, fetches from the identity
//!    server, [`TokenCache::put`]s and unlocks; losers poll [`TokenCache::get`] until a
//!    fresh token appears or the lock lapses (then they try to lock themselves);
//! 3. on a 401, [`TokenCache::invalidate`] the token that failed, by fingerprint, so a
//!    newer token written meanwhile by another worker survives.
//!
//! Refresh tokens rotate at UiPath (single use; reusing a spent one revokes the whole
//! family). Only the holder of the lock on the *family* key ([`TokenKey::family`]) may
//! read one and spend it, and it must store the successor with
//! [`TokenCache::rotate_refresh_token`], a compare-and-swap on the spent value. The lock
//! TTL is longer than the token request's own timeout, so a slow holder gives up before
//! another worker can take over with the same refresh token.

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::seal::SealError;
use crate::Secret;

/// What identifies one cached token. Scopes are kept sorted and deduplicated so that
/// `"A B"` and `"B A"` share a token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    /// The token endpoint (or, for ROPC, the authenticate URL).
    pub endpoint: String,
    /// Client id, or the user name for ROPC, or a PAT's label.
    pub principal: String,
    pub scopes: Vec<String>,
}

impl TokenKey {
    pub fn new<S: AsRef<str>>(
        endpoint: impl Into<String>,
        principal: impl Into<String>,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        let mut scopes: Vec<String> = scopes
            .into_iter()
            .map(|s| s.as_ref().trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        scopes.sort();
        scopes.dedup();
        TokenKey {
            endpoint: endpoint.into(),
            principal: principal.into(),
            scopes,
        }
    }

    /// The same endpoint and principal with no scopes: the key refresh tokens live under
    /// (a refresh token belongs to a login, whatever scope set is later asked of it).
    pub fn family(&self) -> TokenKey {
        TokenKey {
            endpoint: self.endpoint.clone(),
            principal: self.principal.clone(),
            scopes: Vec::new(),
        }
    }

    /// A short stable id for storage keys (hex of SHA-256 over the parts), so key names
    /// carry no URLs or client ids and have a bounded length.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.endpoint.as_bytes());
        h.update([0]);
        h.update(self.principal.as_bytes());
        for s in &self.scopes {
            h.update([0]);
            h.update(s.as_bytes());
        }
        hex(&h.finalize()[..16])
    }
}

impl fmt::Display for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.principal, self.endpoint)?;
        if !self.scopes.is_empty() {
            write!(f, " [{}]", self.scopes.join(" "))?;
        }
        Ok(())
    }
}

/// An access token and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: Secret,
    /// Expiry as Unix milliseconds (the issuer's `expires_in` added to the time the
    /// response arrived, so it errs early).
    pub expires_at_ms: u64,
}

impl AccessToken {
    /// A non-secret identifier of this token (hex of the first 8 bytes of its SHA-256),
    /// used to invalidate exactly this token and to log which token failed.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.token)
    }

    /// Whether the token is still good for `margin` from `now_ms`.
    pub fn fresh_at(&self, now_ms: u64, margin: Duration) -> bool {
        self.expires_at_ms > now_ms.saturating_add(margin.as_millis() as u64)
    }
}

/// The non-secret fingerprint of any token (see [`AccessToken::fingerprint`]).
pub fn fingerprint(secret: &Secret) -> String {
    hex(&Sha256::digest(secret.expose().as_bytes())[..8])
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Proof of holding the refresh lock on a key; released with [`TokenCache::unlock`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockToken(pub String);

/// A cache backend failure. Messages never include token values.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("token cache backend: {0}")]
    Backend(String),
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// Shared storage for access and refresh tokens. Every method is atomic with respect to
/// every other caller of the same backend, in this process or any other.
#[async_trait::async_trait]
pub trait TokenCache: Send + Sync + fmt::Debug {
    /// The cached access token for `key`, fresh or not (the caller judges freshness);
    /// `None` when there is none or it has expired.
    async fn get(&self, key: &TokenKey) -> Result<Option<AccessToken>, CacheError>;

    /// Takes the refresh lock on `key` for `ttl` if nobody holds it. `Some` means the
    /// caller is now the one refresher and must `put` (or give up) and then `unlock`;
    /// `None` means another caller holds it. A lock lapses by itself after `ttl`.
    async fn try_lock(
        &self,
        key: &TokenKey,
        ttl: Duration,
    ) -> Result<Option<LockToken>, CacheError>;

    /// Releases a lock taken by `try_lock`. Releasing a lapsed lock, or one someone else
    /// has taken since, does nothing (compare-and-delete on the lock value).
    async fn unlock(&self, key: &TokenKey, lock: &LockToken) -> Result<(), CacheError>;

    /// Stores `token` for `key`, unless the cache already holds one that expires later
    /// (so a slow refresher never replaces a newer token with an older one). The entry
    /// expires by itself at the token's expiry.
    async fn put(&self, key: &TokenKey, token: &AccessToken) -> Result<(), CacheError>;

    /// Deletes the cached token for `key` only if it is the one with `fingerprint`
    /// (compare-and-delete). Returns whether it deleted. A 401 on token A must never
    /// discard token B that another worker fetched in the meantime.
    async fn invalidate(&self, key: &TokenKey, fingerprint: &str) -> Result<bool, CacheError>;

    /// The current refresh token of `key.family()`. Only a holder of the lock on the
    /// family key may spend what this returns.
    async fn refresh_token(&self, key: &TokenKey) -> Result<Option<Secret>, CacheError>;

    /// Replaces the refresh token of `key.family()` with `next` if it is still `spent`
    /// (compare-and-swap). Returns `false`, storing nothing, when the stored token is
    /// another one or missing.
    async fn rotate_refresh_token(
        &self,
        key: &TokenKey,
        spent: &Secret,
        next: &Secret,
    ) -> Result<bool, CacheError>;

    /// Stores a refresh token for `key.family()`: from a login (`overwrite = true`), or
    /// as a seed from configuration that only takes effect when none is stored
    /// (`overwrite = false`; a rotated token in the cache is newer than any config file).
    /// Returns whether it stored.
    async fn store_refresh_token(
        &self,
        key: &TokenKey,
        token: &Secret,
        overwrite: bool,
    ) -> Result<bool, CacheError>;

    /// Deletes the refresh token of `key.family()` if it is still `spent` (the identity
    /// server rejected it: the family is revoked or expired). Everyone then sees "no
    /// refresh token" and stops with the operator-facing error, instead of retrying.
    async fn discard_refresh_token(
        &self,
        key: &TokenKey,
        spent: &Secret,
    ) -> Result<bool, CacheError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_order_does_not_matter_and_family_drops_scopes() {
        let a = TokenKey::new("u", "c", ["B", "A", "A", " "]);
        let b = TokenKey::new("u", "c", ["A", "B"]);
        assert_eq!(a, b);
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id().len(), 32);
        assert_ne!(a.id(), a.family().id());
        assert_eq!(a.family(), TokenKey::new("u", "c", Vec::<String>::new()));
        assert_ne!(
            TokenKey::new("u", "c2", ["A"]).id(),
            TokenKey::new("u", "c", ["A"]).id()
        );
    }

    #[test]
    fn freshness_and_fingerprint() {
        let t = AccessToken {
            token: Secret::new("abc"),
            expires_at_ms: 10_000,
        };
        assert!(t.fresh_at(5_000, Duration::from_secs(4)));
        assert!(!t.fresh_at(5_000, Duration::from_secs(5)));
        assert_eq!(t.fingerprint().len(), 16);
        assert!(!t.fingerprint().contains("abc"));
    }
}
