//! Opens what a distributed fleet process shares with the others: RabbitMQ (topology
//! declared), the Redis ledger, the token cache and the rate limiter, and builds the
//! configured sources' clients on top of them.
//!
//! Any fleet process starts with [`Backends::connect`]. Guarantees: each backend is
//! retried while unreachable for up to the given time and then reported by name with its
//! URL redacted; a configuration RabbitMQ would refuse fails at once; nothing here prints
//! a credential.

use std::sync::Arc;
use std::time::Duration;

use fleet_amqp::{AmqpBroker, AmqpConfig};
use fleet_core::{Broker as _, Ledger, LimiterConfig, RateLimiter, Secret};
use fleet_reader::Sources;
use fleet_redis::{RedisLedger, RedisRateLimiter};
use tokio_util::sync::CancellationToken;
use tracing::info;
use uipath_client::client::ClientOptions;
use uipath_client::{SourceConfig, UipathClient};

use crate::connect::patiently;
use crate::error::{Context as _, Error};
use crate::token_store::{TokenStore, TokenStoreOptions};

/// Where a distributed fleet's backends are and how they are shared.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// RabbitMQ, with this process's connection name.
    pub amqp: AmqpConfig,
    /// Redis: the ledger and the rate limiter.
    pub redis_url: Secret,
    pub redis_prefix: String,
    /// The fleet's rate budgets.
    pub limits: LimiterConfig,
    /// The token cache (Redis, normally the same).
    pub tokens: TokenStoreOptions,
}

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
    /// Connects to everything `options` name, trying each backend for up to `wait`.
    pub async fn connect(
        options: &BackendOptions,
        wait: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Backends, Error> {
        let amqp = &options.amqp;
        let redis_url = &options.redis_url;
        let redis_prefix = options.redis_prefix.clone();

        let what = format!("RabbitMQ at {}", amqp.redacted_url());
        let transient = |e: &fleet_core::BrokerError| e.is_transient();
        let broker = patiently(&what, wait, shutdown, transient, || {
            AmqpBroker::connect(amqp.clone())
        })
        .await?;
        patiently(&what, wait, shutdown, transient, || broker.declare())
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
                    options.limits.clone(),
                )
            },
        )
        .await?;
        let tokens = TokenStore::open_patiently(&options.tokens, wait, shutdown).await?;
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

    /// Clients for `sources`, sharing the fleet's token cache and rate limiter.
    pub fn sources(
        &self,
        sources: &[SourceConfig],
        options: &ClientOptions,
    ) -> Result<Sources, Error> {
        build_sources(sources, &self.tokens, self.limiter.clone(), options)
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

/// Clients for `sources` over one token store and one rate limiter (a fleet's, or an
/// embedded fleet's in-process ones).
pub fn build_sources(
    sources: &[SourceConfig],
    tokens: &TokenStore,
    limiter: Arc<dyn RateLimiter>,
    options: &ClientOptions,
) -> Result<Sources, Error> {
    if sources.is_empty() {
        return Err(Error::Config(
            "sources: no [[sources]] configured; a fleet needs at least one".into(),
        ));
    }
    let clients = sources
        .iter()
        .map(|source| {
            UipathClient::new(
                source.clone(),
                tokens.cache.clone(),
                limiter.clone(),
                options.clone(),
            )
            .map(Arc::new)
            .map_err(|e| Error::Config(format!("sources.{}: {e}", source.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Sources::new(clients))
}

/// `scheme://user:***@host...`: a URL fit for logs and messages.
pub fn redact_url(url: &Secret) -> String {
    match url::Url::parse(url.expose()) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparsable URL>".into(),
    }
}
