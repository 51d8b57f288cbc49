//! Shared harness for the workspace's tests that talk to the real RabbitMQ and Redis.
//!
//! The project's integration tests run against real services, not mocks (see
//! `docs/testing.md`). `scripts/test.sh` makes sure both services are up before any test
//! runs; this crate gives each test the few things it needs to use them safely.
//!
//! # The rules, and the helper for each
//!
//! 1. **Fail, never skip.** A test that needs a service starts with
//!    [`require_rabbitmq`] or [`require_redis`]. They do a real protocol handshake and
//!    return the URL to connect to; if the service is not usable they *panic* with a
//!    message naming the URL, what failed and how to fix it. A test that quietly passes
//!    because RabbitMQ was down is worse than no test, so there is deliberately no
//!    `is_available()` to branch on.
//! 2. **Own your names.** All tests share one broker and one Redis and run in parallel
//!    (in threads under `cargo test`, in processes under nextest). Every queue, exchange
//!    and key a test creates starts with its own [`unique_prefix`], so tests never see
//!    each other's messages or keys, and a re-run never sees a previous run's leftovers.
//! 3. **Poll, don't sleep.** A sleep as synchronisation is either too short on a loaded
//!    2-core CI machine (flaky) or too long everywhere else (slow). [`wait_until`] polls
//!    a condition until a deadline and reports what it was waiting for if it times out.
//! 4. **Leave nothing behind.** A passing test deletes what its prefix declared; a
//!    `Drop` guard calls [`after_panic`] so a failing one does too.
//!
//! ```no_run
//! use std::time::Duration;
//! use fleet_testkit::{require_redis, unique_prefix, wait_until};
//!
//! # async fn example() {
//! let redis_url = require_redis().await; // panics with a how-to-fix message if down
//! let prefix = unique_prefix("token_refresh_single_flight");
//! let key = format!("{prefix}:token");
//! // ... start the code under test with `redis_url` and `key` ...
//! # let token_written = || true;
//! wait_until("the token to be cached", Duration::from_secs(10), Duration::from_millis(20), || {
//!     token_written()
//! })
//! .await
//! .unwrap();
//! # let _ = (redis_url, key);
//! # }
//! ```
//!
//! Beside the rules: [`truth`] compares what arrived with what should have, [`fleet_toml`]
//! writes the embedded fleet's configuration the binary's tests run, and [`process`]
//! spawns and stops fleet processes.
//!
//! [`contract`] holds the suites every `TokenCache` and `RateLimiter` backend must pass,
//! written once against `fleet-core`'s traits and run by each backend's tests.
//!
//! This crate must not depend on `lapin` or `redis` (only `fleet-amqp` and `fleet-redis`
//! may); the checks in [`probe`] speak the two handshakes over a plain TCP socket.

pub mod cleanup;
pub mod contract;
pub mod fleet_toml;
pub mod golden;
pub mod prefix;
pub mod probe;
pub mod process;
pub mod truth;
pub mod urls;
pub mod wait;

pub use cleanup::after_panic;
pub use prefix::unique_prefix;
pub use probe::{require_rabbitmq, require_rabbitmq_at, require_redis, require_redis_at};
pub use urls::{amqp_url, redis_url, DEFAULT_AMQP_URL, DEFAULT_REDIS_URL};
pub use wait::{wait_until, Condition, Outcome, WaitTimeout};
