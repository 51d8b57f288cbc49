//! The coordinator: turns "backfill these datasets from A to B" and "keep these datasets
//! in sync every 15 minutes" into slice jobs on the broker, and reports progress.
//!
//! - The configured UiPath sources and what planning asks of them (folders, `$count`
//!   probes, Data Service entities, previews) are `fleet_reader`'s [`Sources`](fleet_reader::Sources).
//! - [`planner`]: a request's units decided once (folders × datasets, widths from a
//!   probe), fixed in the ledger, then cut into slices that are added to the ledger and
//!   published in confirmed batches. Re-running it is harmless (deterministic ids).
//! - [`leader`]: what only one replica does at a time, under a lease in the ledger:
//!   sync ticks, watermarks, finishing requests, resuming interrupted plans.
//! - [`api`]: the HTTP API (axum), bearer-token auth, errors naming the field; its
//!   answers are the types of [`api::views`], which [`remote`] (the API's client)
//!   decodes.
//! - [`dlq`]: dead letters read, classified, and judged against the ledger: listed,
//!   shown, replayed (requeue before publish, ack after the confirm).
//! - [`metrics`]: every metric the coordinator exports, defined once.
//! - [`error`]: [`CoordinatorError`], the one error type of the crate (API operations and
//!   planning runs alike), with its transient/cause/kind readings.
//! - [`service`]: [`Coordinator`], wiring it together; `run(listener, shutdown)`;
//!   [`submit`] (backfills), [`sync`] (syncs and their budget check) and [`preview`]
//!   are its operations that need more than a few lines.
//!
//! It keeps no state of its own: everything is in the ledger and on the broker, so any
//! replica can serve the API and a restarted one carries on where the last one stopped.

pub mod api;
pub mod config;
pub mod dlq;
pub mod error;
pub mod estimate;
pub mod leader;
pub mod metrics;
pub mod planner;
pub mod preview;
pub mod probes;
pub mod remote;
pub mod select_check;
pub mod service;
pub mod submit;
pub mod sync;

pub use config::{Clock, CoordinatorConfig, CoordinatorSection};
pub use error::CoordinatorError;
pub use service::Coordinator;
