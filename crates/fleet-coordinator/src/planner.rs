//! Planning: a request's units decided once, then cut into slices that are recorded and
//! published.
//!
//! # Why re-planning never duplicates work
//!
//! 1. Units (source × dataset × folder, with a slice width) are decided on the first run
//!    — folders listed, widths picked from `$count` probes — and fixed in the ledger with
//!    [`Ledger::fix_plan`]: first writer wins. A later run (a resubmission, a restart, a
//!    second replica) reads the fixed units back, so new data or new folders cannot
//!    change the cut.
//! 2. Slices are cut deterministically from the units (`plan::unit_slices`), and their ids
//!    are hashes of (request, source, dataset, folder, from, to).
//! 3. [`Ledger::add_slices`] inserts only unknown ids and returns those still `Planned`,
//!    i.e. never confirmed on the broker. Only those are published, and they become
//!    `Queued` once the broker confirmed them.
//!
//! A crash between the broker's confirm and `mark_queued` leaves a batch `Planned` that
//! is already on the queue; the next run publishes it again. That duplicates *messages*
//! (at most the batches in flight, [`PIPELINE`] × `batch`), never *work*: a worker claims a slice in the ledger before
//! reading it and drops a job whose slice is already done. Runs on one request are
//! serialized by a lease (`plan:<id>`), so two replicas do not plan it at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fleet_core::broker::{Destination, Outgoing};
use fleet_core::ledger::{RequestRecord, RequestState, SliceRecord};
use fleet_core::messages;
use fleet_core::plan::{self, BackfillRequest, Plan, PlanUnit, Width};
use fleet_core::wire::{FolderRef, Lane};
use fleet_core::{Backoff, Broker, Ledger, LedgerError};
use futures::stream::{self, StreamExt, TryStreamExt};
use tracing::{info, warn};

use crate::config::CoordinatorConfig;
use crate::error::CoordinatorError;
use crate::metrics::Metrics;
use crate::probes::ProbeCache;
use fleet_reader::{DatasetRef, Sources};

/// What a probe of `unit` was, for error messages: `$count probe of jobs in folder
/// Finance (2024-01-01T00:00:00+00:00 .. 2025-01-01T00:00:00+00:00)`.
fn probe_what(unit: &PlanUnit, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format!(
        "$count probe of {}{} ({} .. {})",
        unit.dataset,
        unit.folder
            .as_ref()
            .map(|f| format!(" in folder {}", f.path))
            .unwrap_or_default(),
        from.to_rfc3339(),
        to.to_rfc3339()
    )
}

/// A batch of jobs is published up to six times, 200 ms doubling to 5 s between.
const PUBLISH_RETRIES: Backoff =
    Backoff::new(Duration::from_millis(200), Duration::from_secs(5)).with_retries(5);

/// Batches a planning run keeps in flight.
const PIPELINE: usize = 3;

/// The lease that serializes the planning of request `id` across replicas.
pub(crate) fn plan_lease(id: &str) -> String {
    format!("plan:{id}")
}

/// The planning half of the coordinator. Cheap to clone.
#[derive(Clone)]
pub struct Planner {
    pub(crate) ledger: Arc<dyn Ledger>,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) sources: Sources,
    pub(crate) config: Arc<CoordinatorConfig>,
    pub(crate) metrics: Metrics,
    /// Folder lists and `$count` answers of the last minutes (see [`ProbeCache`]).
    pub(crate) probes: ProbeCache,
}

impl Planner {
    pub fn new(
        ledger: Arc<dyn Ledger>,
        broker: Arc<dyn Broker>,
        sources: Sources,
        config: Arc<CoordinatorConfig>,
        metrics: Metrics,
    ) -> Planner {
        Planner {
            ledger,
            broker,
            sources,
            config,
            metrics,
            probes: ProbeCache::default(),
        }
    }

    /// The source's folders (a list younger than `folder_ttl` is reused).
    pub async fn folders(&self, source: &str) -> Result<Vec<FolderRef>, CoordinatorError> {
        self.probes
            .folders(&self.sources, source, self.config.folder_ttl)
            .await
            .map_err(|error| CoordinatorError::Planning {
                source_name: source.to_owned(),
                what: "listing folders".into(),
                error,
            })
    }

