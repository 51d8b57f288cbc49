//! One slice job, from delivery to settlement.
//!
//! The order of steps is what makes a worker safe to kill at any point:
//!
//! 1. **Claim**: `Start` in the ledger. A slice already completed, cancelled, split or
//!    failed is acked and skipped (a completed one gets its `slice.completed` event again,
//!    which may have been lost with the worker that completed it).
//! 2. **Page**: read the page at the checkpoint, publish its records and wait for the
//!    broker's confirms, *then* checkpoint the cursor after it. A crash between the two
//!    publishes that one page again on redelivery: the one-page bound.
//! 3. **Finish**: `Complete` in the ledger, `slice.completed`, ack.
//!
//! Failures follow the client's disposition: transient ones park the job in a delay queue
//! (the ledger says Queued meanwhile), a tenant with no budget for a while defers the job
//! the same way without counting an attempt, a paging window splits the slice, and
//! anything permanent dead-letters the job with its reason. Every settlement publishes
//! what replaces the job (retry copy, children, dead letter) *before* acking it, so a crash
//! in between can duplicate work but never lose it.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::Utc;
use fleet_core::broker::{Delivery, Destination, Outgoing};
use fleet_core::ledger::{LedgerError, Outcome, SliceRecord, SliceState, Transition};
use fleet_core::messages;
use fleet_core::plan::job_for;
use fleet_core::wire::{Event, EventBody, ReadMode, SliceJob, WireError};
use fleet_core::{BrokerError, Priority};
use fleet_reader::{DatasetRef, SliceCursor, SliceRead};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uipath_client::{ClientError, Disposition};

use crate::output::Output;
use crate::service::Inner;
use crate::split;

/// A job's time window for the logs: `2024-01-01T00:00:00Z..2024-01-02T00:00:00Z`, an
/// open end as `…`.
fn window(job: &SliceJob) -> String {
    let end = |t: Option<chrono::DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| "…".to_owned())
    };
    format!("{}..{}", end(job.from), end(job.to))
}

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

/// A ledger or broker call kept failing past the worker's patience. The job's delivery is
/// dropped unsettled, so the broker hands it out again; the slice resumes at its last
/// checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum Abandon {
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
}

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

/// The longest `x-fleet-error` text: enough to read, small enough for a header.
const MAX_ERROR_TEXT: usize = 1_000;

/// Delay before the `attempt`-th retry: the `attempt`-th of the broker's tiers, 1 s up
/// to 1 h.
fn retry_delay(attempt: u32) -> Duration {
    let tiers = &fleet_core::broker::RETRY_TIERS;
    tiers[(attempt.max(1) as usize - 1).min(tiers.len() - 1)]
}

fn truncate(text: &str) -> String {
    if text.len() <= MAX_ERROR_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

pub(crate) fn priority(job: &SliceJob) -> Priority {
    match job.lane {
        fleet_core::wire::Lane::Sync => Priority::Sync,
        fleet_core::wire::Lane::Backfill => Priority::Backfill,
    }
}

/// Records and pages read so far in this run.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    records: u64,
    pages: u64,
}

