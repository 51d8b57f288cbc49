//! The [`Ledger`] contract suite (see the module docs of [`crate::contract`]).
//!
//! What it checks, through at least two handles onto one store:
//! - `requests`: create-if-absent, get, newest-first listing, first-writer-wins plans,
//!   terminal states never left, cancel (also across many chunks), unknown requests.
//! - `slices`: add_slices idempotency and round trip (sub-second times included),
//!   list_slices paging and filtering, stale claims fenced, Requeue reopening an ended
//!   request (refused in a cancelled one).
//! - `transitions`: the whole transition table (every legal move applies with its side
//!   effects, every illegal move is refused and changes nothing).
//! - `streams`: plan_window's compare-and-set, advance_watermark over completed and
//!   split slices, stopping at failed, queued and running ones, never backwards.
//! - `compact`: compact_stream removes only completed slices the watermark passed and
//!   the cutoff allows, across batches; counters, planned_to and the watermark stay;
//!   the stream carries on; a second run removes nothing.
//! - `snapshots`: the snapshot-state compare-and-set, exact round trips of up to
//!   20,000 keys, streams and requests isolated, one of many racing writers wins.
//! - `races`: 16 handles at once: overlapping add_slices, Start/Complete races,
//!   plan_window racers, exactly one winner where there must be one.
//! - `leases`: exclusive, renewable, lapsing after their ttl, released only by holders.
//!
//! After every mutation it checks that the request's progress equals a recount of its
//! slices through `list_slices` (except after a compaction, which forgets slices but
//! not their counts: there it checks the counters did not move). Every request id carries a fresh
//! [`unique_prefix`](crate::unique_prefix), so runs never collide. About a second on a
//! local Redis; the lease checks wait for two 300 ms lapses.

mod compact;
mod leases;
mod races;
mod requests;
mod slices;
mod snapshots;
mod streams;
mod transitions;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use fleet_core::ledger::{
    Ledger, Progress, RequestKind, RequestRecord, RequestState, SliceRecord, SliceState, Transition,
};
use fleet_core::wire::{FolderRef, Lane};

/// How many handles race in the concurrency checks.
const RACERS: usize = 16;

/// Runs every check of the ledger contract against handles from `make` (each call a
/// handle onto the same store). Panics, naming the method and the contract, on the
/// first violation.
pub async fn ledger_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Ledger>>,
{
    let run = Run::new();
    let a = make().await;
    let b = make().await;
    assert!(a.ready().await, "ready: a reachable backend is ready");

    requests::requests_are_created_once_and_listed_newest_first(&run, &*a, &*b).await;
    requests::plans_are_fixed_by_the_first_writer(&run, &*a, &*b).await;
    requests::terminal_request_states_are_never_left(&run, &*a, &*b).await;
    requests::only_a_failed_plan_is_reopened(&run, &*a, &*b).await;
    requests::unknown_requests_are_named(&run, &*a, &*b).await;
    requests::cancel_cancels_every_unfinished_slice(&run, &*a, &*b).await;
    requests::cancel_crosses_many_chunks(&run, &*a, &*b).await;

    slices::add_slices_is_idempotent(&run, &*a, &*b).await;
    transitions::every_transition_follows_the_table(&run, &*a, &*b).await;
    slices::splits_are_checked(&run, &*a, &*b).await;
    slices::list_slices_pages_by_id(&run, &*a, &*b).await;
    slices::mark_queued_moves_only_planned_slices(&run, &*a, &*b).await;
    slices::stale_claims_are_fenced(&run, &*a, &*b).await;
    slices::requeue_reopens_an_ended_request(&run, &*a, &*b).await;

    streams::plan_window_is_a_compare_and_set(&run, &*a, &*b).await;
    streams::watermarks_advance_over_completed_slices_only(&run, &*a, &*b).await;
    compact::compaction_forgets_passed_completed_slices_only(&run, &*a, &*b).await;
    compact::compaction_crosses_batches(&run, &*a, &*b).await;

    snapshots::snapshot_states_are_compare_and_set(&run, &*a, &*b).await;

    let mut handles = Vec::with_capacity(RACERS);
    for _ in 0..RACERS {
        handles.push(make().await);
    }
    races::overlapping_add_slices_insert_each_slice_once(&run, &handles).await;
    races::start_and_complete_races(&run, &handles).await;
    races::one_of_many_window_planners_wins(&run, &handles).await;
    snapshots::one_of_many_snapshot_writers_wins(&run, &handles).await;

    leases::leases_are_exclusive_and_released_by_their_holder(&run, &*a, &*b).await;
    leases::leases_lapse_and_renewals_extend_them(&run, &*a, &*b).await;
    leases::one_of_many_racers_takes_a_lease(&run, &handles).await;
}

