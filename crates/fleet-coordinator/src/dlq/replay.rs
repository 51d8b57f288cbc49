//! A replay: each chosen letter judged against its slice in the ledger, then requeued
//! and re-sent, dropped, or kept (the rules are in the module's docs).

use std::collections::HashSet;

use fleet_core::ledger::{RequestState, SliceState, Transition};
use fleet_core::{messages, Broker, Ledger};

use super::{broker, ledger, DlqError, Letter};

/// What to do with a letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Requeue the Failed slice, publish, ack.
    Requeue,
    /// Publish as it is (the slice is live already), ack.
    Resend,
    /// Ack without publishing: nothing to redo.
    Drop,
    /// Leave the letter in the queue.
    Keep,
}

impl Verdict {
    /// `replay`, `drop` or `keep`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Requeue | Verdict::Resend => "replay",
            Verdict::Drop => "drop",
            Verdict::Keep => "keep",
        }
    }

    /// `replayed`, `dropped` or `kept`.
    pub fn done(self) -> &'static str {
        match self {
            Verdict::Requeue | Verdict::Resend => "replayed",
            Verdict::Drop => "dropped",
            Verdict::Keep => "kept",
        }
    }
}

/// Which letters a replay takes: those with these message ids, this reason, or all.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    pub ids: Vec<String>,
    pub reason: Option<String>,
    pub all: bool,
}

impl Choice {
    pub fn takes(&self, l: &Letter) -> bool {
        self.all
            || self.reason.as_deref() == Some(l.reason())
            || l.message_id
                .as_ref()
                .is_some_and(|id| self.ids.contains(id))
    }
}

/// How many letters went which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub replayed: usize,
    pub dropped: usize,
    pub kept: usize,
}

impl Tally {
    pub fn total(&self) -> usize {
        self.replayed + self.dropped + self.kept
    }
}

/// One replay run over the letters held.
pub struct Replay<'a> {
    ledger: &'a dyn Ledger,
    broker: &'a dyn Broker,
    dry_run: bool,
    /// Slices replayed in this run: a second letter of one is dropped.
    replayed: HashSet<String>,
    tally: Tally,
}

impl<'a> Replay<'a> {
    /// A replay of the letters `choice` takes among `letters`; refused when an id of
    /// `choice` names no letter. A `dry_run` decides and changes nothing.
    pub fn new(
        ledger: &'a dyn Ledger,
        broker: &'a dyn Broker,
        letters: &[Letter],
        choice: &Choice,
        dry_run: bool,
    ) -> Result<Replay<'a>, DlqError> {
        let known: HashSet<&str> = letters
            .iter()
            .filter_map(|l| l.message_id.as_deref())
            .collect();
        let missing: Vec<String> = choice
            .ids
            .iter()
            .filter(|id| !known.contains(id.as_str()))
            .map(|m| format!("`{m}`"))
            .collect();
        if !missing.is_empty() {
            return Err(DlqError::UnknownIds(missing.join(", ")));
        }
        Ok(Replay {
            ledger,
            broker,
            dry_run,
            replayed: HashSet::new(),
            tally: Tally::default(),
        })
    }

    /// Judges `letter` and (unless a dry run) carries the verdict out: the verdict and
    /// why, in words.
    pub async fn step(&mut self, letter: &mut Letter) -> Result<(Verdict, String), DlqError> {
        let (verdict, why) = self.judge(letter).await?;
        if !self.dry_run {
            self.apply(letter, verdict).await?;
        }
        if let (Verdict::Requeue | Verdict::Resend, Ok(job)) = (verdict, &letter.job) {
            self.replayed.insert(job.slice_id.clone());
        }
        match verdict {
            Verdict::Requeue | Verdict::Resend => self.tally.replayed += 1,
            Verdict::Drop => self.tally.dropped += 1,
            Verdict::Keep => self.tally.kept += 1,
        }
        Ok((verdict, why))
    }

    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// Decides what to do with `letter`, without changing anything.
    async fn judge(&self, letter: &Letter) -> Result<(Verdict, String), DlqError> {
        let job = match &letter.job {
            Ok(job) => job,
            Err(e) => {
                return Ok((
                    Verdict::Keep,
                    format!("not a slice job this build can replay ({e})"),
                ))
            }
        };
        let id = &job.slice_id;
        if self.replayed.contains(id) {
            return Ok((
                Verdict::Drop,
                format!("slice {id} was replayed above (duplicate letter)"),
            ));
        }
        let Some(slice) = self
            .ledger
            .get_slice(id)
            .await
            .map_err(ledger(format!("reading slice {id} from the ledger")))?
        else {
            return Ok((
                Verdict::Keep,
                format!("the ledger does not know slice {id} (wrong prefix, or a wiped ledger?)"),
            ));
        };
        let request = &slice.request_id;
        let request_state = self
            .ledger
            .get_request(request)
            .await
            .map_err(ledger(format!("reading request {request} from the ledger")))?
            .map(|r| r.state);
        if request_state == Some(RequestState::Cancelled) {
            return Ok((Verdict::Drop, format!("request {request} was cancelled")));
        }
        Ok(match slice.state {
            SliceState::Failed => {
                let reopened = match request_state {
                    Some(RequestState::Failed | RequestState::Completed) => {
                        format!(", request {request} reopened")
                    }
                    _ => String::new(),
                };
                (
                    Verdict::Requeue,
                    format!(
                        "slice {} failed -> queued on the {} lane{reopened}",
                        slice.id,
                        job.lane.as_str(),
                    ),
                )
            }
            state @ (SliceState::Planned | SliceState::Queued | SliceState::Running) => (
                Verdict::Resend,
                format!(
                    "slice {} is {} in the ledger; its job is sent again as it is",
                    slice.id,
                    state.as_str()
                ),
            ),
            state @ (SliceState::Completed | SliceState::Split | SliceState::Cancelled) => (
                Verdict::Drop,
                format!("slice {} is {}: nothing to redo", slice.id, state.as_str()),
            ),
        })
    }

    /// Carries out `verdict` on `letter`: ledger first, then the publish (confirmed),
    /// then the ack.
    async fn apply(&self, letter: &mut Letter, verdict: Verdict) -> Result<(), DlqError> {
        let job = match (&letter.job, verdict) {
            (_, Verdict::Keep) | (Err(_), _) => return Ok(()),
            (Ok(job), _) => job,
        };
        let id = &job.slice_id;
        if verdict == Verdict::Requeue {
            let outcome = self
                .ledger
                .transition(id, Transition::Requeue)
                .await
                .map_err(ledger(format!("requeueing slice {id} in the ledger")))?;
            if !outcome.applied {
                return Err(DlqError::Refused {
                    slice: id.clone(),
                    now: outcome.slice.map(|s| s.state.as_str()).unwrap_or("unknown"),
                });
            }
        }
        if matches!(verdict, Verdict::Requeue | Verdict::Resend) {
            let message = messages::replayed(
                job,
                letter.message_id.as_deref(),
                &letter.headers,
                letter.body.clone(),
            );
            self.broker
                .publish(vec![message])
                .await
                .map_err(broker(format!("publishing the job of slice {id}")))?;
        }
        if let Some(d) = letter.delivery.take() {
            d.ack()
                .await
                .map_err(broker(format!("acking the dead letter of slice {id}")))?;
        }
        Ok(())
    }
}
