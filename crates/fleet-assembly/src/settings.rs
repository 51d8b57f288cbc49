//! The sections of the fleet's configuration file this crate owns, read and checked here
//! (errors are [`Error::Config`] naming `section.field`): `[broker]` and `[redis]`, the
//! backends a distributed fleet shares; `[token_cache]`, where tokens are kept;
//! `[embedded]`, the one-process fleet of `uipath-fleet run` (and `demo`).
//!
//! `[broker]` and `[redis]` are optional in the file (the embedded mode and `login` need
//! neither); a process that needs them asks with [`BrokerConfig::amqp_config`] and
//! [`RedisConfig::url_for`], which say which field, variable or flag is missing. URLs are
//! [`Secret`]s because they may carry a password; [`redact_url`](crate::redact_url) is
//! the one way to show one.
//!
//! ```toml
//! [embedded]
//! workers = 2                 # each with [worker].concurrency job slots
//! state_dir = ".uipath-fleet" # the ledger: which slices are done, checkpoints
//! api = true                  # serve the coordinator API on [coordinator].listen
//! ```

use std::path::PathBuf;

use fleet_amqp::{AmqpConfig, OutputQueue};
use fleet_core::Secret;
use serde::Deserialize;

use crate::{Error, TokenStoreOptions};

/// The prefix of queue, exchange and key names when none is configured.
pub const DEFAULT_PREFIX: &str = "uipath-fleet";

/// Fails with an [`Error::Config`] built like `format!`.
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err(Error::Config(format!($($arg)*)))
    };
}

/// `[broker]`: RabbitMQ.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// `amqp://user:password@host:port/vhost` (the default vhost `/` is `%2f`). Also
    /// `UIPATH_FLEET_AMQP_URL` or `--amqp-url`.
    pub amqp_url: Option<Secret>,
    /// Every queue and exchange name starts with `<prefix>.` (default `uipath-fleet`), so
    /// several fleets can share one RabbitMQ.
    pub prefix: Option<String>,
    /// `[[broker.output_queues]]`: queues declared and bound to the records exchange at
    /// start, so records published before a consumer first connects are kept rather than
    /// refused as unroutable.
    pub output_queues: Vec<OutputQueue>,
}

impl BrokerConfig {
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(DEFAULT_PREFIX)
    }

    pub fn validate(&self) -> Result<(), Error> {
        if let Some(url) = &self.amqp_url {
            let ok = url::Url::parse(url.expose())
                .is_ok_and(|u| matches!(u.scheme(), "amqp" | "amqps") && u.host().is_some());
            if !ok {
                invalid!(
                    "broker.amqp_url: expected amqp://USER:PASSWORD@HOST:PORT/VHOST (or amqps://)"
                );
            }
        }
        check_prefix("broker.prefix", self.prefix())?;
        if self.prefix().starts_with("amq.") {
            invalid!("broker.prefix: names starting with `amq.` are reserved by RabbitMQ");
        }
        for (i, q) in self.output_queues.iter().enumerate() {
            if q.name.is_empty() || q.name.contains(char::is_whitespace) {
                invalid!("broker.output_queues[{i}].name: must be non-empty and without spaces");
            }
            if q.patterns.is_empty() || q.patterns.iter().any(|p| p.is_empty()) {
                invalid!(
                    "broker.output_queues[{i}].patterns: give at least one non-empty pattern, e.g. [\"#\"]"
                );
            }
        }
        Ok(())
    }

    /// The broker settings for a process that needs RabbitMQ, named `connection_name` in
    /// RabbitMQ's connection list.
    pub fn amqp_config(&self, connection_name: &str) -> Result<AmqpConfig, Error> {
        let Some(url) = &self.amqp_url else {
            invalid!(
                "broker.amqp_url: required to run a fleet process; set it in [broker], \
                 UIPATH_FLEET_AMQP_URL or --amqp-url"
            );
        };
        let mut config = AmqpConfig::new(url.expose(), self.prefix());
        config.connection_name = connection_name.to_owned();
        config.output_queues = self.output_queues.clone();
        config
            .validate()
            .map_err(|e| Error::Config(format!("broker: {e}")))?;
        Ok(config)
    }
}

/// `[redis]`: the fleet's ledger, token cache and rate limiter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]` or `rediss://`. Also `UIPATH_FLEET_REDIS_URL`
    /// or `--redis-url`.
    pub url: Option<Secret>,
    /// Every key starts with `<prefix>:` (default `uipath-fleet`).
    pub prefix: Option<String>,
}

impl RedisConfig {
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(DEFAULT_PREFIX)
    }

    pub fn validate(&self) -> Result<(), Error> {
        if let Some(url) = &self.url {
            check_redis_url("redis.url", url)?;
        }
        check_prefix("redis.prefix", self.prefix())
    }

    /// The URL, for a process that needs Redis.
    pub fn url_for(&self) -> Result<&Secret, Error> {
        match &self.url {
            Some(url) => Ok(url),
            None => invalid!(
                "redis.url: required to run a fleet process (ledger, token cache, rate limiter); \
                 set it in [redis], UIPATH_FLEET_REDIS_URL or --redis-url"
            ),
        }
    }
}

