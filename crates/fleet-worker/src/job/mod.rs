//! One slice job, from delivery to settlement, as a value: an [`InFlight`] job holds its
//! delivery, the job it carries, its claim on the slice and the worker's [`Shared`]
//! handles, and each step is a method that consumes it when it settles.
//!
//! The order of steps is what makes a worker safe to kill at any point:
//!
//! 1. **Claim** (here): `Start` in the ledger. A slice already completed, cancelled, split
//!    or failed is acked and skipped (a completed one gets its `slice.completed` event
//!    again, which may have been lost with the worker that completed it).
//! 2. **Page** ([`pages`]): read the page at the checkpoint, publish its records and wait
//!    for the broker's confirms, *then* checkpoint the cursor after it. A crash between
//!    the two publishes that one page again on redelivery: the one-page bound. A snapshot
//!    window reads the whole set instead ([`snapshot`]).
//! 3. **Settle** ([`settle`]): done (`Complete`, `slice.completed`, ack), or retry later,
//!    defer, split, give up (dead-letter), release at shutdown, or stop.
//!
//! Failures follow the client's disposition: transient ones park the job in a delay queue
//! (the ledger says Queued meanwhile), a tenant with no budget for a while defers the job
//! the same way without counting an attempt, a paging window splits the slice, and
//! anything permanent dead-letters the job with its reason. Every settlement publishes
//! what replaces the job (retry copy, children, dead letter) *before* acking it, so a crash
//! in between can duplicate work but never lose it. A backend call that fails past the
//! worker's patience returns `Err`: the delivery is dropped unsettled, for redelivery.

mod pages;
mod settle;
mod snapshot;

use std::time::Instant;

use chrono::Utc;
use fleet_core::broker::Delivery;
use fleet_core::ledger::{SliceRecord, SliceState, Transition};
use fleet_core::messages;
use fleet_core::wire::{ReadMode, SliceJob, WireError};
use fleet_core::Priority;
use fleet_reader::{DatasetRef, SliceCursor, SliceRead};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::error::WorkerError;
use crate::output::Output;
use crate::shared::Shared;

/// What became of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobOutcome {
    /// Every page published; the slice is completed.
    Completed,
    /// Replaced by two child slices, published as jobs.
    Split,
    /// Parked in a delay queue after a transient failure.
    Retried,
    /// Parked because the tenant's rate budget had no slot soon enough.
    Deferred,
    /// Given up: dead-lettered with a reason, `slice.failed` published.
    Failed,
    /// Not a job this build can read: dead-lettered as it came.
    Rejected,
    /// Nothing to do: already completed, cancelled, split or failed.
    Skipped,
    /// Cancelled while it ran; stopped at a page boundary.
    Cancelled,
    /// Handed back at shutdown, after its last page was checkpointed.
    Released,
}

impl JobOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Completed => "completed",
            JobOutcome::Split => "split",
            JobOutcome::Retried => "retried",
            JobOutcome::Deferred => "deferred",
            JobOutcome::Failed => "failed",
            JobOutcome::Rejected => "rejected",
            JobOutcome::Skipped => "skipped",
            JobOutcome::Cancelled => "cancelled",
            JobOutcome::Released => "released",
        }
    }
}

/// Works one delivery to its settlement. On `Err`, the delivery has been dropped
/// unsettled (redelivery follows).
pub(crate) async fn handle(
    shared: &Shared,
    d: Delivery,
    stop: &CancellationToken,
) -> Result<JobOutcome, WorkerError> {
    let job = match SliceJob::from_bytes(&d.body) {
        Ok(job) => job,
        Err(e) => return reject(shared, d, &e).await,
    };
    let span = tracing::info_span!(
        "job",
        slice = %job.slice_id,
        request = %job.request_id,
        source = %job.source,
        dataset = %job.dataset,
        folder = job.folder.as_ref().map(|f| f.path.as_str()).unwrap_or(""),
        window = %window(&job),
        attempt = job.attempt,
        // Filled in when the slice completes, so the "finished" line carries it.
        records = tracing::field::Empty,
    );
    let started = Instant::now();
    let work = async {
        info!("slice started");
        let job = InFlight {
            shared,
            delivery: d,
            job,
            claim: None,
        };
        let result = job.work(stop).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(outcome @ (JobOutcome::Failed | JobOutcome::Rejected)) => warn!(
                outcome = %outcome.as_str(),
                elapsed_ms,
                "slice finished: failed (dead-lettered; see `uipath-fleet dlq list`)"
            ),
            Ok(outcome) => info!(outcome = %outcome.as_str(), elapsed_ms, "slice finished"),
            Err(e) => warn!(
                outcome = %"abandoned",
                elapsed_ms,
                error = %e,
                "slice let go for redelivery"
            ),
        }
        result
    };
    tracing::Instrument::instrument(work, span).await
}

