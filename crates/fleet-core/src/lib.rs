//! The vocabulary shared by every uipath-fleet crate, and the narrow traits behind which
//! the backends hide.
//!
//! This crate is pure: it does no IO and imports neither lapin nor redis. Backends
//! implement the traits elsewhere (`fleet-redis`, `fleet-memory`), and the rest of the
//! fleet holds them as `Arc<dyn Trait>`.
//!
//! - [`backoff`]: the one retry schedule every retry loop of the fleet reads.
//! - [`secret`]: a `Secret` newtype that never prints its contents.
//! - [`seal`]: authenticated encryption of tokens kept at rest.
//! - [`dataset`]: the UiPath datasets the fleet can copy and how each is paged.
//! - [`fields`]: the field catalog — each dataset's fields and types, the tenant's own
//!   metadata first, a built-in list from UiPath's OpenAPI description as the fallback.
//! - [`token`]: the fleet-wide OAuth token cache contract ([`TokenCache`]).
//! - [`ratelimit`]: the fleet-wide rate limiter contract ([`RateLimiter`]) and budgets.
//! - [`broker`]: the message broker contract ([`Broker`]) and topology.
//! - [`ledger`]: requests, slices, progress, sync watermarks, leases ([`Ledger`]).
//! - [`readiness`]: which backends a process reaches ([`Readiness`], `/readyz`).
//! - [`cause`]: the cause a stored failure begins with, and whether a rerun may cure it.
//! - [`plan`]: requests parsed and cut into UTC-aligned slices with deterministic ids.
//! - [`time`]: THE parser of the times UiPath serves (zone, zone-less as UTC, dates).
//! - [`wire`]: the versioned message formats (jobs, records, events).
//! - [`messages`]: every message the fleet publishes, built with its id and headers.
//! - [`json`]: how error messages name the kind of a JSON value.
//! - [`gcra`]: the arithmetic of the generic cell rate algorithm, shared by the Redis
//!   script's tests and the documentation of its behaviour.

pub mod backoff;
pub mod broker;
pub mod cause;
pub mod dataset;
pub mod fields;
pub mod gcra;
pub mod json;
pub mod ledger;
pub mod messages;
pub mod plan;
pub mod ratelimit;
pub mod readiness;
pub mod seal;
pub mod secret;
pub mod settings;
pub mod time;
pub mod token;
pub mod wire;

pub use backoff::Backoff;
pub use broker::{Broker, BrokerError, Delivery, Destination, Outgoing};
pub use ledger::{Ledger, LedgerError};
pub use ratelimit::{
    BucketKey, Budget, Decision, EndpointFamily, LimiterConfig, LimiterError, PermitRequest,
    Priority, RateLimiter,
};
pub use readiness::Readiness;
pub use seal::{SealError, Sealer, SealingKey};
pub use secret::Secret;
pub use token::{AccessToken, CacheError, LockToken, TokenCache, TokenKey};
