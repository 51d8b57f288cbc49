//! Opens what a distributed fleet process shares with the others: RabbitMQ (topology
//! declared), the Redis ledger, the token cache and the rate limiter, and builds the
//! configured sources' clients on top of them.
//!
//! Any fleet process (worker now; coordinator later) starts with [`Backends::connect`].
//! Guarantees: each backend is retried while unreachable for up to the given time and
//! then reported by name with its URL redacted; a configuration RabbitMQ would refuse
//! fails at once; nothing here prints a credential.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use fleet_amqp::AmqpBroker;
use fleet_core::{Broker as _, Ledger, RateLimiter};
use fleet_reader::Sources;
use fleet_redis::{RedisLedger, RedisRateLimiter};
use tokio_util::sync::CancellationToken;
use tracing::info;
use uipath_client::client::ClientOptions;
use uipath_client::UipathClient;

use crate::config::{redact_url, ConfigError, FleetConfig};
use crate::connect::patiently;
use crate::token_store::TokenStore;

/// The fleet's shared backends, connected.
pub struct Backends {
    pub broker: AmqpBroker,
    pub ledger: RedisLedger,
    pub tokens: TokenStore,
    pub limiter: Arc<RedisRateLimiter>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("broker", &self.broker)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl Backends {
    /// Connects to everything `config` names, as `process` (shown in RabbitMQ's
    /// connection list), trying each backend for up to `wait`. Missing settings are
    /// [`ConfigError`]s.
    pub async fn connect(
        config: &FleetConfig,
        process: &str,
        wait: Duration,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Backends> {
        let amqp = config.broker.amqp_config(process)?;
        let redis_url = config.redis.url_for()?;
        let redis_prefix = config.redis.prefix().to_owned();

        let what = format!("RabbitMQ at {}", amqp.redacted_url());
        let broker = patiently(
            &what,
            wait,
            shutdown,
            |e: &fleet_core::BrokerError| e.is_transient(),
            || AmqpBroker::connect(amqp.clone()),
        )
        .await?;
        patiently(
            &what,
            wait,
            shutdown,
            |e: &fleet_core::BrokerError| e.is_transient(),
            || broker.declare(),
        )
        .await
        .context("declaring the fleet's queues and exchanges")?;

        let what = format!("Redis at {}", redact_url(redis_url));
        let ledger = patiently(
            &what,
            wait,
            shutdown,
            |_| true,
            || RedisLedger::connect(redis_url.expose(), redis_prefix.clone()),
        )
        .await?;
        let limiter = patiently(
            &what,
            wait,
            shutdown,
            |_| true,
            || {
                RedisRateLimiter::connect(
                    redis_url.expose(),
                    redis_prefix.clone(),
                    config.limits.clone(),
                )
            },
        )
        .await?;
        let tokens =
            TokenStore::open_patiently(&config.effective_token_cache(), wait, shutdown).await?;
        info!(
            broker = %amqp.redacted_url(),
            broker_prefix = broker.prefix(),
            redis = %redact_url(redis_url),
            redis_prefix,
            tokens = %tokens.describe(),
            "connected to the fleet's backends"
        );
        Ok(Backends {
            broker,
            ledger,
            tokens,
            limiter: Arc::new(limiter),
        })
    }

    /// Clients for every configured source, sharing the fleet's token cache and rate
    /// limiter.
    pub fn sources(
        &self,
        config: &FleetConfig,
        options: &ClientOptions,
    ) -> Result<Sources, ConfigError> {
        build_sources(config, &self.tokens, self.limiter.clone(), options)
    }

    /// The ledger as the trait the libraries take.
    pub fn ledger(&self) -> Arc<dyn Ledger> {
        Arc::new(self.ledger.clone())
    }

    /// Closes the RabbitMQ connection: whatever this process still holds unsettled goes
    /// back to its queue now rather than when the socket dies.
    pub async fn close(&self) {
        self.broker.close().await;
    }
}

/// Clients for every configured source over one token store and one rate limiter (a
/// fleet's, or an embedded fleet's in-process ones).
pub fn build_sources(
    config: &FleetConfig,
    tokens: &TokenStore,
    limiter: Arc<dyn RateLimiter>,
    options: &ClientOptions,
) -> Result<Sources, ConfigError> {
    if config.sources.is_empty() {
        return Err(ConfigError(
            "sources: no [[sources]] configured; a fleet needs at least one".into(),
        ));
    }
    let clients = config
        .sources
        .iter()
        .map(|source| {
            UipathClient::new(
                source.clone(),
                tokens.cache.clone(),
                limiter.clone(),
                options.clone(),
            )
            .map(Arc::new)
            .map_err(|e| ConfigError(format!("sources.{}: {e}", source.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Sources::new(clients))
}
