//! The ledger's data in memory, and the only way it changes: [`Effect`]s.
//!
//! Every mutation of [`FileLedger`](super::FileLedger) is first computed (by `rules`) as
//! a list of effects, then written to the journal as one line, then applied here.
//! Replaying a journal applies the same effects through the same [`State::apply`], so a
//! reopened ledger is the ledger that was closed.
//!
//! Guarantees:
//! - **Effects are whole values**, not operations: "slice X is now this record", "the
//!   stream is now this state". Applying one twice is the same as applying it once, and
//!   replay runs no ledger logic (no clock, no transition table) that could have changed
//!   since the journal was written.
//! - **Indexes follow the records.** The per-request ids by state, the records sum, the
//!   newest-first order of requests and the streams' pending sets are maintained only by
//!   `apply`, so a request's progress is by construction a recount of its slices, plus
//!   the slices compaction forgot ([`Effect::Forget`] moves a slice's count and records
//!   into its request's compacted totals).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use fleet_core::ledger::{
    Progress, RequestRecord, SliceRecord, SliceState, SnapshotState, StreamState,
};
use serde::{Deserialize, Serialize};

/// A stream's pending slices, oldest first: by `from` (none first), then by id.
pub(super) type PendingKey = (Option<DateTime<Utc>>, String);

/// One change to the ledger's data, as journaled (one JSON object, tagged by `op`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Effect {
    /// Insert or replace a request.
    Request { record: RequestRecord },
    /// Insert or replace a slice (boxed: slices are most effects, and the largest).
    Slice { record: Box<SliceRecord> },
    /// Set a stream's planned_to and watermark.
    Stream {
        request: String,
        stream: String,
        state: StreamState,
    },
    /// Put a slice on (`queued: true`) or take it off a stream's pending set.
    Pending {
        request: String,
        stream: String,
        from: Option<DateTime<Utc>>,
        id: String,
        queued: bool,
    },
    /// Put a completed slice the watermark passed on (`passed: true`) or take it off a
    /// stream's passed set (what `compact_stream` may delete).
    Passed {
        request: String,
        stream: String,
        to: DateTime<Utc>,
        id: String,
        passed: bool,
    },
    /// Delete a slice record, keeping its count (as completed) and records in its
    /// request's compacted totals: compaction forgets records, not progress.
    Forget { id: String },
    /// Set a request's compacted totals (written by snapshots only).
    Compacted {
        request: String,
        completed: u64,
        records: u64,
    },
    /// Set a stream's snapshot state.
    Snapshot {
        request: String,
        stream: String,
        state: SnapshotState,
    },
}

