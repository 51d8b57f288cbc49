//! `dlq replay`: each chosen letter judged against its slice in the ledger, then
//! requeued and re-sent, dropped, or kept (see the rules in the parent module's docs).

use std::collections::HashSet;
use std::io::Write;

use anyhow::Context as _;
use fleet_core::ledger::{Ledger as _, RequestState, SliceState, Transition};
use fleet_core::messages;
use fleet_core::Broker as _;

use super::letters::{Fleet, Letter};
use super::ReplayArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Requeue the Failed slice, publish, ack.
    Requeue,
    /// Publish as it is (the slice is live already), ack.
    Resend,
    /// Ack without publishing: nothing to redo.
    Drop,
    /// Leave the letter in the queue.
    Keep,
}

impl Fleet {
    pub(super) async fn replay(
        &self,
        letters: &mut [Letter],
        args: &ReplayArgs,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        if !args.ids.is_empty() {
            let known: HashSet<&str> = letters
                .iter()
                .filter_map(|l| l.message_id.as_deref())
                .collect();
            let missing: Vec<&str> = args
                .ids
                .iter()
                .map(String::as_str)
                .filter(|id| !known.contains(id))
                .collect();
            if !missing.is_empty() {
                anyhow::bail!(
                    "no dead letter has message id {}; nothing was replayed",
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        let chosen = |l: &Letter| {
            args.all
                || args.reason.as_deref() == Some(l.reason())
                || l.message_id
                    .as_ref()
                    .is_some_and(|id| args.ids.contains(id))
        };
        let mut replayed_slices: HashSet<String> = HashSet::new();
        let (mut replayed, mut dropped, mut kept) = (0usize, 0usize, 0usize);
        for letter in letters.iter_mut().filter(|l| chosen(l)) {
            let (verdict, why) = self.judge(letter, &replayed_slices).await?;
            if !args.dry_run {
                self.apply(letter, verdict).await?;
            }
            if let (Verdict::Requeue | Verdict::Resend, Ok(job)) = (verdict, &letter.job) {
                replayed_slices.insert(job.slice_id.clone());
            }
            let what = match verdict {
                Verdict::Requeue | Verdict::Resend => {
                    replayed += 1;
                    "replay"
                }
                Verdict::Drop => {
                    dropped += 1;
                    "drop"
                }
                Verdict::Keep => {
                    kept += 1;
                    "keep"
                }
            };
            let done = if args.dry_run {
                format!("would {what}")
            } else {
                past(what).to_owned()
            };
            writeln!(out, "{}  {done}: {why}", letter.id())?;
        }
        let total = replayed + dropped + kept;
        if total == 0 {
            writeln!(out, "no dead letter matched")?;
            return Ok(());
        }
        if args.dry_run {
            writeln!(
                out,
                "{total} letter(s): would replay {replayed}, drop {dropped}, keep {kept} (dry run: nothing changed)"
            )?;
        } else {
            writeln!(
                out,
                "{total} letter(s): {replayed} replayed, {dropped} dropped, {kept} kept"
            )?;
        }
        Ok(())
    }

    /// Decides what to do with `letter`, without changing anything.
    async fn judge(
        &self,
        letter: &Letter,
        replayed: &HashSet<String>,
    ) -> anyhow::Result<(Verdict, String)> {
        let job = match &letter.job {
            Ok(job) => job,
            Err(e) => {
                return Ok((
                    Verdict::Keep,
                    format!("not a slice job this build can replay ({e})"),
                ))
            }
        };
        if replayed.contains(&job.slice_id) {
            return Ok((
                Verdict::Drop,
                format!(
                    "slice {} was replayed above (duplicate letter)",
                    job.slice_id
                ),
            ));
        }
        let Some(slice) = self
            .ledger
            .get_slice(&job.slice_id)
            .await
            .with_context(|| format!("reading slice {} from the ledger", job.slice_id))?
        else {
            return Ok((
                Verdict::Keep,
                format!(
                    "the ledger does not know slice {} (wrong prefix, or a wiped ledger?)",
                    job.slice_id
                ),
            ));
        };
        let request = self
            .ledger
            .get_request(&slice.request_id)
            .await
            .with_context(|| format!("reading request {} from the ledger", slice.request_id))?;
        let request_state = request.map(|r| r.state);
        if request_state == Some(RequestState::Cancelled) {
            return Ok((
                Verdict::Drop,
                format!("request {} was cancelled", slice.request_id),
            ));
        }
        Ok(match slice.state {
            SliceState::Failed => {
                let reopened = match request_state {
                    Some(RequestState::Failed | RequestState::Completed) => {
                        format!(", request {} reopened", slice.request_id)
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
    async fn apply(&self, letter: &mut Letter, verdict: Verdict) -> anyhow::Result<()> {
        let job = match (&letter.job, verdict) {
            (_, Verdict::Keep) => return Ok(()),
            (Ok(job), _) => job,
            (Err(_), _) => return Ok(()),
        };
        if verdict == Verdict::Requeue {
            let outcome = self
                .ledger
                .transition(&job.slice_id, Transition::Requeue)
                .await
                .with_context(|| format!("requeueing slice {} in the ledger", job.slice_id))?;
            if !outcome.applied {
                anyhow::bail!(
                    "the ledger refused to requeue slice {} (now {}); the letter is kept, \
                     run the replay again",
                    job.slice_id,
                    outcome.slice.map(|s| s.state.as_str()).unwrap_or("unknown")
                );
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
                .with_context(|| format!("publishing the job of slice {}", job.slice_id))?;
        }
        if let Some(d) = letter.delivery.take() {
            d.ack()
                .await
                .with_context(|| format!("acking the dead letter of slice {}", job.slice_id))?;
        }
        Ok(())
    }
}

fn past(what: &str) -> &'static str {
    match what {
        "replay" => "replayed",
        "drop" => "dropped",
        _ => "kept",
    }
}
