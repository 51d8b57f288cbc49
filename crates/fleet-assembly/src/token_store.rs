//! Opens the token cache the options name: Redis (shared by the whole fleet) or a local
//! file, sealed with the operator's key when one is configured.
//!
//! Guarantees: a configured key that is missing from the environment or malformed is an
//! error naming the variable, never a silent fallback to plain storage; **a refresh
//! token is never stored unencrypted unless the configuration says so**
//! (`token_cache.allow_unsealed_refresh_tokens`): with a `refresh-token` source and no
//! key the store refuses to open, before any sign-in or grant, with the two ways out in
//! the message; descriptions of where tokens live ([`TokenStore::describe`]) carry no
//! credential (a Redis password in the URL is masked). Client-credentials, ROPC and
//! personal-access-token sources store only access tokens (valid for an hour), so the
//! first run needs no key. A `user-key` source does not count as one that stores refresh
//! tokens: its key (long-lived and full-user) lives in the configuration, as a client
//! secret does, and is never written here; only the 24-hour access tokens it buys are
//! (docs/credentials.md recommends sealing a shared cache for them all the same).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fleet_core::{Sealer, SealingKey, Secret, TokenCache};
use fleet_memory::MemoryTokenCache;
use fleet_redis::RedisTokenCache;
use tokio_util::sync::CancellationToken;

use crate::connect::patiently;
use crate::error::{Context as _, Error};
use crate::redact_url;

/// Where and how the fleet keeps its tokens (`[token_cache]` of the configuration, with
/// what the rest of the configuration implies filled in).
#[derive(Debug, Clone, Default)]
pub struct TokenStoreOptions {
    /// Keep tokens in Redis, shared by every process of the fleet.
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key the token cache writes.
    pub prefix: String,
    /// Without Redis: the file tokens are kept in (default [`default_token_file`]).
    pub file: Option<PathBuf>,
    /// The encryption key, 32 bytes in base64.
    pub encryption_key: Option<Secret>,
    /// The environment variable holding the key (deprecated spelling).
    pub encryption_key_env: Option<String>,
    /// Store refresh tokens unencrypted when no key is configured.
    pub allow_unsealed_refresh_tokens: bool,
    /// Whether a configured source keeps refresh tokens here.
    pub refresh_tokens: bool,
}

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
    /// Opens the cache `options` describe, reading the encryption key from the
    /// environment when they name a variable.
    pub async fn open(options: impl Into<TokenStoreOptions>) -> Result<TokenStore, Error> {
        Self::open_patiently(&options.into(), Duration::ZERO, &CancellationToken::new()).await
    }

    /// Like [`TokenStore::open`], but keeps trying an unreachable Redis for up to `wait`
    /// (see [`patiently`]).
    pub async fn open_patiently(
        options: &TokenStoreOptions,
        wait: Duration,
        shutdown: &CancellationToken,
    ) -> Result<TokenStore, Error> {
        let sealer = sealer(options)?;
        let encrypted = sealer.is_sealing();
        let prefix = options.prefix.clone();
        if options.refresh_tokens && !encrypted && !options.allow_unsealed_refresh_tokens {
            let place = match (&options.redis_url, &options.file) {
                (Some(url), _) => format!("Redis at {}", redact_url(url)),
                (None, Some(path)) => format!("the file {}", path.display()),
                (None, None) => "the token file".to_owned(),
            };
            return Err(Error::Config(format!(
                "token_cache.encryption_key: a source uses refresh tokens (auth.method = \"refresh-token\"), \
                 long-lived user credentials that would be stored unencrypted in {place}. Set \
                 token_cache.encryption_key = {{ env = \"UIPATH_FLEET_TOKEN_KEY\" }} (or {{ file = \"/run/secrets/token-key\" }}) \
                 holding 32 random bytes in base64 (`head -c32 /dev/urandom | base64`), or set \
                 token_cache.allow_unsealed_refresh_tokens = true to store them in plain text"
            )));
        }
        if let Some(url) = &options.redis_url {
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
        let path = match &options.file {
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
            "NOT encrypted; set token_cache.encryption_key to encrypt tokens at rest"
        };
        format!("{place} ({how})")
    }
}