impl Effect {
    /// How much of the file this effect stands for, in effects of ordinary size: a
    /// snapshot state counts each of its keys, so the journal is compacted against
    /// what it really holds (a stream storing 20,000 keys every window grows it fast).
    pub fn weight(&self) -> u64 {
        match self {
            Effect::Snapshot { state, .. } => 1 + state.hashes.len() as u64,
            _ => 1,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub(super) struct State {
    requests: HashMap<String, RequestRecord>,
    /// Iterated in ascending order = newest first. Microseconds, with ties by id
    /// descending: the same order as the Redis ledger's sorted set.
    newest: BTreeSet<(Reverse<i64>, Reverse<String>)>,
    slices: HashMap<String, SliceRecord>,
    indexes: HashMap<String, RequestIndex>,
    streams: HashMap<(String, String), StreamEntry>,
    snapshots: HashMap<(String, String), SnapshotState>,
}

/// What `list_slices`, `progress` and `cancel_request` need of one request's slices.
#[derive(Debug, Default, Clone)]
struct RequestIndex {
    ids: BTreeSet<String>,
    /// Ids by state, in the order of [`SliceState::ALL`].
    by_state: [BTreeSet<String>; 7],
    records: u64,
    /// Slices compaction forgot (all were completed), and their records.
    compacted: u64,
    compacted_records: u64,
}

#[derive(Debug, Default, Clone)]
pub(super) struct StreamEntry {
    pub state: StreamState,
    pub pending: BTreeSet<PendingKey>,
    /// Completed slices the watermark passed, by `to` then id, until compacted.
    pub passed: BTreeSet<(DateTime<Utc>, String)>,
}

fn slot(state: SliceState) -> usize {
    match state {
        SliceState::Planned => 0,
        SliceState::Queued => 1,
        SliceState::Running => 2,
        SliceState::Completed => 3,
        SliceState::Failed => 4,
        SliceState::Split => 5,
        SliceState::Cancelled => 6,
    }
}

impl State {
    pub fn request(&self, id: &str) -> Option<&RequestRecord> {
        self.requests.get(id)
    }

    pub fn newest(&self, limit: usize) -> Vec<RequestRecord> {
        self.newest
            .iter()
            .take(limit)
            .filter_map(|(_, Reverse(id))| self.requests.get(id).cloned())
            .collect()
    }

    pub fn slice(&self, id: &str) -> Option<&SliceRecord> {
        self.slices.get(id)
    }

    /// Counts by state and records of a request's slices (zero for an unknown request).
    pub fn progress(&self, request: &str) -> Progress {
        let Some(ix) = self.indexes.get(request) else {
            return Progress::default();
        };
        let n = |s: SliceState| ix.by_state[slot(s)].len() as u64;
        Progress {
            planned: n(SliceState::Planned),
            queued: n(SliceState::Queued),
            running: n(SliceState::Running),
            completed: n(SliceState::Completed) + ix.compacted,
            failed: n(SliceState::Failed),
            split: n(SliceState::Split),
            cancelled: n(SliceState::Cancelled),
            records: ix.records.saturating_add(ix.compacted_records),
        }
    }

    /// A request's slice ids in id order, after `after`, optionally only in `state`.
    pub fn slice_ids<'a>(
        &'a self,
        request: &str,
        state: Option<SliceState>,
        after: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        let Some(ix) = self.indexes.get(request) else {
            return Box::new(std::iter::empty());
        };
        let set = match state {
            Some(s) => &ix.by_state[slot(s)],
            None => &ix.ids,
        };
        match after {
            Some(a) => {
                let a = a.to_owned();
                Box::new(set.range(a.clone()..).skip_while(move |id| **id == a))
            }
            None => Box::new(set.iter()),
        }
    }

    pub fn stream(&self, request: &str, stream: &str) -> Option<&StreamEntry> {
        self.streams.get(&(request.to_owned(), stream.to_owned()))
    }

    pub fn snapshot_state(&self, request: &str, stream: &str) -> Option<&SnapshotState> {
        self.snapshots.get(&(request.to_owned(), stream.to_owned()))
    }

    /// The weight (see [`Effect::weight`]) of a snapshot of this state: the measure the
    /// journal is compacted against.
    pub fn live_entries(&self) -> u64 {
        let pending: usize = self
            .streams
            .values()
            .map(|s| s.pending.len() + s.passed.len())
            .sum();
        let snapshots: usize = self.snapshots.values().map(|s| 1 + s.hashes.len()).sum();
        let compacted = self.indexes.values().filter(|ix| ix.compacted > 0).count();
        (self.requests.len()
            + self.slices.len()
            + self.streams.len()
            + pending
            + snapshots
            + compacted) as u64
    }

    /// The effects that rebuild this state from nothing (requests before their slices).
    pub fn snapshot(&self) -> impl Iterator<Item = Effect> + '_ {
        let requests = self
            .requests
            .values()
            .map(|r| Effect::Request { record: r.clone() });
        let slices = self.slices.values().map(|s| Effect::Slice {
            record: Box::new(s.clone()),
        });
        let streams = self.streams.iter().flat_map(|((request, stream), entry)| {
            let state = Effect::Stream {
                request: request.clone(),
                stream: stream.clone(),
                state: entry.state,
            };
            let pending = entry.pending.iter().map(|(from, id)| Effect::Pending {
                request: request.clone(),
                stream: stream.clone(),
                from: *from,
                id: id.clone(),
                queued: true,
            });
            let passed = entry.passed.iter().map(|(to, id)| Effect::Passed {
                request: request.clone(),
                stream: stream.clone(),
                to: *to,
                id: id.clone(),
                passed: true,
            });
            std::iter::once(state).chain(pending).chain(passed)
        });
        let compacted =
            self.indexes
                .iter()
                .filter(|(_, ix)| ix.compacted > 0)
                .map(|(request, ix)| Effect::Compacted {
                    request: request.clone(),
                    completed: ix.compacted,
                    records: ix.compacted_records,
                });
        let snapshots = self
            .snapshots
            .iter()
            .map(|((request, stream), state)| Effect::Snapshot {
                request: request.clone(),
                stream: stream.clone(),
                state: state.clone(),
            });
        requests
            .chain(slices)
            .chain(streams)
            .chain(compacted)
            .chain(snapshots)
    }

    pub fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Request { record } => {
                self.newest.insert((
                    Reverse(record.created_at.timestamp_micros()),
                    Reverse(record.id.clone()),
                ));
                self.requests.insert(record.id.clone(), record);
            }
            Effect::Slice { record } => {
                let record = *record;
                let ix = self.indexes.entry(record.request_id.clone()).or_default();
                if let Some(old) = self.slices.get(&record.id) {
                    ix.by_state[slot(old.state)].remove(&old.id);
                    ix.records = ix.records.saturating_sub(old.records);
                }
                ix.ids.insert(record.id.clone());
                ix.by_state[slot(record.state)].insert(record.id.clone());
                ix.records = ix.records.saturating_add(record.records);
                self.slices.insert(record.id.clone(), record);
            }
            Effect::Stream {
                request,
                stream,
                state,
            } => {
                self.streams.entry((request, stream)).or_default().state = state;
            }
            Effect::Pending {
                request,
                stream,
                from,
                id,
                queued,
            } => {
                let entry = self.streams.entry((request, stream)).or_default();
                set_member(&mut entry.pending, (from, id), queued);
            }
            Effect::Passed {
                request,
                stream,
                to,
                id,
                passed,
            } => {
                let entry = self.streams.entry((request, stream)).or_default();
                set_member(&mut entry.passed, (to, id), passed);
            }
            Effect::Forget { id } => {
                // Applying it twice finds nothing the second time.
                if let Some(old) = self.slices.remove(&id) {
                    let ix = self.indexes.entry(old.request_id.clone()).or_default();
                    ix.ids.remove(&id);
                    ix.by_state[slot(old.state)].remove(&id);
                    ix.records = ix.records.saturating_sub(old.records);
                    ix.compacted += 1;
                    ix.compacted_records = ix.compacted_records.saturating_add(old.records);
                }
            }
            Effect::Compacted {
                request,
                completed,
                records,
            } => {
                let ix = self.indexes.entry(request).or_default();
                ix.compacted = completed;
                ix.compacted_records = records;
            }
            Effect::Snapshot {
                request,
                stream,
                state,
            } => {
                self.snapshots.insert((request, stream), state);
            }
        }
    }
}

/// Puts `key` in `set` or takes it out.
fn set_member<K: Ord>(set: &mut BTreeSet<K>, key: K, member: bool) {
    if member {
        set.insert(key);
    } else {
        set.remove(&key);
    }
}