    /// How many records a timed unit holds in `[from, to)` (a probe younger than
    /// `probe_ttl` is reused); `None` for a dataset read whole.
    pub async fn unit_records(
        &self,
        unit: &PlanUnit,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<u64>, CoordinatorError> {
        let dataset = DatasetRef::parse(&unit.dataset).ok_or_else(|| {
            CoordinatorError::Invalid(format!("unknown dataset {}", unit.dataset))
        })?;
        if !dataset.timed() {
            return Ok(None);
        }
        self.probes
            .count(
                &self.sources,
                &unit.source,
                &unit.dataset,
                &dataset,
                unit.folder.as_ref(),
                (from, to),
                self.config.probe_ttl,
            )
            .await
            .map(Some)
            .map_err(|error| CoordinatorError::Planning {
                source_name: unit.source.clone(),
                what: probe_what(unit, from, to),
                error,
            })
    }

    /// [`Planner::decide_units`] of a backfill: its sources, datasets, select, width and
    /// range.
    pub async fn decide_backfill_units(
        &self,
        spec: &BackfillRequest,
    ) -> Result<Vec<PlanUnit>, CoordinatorError> {
        self.decide_units(
            &spec.sources,
            &spec.datasets,
            &spec.select,
            spec.slice_width,
            Some((spec.from, spec.to)),
        )
        .await
    }

    /// Decide the units of a request: every (source, dataset) — per folder for
    /// folder-scoped datasets — with its width: the request's, or one picked from a
    /// `$count` probe of the unit's range (untimed datasets have none).
    pub async fn decide_units(
        &self,
        sources: &[String],
        datasets: &[String],
        select: &std::collections::BTreeMap<String, Vec<String>>,
        width: Option<Width>,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<Vec<PlanUnit>, CoordinatorError> {
        let mut units = Vec::new();
        for source in sources {
            let mut folders: Option<Vec<FolderRef>> = None;
            for name in datasets {
                let dataset = DatasetRef::parse(name)
                    .ok_or_else(|| CoordinatorError::Invalid(format!("unknown dataset {name}")))?;
                let scoped: Vec<Option<FolderRef>> = if dataset.folder_scoped() {
                    if folders.is_none() {
                        folders = Some(self.folders(source).await?);
                    }
                    folders.iter().flatten().cloned().map(Some).collect()
                } else {
                    vec![None]
                };
                for folder in scoped {
                    units.push(PlanUnit {
                        source: source.clone(),
                        dataset: name.clone(),
                        folder,
                        width: if dataset.timed() { width } else { None },
                        select: select.get(name).cloned().unwrap_or_default(),
                    });
                }
            }
        }
        // Probe the timed units without a width, a few at a time (the probes share the
        // tenant's budget with every worker).
        let Some((from, to)) = range else {
            return Ok(units);
        };
        let target = self.config.target_records_per_slice;
        stream::iter(units.into_iter().map(Ok))
            .map_ok(|mut unit| async move {
                if unit.width.is_none() {
                    if let Some(count) = self.unit_records(&unit, from, to).await? {
                        unit.width = Some(Width::auto(count, from, to, target));
                    }
                }
                Ok::<_, CoordinatorError>(unit)
            })
            .try_buffered(self.config.probe_concurrency.max(1))
            .try_collect()
            .await
    }

    /// Plan a backfill: fix its units, add and publish every slice not yet published,
    /// then mark the request planned. Safe to run again at any point.
    pub async fn plan_backfill(&self, id: &str) -> Result<(), CoordinatorError> {
        let started = Instant::now();
        let lease = plan_lease(id);
        if !self
            .ledger
            .try_lease(&lease, &self.config.replica, self.config.plan_lease_ttl)
            .await?
        {
            return Err(CoordinatorError::Busy(id.to_owned()));
        }
        let result = self.plan_backfill_leased(id, &lease).await;
        if let Err(e) = self
            .ledger
            .release_lease(&lease, &self.config.replica)
            .await
        {
            warn!(request = id, error = %e, "could not release the plan lease; it lapses by itself");
        }
        match &result {
            Ok(()) => self
                .metrics
                .plan_seconds
                .with_label_values(&["backfill"])
                .observe(started.elapsed().as_secs_f64()),
            Err(e) => self
                .metrics
                .planning_errors
                .with_label_values(&[e.kind()])
                .inc(),
        }
        result
    }

    async fn plan_backfill_leased(&self, id: &str, lease: &str) -> Result<(), CoordinatorError> {
        let Some(request) = self.ledger.get_request(id).await? else {
            return Err(LedgerError::UnknownRequest(id.to_owned()).into());
        };
        if request.planned || request.state.is_terminal() {
            return Ok(());
        }
        let spec: BackfillRequest = spec_of(&request)?;
        let plan = self.fixed_plan(id, request.plan.clone(), &spec).await?;

        let total: u64 = plan
            .units
            .iter()
            .map(|u| plan::unit_slice_count(u, spec.from, spec.to))
            .sum();
        if total > self.config.max_slices {
            return Err(CoordinatorError::Invalid(crate::estimate::over_cap(
                total,
                self.config.max_slices,
                spec.slice_width,
                None,
            )));
        }
        info!(
            request = id,
            units = plan.units.len(),
            slices = total,
            "planning backfill"
        );

        let now = self.config.clock.now();
        let mut published = 0u64;
        let mut batches = 0u64;
        // A few batches in flight at once: one is being added to the ledger while another
        // waits for its confirms. Batches are independent (each is published, then marked
        // queued, on its own), so their order does not matter.
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut units = plan.units.iter();
        let mut current: Option<Box<dyn Iterator<Item = SliceRecord> + Send + '_>> = None;
        loop {
            // The next batch, across unit boundaries.
            let size = self.config.batch.max(1);
            let mut batch: Vec<SliceRecord> = Vec::with_capacity(size);
            while batch.len() < size {
                let slices = match current.as_mut() {
                    Some(slices) => slices,
                    None => match units.next() {
                        Some(unit) => current.insert(plan::unit_slices(
                            id,
                            Lane::Backfill,
                            unit,
                            spec.from,
                            spec.to,
                            None,
                            now,
                        )),
                        None => break,
                    },
                };
                let want = size - batch.len();
                let before = batch.len();
                batch.extend(slices.by_ref().take(want));
                if batch.len() - before < want {
                    current = None;
                }
            }
            if batch.is_empty() {
                break;
            }
            batches += 1;
            // Every few batches: renew the lease and notice a cancellation.
            if batches.is_multiple_of(16) {
                self.ledger
                    .try_lease(lease, &self.config.replica, self.config.plan_lease_ttl)
                    .await?;
                if self.cancelled(id).await? {
                    return self.after_cancel(id).await;
                }
            }
            in_flight.push(async move { self.add_and_publish(&batch).await });
            if in_flight.len() >= PIPELINE {
                if let Some(done) = in_flight.next().await {
                    published += done?;
                }
            }
        }
        while let Some(done) = in_flight.next().await {
            published += done?;
        }
        if self.cancelled(id).await? {
            return self.after_cancel(id).await;
        }
        self.ledger
            .update_request(id, RequestState::Running, true, None)
            .await?;
        info!(request = id, slices = total, published, "backfill planned");
        Ok(())
    }

    /// The request's fixed plan, deciding it first if no run has yet.
    async fn fixed_plan(
        &self,
        id: &str,
        stored: Option<serde_json::Value>,
        spec: &BackfillRequest,
    ) -> Result<Plan, CoordinatorError> {
        let value = match stored {
            Some(v) => v,
            None => {
                let units = self.decide_backfill_units(spec).await?;
                let plan = serde_json::to_value(Plan { units }).expect("plain struct");
                self.ledger.fix_plan(id, &plan).await?
            }
        };
        serde_json::from_value(value)
            .map_err(|e| LedgerError::Corrupt(format!("plan of {id}: {e}")).into())
    }

    async fn cancelled(&self, id: &str) -> Result<bool, CoordinatorError> {
        Ok(matches!(
            self.ledger.get_request(id).await?.map(|r| r.state),
            Some(RequestState::Cancelled)
        ))
    }

    /// A cancel may have swept the slices before this run added its last batch: sweep
    /// again so nothing of a cancelled request stays queued.
    async fn after_cancel(&self, id: &str) -> Result<(), CoordinatorError> {
        self.ledger.cancel_request(id).await?;
        info!(request = id, "planning stopped: request cancelled");
        Ok(())
    }

    /// Add a batch of slices to the ledger and publish the ones never confirmed; returns
    /// how many were published.
    pub async fn add_and_publish(&self, batch: &[SliceRecord]) -> Result<u64, CoordinatorError> {
        let to_publish = self.ledger.add_slices(batch).await?;
        self.publish_planned(batch, &to_publish).await?;
        Ok(to_publish.len() as u64)
    }

    /// Publish the jobs of the slices of `batch` named in `ids` (the ones the ledger
    /// holds as `Planned`), then, once the broker confirmed them all, mark them queued.
    pub async fn publish_planned(
        &self,
        batch: &[SliceRecord],
        ids: &[String],
    ) -> Result<(), CoordinatorError> {
        if ids.is_empty() {
            return Ok(());
        }
        let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let slices: Vec<&SliceRecord> = batch
            .iter()
            .filter(|s| wanted.contains(s.id.as_str()))
            .collect();
        self.publish_jobs(&slices).await?;
        self.ledger.mark_queued(ids).await?;
        Ok(())
    }

    /// Publish the jobs of `slices` and wait for the broker's confirms, retrying a failed
    /// batch a few times (the broker reconnects meanwhile). Duplicates are possible after
    /// a failure, loss is not.
    pub async fn publish_jobs(&self, slices: &[&SliceRecord]) -> Result<(), CoordinatorError> {
        let messages: Vec<Outgoing> = slices
            .iter()
            .map(|s| messages::job(&plan::job_for(s), Destination::Jobs(s.lane)))
            .collect();
        let mut delays = PUBLISH_RETRIES.delays();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.broker.publish(messages.clone()).await {
                Ok(()) => break,
                Err(e) if e.is_transient() => e,
                Err(e) => return Err(e.into()),
            };
            let Some(delay) = delays.next() else {
                return Err(error.into());
            };
            warn!(error = %error, attempt, "publishing slice jobs failed; retrying");
            tokio::time::sleep(delay).await;
        }
        for lane in Lane::ALL {
            let n = slices.iter().filter(|s| s.lane == lane).count() as u64;
            self.metrics
                .slices_published
                .with_label_values(&[lane.as_str()])
                .inc_by(n);
        }
        Ok(())
    }
}

/// The request as it was accepted (its normalized JSON read back into its type).
pub fn spec_of<T: serde::de::DeserializeOwned>(request: &RequestRecord) -> Result<T, LedgerError> {
    serde_json::from_value(request.spec.clone())
        .map_err(|e| LedgerError::Corrupt(format!("request {}: {e}", request.id)))
}
