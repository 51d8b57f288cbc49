//! [`UipathClient`]: one request = a permit from the fleet-wide rate limiter, a bearer token
//! from the shared token cache, the HTTP call, and a classified outcome.
//!
//! What every request gets (`pipeline`):
//! - **A permit first.** Nothing is sent without `RateLimiter::acquire` on the bucket
//!   `(tenant, family)`. A permit up to [`ClientOptions::max_wait`] away is slept for; a
//!   later one returns [`ClientError::Deferred`] with nothing sent. The wait budget is per
//!   call: all permit waits of one call together never exceed `max_wait`.
//! - **One refresh on 401.** The refused token is invalidated by fingerprint (a newer token
//!   another worker stored survives), a new one is fetched and the request goes through the
//!   limiter again; a second 401 is [`ClientError::Unauthorized`].
//! - **A 429 pauses the tenant.** `RateLimiter::pause(bucket, Retry-After)`, so every worker
//!   of the fleet holds off, then the call asks for a permit again (waiting or deferring).
//! - **Transient failures are retried** (5xx, 408, connect errors, timeouts, cut or
//!   malformed bodies) with exponential backoff and jitter (`backon`), up to
//!   [`ClientOptions::attempts`] attempts, then [`ClientError::Exhausted`].
//! - Everything else is final and comes back as a [`ClientError`] whose disposition says
//!   what to do. Errors and logs name the path and status, never a token or a query value.
//!
//! `classify` turns one response into an outcome, `request` describes a request and
//! encodes it, `stats` counts what happened.

mod classify;
mod pipeline;
mod request;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use fleet_core::{Backoff, RateLimiter, TokenCache, TokenKey};
use serde::de::DeserializeOwned;

use crate::auth::{TokenOptions, TokenProvider};
use crate::error::ClientError;
use crate::source::SourceConfig;

pub(crate) use classify::get_ci;
pub use request::{Api, ApiRequest, Method};
pub use stats::{ClientStats, StatsSnapshot};

/// Tuning of the request pipeline.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The longest one call waits for permits in total before it returns
    /// [`ClientError::Deferred`] (default 10 s).
    pub max_wait: Duration,
    /// Attempts per call for transient failures, the first included (default 4).
    pub attempts: u32,
    /// First backoff delay (default 250 ms); doubles per retry, with up to 100% jitter.
    pub min_backoff: Duration,
    /// Longest backoff delay before jitter (default 10 s).
    pub max_backoff: Duration,
    pub tokens: TokenOptions,
    /// Sent as `User-Agent` on every request.
    pub user_agent: String,
}

impl ClientOptions {
    /// The retry schedule of one call: `min_backoff` doubling to `max_backoff`, with
    /// jitter (a fresh seed per call, so workers do not retry in step), for `attempts`.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.min_backoff, self.max_backoff)
            .with_retries(self.attempts.saturating_sub(1) as usize)
            .with_jitter()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_wait: Duration::from_secs(10),
            attempts: 4,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            tokens: TokenOptions::default(),
            user_agent: concat!("uipath-fleet/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// A client for one source. Cheap to clone; clones share the connection pool, token
/// provider and statistics.
#[derive(Debug, Clone)]
pub struct UipathClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source: SourceConfig,
    /// The limiter's tenant for this source (`SourceConfig::tenant_key`), computed once.
    tenant: String,
    http: reqwest::Client,
    tokens: TokenProvider,
    limiter: Arc<dyn RateLimiter>,
    options: ClientOptions,
    stats: ClientStats,
}

impl UipathClient {
    /// Validates `source` and `options` and builds the client. Sends nothing.
    pub fn new(
        source: SourceConfig,
        tokens: Arc<dyn TokenCache>,
        limiter: Arc<dyn RateLimiter>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        source.validate().map_err(ClientError::Config)?;
        if options.attempts == 0 {
            return Err(ClientError::Config(
                "client.attempts must be at least 1".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(source.timeout())
            .connect_timeout(source.timeout().min(Duration::from_secs(10)))
            .user_agent(options.user_agent.clone())
            .build()
            .map_err(|e| ClientError::Config(format!("building the HTTP client: {e}")))?;
        let provider = TokenProvider::new(&source, tokens, http.clone(), options.tokens.clone())?;
        Ok(UipathClient {
            inner: Arc::new(Inner {
                tenant: source.tenant_key(),
                source,
                http,
                tokens: provider,
                limiter,
                options,
                stats: ClientStats::default(),
            }),
        })
    }

    pub fn source(&self) -> &SourceConfig {
        &self.inner.source
    }

    /// The cache key this client's tokens live under (its refresh token under
    /// [`TokenKey::family`] of it).
    pub fn token_key(&self) -> &TokenKey {
        self.inner.tokens.key()
    }

    /// What this client (and its clones) did so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Runs `request` through the pipeline and decodes the 2xx body with `decode`. A body
    /// `decode` rejects counts as malformed (retried, then [`ClientError::Exhausted`]).
    ///
    /// **A large body is decoded on the blocking pool** (`spawn_blocking`), never on a
    /// runtime thread: parsing a page of a thousand wide records takes long enough to
    /// starve the timers and heartbeats that share the thread. That is why `decode` and
    /// its result must be `Send + 'static`.
    pub async fn send<T: Send + 'static>(
        &self,
        request: &ApiRequest,
        decode: impl Fn(&[u8]) -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<T, ClientError> {
        let decode: pipeline::Decode<T> = std::sync::Arc::new(decode);
        self.run(request, &decode).await
    }

    /// Runs `request` and deserializes the body into `T`.
    pub async fn send_json<T: DeserializeOwned + Send + 'static>(
        &self,
        request: &ApiRequest,
    ) -> Result<T, ClientError> {
        self.send(request, |body| {
            serde_json::from_slice(body).map_err(|e| format!("unexpected JSON: {e}"))
        })
        .await
    }
}
