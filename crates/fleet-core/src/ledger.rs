//! The ledger: what was asked, what was planned, what is done. Shared by the
//! coordinator (writes requests and plans, reads progress, advances sync watermarks) and
//! the workers (claim slices, checkpoint pages, complete or fail them).
//!
//! Implementations: `fleet_redis::RedisLedger` (the fleet), `fleet_memory::FileLedger`
//! (embedded mode; state in a local file, or in memory only). Both pass
//! `fleet_testkit::contract::ledger_contract`.
//!
//! # Guarantees every implementation gives
//!
//! - **Idempotent planning.** [`Ledger::add_slices`] inserts only slices it does not
//!   know; re-adding a slice (same id) changes nothing, whatever its state. Slice ids are
//!   deterministic (see `plan::slice_id`), so planning a request twice, or restarting
//!   halfway, never duplicates a slice.
//! - **One transition at a time.** Each [`Ledger::transition`] is atomic and checked
//!   against the slice's current state (see [`Transition`] for which moves are legal);
//!   an illegal move changes nothing and reports the state found. Progress counters move
//!   in the same atomic step, so they always equal a recount of the slices.
//! - **Watermarks only move forward, and only over completed slices.**
//! - **Compaction forgets records, not progress.** [`Ledger::compact_stream`] removes
//!   completed slices a stream's watermark has passed; the request's counters keep
//!   counting them (so after a compaction they equal a recount of the slices still
//!   stored *plus* the compacted ones), and the stream's `planned_to` and watermark stay.
//! - **Snapshot states are compare-and-set** ([`Ledger::store_snapshot`]): of two
//!   writers that read one generation, one stores.
//! - **Leases are exclusive** while unexpired: at most one holder per name.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::wire::{FolderRef, Lane};

mod refusal;
mod state;
pub use state::{RequestState, SliceState, UnknownState};

/// What a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    Backfill,
    Sync,
}

impl RequestKind {
    pub fn lane(self) -> Lane {
        match self {
            RequestKind::Backfill => Lane::Backfill,
            RequestKind::Sync => Lane::Sync,
        }
    }
}

/// A request as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Deterministic from the normalized request (see `plan::request_id`).
    pub id: String,
    pub kind: RequestKind,
    pub state: RequestState,
    pub created_at: DateTime<Utc>,
    /// The normalized request as accepted (JSON of `plan::BackfillRequest` or
    /// `plan::SyncRequest`).
    pub spec: serde_json::Value,
    /// Decisions taken once and then fixed (e.g. slice widths picked from a `$count`
    /// probe), so that re-planning produces the very same slices. JSON owned by the
    /// planner; `None` until decided. See [`Ledger::fix_plan`].
    #[serde(default)]
    pub plan: Option<serde_json::Value>,
    /// Set once every slice of a backfill is added and published.
    #[serde(default)]
    pub planned: bool,
    /// A human-readable message about the last problem (planning error, ...).
    #[serde(default)]
    pub note: Option<String>,
}

/// One slice as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceRecord {
    pub id: String,
    pub request_id: String,
    pub lane: Lane,
    pub source: String,
    pub dataset: String,
    #[serde(default)]
    pub folder: Option<FolderRef>,
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    #[serde(default)]
    pub select: Vec<String>,
    /// For sync windows: the stream (`source/dataset/folder`) whose watermark this slice
    /// holds back. Children of a split inherit it.
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub parent: Option<String>,
    pub state: SliceState,
    /// Records published so far (checkpointed).
    #[serde(default)]
    pub records: u64,
    #[serde(default)]
    pub pages: u64,
    /// Times a worker started it.
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    /// The worker's resume point (an opaque serialized page cursor).
    #[serde(default)]
    pub checkpoint: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Counts of a request's slices by state, and records so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub planned: u64,
    pub queued: u64,
    pub running: u64,
    pub completed: u64,
    pub failed: u64,
    pub split: u64,
    pub cancelled: u64,
    pub records: u64,
}

