//! The worker: takes slice jobs off the broker, pages through UiPath with the fleet's
//! shared token cache and rate limiter, publishes the records with confirms, checkpoints
//! after each confirmed page, and acks — so any number of workers can be killed and
//! restarted at any moment without losing a record.
//!
//! - [`config`]: [`WorkerConfig`] and [`OutputMode`] (one message per record or per page).
//! - [`service`]: [`Worker`]: job slots, backoff when backends are down, readiness, drain
//!   at shutdown.
//! - `job`: one job from delivery to settlement — claim, page/publish/checkpoint, finish;
//!   retry, defer, split or dead-letter by the client error's disposition.
//! - `snapshot`: a sync window of a set without a modification time — the whole set
//!   compared with the stream's previous snapshot: changed records and tombstones.
//! - [`output`]: record ids, envelopes and pages, headers.
//! - [`split`]: where to cut a dense slice and the two children.
//! - [`metrics`], [`http`]: Prometheus metrics, `/healthz`, `/readyz`, `/metrics`.
//!
//! Guarantees (tested in `tests/`): every record of a slice reaches the records exchange
//! at least once; a redelivered job repeats at most the one page that was published but
//! not yet checkpointed; every slice ends completed, split (into children that cover it),
//! cancelled, or dead-lettered with a reason.

pub mod config;
pub mod http;
mod job;
pub mod metrics;
pub mod output;
pub mod service;
mod snapshot;
pub mod split;

pub use config::{OutputMode, WorkerConfig};
pub use job::{Abandon, JobOutcome};
pub use service::{RunSummary, Worker};
