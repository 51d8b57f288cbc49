//! Running a request again after a fix: what a fleet does with a request that an
//! earlier run left failed (`uipath-fleet run` with the same configuration).
//!
//! The most common second step of a new user is "fix the secret, run again". The
//! request is found in the state (same id: the configuration did not change), so without
//! this step the run would only report the old failure. Here every failure whose cause
//! may be gone by now ([`fleet_core::cause::may_pass`]: credentials, scopes, folder
//! roles, network, rate limits, outages) is taken back:
//!
//! - a request whose **planning** failed goes back to Planning
//!   ([`fleet_core::Ledger::reopen_request`]) and the coordinator plans it again;
//! - each **failed slice** goes back to Queued ([`Transition::Requeue`], which reopens
//!   its request) and its job is published afresh (attempt 0, so it gets the whole retry
//!   schedule again). As with `dlq replay`, the ledger moves before the job is published:
//!   an interrupted retry leaves a Queued slice that the next start publishes again.
//!
//! Failures with a lasting cause (a bad request, a window too dense, a job the fleet
//! cannot read) are left failed and reported with what to do instead.

use std::collections::BTreeMap;

use fleet_coordinator::Coordinator;
use fleet_core::cause::{cause_of, may_pass};
use fleet_core::ledger::{RequestState, SliceRecord, SliceState, Transition};

use crate::error::{Context as _, Error};

/// Failed slices read (and requeued) per page.
const PAGE: usize = 500;

/// What [`retry_failed`] took back, and what it left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retried {
    /// The cause of a planning failure that was taken back (the request plans again).
    pub replanned: Option<String>,
    /// Failed slices requeued, by cause.
    pub slices: BTreeMap<String, u64>,
    /// Failures left as they are (their cause does not pass by itself), by cause.
    pub kept: BTreeMap<String, u64>,
}

impl Retried {
    /// Whether anything was taken back.
    pub fn retried(&self) -> bool {
        self.replanned.is_some() || !self.slices.is_empty()
    }
}

/// The cause of a stored failure text, `unknown` when it carries none.
fn cause(text: Option<&str>) -> String {
    text.and_then(cause_of).unwrap_or("unknown").to_owned()
}

/// Takes back every failure of request `id` whose cause may be gone (see the module
/// docs). A cancelled or unknown request is left alone.
pub async fn retry_failed(coordinator: &Coordinator, id: &str) -> Result<Retried, Error> {
    let ledger = coordinator.ledger();
    let mut out = Retried::default();
    let Some(request) = ledger.get_request(id).await.context("reading the ledger")? else {
        return Ok(out);
    };
    match request.state {
        RequestState::Cancelled | RequestState::Completed => return Ok(out),
        RequestState::Failed if !request.planned => {
            let c = cause(request.note.as_deref());
            if may_pass(&c) {
                if ledger
                    .reopen_request(id)
                    .await
                    .context("reopening the request")?
                {
                    out.replanned = Some(c);
                }
            } else {
                *out.kept.entry(c).or_default() += 1;
            }
            // A request that failed while planning may still hold slices planned before
            // the failure; the planner publishes those itself when it runs again.
            return Ok(out);
        }
        _ => {}
    }

    let mut after: Option<String> = None;
    loop {
        let page: Vec<SliceRecord> = ledger
            .list_slices(id, Some(SliceState::Failed), after.as_deref(), PAGE)
            .await
            .context("reading the ledger")?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let mut requeued = Vec::new();
        for slice in &page {
            let c = cause(slice.last_error.as_deref());
            if !may_pass(&c) {
                *out.kept.entry(c).or_default() += 1;
                continue;
            }
            let outcome = ledger
                .transition(&slice.id, Transition::Requeue)
                .await
                .context("requeueing a failed slice")?;
            if let (true, Some(now)) = (outcome.applied, outcome.slice) {
                *out.slices.entry(c).or_default() += 1;
                requeued.push(now);
            }
        }
        if !requeued.is_empty() {
            let refs: Vec<&SliceRecord> = requeued.iter().collect();
            coordinator
                .planner()
                .publish_jobs(&refs)
                .await
                .context("publishing the retried slices' jobs")?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_read_from_the_stored_text() {
        let r = Retried {
            replanned: Some("invalid_client".into()),
            ..Retried::default()
        };
        assert!(r.retried());
        assert!(!Retried::default().retried());
        assert_eq!(cause(Some("invalid_client: x")), "invalid_client");
        assert_eq!(cause(None), "unknown");
    }
}
