//! Contract suites for the fleet's backends — [`fleet_core::TokenCache`],
//! [`fleet_core::RateLimiter`], [`fleet_core::Ledger`] and [`fleet_core::Broker`] — each
//! run unchanged against every implementation (`fleet-memory` in-process, `fleet-redis`
//! on a real Redis, `fleet-amqp` on a real RabbitMQ), so the twins cannot drift.
//!
//! # Handle factories
//!
//! A suite takes a factory, `make`, and calls it whenever it wants another handle. Every
//! handle must reach **the same shared store**: for the memory backends, clones of one
//! value; for Redis, new connections with the same key prefix. The suites use that to
//! check that one handle sees another's writes and that concurrent operations through
//! different handles are atomic. The factory returns a future, so it fits an async
//! connect as well as a plain constructor:
//!
//! ```text
//! // In-process: clones of one cache.
//! let cache = MemoryTokenCache::new(Sealer::plain());
//! token_cache_contract(|| std::future::ready(Arc::new(cache.clone()) as Arc<dyn TokenCache>)).await;
//!
//! // Redis: a new connection per handle, one prefix for the run (the constructor
//! // here stands for whatever fleet-redis calls it).
//! let prefix = unique_prefix("redis_token_cache_contract");
//! token_cache_contract(|| async {
//!     Arc::new(RedisTokenCache::connect(&url, &prefix, Sealer::plain()).await.unwrap()) as Arc<dyn TokenCache>
//! })
//! .await;
//! ```
//!
//! The limiter factory is also given the [`LimiterConfig`](fleet_core::LimiterConfig) to build the handle with. It is
//! always [`limiter_config()`], so a backend whose configuration lives in the handle (both
//! do) can be built once up front and cloned.
//!
//! # What the suites promise
//!
//! - **Every documented contract of every trait method** is checked, through at least
//!   two handles. A failure names the method, the contract and the numbers.
//! - **Their own names.** Every token key and limiter bucket carries a fresh
//!   [`unique_prefix`](crate::unique_prefix) and the check's name, so a suite can run
//!   again, or beside another run, against the same store.
//! - **Under a second each.** The limiter checks use intervals of 100 ms and run
//!   concurrently; the token suite waits only for one 300 ms lock lapse and one 400 ms
//!   token expiry.
//! - **Bounds that can fail.** Time is checked with a tight lower bound (a slot is never
//!   early, whatever the scheduler does) and an upper bound generous enough for a loaded
//!   2-core machine but below what a wrong answer (one interval off) would give. See
//!   [`EARLY`] and [`late`].
//!
//! The suites must run in a tokio runtime that is *not* paused: the Redis backend's
//! clock is Redis's. Either flavour works; `#[tokio::test]` is enough.

mod broker;
mod ledger;
mod rate_limiter;
mod token_cache;

use std::time::Duration;

pub use broker::{broker_contract, DELIVERY_LIMIT as BROKER_DELIVERY_LIMIT};
pub use ledger::ledger_contract;
pub use rate_limiter::{limiter_config, rate_limiter_contract};
pub use token_cache::token_cache_contract;

/// How early a backend's time may look against ours: clock granularity only (Redis
/// `TIME` against the process's monotonic clock, microseconds against milliseconds).
pub const EARLY: Duration = Duration::from_millis(5);

/// How late an event expected `expected` after its start may be: a fixed 60 ms for
/// scheduling and round trips, plus a fifth of the expected time for timer drift that
/// grows with it. At the suites' 100 ms intervals a backend that waited one interval too
/// long would miss this bound at every step.
pub fn late(expected: Duration) -> Duration {
    Duration::from_millis(60) + expected / 5
}
