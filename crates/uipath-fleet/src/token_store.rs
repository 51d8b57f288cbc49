//! Opens the token cache the configuration names: Redis (shared by the whole fleet) or a
//! local file, sealed with the operator's key when one is configured.
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

use anyhow::{bail, Context as _};
use fleet_core::{Sealer, SealingKey, Secret, TokenCache};
use fleet_memory::MemoryTokenCache;
use fleet_redis::RedisTokenCache;
use tokio_util::sync::CancellationToken;

use crate::config::{redact_url, ConfigError, TokenCacheConfig};
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
        if config.refresh_tokens && !encrypted && !config.allow_unsealed_refresh_tokens {
            let place = match (&config.redis_url, &config.file) {
                (Some(url), _) => format!("Redis at {}", redact_url(url)),
                (None, Some(path)) => format!("the file {}", path.display()),
                (None, None) => "the token file".to_owned(),
            };
            return Err(ConfigError(format!(
                "token_cache.encryption_key: a source uses refresh tokens (auth.method = \"refresh-token\"), \
                 long-lived user credentials that would be stored unencrypted in {place}. Set \
                 token_cache.encryption_key = {{ env = \"UIPATH_FLEET_TOKEN_KEY\" }} (or {{ file = \"/run/secrets/token-key\" }}) \
                 holding 32 random bytes in base64 (`head -c32 /dev/urandom | base64`), or set \
                 token_cache.allow_unsealed_refresh_tokens = true to store them in plain text"
            ))
            .into());
        }
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
            "NOT encrypted; set token_cache.encryption_key to encrypt tokens at rest"
        };
        format!("{place} ({how})")
    }
}

/// The sealer for the configured key, or a plain one when no key is configured.
fn sealer(config: &TokenCacheConfig) -> anyhow::Result<Sealer> {
    if let Some(value) = &config.encryption_key {
        let key = SealingKey::from_base64(value)
            .context("reading the token encryption key (token_cache.encryption_key)")?;
        return Ok(Sealer::new(Some(key)));
    }
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
        use crate::config::FleetConfig;
        let dir = scratch("refresh");
        let tokens = dir.join("tokens.json");
        let source = "[[sources]]\nname = \"d\"\ndeployment = { kind = \"cloud\", organization = \"o\", tenant = \"t\" }\n\
            auth = { method = \"refresh-token\", client_id = \"c\", scopes = [\"DataService.Data.Read\"] }\n";
        let config = |extra: &str| {
            FleetConfig::parse(&format!(
                "{source}[token_cache]\nfile = \"{}\"\n{extra}",
                tokens.display()
            ))
            .unwrap()
            .effective_token_cache()
        };

        let e = TokenStore::open(&config("")).await.unwrap_err();
        assert!(e.downcast_ref::<ConfigError>().is_some(), "{e:#}");
        let text = format!("{e:#}");
        for needle in [
            "token_cache.encryption_key",
            "allow_unsealed_refresh_tokens = true",
            "head -c32 /dev/urandom",
        ] {
            assert!(text.contains(needle), "`{needle}` in {text}");
        }
        assert!(!tokens.exists(), "nothing was stored");

        let allowed = TokenStore::open(&config("allow_unsealed_refresh_tokens = true\n"))
            .await
            .unwrap();
        assert!(!allowed.encrypted);
        drop(allowed);

        let key_file = dir.join("token-key");
        use base64::Engine as _;
        std::fs::write(
            &key_file,
            format!(
                "{}\n",
                base64::engine::general_purpose::STANDARD.encode([7u8; 32])
            ),
        )
        .unwrap();
        let keyed = config(&format!(
            "encryption_key = {{ file = \"{}\" }}\n",
            key_file.display()
        ));
        let store = TokenStore::open(&keyed).await.unwrap();
        assert!(store.encrypted);
        assert!(store.describe().contains("(encrypted)"));

        // A client-credentials fleet stores only access tokens: no key needed.
        let cc = FleetConfig::parse(&format!(
            "[[sources]]\nname = \"a\"\ndeployment = {{ kind = \"cloud\", organization = \"o\", tenant = \"t\" }}\n\
             auth = {{ method = \"client-credentials\", client_id = \"c\", client_secret = \"s\", scopes = [\"OR.Jobs.Read\"] }}\n\
             [token_cache]\nfile = \"{}\"\n",
            dir.join("cc.json").display()
        ))
        .unwrap();
        assert!(TokenStore::open(&cc.effective_token_cache()).await.is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
