//! [`Worker`]: job slots that take slice jobs from the broker and work them, readiness,
//! and a graceful shutdown.
//!
//! - **Slots.** `concurrency` tasks each take one job at a time ([`Broker::next_job`],
//!   sync lane first), so a worker never holds more jobs than it works on: that is its
//!   prefetch, and a killed worker strands at most `concurrency` jobs, which the broker
//!   redelivers.
//! - **Backends down.** A failed `next_job` backs the slot off (100 ms doubling to 5 s,
//!   the worker's `BACKEND_BACKOFF`); `/readyz` asks the backends themselves; the broker
//!   client reconnects by itself. Inside a job, ledger and broker calls are retried for
//!   [`WorkerConfig::infra_patience`]; past that the job is let go unsettled (redelivered,
//!   resumed from its checkpoint) and the slot backs off.
//! - **Shutdown** (the token passed to [`Worker::run`]): slots stop taking jobs; running
//!   jobs stop at their next page boundary (the page is published and checkpointed, the
//!   job handed back through the 1 s delay queue); whatever is still running at
//!   [`WorkerConfig::drain_deadline`] is dropped unsettled and redelivered by the broker.

use std::sync::Arc;
use std::time::Instant;

use fleet_core::broker::Delivery;
use fleet_core::{Broker, Ledger, Readiness};
use fleet_reader::Sources;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::WorkerConfig;
use crate::error::WorkerError;
use crate::job::{self, JobOutcome};
use crate::metrics::Metrics;
use crate::shared::{Shared, BACKEND_BACKOFF};

/// A worker: cheap to clone, clones share everything.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Shared>,
}

/// What a run did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Jobs by outcome.
    pub outcomes: std::collections::BTreeMap<&'static str, u64>,
    /// Jobs let go unsettled (backend trouble or the drain deadline).
    pub abandoned: u64,
}

impl Worker {
    /// The worker's sources should be built with `ClientOptions::max_wait` set to how long
    /// a job may wait for a rate-limit permit before it is deferred (the fairness
    /// threshold).
    pub fn new(
        config: WorkerConfig,
        ledger: Arc<dyn Ledger>,
        broker: Arc<dyn Broker>,
        sources: Sources,
    ) -> Result<Worker, WorkerError> {
        config.validate()?;
        if sources.is_empty() {
            return Err(WorkerError::NoSources);
        }
        Ok(Worker {
            inner: Arc::new(Shared {
                config,
                ledger,
                broker,
                sources,
                metrics: Metrics::new(),
            }),
        })
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.inner.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn sources(&self) -> &Sources {
        &self.inner.sources
    }

    /// Whether the broker and the ledger answer now (`/readyz`).
    pub async fn readiness(&self) -> Readiness {
        let (b, l) = tokio::join!(self.inner.broker.ready(), self.inner.ledger.ready());
        let m = &self.inner.metrics;
        m.backend_up
            .with_label_values(&["broker"])
            .set(i64::from(b));
        m.backend_up
            .with_label_values(&["ledger"])
            .set(i64::from(l));
        Readiness {
            broker: b,
            ledger: l,
        }
    }

    /// Prometheus text of the worker's metrics, with the clients' counters folded in.
    pub fn render_metrics(&self) -> String {
        self.inner.metrics.collect_clients(&self.inner.sources);
        self.inner.metrics.render()
    }

    /// Takes and works jobs until `shutdown` is cancelled, then drains (see the module
    /// docs) and returns.
    pub async fn run(&self, shutdown: CancellationToken) -> RunSummary {
        let stop_pages = CancellationToken::new();
        let mut slots = JoinSet::new();
        for n in 0..self.inner.config.concurrency {
            let (inner, shutdown, stop_pages) =
                (self.inner.clone(), shutdown.clone(), stop_pages.clone());
            slots.spawn(async move { slot(&inner, n, shutdown, stop_pages).await });
        }
        info!(
            worker = %self.inner.config.id,
            concurrency = self.inner.config.concurrency,
            output = self.inner.config.output.as_str(),
            "worker running"
        );
        shutdown.cancelled().await;
        info!("shutting down: no new jobs; running ones stop at their next page");
        stop_pages.cancel();
        let deadline = Instant::now() + self.inner.config.drain_deadline;
        let mut summary = RunSummary::default();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, slots.join_next()).await {
                Ok(Some(Ok(s))) => summary.merge(s),
                Ok(Some(Err(e))) => error!(error = %e, "a job slot panicked"),
                Ok(None) => break,
                Err(_) => {
                    let left = slots.len();
                    warn!(
                        slots = left,
                        "drain deadline passed; leaving running jobs to redelivery"
                    );
                    slots.abort_all();
                    while slots.join_next().await.is_some() {}
                    summary.abandoned += left as u64;
                    self.inner
                        .metrics
                        .jobs
                        .with_label_values(&["abandoned"])
                        .inc_by(left as u64);
                    break;
                }
            }
        }
        info!(?summary, "worker stopped");
        summary
    }
}

impl RunSummary {
    /// Adds `other`'s counts to these (the summaries of several slots or workers).
    pub fn merge(&mut self, other: RunSummary) {
        for (k, v) in other.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
        self.abandoned += other.abandoned;
    }
}

/// One job slot: takes a job, works it to its settlement, and again until shutdown.
async fn slot(
    shared: &Shared,
    n: usize,
    shutdown: CancellationToken,
    stop_pages: CancellationToken,
) -> RunSummary {
    let mut summary = RunSummary::default();
    let mut backoff = BACKEND_BACKOFF.delays();
    while !shutdown.is_cancelled() {
        let taken = tokio::select! {
            _ = shutdown.cancelled() => break,
            taken = shared.broker.next_job(shared.config.poll) => taken,
        };
        let delivery = match taken {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                let delay = backoff.next_or_max();
                warn!(slot = n, error = %e, retry_in = ?delay, "cannot take jobs");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
                continue;
            }
        };
        let lane = delivery.lane.map(|l| l.as_str()).unwrap_or("unknown");
        let started = Instant::now();
        shared.metrics.in_flight.inc();
        let result = job::handle(shared, delivery, &stop_pages).await;
        shared.metrics.in_flight.dec();
        let outcome = match result {
            Ok(outcome) => {
                backoff.reset();
                outcome.as_str()
            }
            Err(e) => {
                let delay = backoff.next_or_max();
                warn!(slot = n, error = %e, retry_in = ?delay, "job let go for redelivery");
                summary.abandoned += 1;
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(delay) => {}
                }
                "abandoned"
            }
        };
        shared.metrics.jobs.with_label_values(&[outcome]).inc();
        shared
            .metrics
            .slice_seconds
            .with_label_values(&[lane, outcome])
            .observe(started.elapsed().as_secs_f64());
        if outcome != "abandoned" {
            *summary.outcomes.entry(outcome).or_default() += 1;
        }
    }
    summary
}

/// For tests and embedding: work exactly one delivery.
impl Worker {
    pub async fn handle(&self, delivery: Delivery) -> Result<JobOutcome, WorkerError> {
        job::handle(&self.inner, delivery, &CancellationToken::new()).await
    }
}