impl Progress {
    /// Slices that count toward the request (split parents are replaced by their children).
    pub fn total(&self) -> u64 {
        self.planned + self.queued + self.running + self.completed + self.failed + self.cancelled
    }
    /// Slices in a terminal state (completed, failed, cancelled).
    pub fn done(&self) -> u64 {
        self.completed + self.failed + self.cancelled
    }
    pub fn count(&self, state: SliceState) -> u64 {
        match state {
            SliceState::Planned => self.planned,
            SliceState::Queued => self.queued,
            SliceState::Running => self.running,
            SliceState::Completed => self.completed,
            SliceState::Failed => self.failed,
            SliceState::Split => self.split,
            SliceState::Cancelled => self.cancelled,
        }
    }
}

/// A state change of one slice. Legal moves (anything else is refused, changing nothing):
///
/// | transition   | from                      | to        | also                              |
/// |--------------|---------------------------|-----------|-----------------------------------|
/// | `Queued`     | Planned                   | Queued    |                                   |
/// | `Start`      | Planned, Queued, Running  | Running   | attempts += 1                     |
/// | `Checkpoint` | Running                   | Running   | cursor saved, records/pages added |
/// | `Retry`      | Running, Queued           | Queued    | last_error set                    |
/// | `Complete`   | Running                   | Completed | records/pages added               |
/// | `Fail`       | Planned, Queued, Running  | Failed    | last_error set                    |
/// | `Split`      | Running, Queued           | Split     | children added (state Queued)     |
/// | `Cancel`     | Planned, Queued, Running  | Cancelled |                                   |
/// | `Requeue`    | Failed                    | Queued    | request reopened (see below)      |
///
/// `Requeue` is a dead-letter replay. In the same atomic step, the slice's request, if
/// it had ended Failed (or Completed), goes back to Running, so the coordinator finishes
/// it again once every slice is terminal again. In a Cancelled request it is refused.
/// `Start` from Running is allowed because a worker that died mid-slice leaves it
/// Running and its job is redelivered to another worker.
///
/// `Checkpoint`, `Complete` and `Retry` take the `claim` of the worker that sends them:
/// the `attempts` value its `Start` returned. When given, the move is refused unless the
/// slice's `attempts` still equal it, i.e. unless no other worker has claimed the slice
/// since. A worker whose broker connection was cut keeps reading while the broker hands
/// its job to another worker; this fence stops the stale one at its next page instead of
/// letting two workers publish (and count) the rest of the slice twice. For `Retry` it
/// keeps a stale worker from putting the holder's slice back to Queued: the holder would
/// then stop at its next checkpoint, and had the stale worker died before publishing its
/// retry copy, no job would be left to finish the slice.
///
/// With a current claim, a write its holder already made is accepted again without
/// changing anything: a `Checkpoint` with the cursor already stored, a `Complete` of a
/// slice already Completed. A worker whose reply was lost (a Redis timeout after the
/// script ran) can retry without counting a page twice or losing its completion.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Queued,
    Start,
    Checkpoint {
        cursor: String,
        records: u64,
        pages: u64,
        claim: Option<u32>,
    },
    Retry {
        error: String,
        claim: Option<u32>,
    },
    Complete {
        records: u64,
        pages: u64,
        claim: Option<u32>,
    },
    Fail {
        error: String,
    },
    /// The children must belong to the same request and cover the parent's range.
    Split {
        children: Vec<SliceRecord>,
    },
    Cancel,
    /// A dead-lettered slice sent again: Failed -> Queued, reopening an ended request;
    /// refused when the request is Cancelled.
    Requeue,
}

/// What a transition did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Whether the transition was legal and applied.
    pub applied: bool,
    /// The slice after the call (unchanged when refused). `None` if the slice is unknown.
    pub slice: Option<SliceRecord>,
    /// The request's progress after the call.
    pub progress: Progress,
}

/// The planning state of one sync stream (`source/dataset/folder`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    /// End of the last planned window.
    pub planned_to: Option<DateTime<Utc>>,
    /// Everything before this is completed (all windows up to here are completed).
    pub watermark: Option<DateTime<Utc>>,
}

