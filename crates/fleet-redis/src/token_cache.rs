//! [`RedisTokenCache`]: the fleet-wide [`TokenCache`] on Redis.
//!
//! Layout (every key under the caller's prefix; `{id}` is [`TokenKey::id`], a hash, so
//! key names carry no URLs or client ids):
//!
//! | key | type | content | expiry |
//! |---|---|---|---|
//! | `{prefix}:tok:{id}` | hash | `fp` fingerprint, `tok` sealed token, `exp` Unix ms | `PEXPIREAT exp` |
//! | `{prefix}:lock:{id}` | string | random owner id | the lock TTL (`SET NX PX`) |
//! | `{prefix}:rt:{family id}` | hash | `fp` fingerprint, `tok` sealed refresh token | none |
//!
//! Guarantees, each from one atomic step (see the `scripts` module): a cached token is
//! only replaced by one that expires later; invalidation, unlocking, rotation and
//! discarding are compare-and-delete / compare-and-swap on a fingerprint or owner id, so
//! they never touch what another worker wrote meanwhile; at most one caller holds a lock
//! at a time.
//!
//! Tokens are sealed with [`Sealer`] using the Redis key name as associated data, so a
//! sealed value copied to another key does not open. Compare-and-swap uses the non-secret
//! fingerprint (sealing is randomised, so two seals of one token differ). Errors carry the
//! operation and Redis's message, never a token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fleet_core::token::fingerprint;
use fleet_core::{AccessToken, CacheError, LockToken, Sealer, Secret, TokenCache, TokenKey};
use redis::aio::ConnectionManager;
use redis::RedisError;

use crate::conn::{connect_manager, describe};
use crate::scripts::{DEL_IF_FP, RT_ROTATE, RT_STORE, TOKEN_PUT, UNLOCK};

const MAX_LOCK_TTL_MS: u64 = 365 * 24 * 3600 * 1000;

/// The shared token cache. Cheap to clone (one multiplexed connection underneath).
#[derive(Clone)]
pub struct RedisTokenCache {
    conn: ConnectionManager,
    prefix: Arc<str>,
    sealer: Sealer,
}

/// Shows the prefix and whether tokens are sealed; never the key or the connection
/// details.
impl fmt::Debug for RedisTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenCache")
            .field("prefix", &self.prefix)
            .field("sealing", &self.sealer.is_sealing())
            .finish_non_exhaustive()
    }
}

impl RedisTokenCache {
    /// A cache over `conn` whose keys all start with `prefix` (e.g. `uipath-fleet`).
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>, sealer: Sealer) -> Self {
        RedisTokenCache {
            conn,
            prefix: prefix.into().into(),
            sealer,
        }
    }

    /// Connects with [`connect_manager`] and builds the cache.
    pub async fn connect(
        url: &str,
        prefix: impl Into<String>,
        sealer: Sealer,
    ) -> Result<Self, CacheError> {
        let conn = connect_manager(url)
            .await
            .map_err(|e| backend("connecting to redis", e))?;
        Ok(Self::new(conn, prefix, sealer))
    }

    fn token_key(&self, key: &TokenKey) -> String {
        format!("{}:tok:{}", self.prefix, key.id())
    }

    fn lock_key(&self, key: &TokenKey) -> String {
        format!("{}:lock:{}", self.prefix, key.id())
    }

    fn refresh_key(&self, key: &TokenKey) -> String {
        format!("{}:rt:{}", self.prefix, key.family().id())
    }

    /// Runs a script returning 0/1 on one key.
    async fn flag(
        &self,
        op: &str,
        invocation: &mut redis::ScriptInvocation<'_>,
    ) -> Result<bool, CacheError> {
        let mut conn = self.conn.clone();
        let n: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| backend(op, e))?;
        Ok(n == 1)
    }
}

fn backend(op: &str, e: RedisError) -> CacheError {
    CacheError::Backend(describe(op, &e))
}

