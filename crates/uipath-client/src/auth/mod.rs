//! Auth flows behind a fleet-wide token cache. (SKELETON: the helper implementing auth
//! replaces these bodies; the signatures are the contract with `client.rs`.)

use std::sync::Arc;
use std::time::Duration;

use fleet_core::{AccessToken, TokenCache, TokenKey};

use crate::error::ClientError;
use crate::source::SourceConfig;

/// Tuning of the token protocol.
#[derive(Debug, Clone)]
pub struct TokenOptions {
    /// Refresh this long before expiry (default 5 minutes; at most half a lifetime).
    pub refresh_ahead: Duration,
    /// How long the refresh lock is held at most; longer than the token request timeout.
    pub lock_ttl: Duration,
    /// How often a worker waiting for another's refresh polls the cache.
    pub poll_interval: Duration,
    /// Timeout of one request to the identity server.
    pub request_timeout: Duration,
}

impl Default for TokenOptions {
    fn default() -> Self {
        TokenOptions {
            refresh_ahead: Duration::from_secs(300),
            lock_ttl: Duration::from_secs(45),
            poll_interval: Duration::from_millis(75),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Hands out bearer tokens for one source, shared through the cache by every worker.
#[derive(Debug)]
pub struct TokenProvider {
    _cache: Arc<dyn TokenCache>,
    key: TokenKey,
}

impl TokenProvider {
    pub fn new(
        _source: &SourceConfig,
        _cache: Arc<dyn TokenCache>,
        _http: reqwest::Client,
        _options: TokenOptions,
    ) -> Result<Self, ClientError> {
        todo!("auth helper")
    }

    /// A token good for at least `refresh_ahead` (or the freshest the issuer gives).
    pub async fn bearer(&self) -> Result<AccessToken, ClientError> {
        todo!("auth helper")
    }

    /// After a 401 with `token`: remove exactly that token from the shared cache.
    pub async fn invalidate(&self, _token: &AccessToken) -> Result<(), ClientError> {
        todo!("auth helper")
    }

    pub fn key(&self) -> &TokenKey {
        &self.key
    }
}