/// `[token_cache]`: where the fleet keeps its tokens.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenCacheConfig {
    /// Keep tokens in Redis, shared by every process of the fleet (`redis://host:port`).
    /// Default: `redis.url` when `[redis]` is configured.
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key the token cache writes (default: `redis.prefix`, else
    /// `uipath-fleet`).
    pub prefix: Option<String>,
    /// Without Redis: the file refresh tokens are kept in. Default
    /// `$XDG_STATE_HOME/uipath-fleet/tokens.json` or `~/.local/state/uipath-fleet/tokens.json`.
    pub file: Option<PathBuf>,
    /// The token encryption key: 32 random bytes in base64 (`head -c32 /dev/urandom |
    /// base64`), as `{ env = "UIPATH_FLEET_TOKEN_KEY" }`, `{ file = "/run/secrets/key" }`
    /// or a string. When set, access and refresh tokens are stored encrypted.
    pub encryption_key: Option<Secret>,
    /// Deprecated spelling of `encryption_key = { env = "VARIABLE" }`: the environment
    /// variable holding the key, read when the token cache is opened.
    pub encryption_key_env: Option<String>,
    /// Store refresh tokens unencrypted when no key is configured (default false: a
    /// refresh token is a long-lived user credential, so a `refresh-token` source needs
    /// `encryption_key` unless this opts out). Access tokens, which expire within the
    /// hour, are stored either way.
    pub allow_unsealed_refresh_tokens: bool,
    /// Whether a configured source keeps refresh tokens here (set by whoever composes
    /// the file, which knows the sources; never read from the file).
    #[serde(skip)]
    pub refresh_tokens: bool,
}

impl TokenCacheConfig {
    /// The Redis key prefix (`uipath-fleet` unless configured).
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(DEFAULT_PREFIX)
    }

    /// Checks the section; `shared_redis` says whether the file configures `[redis]`,
    /// where a fleet shares its tokens (a file cannot be shared by several processes).
    pub fn validate(&self, shared_redis: bool) -> Result<(), Error> {
        if self.redis_url.is_some() && self.file.is_some() {
            invalid!("token_cache: set either redis_url or file, not both");
        }
        if self.file.is_some() && shared_redis {
            invalid!(
                "token_cache.file: with [redis] configured the fleet shares its tokens in Redis; \
                 remove token_cache.file (a file cannot be shared by several processes)"
            );
        }
        if let Some(url) = &self.redis_url {
            check_redis_url("token_cache.redis_url", url)?;
        }
        check_prefix("token_cache.prefix", self.prefix())?;
        if self.encryption_key.is_some() && self.encryption_key_env.is_some() {
            invalid!(
                "token_cache: set encryption_key (e.g. {{ env = \"UIPATH_FLEET_TOKEN_KEY\" }}) or the older encryption_key_env, not both"
            );
        }
        if self.encryption_key.as_ref().is_some_and(Secret::is_empty) {
            invalid!("token_cache.encryption_key: is empty; give 32 random bytes in base64 (`head -c32 /dev/urandom | base64`)");
        }
        if let Some(var) = &self.encryption_key_env {
            if var.is_empty() || var.contains('=') {
                invalid!(
                    "token_cache.encryption_key_env: `{var}` is not an environment variable name"
                );
            }
        }
        Ok(())
    }
}

impl From<&TokenCacheConfig> for TokenStoreOptions {
    fn from(c: &TokenCacheConfig) -> TokenStoreOptions {
        TokenStoreOptions {
            redis_url: c.redis_url.clone(),
            prefix: c.prefix().to_owned(),
            file: c.file.clone(),
            encryption_key: c.encryption_key.clone(),
            encryption_key_env: c.encryption_key_env.clone(),
            allow_unsealed_refresh_tokens: c.allow_unsealed_refresh_tokens,
            refresh_tokens: c.refresh_tokens,
        }
    }
}

/// Workers of an embedded fleet unless configured.
pub const DEFAULT_WORKERS: usize = 2;

/// `[embedded]`: how many workers the one-process fleet runs and where it keeps its
/// state (the ledger journal). The records go to `[sink].dir`, as the file sink would
/// write them. Every field is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedSection {
    /// Workers in the process, each with `[worker].concurrency` job slots. Default 2.
    pub workers: usize,
    /// The directory of the fleet's state: the ledger journal (`ledger.journal`), which
    /// survives restarts so an interrupted run resumes. Default `.uipath-fleet` in the
    /// working directory.
    pub state_dir: PathBuf,
    /// Serve the coordinator's HTTP API on `[coordinator].listen` (port 0 picks a free
    /// port), so `uipath-fleet status` and friends work against this fleet. Default true.
    pub api: bool,
}

impl Default for EmbeddedSection {
    fn default() -> Self {
        EmbeddedSection {
            workers: DEFAULT_WORKERS,
            state_dir: PathBuf::from(".uipath-fleet"),
            api: true,
        }
    }
}

impl EmbeddedSection {
    /// Workers an embedded fleet may run at most (each is a set of tasks, not a process).
    pub const MAX_WORKERS: usize = 64;

    pub fn validate(&self) -> Result<(), Error> {
        if self.workers == 0 || self.workers > Self::MAX_WORKERS {
            invalid!(
                "embedded.workers: must be between 1 and {} (got {})",
                Self::MAX_WORKERS,
                self.workers
            );
        }
        if self.state_dir.as_os_str().is_empty() {
            invalid!("embedded.state_dir: must not be empty");
        }
        Ok(())
    }
}

fn check_redis_url(field: &str, url: &Secret) -> Result<(), Error> {
    let ok = url::Url::parse(url.expose())
        .is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss") && u.host().is_some());
    if !ok {
        invalid!("{field}: expected redis://HOST:PORT (or rediss://)");
    }
    Ok(())
}

fn check_prefix(field: &str, prefix: &str) -> Result<(), Error> {
    if prefix.is_empty() || prefix.contains(char::is_whitespace) {
        invalid!("{field}: must be non-empty and without spaces");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