#[async_trait::async_trait]
impl TokenCache for RedisTokenCache {
    async fn get(&self, key: &TokenKey) -> Result<Option<AccessToken>, CacheError> {
        let name = self.token_key(key);
        let (tok, exp): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(&name)
            .arg("tok")
            .arg("exp")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend("reading the cached token", e))?;
        let (Some(tok), Some(exp)) = (tok, exp) else {
            return Ok(None);
        };
        let expires_at_ms = exp.parse().map_err(|_| {
            CacheError::Backend(format!("cached token {name} has a malformed expiry"))
        })?;
        Ok(Some(AccessToken {
            token: self.sealer.open(&name, &tok)?,
            expires_at_ms,
        }))
    }

    async fn try_lock(
        &self,
        key: &TokenKey,
        ttl: Duration,
    ) -> Result<Option<LockToken>, CacheError> {
        let owner = uuid::Uuid::new_v4().to_string();
        // PX 0 is an error in Redis (a 1 ms lock is as good as the none that was asked
        // for), and so is a TTL that overflows its clock (a year is "forever" here).
        let ttl_ms = u64::try_from(ttl.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_LOCK_TTL_MS);
        let set: Option<String> = redis::cmd("SET")
            .arg(self.lock_key(key))
            .arg(&owner)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend("taking the refresh lock", e))?;
        Ok(set.map(|_| LockToken(owner)))
    }

    async fn unlock(&self, key: &TokenKey, lock: &LockToken) -> Result<(), CacheError> {
        let released = self
            .flag(
                "releasing the refresh lock",
                UNLOCK.key(self.lock_key(key)).arg(&lock.0),
            )
            .await?;
        if !released {
            tracing::debug!(%key, "refresh lock had lapsed before unlock");
        }
        Ok(())
    }

    async fn put(&self, key: &TokenKey, token: &AccessToken) -> Result<(), CacheError> {
        let name = self.token_key(key);
        let sealed = self.sealer.seal(&name, &token.token);
        let stored = self
            .flag(
                "storing the access token",
                TOKEN_PUT
                    .key(&name)
                    .arg(token.fingerprint())
                    .arg(sealed)
                    .arg(token.expires_at_ms),
            )
            .await?;
        if !stored {
            tracing::debug!(%key, "kept the cached token: it expires no earlier than the new one");
        }
        Ok(())
    }

    async fn invalidate(&self, key: &TokenKey, fingerprint: &str) -> Result<bool, CacheError> {
        self.flag(
            "invalidating the access token",
            DEL_IF_FP.key(self.token_key(key)).arg(fingerprint),
        )
        .await
    }

    async fn refresh_token(&self, key: &TokenKey) -> Result<Option<Secret>, CacheError> {
        let name = self.refresh_key(key);
        let tok: Option<String> = redis::cmd("HGET")
            .arg(&name)
            .arg("tok")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend("reading the refresh token", e))?;
        tok.map(|t| self.sealer.open(&name, &t).map_err(CacheError::from))
            .transpose()
    }

    async fn rotate_refresh_token(
        &self,
        key: &TokenKey,
        spent: &Secret,
        next: &Secret,
    ) -> Result<bool, CacheError> {
        let name = self.refresh_key(key);
        let sealed = self.sealer.seal(&name, next);
        self.flag(
            "rotating the refresh token",
            RT_ROTATE
                .key(&name)
                .arg(fingerprint(spent))
                .arg(fingerprint(next))
                .arg(sealed),
        )
        .await
    }

    async fn store_refresh_token(
        &self,
        key: &TokenKey,
        token: &Secret,
        overwrite: bool,
    ) -> Result<bool, CacheError> {
        let name = self.refresh_key(key);
        let sealed = self.sealer.seal(&name, token);
        self.flag(
            "storing the refresh token",
            RT_STORE
                .key(&name)
                .arg(fingerprint(token))
                .arg(sealed)
                .arg(if overwrite { "1" } else { "0" }),
        )
        .await
    }

    async fn discard_refresh_token(
        &self,
        key: &TokenKey,
        spent: &Secret,
    ) -> Result<bool, CacheError> {
        self.flag(
            "discarding the refresh token",
            DEL_IF_FP.key(self.refresh_key(key)).arg(fingerprint(spent)),
        )
        .await
    }
}
