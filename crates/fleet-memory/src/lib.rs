//! In-process twins of the fleet's shared backends, for the embedded mode (coordinator and
//! workers in one process) and for tests.
//!
//! - [`MemoryTokenCache`] implements [`fleet_core::TokenCache`]: access tokens and refresh
//!   locks in memory; refresh tokens in memory or, with
//!   [`MemoryTokenCache::persistent`], in a JSON file that survives restarts and that a
//!   separate `uipath-fleet login` process can write.
//! - [`MemoryRateLimiter`] implements [`fleet_core::RateLimiter`] with one `governor`
//!   GCRA limiter per bucket, on tokio's clock (so `tokio::time::pause()` drives it).
//! - [`MemoryBroker`] implements [`fleet_core::Broker`]: job lanes (sync first), exact
//!   retry delays on tokio's clock, dead letters, delivery limit, topic routing of
//!   records and events to in-process subscriptions.
//! - [`FileLedger`] implements [`fleet_core::Ledger`] in memory, or in a journal file
//!   that survives restarts and is locked to one process at a time.
//!
//! All four are `Clone`, and clones share state: hand one clone to every worker of the
//! process. Each passes its shared contract suite in `fleet_testkit::contract`, the same
//! suite the Redis or RabbitMQ backend passes. What they cannot do is span processes: a
//! fleet of more than one process needs `fleet-redis` and `fleet-amqp`.

mod broker;
mod ledger;
mod private_file;
mod rate_limiter;
mod token_cache;
mod token_file;

pub use broker::MemoryBroker;
pub use ledger::FileLedger;
pub use rate_limiter::MemoryRateLimiter;
pub use token_cache::MemoryTokenCache;
