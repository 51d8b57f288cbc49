//! How a job in flight settles, each path named for what it decides: [`done`], [`retry
//! later`], [`defer`], [`release`] at shutdown, [`split`], [`give up`] (dead-letter),
//! [`skip`] a slice that is not runnable, or [`stop`] when the ledger refused this
//! worker's move. Whatever replaces the job is published and confirmed before the ack.
//!
//! [`done`]: InFlight::done
//! [`retry later`]: InFlight::retry_later
//! [`defer`]: InFlight::defer
//! [`release`]: InFlight::release
//! [`split`]: InFlight::split
//! [`give up`]: InFlight::give_up
//! [`skip`]: InFlight::skip
//! [`stop`]: InFlight::stopped

use std::time::Duration;

use fleet_core::broker::{Destination, RETRY_TIERS};
use fleet_core::ledger::{SliceRecord, SliceState, Transition};
use fleet_core::messages;
use fleet_core::plan::job_for;
use fleet_core::wire::{Event, EventBody};
use tracing::{debug, info, warn};

use super::{InFlight, JobOutcome};
use crate::error::WorkerError;

/// The longest `x-fleet-error` text: enough to read, small enough for a header.
const MAX_ERROR_TEXT: usize = 1_000;

/// Delay before the `attempt`-th retry: the `attempt`-th of the broker's tiers, 1 s up
/// to 1 h.
fn retry_delay(attempt: u32) -> Duration {
    RETRY_TIERS[(attempt.max(1) as usize - 1).min(RETRY_TIERS.len() - 1)]
}