/// The sealer for the configured key, or a plain one when no key is configured.
fn sealer(options: &TokenStoreOptions) -> Result<Sealer, Error> {
    if let Some(value) = &options.encryption_key {
        let key = SealingKey::from_base64(value)
            .context("reading the token encryption key (token_cache.encryption_key)")?;
        return Ok(Sealer::new(Some(key)));
    }
    let Some(var) = &options.encryption_key_env else {
        return Ok(Sealer::plain());
    };
    let value = match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Secret::new(v),
        Ok(_) | Err(std::env::VarError::NotPresent) => {
            return Err(Error::Other(format!(
                "token_cache.encryption_key_env names `{var}`, but that environment variable is not set; \
                 export it (32 random bytes in base64: `head -c32 /dev/urandom | base64`)"
            )))
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(Error::Other(format!(
                "the environment variable `{var}` (token_cache.encryption_key_env) is not valid UTF-8"
            )))
        }
    };
    let key = SealingKey::from_base64(&value)
        .with_context(|| format!("reading the token encryption key from `{var}`"))?;
    Ok(Sealer::new(Some(key)))
}

/// `$XDG_STATE_HOME/uipath-fleet/tokens.json`, else `~/.local/state/uipath-fleet/tokens.json`.
pub fn default_token_file() -> Result<PathBuf, Error> {
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
        None => Err(Error::Other(
            "neither XDG_STATE_HOME nor HOME is set; set token_cache.file in the configuration"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_key_must_be_present_and_well_formed() {
        let options = |var: &str| TokenStoreOptions {
            encryption_key_env: Some(var.into()),
            ..TokenStoreOptions::default()
        };
        let e = sealer(&options("UIPATH_FLEET_TEST_KEY_THAT_IS_NOT_SET")).unwrap_err();
        assert!(
            e.to_string()
                .contains("UIPATH_FLEET_TEST_KEY_THAT_IS_NOT_SET"),
            "{e}"
        );
        // PATH is set in every test environment and is not a base64 key.
        let e = anyhow::Error::new(sealer(&options("PATH")).unwrap_err());
        assert!(format!("{e:#}").contains("PATH"), "{e:#}");
        assert!(!sealer(&TokenStoreOptions::default()).unwrap().is_sealing());
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "uipath-fleet-token-store-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A refresh-token source without a key: refused before anything is stored, with
    /// both ways out named; a key from a file (the one secret mechanism of the
    /// configuration) or an explicit opt-out opens the store.
    #[tokio::test]
    async fn refresh_tokens_are_not_stored_unencrypted_unless_allowed() {
        let dir = scratch("refresh");
        let tokens = dir.join("tokens.json");
        let options = |refresh_tokens: bool| TokenStoreOptions {
            file: Some(tokens.clone()),
            refresh_tokens,
            ..TokenStoreOptions::default()
        };

        let e = TokenStore::open(options(true)).await.unwrap_err();
        assert!(Error::is_config(&e), "{e}");
        let text = e.to_string();
        for needle in [
            "token_cache.encryption_key",
            "allow_unsealed_refresh_tokens = true",
            "head -c32 /dev/urandom",
        ] {
            assert!(text.contains(needle), "`{needle}` in {text}");
        }
        assert!(!tokens.exists(), "nothing was stored");

        let allowed = TokenStore::open(TokenStoreOptions {
            allow_unsealed_refresh_tokens: true,
            ..options(true)
        })
        .await
        .unwrap();
        assert!(!allowed.encrypted);
        drop(allowed);

        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let store = TokenStore::open(TokenStoreOptions {
            encryption_key: Some(Secret::new(key)),
            ..options(true)
        })
        .await
        .unwrap();
        assert!(store.encrypted);
        assert!(store.describe().contains("(encrypted)"));
        drop(store);

        // A client-credentials fleet stores only access tokens: no key needed.
        let cc = TokenStoreOptions {
            file: Some(dir.join("cc.json")),
            ..options(false)
        };
        assert!(TokenStore::open(cc).await.is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
