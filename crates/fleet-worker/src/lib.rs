//! The worker: takes slice jobs off the broker, pages through UiPath with the fleet's
//! shared token cache and rate limiter, publishes the records with confirms, checkpoints
//! after each confirmed page, and acks — so any number of workers can be killed and
//! restarted at any moment without losing a record.
//!
//! - [`config`]: [`WorkerConfig`] and [`OutputMode`] (one message per record or per page).
//! - [`service`]: [`Worker`]: job slots, backoff when backends are down, readiness, drain
//!   at shutdown.
//! - `job`: one job in flight as a value, from delivery to settlement — claim,
//!   page/publish/checkpoint (`job/pages.rs`; a snapshot window, the whole set compared
//!   with the stream's previous snapshot, in `job/snapshot.rs`), and the settle paths
//!   (`job/settle.rs`): done, retry later, defer, split, give up, release, stop.
//! - `shared`: what the job slots share (settings, ledger, broker, sources, metrics) and
//!   the patient backend calls, with the worker's one backoff policy.
//! - [`error`]: [`WorkerError`], what its functions fail with.
//! - [`output`]: record ids, envelopes and pages, headers.
//! - [`split`]: where to cut a dense slice and the two children.
//! - [`metrics`], [`http`]: Prometheus metrics, `/healthz`, `/readyz`, `/metrics`.
//!
//! Guarantees (tested in `tests/`): every record of a slice reaches the records exchange
//! at least once; a redelivered job repeats at most the one page that was published but
//! not yet checkpointed; every slice ends completed, split (into children that cover it),
//! cancelled, or dead-lettered with a reason.

pub mod config;
pub mod error;
pub mod http;
mod job;
pub mod metrics;
pub mod output;
pub mod service;
mod shared;
pub mod split;

pub use config::{OutputMode, WorkerConfig, WorkerSection, WorkerSettings};
pub use error::WorkerError;
pub use job::JobOutcome;
pub use service::{RunSummary, Worker};