pub(super) fn truncate(text: &str) -> String {
    if text.len() <= MAX_ERROR_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl InFlight<'_> {
    /// The last page is read: `Complete` in the ledger, `slice.completed`, ack; `log` says
    /// what was done. A refusal with the slice Completed is another holder's completion
    /// (a duplicate delivery): the slice is done either way.
    pub(super) async fn done(
        self,
        records: u64,
        pages: u64,
        log: impl FnOnce(&SliceRecord),
    ) -> Result<JobOutcome, WorkerError> {
        let claim = self.claim;
        let done = self
            .shared
            .transition(
                &self.job.slice_id,
                Transition::Complete {
                    records,
                    pages,
                    claim,
                },
            )
            .await?;
        let completed = done
            .slice
            .filter(|s| done.applied || s.state == SliceState::Completed);
        let Some(s) = completed else {
            return self.stopped().await;
        };
        self.completed_event(&s).await?;
        self.delivery.ack().await?;
        tracing::Span::current().record("records", s.records);
        log(&s);
        Ok(JobOutcome::Completed)
    }

    /// The claim was refused: the slice is done one way or another.
    pub(super) async fn skip(self, slice: &SliceRecord) -> Result<JobOutcome, WorkerError> {
        if slice.state == SliceState::Completed {
            // The worker that completed it may have died before its event went out.
            self.completed_event(slice).await?;
        }
        debug!(state = ?slice.state, "slice not runnable; skipped");
        self.delivery.ack().await?;
        Ok(JobOutcome::Skipped)
    }

    /// A checkpoint, completion or retry was refused: the slice was cancelled (or claimed
    /// or finished by another worker holding a duplicate delivery) while this one read it.
    pub(super) async fn stopped(self) -> Result<JobOutcome, WorkerError> {
        info!("slice cancelled or finished elsewhere; stopped at a page boundary");
        self.delivery.ack().await?;
        Ok(JobOutcome::Cancelled)
    }

    /// Publish the children's jobs, record the split, ack the parent.
    pub(super) async fn split(self, children: Vec<SliceRecord>) -> Result<JobOutcome, WorkerError> {
        let Some(parent_id) = children.first().and_then(|c| c.parent.clone()) else {
            return Ok(JobOutcome::Split);
        };
        let jobs = children
            .iter()
            .map(|c| messages::job(&job_for(c), Destination::Jobs(c.lane)))
            .collect();
        self.shared.publish("split children", jobs).await?;
        let out = self
            .shared
            .transition(&parent_id, Transition::Split { children })
            .await?;
        if !out.applied {
            return self.stopped().await;
        }
        self.delivery.ack().await?;
        Ok(JobOutcome::Split)
    }

    /// Park the job in a delay queue for a transient failure, or give it up once it has
    /// used its attempts.
    pub(super) async fn retry_later(
        self,
        kind: &str,
        error: &str,
        after: Option<Duration>,
    ) -> Result<JobOutcome, WorkerError> {
        let attempt = self.job.attempt.saturating_add(1);
        if attempt >= self.shared.config.max_attempts {
            let e = format!("gave up after {attempt} attempts: {error}");
            return self.give_up(kind, &e).await;
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
        self.park(attempt, delay, &note, JobOutcome::Retried).await
    }

    /// The tenant's budget has no slot for `after`: park the job for that long (not an
    /// attempt) and serve other tenants meanwhile.
    pub(super) async fn defer(self, after: Duration, why: &str) -> Result<JobOutcome, WorkerError> {
        debug!(?after, "tenant budget exhausted; deferring");
        let delay = after.max(Duration::from_secs(1));
        let note = format!("deferred: {why}");
        let attempt = self.job.attempt;
        self.park(attempt, delay, &note, JobOutcome::Deferred).await
    }

    /// Shutdown: the last page is checkpointed; hand the job back for another worker.
    pub(super) async fn release(self) -> Result<JobOutcome, WorkerError> {
        info!("released at shutdown after its last checkpoint");
        let attempt = self.job.attempt;
        let note = "released: worker shutting down";
        let delay = Duration::from_secs(1);
        self.park(attempt, delay, note, JobOutcome::Released).await
    }

    /// Ledger back to Queued, a copy of the job (its `attempt` set) into the delay queue,
    /// then ack, ending as `parked`. When the ledger refuses the move under this worker's
    /// claim (another worker claimed the slice since, this one's delivery having been
    /// handed over, or it was cancelled), no copy goes out — the slice is its holder's —
    /// and the job is acked as [`Self::stopped`].
    async fn park(
        self,
        attempt: u32,
        delay: Duration,
        note: &str,
        parked: JobOutcome,
    ) -> Result<JobOutcome, WorkerError> {
        let (error, claim) = (truncate(note), self.claim);
        let moved = self
            .shared
            .transition(&self.job.slice_id, Transition::Retry { error, claim })
            .await?;
        if claim.is_some() && !moved.applied && moved.slice.is_some() {
            return self.stopped().await;
        }
        let copy = fleet_core::wire::SliceJob {
            attempt,
            ..self.job.clone()
        };
        let lane = self.job.lane;
        let message = messages::job(&copy, Destination::Retry { lane, delay });
        self.shared.publish("retry", vec![message]).await?;
        self.delivery.ack().await?;
        Ok(parked)
    }

    /// Dead-letter the job with its reason, fail the slice, tell the events exchange.
    pub(super) async fn give_up(
        self,
        reason: &str,
        error: &str,
    ) -> Result<JobOutcome, WorkerError> {
        let error = truncate(error);
        warn!(reason, error, "slice given up; dead-lettered");
        let (job, shared) = (&self.job, self.shared);
        let dead = messages::dead_letter(job, self.delivery.body.clone(), reason, &error);
        shared.publish("dead letter", vec![dead]).await?;
        let fail = Transition::Fail {
            error: format!("{reason}: {error}"),
        };
        let failed = shared.transition(&job.slice_id, fail).await?;
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
        shared
            .publish("event", vec![messages::event(&event)])
            .await?;
        self.delivery.ack().await?;
        Ok(JobOutcome::Failed)
    }

    /// `slice.completed` for the slice as the ledger has it.
    async fn completed_event(&self, s: &SliceRecord) -> Result<(), WorkerError> {
        let job = &self.job;
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
        let message = messages::event(&event);
        self.shared.publish("event", vec![message]).await
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