impl Inner {
    /// Retries `call` while it fails transiently, with backoff, for up to the configured
    /// patience.
    pub(crate) async fn patiently<T, E, F, Fut>(
        &self,
        what: &str,
        mut call: F,
    ) -> Result<T, Abandon>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Transient + std::fmt::Display + Into<Abandon>,
    {
        let deadline = Instant::now() + self.config.infra_patience;
        let mut delay = Duration::from_millis(100);
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e) if e.transient() && Instant::now() + delay < deadline => {
                    warn!(what, error = %e, retry_in = ?delay, "backend call failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub(crate) async fn transition(&self, id: &str, t: Transition) -> Result<Outcome, Abandon> {
        self.patiently("ledger transition", || {
            self.ledger.transition(id, t.clone())
        })
        .await
    }

    pub(crate) async fn publish(&self, what: &str, messages: Vec<Outgoing>) -> Result<(), Abandon> {
        self.patiently(what, || self.broker.publish(messages.clone()))
            .await
    }

    pub(crate) async fn ack(&self, d: Delivery) -> Result<(), Abandon> {
        d.ack().await.map_err(Abandon::Broker)
    }

    /// Works one delivery to its settlement. On `Err`, the delivery has been dropped
    /// unsettled (redelivery follows).
    pub(crate) async fn handle(
        &self,
        d: Delivery,
        stop: &CancellationToken,
    ) -> Result<JobOutcome, Abandon> {
        let job = match SliceJob::from_bytes(&d.body) {
            Ok(job) => job,
            Err(e) => return self.reject(d, &e).await,
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
            let result = self.work(d, job, stop).await;
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

    /// A body that is not a job of this version: dead-lettered as it came, with the
    /// reason.
    async fn reject(&self, d: Delivery, e: &WireError) -> Result<JobOutcome, Abandon> {
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
            &truncate(&e.to_string()),
        );
        self.publish("dead letter", vec![dead]).await?;
        self.ack(d).await?;
        Ok(JobOutcome::Rejected)
    }

    async fn work(
        &self,
        d: Delivery,
        job: SliceJob,
        stop: &CancellationToken,
    ) -> Result<JobOutcome, Abandon> {
        let Some(dataset) = DatasetRef::parse(&job.dataset) else {
            let e = format!("unknown dataset `{}`", job.dataset);
            return self.give_up(d, &job, "unknown_dataset", &e).await;
        };
        let Some(tenant) = self.sources.tenant_label(&job.source) else {
            let e = format!(
                "worker {} has no source `{}`; add it to the worker's configuration and replay",
                self.config.id, job.source
            );
            return self.give_up(d, &job, "unknown_source", &e).await;
        };

        // 1. Claim.
        let claim = self.transition(&job.slice_id, Transition::Start).await?;
        let slice = match (claim.applied, claim.slice) {
            (true, Some(slice)) => slice,
            (_, None) => return self.unknown_slice(d, &job).await,
            (false, Some(slice)) => return self.not_runnable(d, &job, &slice).await,
        };
        let mut cursor = match &slice.checkpoint {
            None => SliceCursor::start(&dataset),
            Some(text) => match SliceCursor::decode(&dataset, text) {
                Ok(c) => c,
                Err(e) => {
                    return self
                        .give_up(d, &job, "bad_checkpoint", &e.to_string())
                        .await
                }
            },
        };
        let read = SliceRead {
            source: job.source.clone(),
            dataset,
            folder: job.folder.clone(),
            from: job.from,
            to: job.to,
            select: job.select.clone(),
            page_size: self.config.page_size,
            mode: job.read,
        };
        let output = Output::new(self.config.output, &job, tenant);
        let labels = [job.source.as_str(), job.dataset.as_str()];
        let mut page_no = slice.pages;
        let mut records_total = slice.records;
        let mut run = Tally::default();
        debug!(resume = slice.checkpoint.is_some(), "slice claimed");
        if job.read == ReadMode::Snapshot {
            return self
                .work_snapshot(d, &job, &slice, &read, &output, stop)
                .await;
        }

        // 2. Page.
        loop {
            if stop.is_cancelled() {
                return self.release(d, &job, slice.attempts).await;
            }
            let (records, next) = match self.sources.read_page(&read, &cursor, priority(&job)).await
            {
                Ok(page) => page,
                Err(e) => return self.client_error(d, &job, &slice, &cursor, e).await,
            };
            let n = records.len() as u64;
            page_no += 1;
            let messages = output.page_off_runtime(page_no, records, Utc::now()).await;
            if let Err(e) = self.publish("records", messages).await {
                return self.publish_failed(d, &job, &slice, e).await;
            }
            self.metrics.records.with_label_values(&labels).inc_by(n);
            self.metrics.pages.with_label_values(&labels).inc();
            run.records += n;
            run.pages += 1;
            records_total += n;

            let Some(next) = next else {
                // 3. Finish.
                let done = self
                    .transition(
                        &job.slice_id,
                        Transition::Complete {
                            records: n,
                            pages: 1,
                            claim: Some(slice.attempts),
                        },
                    )
                    .await?;
                // A refusal with the slice Completed is another holder's completion
                // (a duplicate delivery): the slice is done either way.
                let completed = done
                    .slice
                    .filter(|s| done.applied || s.state == SliceState::Completed);
                return match completed {
                    Some(s) => {
                        self.completed_event(&job, &s).await?;
                        self.ack(d).await?;
                        tracing::Span::current().record("records", s.records);
                        debug!(
                            pages = s.pages,
                            run_records = run.records,
                            "slice completed"
                        );
                        Ok(JobOutcome::Completed)
                    }
                    None => self.stopped(d).await,
                };
            };
            let saved = self
                .transition(
                    &job.slice_id,
                    Transition::Checkpoint {
                        cursor: next.encode(),
                        records: n,
                        pages: 1,
                        claim: Some(slice.attempts),
                    },
                )
                .await?;
            if !saved.applied {
                return self.stopped(d).await;
            }
            cursor = next;
            let Some(current) = saved.slice else {
                return self.stopped(d).await;
            };
            if self.config.record_budget > 0 && records_total >= self.config.record_budget {
                if let Some(children) = self.split_remainder(&current, &cursor) {
                    return self.settle_split(d, children).await;
                }
            }
        }
    }

    /// Records could not be published: an unroutable key parks the job (a queue may be
    /// bound later), anything else drops the delivery for redelivery.
    pub(crate) async fn publish_failed(
        &self,
        d: Delivery,
        job: &SliceJob,
        slice: &SliceRecord,
        error: Abandon,
    ) -> Result<JobOutcome, Abandon> {
        match error {
            Abandon::Broker(BrokerError::Unroutable { routing_key, .. }) => {
                let e = format!("no queue is bound for records `{routing_key}`: bind an output queue or run a sink");
                let claim = Some(slice.attempts);
                self.retry_later(d, job, claim, "unroutable", &e, None)
                    .await
            }
            e => Err(e),
        }
    }

    /// The claim was refused: the slice is done one way or another.
    async fn not_runnable(
        &self,
        d: Delivery,
        job: &SliceJob,
        slice: &SliceRecord,
    ) -> Result<JobOutcome, Abandon> {
        if slice.state == SliceState::Completed {
            // The worker that completed it may have died before its event went out.
            self.completed_event(job, slice).await?;
        }
        debug!(state = ?slice.state, "slice not runnable; skipped");
        self.ack(d).await?;
        Ok(JobOutcome::Skipped)
    }

    /// The ledger does not know the slice. A split child whose parent's split is not yet
    /// recorded (children are published first) comes back later; one whose parent is gone
    /// or cancelled is an orphan of an abandoned split and is dropped; anything else is a
    /// job the ledger never planned, and an operator must look at it.
    async fn unknown_slice(&self, d: Delivery, job: &SliceJob) -> Result<JobOutcome, Abandon> {
        if let Some(parent) = &job.parent {
            let found = self
                .patiently("ledger get_slice", || self.ledger.get_slice(parent))
                .await?;
            match found.map(|p| p.state) {
                Some(s) if !s.is_terminal() => {
                    let e = format!("split of parent slice {parent} not recorded yet");
                    return self
                        .retry_later(d, job, None, "split_pending", &e, None)
                        .await;
                }
                Some(SliceState::Split) => {}
                _ => {
                    debug!(parent, "orphan child of an abandoned split; dropped");
                    self.ack(d).await?;
                    return Ok(JobOutcome::Skipped);
                }
            }
        }
        let e = format!(
            "slice {} is not in the ledger (was the ledger reset, or is this job from another fleet prefix?)",
            job.slice_id
        );
        self.give_up(d, job, "unknown_slice", &e).await
    }

    /// A checkpoint, completion or retry was refused: the slice was cancelled (or claimed
    /// or finished by another worker holding a duplicate delivery) while this one read it.
    pub(crate) async fn stopped(&self, d: Delivery) -> Result<JobOutcome, Abandon> {
        info!("slice cancelled or finished elsewhere; stopped at a page boundary");
        self.ack(d).await?;
        Ok(JobOutcome::Cancelled)
    }

    pub(crate) async fn completed_event(
        &self,
        job: &SliceJob,
        s: &SliceRecord,
    ) -> Result<(), Abandon> {
        let event = Event::new(EventBody::SliceCompleted {
            request_id: job.request_id.clone(),
            slice_id: job.slice_id.clone(),
            source: job.source.clone(),
            dataset: job.dataset.clone(),
            folder: job.folder.clone(),
            from: job.from,
            to: job.to,
            records: s.records,
            pages: s.pages,
        });
        self.event(&event).await
    }

    async fn event(&self, event: &Event) -> Result<(), Abandon> {
        self.publish("event", vec![messages::event(event)]).await
    }

    pub(crate) async fn client_error(
        &self,
        d: Delivery,
        job: &SliceJob,
        slice: &SliceRecord,
        cursor: &SliceCursor,
        e: ClientError,
    ) -> Result<JobOutcome, Abandon> {
        let text = e.to_string();
        let claim = Some(slice.attempts);
        match e.disposition() {
            Disposition::Retry { after } => {
                self.retry_later(d, job, claim, e.kind(), &text, after)
                    .await
            }
            // The client already refreshed once; a second 401 is retried later, counted.
            Disposition::RefreshAndRetry => {
                self.retry_later(d, job, claim, e.kind(), &text, None).await
            }
            Disposition::Defer { after } => self.defer(d, job, slice.attempts, after, &text).await,
            Disposition::Split => {
                // Normally met on the first page. Past it (rows added after the first
                // page's count), the halves re-read what was published: offset paging has
                // no cursor a child could resume from, and the rows' ids are content
                // hashes, so consumers drop the repeats.
                if !cursor.is_start() {
                    warn!("paging window exceeded after the first page; re-reading the halves");
                }
                let cut = match (slice.from, slice.to) {
                    (Some(from), Some(to)) => split::midpoint(from, to, self.config.min_split),
                    _ => None,
                };
                match cut {
                    Some(cut) => {
                        let kids = split::children(slice, cut, None, Utc::now());
                        info!(%cut, "slice past the paging window; split in two");
                        self.settle_split(d, kids).await
                    }
                    None => {
                        let e = match (slice.from, slice.to) {
                            (Some(_), Some(_)) => format!(
                                "{text}; the slice is narrower than {:?} and is not split further",
                                self.config.min_split * 2
                            ),
                            _ => format!("{text}; the slice has no time range to split"),
                        };
                        self.give_up(d, job, "window_exceeded", &e).await
                    }
                }
            }
            Disposition::GiveUp => self.give_up(d, job, e.kind(), &text).await,
        }
    }

    /// Children for the unread remainder `[t, to)` of an over-budget slice, or `None` when
    /// the remainder cannot be cut (untimed set, offset cursor, too narrow).
    fn split_remainder(
        &self,
        slice: &SliceRecord,
        cursor: &SliceCursor,
    ) -> Option<Vec<SliceRecord>> {
        let (t, to) = (cursor.time()?, slice.to?);
        let cut = split::midpoint(t, to, self.config.min_split)?;
        info!(records = slice.records, %cut, "slice over its record budget; splitting the rest");
        Some(split::children(
            slice,
            cut,
            Some(cursor.encode()),
            Utc::now(),
        ))
    }

    /// Publish the children's jobs, record the split, ack the parent.
    async fn settle_split(
        &self,
        d: Delivery,
        children: Vec<SliceRecord>,
    ) -> Result<JobOutcome, Abandon> {
        let Some(parent_id) = children.first().and_then(|c| c.parent.clone()) else {
            return Ok(JobOutcome::Split);
        };
        let jobs = children
            .iter()
            .map(|c| messages::job(&job_for(c), Destination::Jobs(c.lane)))
            .collect();
        self.publish("split children", jobs).await?;
        let out = self
            .transition(&parent_id, Transition::Split { children })
            .await?;
        if !out.applied {
            return self.stopped(d).await;
        }
        self.ack(d).await?;
        Ok(JobOutcome::Split)
    }

    /// Park the job in a delay queue for a transient failure, or give it up once it has
    /// used its attempts.
    pub(crate) async fn retry_later(
        &self,
        d: Delivery,
        job: &SliceJob,
        claim: Option<u32>,
        kind: &str,
        error: &str,
        after: Option<Duration>,
    ) -> Result<JobOutcome, Abandon> {
        let attempt = job.attempt.saturating_add(1);
        if attempt >= self.config.max_attempts {
            let e = format!("gave up after {attempt} attempts: {error}");
            return self.give_up(d, job, kind, &e).await;
        }
        let delay = retry_delay(attempt).max(after.unwrap_or_default());
        warn!(
            kind,
            error,
            ?delay,
            attempt,
            "transient failure; retrying later"
        );
        let note = format!("{kind}: {error}");
        self.park(d, job, claim, attempt, delay, &note, JobOutcome::Retried)
            .await
    }

    /// The tenant's budget has no slot for `after`: park the job for that long (not an
    /// attempt) and serve other tenants meanwhile.
    pub(crate) async fn defer(
        &self,
        d: Delivery,
        job: &SliceJob,
        claim: u32,
        after: Duration,
        why: &str,
    ) -> Result<JobOutcome, Abandon> {
        debug!(?after, "tenant budget exhausted; deferring");
        let delay = after.max(Duration::from_secs(1));
        let note = format!("deferred: {why}");
        let parked = JobOutcome::Deferred;
        self.park(d, job, Some(claim), job.attempt, delay, &note, parked)
            .await
    }

    /// Shutdown: the last page is checkpointed; hand the job back for another worker.
    pub(crate) async fn release(
        &self,
        d: Delivery,
        job: &SliceJob,
        claim: u32,
    ) -> Result<JobOutcome, Abandon> {
        info!("released at shutdown after its last checkpoint");
        self.park(
            d,
            job,
            Some(claim),
            job.attempt,
            Duration::from_secs(1),
            "released: worker shutting down",
            JobOutcome::Released,
        )
        .await
    }

    /// Ledger back to Queued, a copy of the job into the delay queue, then ack, ending as
    /// `parked`. When the ledger refuses the move under this worker's `claim` (another
    /// worker claimed the slice since, this one's delivery having been handed over, or it
    /// was cancelled), no copy goes out — the slice is its holder's — and the job is acked
    /// as [`Self::stopped`].
    #[allow(clippy::too_many_arguments)]
    async fn park(
        &self,
        d: Delivery,
        job: &SliceJob,
        claim: Option<u32>,
        attempt: u32,
        delay: Duration,
        note: &str,
        parked: JobOutcome,
    ) -> Result<JobOutcome, Abandon> {
        let error = truncate(note);
        let moved = self
            .transition(&job.slice_id, Transition::Retry { error, claim })
            .await?;
        if claim.is_some() && !moved.applied && moved.slice.is_some() {
            return self.stopped(d).await;
        }
        let mut copy = job.clone();
        copy.attempt = attempt;
        let message = messages::job(
            &copy,
            Destination::Retry {
                lane: job.lane,
                delay,
            },
        );
        self.publish("retry", vec![message]).await?;
        self.ack(d).await?;
        Ok(parked)
    }

    /// Dead-letter the job with its reason, fail the slice, tell the events exchange.
    pub(crate) async fn give_up(
        &self,
        d: Delivery,
        job: &SliceJob,
        reason: &str,
        error: &str,
    ) -> Result<JobOutcome, Abandon> {
        let error = truncate(error);
        warn!(reason, error, "slice given up; dead-lettered");
        let dead = messages::dead_letter(job, d.body.clone(), reason, &error);
        self.publish("dead letter", vec![dead]).await?;
        let failed = self
            .transition(
                &job.slice_id,
                Transition::Fail {
                    error: format!("{reason}: {error}"),
                },
            )
            .await?;
        let attempts = failed.slice.map(|s| s.attempts).unwrap_or(job.attempt);
        let event = Event::new(EventBody::SliceFailed {
            request_id: job.request_id.clone(),
            slice_id: job.slice_id.clone(),
            source: job.source.clone(),
            dataset: job.dataset.clone(),
            folder: job.folder.clone(),
            reason: reason.to_owned(),
            error,
            attempts,
        });
        // The attempt count in its message id makes each failure its own event: a slice
        // replayed from the dead-letter queue that fails again is news, not a duplicate.
        self.event(&event).await?;
        self.ack(d).await?;
        Ok(JobOutcome::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_climb_the_tiers_and_stop_at_an_hour() {
        assert_eq!(retry_delay(0), Duration::from_secs(1));
        assert_eq!(retry_delay(1), Duration::from_secs(1));
        assert_eq!(retry_delay(3), Duration::from_secs(30));
        assert_eq!(retry_delay(40), Duration::from_secs(3600));
    }

    #[test]
    fn error_text_is_cut_on_a_char_boundary() {
        let long = "é".repeat(800);
        let cut = truncate(&long);
        assert!(cut.len() <= MAX_ERROR_TEXT + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short"), "short");
    }
}
