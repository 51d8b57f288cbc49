//! Opens the token cache the configuration names: Redis (shared by the whole fleet) or a
//! local file, sealed with the operator's key when one is configured.
//!
//! Guarantees: a configured key that is missing from the environment or malformed is an
//! error naming the variable, never a silent fallback to plain storage; descriptions of
//! where tokens live ([`TokenStore::describe`]) carry no credential (a Redis password in
//! the URL is masked).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use fleet_core::{Sealer, SealingKey, Secret, TokenCache};
use fleet_memory::MemoryTokenCache;
use fleet_redis::RedisTokenCache;
use tokio_util::sync::CancellationToken;

use crate::config::{redact_url, TokenCacheConfig};
use crate::connect::patiently;

/// Where the fleet's tokens are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Redis { url: String, prefix: String },
    File(PathBuf),
}

/// An opened token cache and where it stores.
pub struct TokenStore {
    pub cache: Arc<dyn TokenCache>,
    pub location: Location,
    pub encrypted: bool,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("location", &self.location)
            .field("encrypted", &self.encrypted)
            .finish_non_exhaustive()
    }
}

impl TokenStore {
    /// Opens the cache `config` describes, reading the encryption key from the environment.
    pub async fn open(config: &TokenCacheConfig) -> anyhow::Result<TokenStore> {
        Self::open_patiently(config, Duration::ZERO, &CancellationToken::new()).await
    }

    /// Like [`TokenStore::open`], but keeps trying an unreachable Redis for up to `wait`
    /// (see [`crate::connect::patiently`]).
    pub async fn open_patiently(
        config: &TokenCacheConfig,
        wait: Duration,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<TokenStore> {
        let sealer = sealer(config)?;
        let encrypted = sealer.is_sealing();
        let prefix = config.prefix().to_owned();
        if let Some(url) = &config.redis_url {
            let shown = redact_url(url);
            let what = format!("the token cache in Redis at {shown}");
            let cache = patiently(
                &what,
                wait,
                shutdown,
                |_| true,
                || RedisTokenCache::connect(url.expose(), prefix.clone(), sealer.clone()),
            )
            .await?;
            return Ok(TokenStore {
                cache: Arc::new(cache),
                location: Location::Redis { url: shown, prefix },
                encrypted,
            });
        }
        let path = match &config.file {
            Some(path) => path.clone(),
            None => default_token_file()?,
        };
        let cache = MemoryTokenCache::persistent(path.clone(), sealer)
            .with_context(|| format!("opening the token file {}", path.display()))?;
        Ok(TokenStore {
            cache: Arc::new(cache),
            location: Location::File(path),
            encrypted,
        })
    }

    /// Where tokens are stored, for people: "the file X (encrypted)".
    pub fn describe(&self) -> String {
        let place = match &self.location {
            Location::Redis { url, prefix } => format!("Redis at {url} (key prefix `{prefix}`)"),
            Location::File(path) => format!("the file {}", path.display()),
        };
        let how = if self.encrypted {
            "encrypted"
        } else {
            "NOT encrypted; set token_cache.encryption_key_env to encrypt tokens at rest"
        };
        format!("{place} ({how})")
    }
}

/// The sealer for the configured key, or a plain one when no key is configured.
fn sealer(config: &TokenCacheConfig) -> anyhow::Result<Sealer> {
    let Some(var) = &config.encryption_key_env else {
        return Ok(Sealer::plain());
    };
    let value = match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Secret::new(v),
        Ok(_) | Err(std::env::VarError::NotPresent) => bail!(
            "token_cache.encryption_key_env names `{var}`, but that environment variable is not set; \
             export it (32 random bytes in base64: `head -c32 /dev/urandom | base64`)"
        ),
        Err(std::env::VarError::NotUnicode(_)) => {
            bail!("the environment variable `{var}` (token_cache.encryption_key_env) is not valid UTF-8")
        }
    };
    let key = SealingKey::from_base64(&value)
        .with_context(|| format!("reading the token encryption key from `{var}`"))?;
    Ok(Sealer::new(Some(key)))
}

/// `$XDG_STATE_HOME/uipath-fleet/tokens.json`, else `~/.local/state/uipath-fleet/tokens.json`.
pub fn default_token_file() -> anyhow::Result<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".local/state"))
        });
    match state {
        Some(dir) => Ok(dir.join("uipath-fleet").join("tokens.json")),
        None => bail!(
            "neither XDG_STATE_HOME nor HOME is set; set token_cache.file in the configuration"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_key_must_be_present_and_well_formed() {
        let config = |var: &str| TokenCacheConfig {
            encryption_key_env: Some(var.into()),
            ..TokenCacheConfig::default()
        };
        let e = sealer(&config("UIPATH_FLEET_TEST_KEY_THAT_IS_NOT_SET")).unwrap_err();
        assert!(
            e.to_string()
                .contains("UIPATH_FLEET_TEST_KEY_THAT_IS_NOT_SET"),
            "{e}"
        );
        // PATH is set in every test environment and is not a base64 key.
        let e = sealer(&config("PATH")).unwrap_err();
        assert!(format!("{e:#}").contains("PATH"), "{e:#}");
        assert!(!sealer(&TokenCacheConfig::default()).unwrap().is_sealing());
    }
}