/// A body that is not a job of this version: dead-lettered as it came, with the reason.
async fn reject(shared: &Shared, d: Delivery, e: &WireError) -> Result<JobOutcome, WorkerError> {
    let reason = match e {
        WireError::Version { .. } => "version",
        WireError::Malformed { .. } => "malformed_job",
    };
    warn!(reason, error = %e, "job message rejected to the dead-letter queue");
    let dead = messages::rejected(
        d.message_id.as_deref(),
        &d.headers,
        d.body.clone(),
        reason,
        &settle::truncate(&e.to_string()),
    );
    shared.publish("dead letter", vec![dead]).await?;
    d.ack().await?;
    Ok(JobOutcome::Rejected)
}

/// A job being worked: taken from the broker, not yet settled.
pub(crate) struct InFlight<'a> {
    shared: &'a Shared,
    delivery: Delivery,
    job: SliceJob,
    /// The attempt count `Start` returned once the slice is claimed: checkpoints,
    /// completion and parking carry it, so a worker whose delivery was handed over can
    /// neither count pages nor put the new holder's slice back to Queued.
    claim: Option<u32>,
}

/// A claimed slice and how it is read.
struct Claimed {
    slice: SliceRecord,
    read: SliceRead,
    output: Output,
}

impl InFlight<'_> {
    /// Claim, then read the slice page by page (or as a snapshot) to its settlement.
    async fn work(mut self, stop: &CancellationToken) -> Result<JobOutcome, WorkerError> {
        let job = &self.job;
        let Some(dataset) = DatasetRef::parse(&job.dataset) else {
            let e = format!("unknown dataset `{}`", job.dataset);
            return self.give_up("unknown_dataset", &e).await;
        };
        let Some(tenant) = self.shared.sources.tenant_label(&job.source) else {
            let e = format!(
                "worker {} has no source `{}`; add it to the worker's configuration and replay",
                self.shared.config.id, job.source
            );
            return self.give_up("unknown_source", &e).await;
        };

        // 1. Claim.
        let claim = self
            .shared
            .transition(&job.slice_id, Transition::Start)
            .await?;
        let slice = match (claim.applied, claim.slice) {
            (true, Some(slice)) => slice,
            (_, None) => return self.unknown_slice().await,
            (false, Some(slice)) => return self.skip(&slice).await,
        };
        self.claim = Some(slice.attempts);
        let job = &self.job;
        let cursor = match &slice.checkpoint {
            None => SliceCursor::start(&dataset),
            Some(text) => match SliceCursor::decode(&dataset, text) {
                Ok(c) => c,
                Err(e) => return self.give_up("bad_checkpoint", &e.to_string()).await,
            },
        };
        let read = SliceRead {
            source: job.source.clone(),
            dataset,
            folder: job.folder.clone(),
            from: job.from,
            to: job.to,
            select: job.select.clone(),
            page_size: self.shared.config.page_size,
            mode: job.read,
        };
        let output = Output::new(self.shared.config.output, job, tenant);
        debug!(resume = slice.checkpoint.is_some(), "slice claimed");
        let claimed = Claimed {
            slice,
            read,
            output,
        };
        // 2. Page, and 3. settle.
        if job.read == ReadMode::Snapshot {
            self.snapshot(&claimed, stop).await
        } else {
            self.pages(&claimed, cursor, stop).await
        }
    }

    /// The ledger does not know the slice. A split child whose parent's split is not yet
    /// recorded (children are published first) comes back later; one whose parent is gone
    /// or cancelled is an orphan of an abandoned split and is dropped; anything else is a
    /// job the ledger never planned, and an operator must look at it.
    async fn unknown_slice(self) -> Result<JobOutcome, WorkerError> {
        if let Some(parent) = &self.job.parent {
            let found = self
                .shared
                .patiently("ledger get_slice", || self.shared.ledger.get_slice(parent))
                .await?;
            match found.map(|p| p.state) {
                Some(s) if !s.is_terminal() => {
                    let e = format!("split of parent slice {parent} not recorded yet");
                    return self.retry_later("split_pending", &e, None).await;
                }
                Some(SliceState::Split) => {}
                _ => {
                    debug!(parent, "orphan child of an abandoned split; dropped");
                    self.delivery.ack().await?;
                    return Ok(JobOutcome::Skipped);
                }
            }
        }
        let e = format!(
            "slice {} is not in the ledger (was the ledger reset, or is this job from another fleet prefix?)",
            self.job.slice_id
        );
        self.give_up("unknown_slice", &e).await
    }

    /// The metric labels of the job's records and pages.
    fn count(&self, pages: u64, records: u64) {
        let labels = [self.job.source.as_str(), self.job.dataset.as_str()];
        let metrics = &self.shared.metrics;
        metrics.pages.with_label_values(&labels).inc_by(pages);
        metrics.records.with_label_values(&labels).inc_by(records);
    }

    fn priority(&self) -> Priority {
        match self.job.lane {
            fleet_core::wire::Lane::Sync => Priority::Sync,
            fleet_core::wire::Lane::Backfill => Priority::Backfill,
        }
    }
}

/// A job's time window for the logs: `2024-01-01T00:00:00Z..2024-01-02T00:00:00Z`, an
/// open end as `…`.
fn window(job: &SliceJob) -> String {
    let end = |t: Option<chrono::DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| "…".to_owned())
    };
    format!("{}..{}", end(job.from), end(job.to))
}
