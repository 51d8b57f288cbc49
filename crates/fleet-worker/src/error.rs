//! [`WorkerError`]: everything a worker's functions fail with.

use fleet_core::ledger::LedgerError;
use fleet_core::BrokerError;

/// Why a worker could not be built, or why a job was let go.
///
/// A job that ends in [`WorkerError::Ledger`] or [`WorkerError::Broker`] had a backend
/// call keep failing past the worker's patience: its delivery is dropped unsettled, so
/// the broker hands it out again and the slice resumes at its last checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A setting out of range, named as in the configuration file.
    #[error("worker.{field}: {problem}")]
    Config {
        field: &'static str,
        problem: String,
    },
    /// A worker without sources could not read anything.
    #[error("worker: no sources configured")]
    NoSources,
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
}