/// The last stored snapshot of a sync stream read by snapshot diffs (small reference
/// sets read whole every window: Machines, Folders, Sessions, ...): each record's key and
/// the hash of its content, so the next window publishes only changed records and a
/// tombstone for each key that disappeared. See [`Ledger::snapshot`] and
/// [`Ledger::store_snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotState {
    /// How many times a snapshot was stored for this stream; 0 if never. The expected
    /// value of the next [`Ledger::store_snapshot`].
    pub generation: u64,
    /// Record key → content hash, as last stored (empty if never).
    pub hashes: BTreeMap<String, String>,
    /// When the stored snapshot was read from the source (the caller's `observed_at`).
    pub observed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger backend: {0}")]
    Backend(String),
    #[error("ledger data is corrupt: {0}")]
    Corrupt(String),
    #[error("unknown request {0}")]
    UnknownRequest(String),
}

#[async_trait]
pub trait Ledger: Send + Sync + 'static {
    // ---- requests ----

    /// Store a request if no request has this id. Returns `false` (and changes nothing)
    /// if it already exists.
    async fn create_request(&self, request: &RequestRecord) -> Result<bool, LedgerError>;

    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, LedgerError>;

    /// Requests, newest first.
    async fn list_requests(&self, limit: usize) -> Result<Vec<RequestRecord>, LedgerError>;

    /// Fix the planning decisions of a request: the first call stores `plan`, later
    /// calls return the stored one unchanged. Returns what is stored.
    async fn fix_plan(
        &self,
        id: &str,
        plan: &serde_json::Value,
    ) -> Result<serde_json::Value, LedgerError>;

    /// Set state, `planned` and `note` of a request. A terminal state is never left here
    /// (only [`Transition::Requeue`] reopens a Failed or Completed request)
    /// (a cancelled request stays cancelled); returns the state now stored.
    async fn update_request(
        &self,
        id: &str,
        state: RequestState,
        planned: bool,
        note: Option<&str>,
    ) -> Result<RequestState, LedgerError>;

    /// Reopen a request whose *planning* failed: a Failed request that is not planned
    /// goes back to Planning with its note cleared, so the coordinator plans it again
    /// (a rerun after the cause was fixed). Returns whether it was reopened; any other
    /// request (running, completed, cancelled, or failed with its slices planned — those
    /// are reopened by [`Transition::Requeue`] of a slice) is left exactly as it is.
    async fn reopen_request(&self, id: &str) -> Result<bool, LedgerError>;

    /// Cancel a request: its state becomes Cancelled and every non-terminal slice is
    /// cancelled. Returns the number of slices cancelled.
    async fn cancel_request(&self, id: &str) -> Result<u64, LedgerError>;

    // ---- slices ----

    /// Insert the slices that are not known yet, in state `Planned` (the given state is
    /// ignored), counting them into their request's progress; known slices are left
    /// untouched. Returns the ids, in input order, of the given slices that are in state
    /// `Planned` after the call: the new ones and any an interrupted earlier plan left
    /// unpublished. Those are exactly the jobs the planner must publish (then move them to
    /// `Queued`). Slices with a `stream` are also queued on their stream (see
    /// [`Ledger::advance_watermark`]).
    async fn add_slices(&self, slices: &[SliceRecord]) -> Result<Vec<String>, LedgerError>;

    async fn get_slice(&self, id: &str) -> Result<Option<SliceRecord>, LedgerError>;

    /// Move each slice that is `Planned` to `Queued` (the planner's step after the
    /// broker confirmed their jobs); others are left alone. Equivalent to
    /// `transition(id, Transition::Queued)` per id; backends do it in one round trip.
    async fn mark_queued(&self, ids: &[String]) -> Result<(), LedgerError> {
        for id in ids {
            self.transition(id, Transition::Queued).await?;
        }
        Ok(())
    }

    /// A request's slices in id order, after `after` (exclusive), at most `limit`,
    /// optionally only those in `state`.
    async fn list_slices(
        &self,
        request_id: &str,
        state: Option<SliceState>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SliceRecord>, LedgerError>;

    /// Apply one state change atomically (see [`Transition`]).
    async fn transition(&self, id: &str, transition: Transition) -> Result<Outcome, LedgerError>;

    /// A request's slice counts by state and records so far.
    async fn progress(&self, request_id: &str) -> Result<Progress, LedgerError>;

    // ---- sync streams ----

    async fn stream(&self, request_id: &str, stream: &str) -> Result<StreamState, LedgerError>;

    /// Plan the next window of a sync stream, atomically: only if the stream's
    /// `planned_to` is still `expected` (compare-and-set, so two coordinators cannot both
    /// plan it), add `slices` (as [`Ledger::add_slices`]) and set `planned_to = to`.
    /// Returns the ids now `Planned` (as `add_slices`), or `None` if `planned_to` had
    /// moved and nothing was done.
    async fn plan_window(
        &self,
        request_id: &str,
        stream: &str,
        expected: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        slices: &[SliceRecord],
    ) -> Result<Option<Vec<String>>, LedgerError>;

    /// Advance a stream's watermark over its completed slices, oldest first, stopping at
    /// the first slice that is not completed (failed, running, queued...). A split slice
    /// is replaced by its children. With no slice pending, the watermark is `planned_to`.
    /// Returns the watermark now stored. The completed slices it passes are remembered
    /// as passed: those are what [`Ledger::compact_stream`] may delete.
    async fn advance_watermark(
        &self,
        request_id: &str,
        stream: &str,
    ) -> Result<Option<DateTime<Utc>>, LedgerError>;

    /// Forget a stream's finished slice records: delete the slices of `stream` (of
    /// `request_id`) that are `Completed`, that the stream's watermark has passed (the
    /// [`Ledger::advance_watermark`] walk went over them), and whose `to` is at or before
    /// `before`, from every index they are in. Returns how many were removed; 0 for an
    /// unknown request or stream.
    ///
    /// Never touched: a slice the watermark has not passed (even if completed), a slice
    /// in any other state, a slice without `to`, a slice of another stream. **What stays
    /// exactly as it was**: the stream's `planned_to` and watermark (so `plan_window`
    /// never plans a window again and the watermark never moves back), and the request's
    /// progress counters, `completed` and `records` included (compaction forgets records,
    /// not progress; counters then exceed a recount of the stored slices by the
    /// compacted ones). Afterwards `get_slice` of a compacted id is `None`, `list_slices`
    /// does not show it and a `transition` finds it unknown; adding the same id again
    /// would insert it anew, which is why only windows `plan_window` will never plan
    /// again (behind the watermark) are compacted. Runs in bounded batches (at most
    /// 1,000 slices per atomic step), so an interrupted call leaves a consistent ledger
    /// and running it again finishes it; running it twice is harmless.
    async fn compact_stream(
        &self,
        request_id: &str,
        stream: &str,
        before: DateTime<Utc>,
    ) -> Result<u64, LedgerError>;

    // ---- snapshot diffs ----

    /// The snapshot state last stored for a sync stream of a request: generation 0, no
    /// hashes and no `observed_at` if none was ever stored (or the request is unknown).
    /// Read in one step: generation, hashes and `observed_at` are of the same store.
    async fn snapshot(&self, request_id: &str, stream: &str) -> Result<SnapshotState, LedgerError>;

    /// Store a stream's snapshot state, atomically, only if its stored generation is
    /// still `expected_generation` (compare-and-set: two windows of one stream that read
    /// the same generation cannot both store; the loser re-reads and diffs again).
    /// Replaces the hashes wholly and sets `observed_at`, and the generation becomes
    /// `expected_generation + 1`. Returns `true` if stored, `false` (nothing written) if
    /// the generation had moved. Up to ~20,000 keys per stream is supported. Fails with
    /// [`LedgerError::UnknownRequest`] for an unknown request. Snapshot states live
    /// with their request's streams and are removed where the ledger removes those.
    async fn store_snapshot(
        &self,
        request_id: &str,
        stream: &str,
        expected_generation: u64,
        hashes: &BTreeMap<String, String>,
        observed_at: DateTime<Utc>,
    ) -> Result<bool, LedgerError>;

    // ---- leases ----

    /// Take or renew the lease `name` for `holder` for `ttl`. Returns `true` if `holder`
    /// holds it now. While held and unexpired, nobody else gets it.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, LedgerError>;

    /// Give a lease up if `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), LedgerError>;

    /// Whether the backend is reachable right now (for `/readyz`).
    async fn ready(&self) -> bool;
}
