//! The fleet's processes, assembled from the library crates, so that the binary keeps
//! only flags, configuration and presentation and tests can start any of them in-process.
//!
//! - [`embedded`]: [`EmbeddedFleet`], a coordinator, N workers and the file sink in one
//!   process (`uipath-fleet run`, `demo`), or the same on RabbitMQ and Redis.
//! - [`process`]: one worker, coordinator or file sink process of a distributed fleet.
//! - [`backends`]: connecting a fleet process to RabbitMQ and Redis ([`Backends`]) and
//!   building the sources' clients; [`connect`]: the start-up retry they use.
//! - [`dead_letters`]: the dead-letter commands' connections, holding the letters and
//!   giving them back in their order.
//! - [`token_store`]: opening the token cache (Redis or a file, sealed or not).
//! - [`demo`]: the demo's simulator, state directory and reading of the sink's files.
//! - [`settings`]: the `[broker]`, `[redis]`, `[token_cache]` and `[embedded]` sections of
//!   the configuration file, read and checked here.
//! - [`rerun`]: taking back what an earlier run left failed for a cause that may be gone.
//!
//! The library takes its own option structs ([`FleetOptions`], [`ProcessOptions`],
//! [`BackendOptions`], [`TokenStoreOptions`]) or the library crates' config types, and
//! reads only its own sections of the configuration file ([`settings`]). Errors are
//! [`Error`]; [`Error::Config`] is a setting the operator must correct.

pub mod backends;
pub mod connect;
pub mod dead_letters;
pub mod demo;
pub mod embedded;
pub mod error;
pub mod process;
pub mod rerun;
pub mod settings;
pub mod token_store;

pub use backends::{redact_url, BackendOptions, Backends};
pub use embedded::{
    EmbeddedBackends, EmbeddedFleet, FleetBackends, FleetOptions, StopSummary, Submitted,
};
pub use error::Error;
pub use process::{
    CoordinatorProcess, ProcessOptions, SinkProcess, SinkProcessOptions, WorkerProcess,
};
pub use settings::{BrokerConfig, EmbeddedSection, RedisConfig, TokenCacheConfig, DEFAULT_PREFIX};
pub use token_store::{TokenStore, TokenStoreOptions};
