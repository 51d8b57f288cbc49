//! [`Shared`]: what every job of a worker uses — its settings, the ledger, the broker,
//! the sources and the metrics — and the patient ledger and broker calls jobs make.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_core::broker::Outgoing;
use fleet_core::ledger::{LedgerError, Outcome, Transition};
use fleet_core::{Backoff, Broker, BrokerError, Ledger};
use fleet_reader::Sources;
use tracing::warn;

use crate::config::WorkerConfig;
use crate::error::WorkerError;
use crate::metrics::Metrics;

/// How a worker waits out a backend that fails: 100 ms doubling to 5 s, for a job slot
/// that cannot take jobs and for a ledger or broker call inside a job.
pub(crate) const BACKEND_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// The worker's settings and handles, shared by its job slots.
pub(crate) struct Shared {
    pub(crate) config: WorkerConfig,
    pub(crate) ledger: Arc<dyn Ledger>,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) sources: Sources,
    pub(crate) metrics: Metrics,
}

/// Whether a backend error may pass if the call is tried again.
pub(crate) trait Transient {
    fn transient(&self) -> bool;
}

impl Transient for LedgerError {
    fn transient(&self) -> bool {
        matches!(self, LedgerError::Backend(_))
    }
}

impl Transient for BrokerError {
    /// An unroutable records key is not waited out here: it needs someone to bind a
    /// queue, so the job goes to the delay queue instead (see the page loop).
    fn transient(&self) -> bool {
        self.is_transient() && !matches!(self, BrokerError::Unroutable { .. })
    }
}

impl Shared {
    /// Retries `call` while it fails transiently, with [`BACKEND_BACKOFF`], for up to the
    /// configured patience.
    pub(crate) async fn patiently<T, E, F, Fut>(
        &self,
        what: &str,
        mut call: F,
    ) -> Result<T, WorkerError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Transient + std::fmt::Display + Into<WorkerError>,
    {
        let deadline = Instant::now() + self.config.infra_patience;
        let mut delays = BACKEND_BACKOFF.delays();
        loop {
            let e = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let delay = delays.next_or_max();
            if !e.transient() || Instant::now() + delay >= deadline {
                return Err(e.into());
            }
            warn!(what, error = %e, retry_in = ?delay, "backend call failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    pub(crate) async fn transition(&self, id: &str, t: Transition) -> Result<Outcome, WorkerError> {
        self.patiently("ledger transition", || {
            self.ledger.transition(id, t.clone())
        })
        .await
    }

    pub(crate) async fn publish(
        &self,
        what: &str,
        messages: Vec<Outgoing>,
    ) -> Result<(), WorkerError> {
        self.patiently(what, || self.broker.publish(messages.clone()))
            .await
    }
}
