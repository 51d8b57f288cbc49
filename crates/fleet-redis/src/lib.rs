//! The fleet's shared state on Redis: the token cache and the rate limiter every worker
//! uses, implementing `fleet_core`'s [`TokenCache`](fleet_core::TokenCache) and
//! [`RateLimiter`](fleet_core::RateLimiter) contracts.
//!
//! This is the only crate that imports `redis`. Everything that must be atomic across
//! workers is a Lua script (the private `scripts` module says why that makes it atomic
//! and what each one guarantees); everything that depends on time uses Redis's clock,
//! not the workers'.
//!
//! - [`conn`]: [`connect_manager`], the one place for timeouts and reconnection, and
//!   [`delete_prefix`], wiping everything a fleet (or a test) keeps under its prefix.
//! - [`token_cache`]: [`RedisTokenCache`], access tokens, refresh locks, rotating refresh
//!   tokens, all sealed at rest.
//! - [`limiter`]: [`RedisRateLimiter`], a GCRA with reservations and shared 429 pauses.
//! - [`acl`]: the Redis ACL a fleet user needs (commands and key pattern).
//! - [`ledger`]: [`RedisLedger`], the fleet's [`Ledger`](fleet_core::Ledger): requests,
//!   slices, progress, sync watermarks and leases, every check-and-update one Lua script.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use fleet_core::{LimiterConfig, Sealer};
//! use fleet_redis::{connect_manager, RedisRateLimiter, RedisTokenCache};
//!
//! let conn = connect_manager("redis://127.0.0.1:6379").await?;
//! let tokens = RedisTokenCache::new(conn.clone(), "uipath-fleet", Sealer::plain());
//! let limiter = RedisRateLimiter::new(conn, "uipath-fleet", LimiterConfig::default());
//! # let _ = (tokens, limiter);
//! # Ok(())
//! # }
//! ```

pub mod acl;
pub mod conn;
pub mod ledger;
pub mod limiter;
mod scripts;
pub mod token_cache;

pub use conn::{connect_manager, delete_prefix};
pub use ledger::RedisLedger;
pub use limiter::RedisRateLimiter;
pub use token_cache::RedisTokenCache;