/// Names and times for one run of the suite.
struct Run {
    id: String,
    /// A time with nanoseconds, so every stored time is checked to round-trip exactly.
    base: DateTime<Utc>,
}

impl Run {
    fn new() -> Self {
        Run {
            id: crate::unique_prefix("ledger-contract"),
            base: "2024-03-01T00:00:00.123456789Z"
                .parse()
                .expect("a valid time"),
        }
    }

    /// A request id no other check or run uses.
    fn request_id(&self, check: &str) -> String {
        format!("{}-{check}", self.id)
    }

    fn request(&self, check: &str, kind: RequestKind) -> RequestRecord {
        RequestRecord {
            id: self.request_id(check),
            kind,
            state: RequestState::Planning,
            created_at: Utc::now(),
            spec: serde_json::json!({
                "check": check,
                "datasets": ["jobs", "queue-items"],
                "from": "2024-01-01T00:00:00Z",
                "nested": {"n": 3, "empty": [], "none": null}
            }),
            plan: None,
            planned: false,
            note: None,
        }
    }

    /// Creates a fresh request for `check` through `l` and returns its id.
    async fn new_request(&self, l: &dyn Ledger, check: &str, kind: RequestKind) -> String {
        let r = self.request(check, kind);
        assert!(
            l.create_request(&r).await.unwrap(),
            "create_request: a new id is stored"
        );
        r.id
    }

    /// `base + hours` (fractional hours in minutes are enough here).
    fn at(&self, minutes: i64) -> DateTime<Utc> {
        self.base + TimeDelta::minutes(minutes)
    }

    /// Slice `n` of `request`: the hour `[base + n h, base + n h + 1 h)`. Ids sort by
    /// `n`. Its state is deliberately not Planned: `add_slices` must ignore it.
    fn slice(&self, request: &str, n: u32) -> SliceRecord {
        self.slice_between(
            request,
            &format!("s{n:05}"),
            self.at(60 * i64::from(n)),
            self.at(60 * i64::from(n) + 60),
        )
    }

    fn slice_between(
        &self,
        request: &str,
        name: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> SliceRecord {
        SliceRecord {
            id: format!("{request}-{name}"),
            request_id: request.to_owned(),
            lane: Lane::Backfill,
            source: "acme".into(),
            dataset: "jobs".into(),
            folder: Some(FolderRef {
                id: 7,
                key: "6f1c2f9a-0000-4000-8000-000000000007".into(),
                path: "Shared/Finance".into(),
            }),
            from: Some(from),
            to: Some(to),
            select: vec!["Id".into(), "State".into()],
            stream: None,
            parent: None,
            state: SliceState::Running,
            records: 0,
            pages: 0,
            attempts: 0,
            last_error: None,
            checkpoint: None,
            updated_at: "2020-01-01T00:00:00.5Z".parse().expect("a valid time"),
        }
    }
}

/// Applies `t` to `id` and insists it was applied.
async fn apply(l: &dyn Ledger, id: &str, t: Transition) -> SliceRecord {
    let what = format!("{t:?}");
    let out = l.transition(id, t).await.unwrap();
    assert!(
        out.applied,
        "transition: {what} on {id} must apply (found {:?})",
        out.slice.map(|s| s.state)
    );
    out.slice.expect("an applied transition returns the slice")
}

/// Every slice of a request (optionally in one state), paging through `list_slices`.
async fn all_slices(l: &dyn Ledger, request: &str, state: Option<SliceState>) -> Vec<SliceRecord> {
    let mut out: Vec<SliceRecord> = Vec::new();
    loop {
        let after = out.last().map(|s| s.id.clone());
        let page = l
            .list_slices(request, state, after.as_deref(), 100)
            .await
            .unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Checks that the request's progress equals a recount of its slices, and returns it.
async fn assert_counts(l: &dyn Ledger, request: &str, after: &str) -> Progress {
    let progress = l.progress(request).await.unwrap();
    let mut recount = Progress::default();
    for s in all_slices(l, request, None).await {
        match s.state {
            SliceState::Planned => recount.planned += 1,
            SliceState::Queued => recount.queued += 1,
            SliceState::Running => recount.running += 1,
            SliceState::Completed => recount.completed += 1,
            SliceState::Failed => recount.failed += 1,
            SliceState::Split => recount.split += 1,
            SliceState::Cancelled => recount.cancelled += 1,
        }
        recount.records += s.records;
    }
    assert_eq!(
        progress, recount,
        "progress after {after}: the counters must equal a recount of the slices"
    );
    progress
}
