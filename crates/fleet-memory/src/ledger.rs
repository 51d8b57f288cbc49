//! `FileLedger`: the [`Ledger`] of the embedded mode, in memory or in a local file.
//!
//! - [`FileLedger::memory`] keeps everything in memory (tests, throwaway runs).
//! - [`FileLedger::open`] keeps it in a file that survives restarts: a journal of
//!   mutations replayed on open and compacted into a snapshot when it grows past about
//!   twice the live state (see `journal` for the format and its crash guarantees). The
//!   file is locked while open, so two processes can never share one.
//!
//! Every method is one step under a `std::sync::Mutex` that is never held across an
//! `.await`, so each is atomic with respect to every clone (clones share the ledger).
//! A mutation is computed by `rules` as a list of effects, written to the journal, and
//! only then applied (`state`): a mutation that cannot be written fails and changes
//! nothing. The one multi-step operation is `cancel_request`, which (like the Redis
//! ledger) first marks the request Cancelled and then cancels its slices in chunks, so
//! it never holds the lock for long and is correct if interrupted and run again;
//! `compact_stream` likewise forgets at most 1,000 slices per step.
//!
//! Leases live in memory only (a restarted process holds none), on tokio's clock, so
//! `tokio::time::pause()` drives them in tests.
//!
//! Semantics match `fleet_redis::RedisLedger`; both pass
//! `fleet_testkit::contract::ledger_contract`. Beyond the trait docs, both: refuse a
//! `Split` whose children are empty, of another request, or the parent itself (as an
//! illegal move); give split children the parent's stream and `parent`; add slices to a
//! cancelled request (by `add_slices`, `plan_window` or a split) as Cancelled; return
//! each id once from `add_slices`; put `plan_window`'s slices on its stream; leave a
//! terminal request untouched by `update_request`.

mod journal;
mod rules;
mod state;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fleet_core::ledger::{
    Ledger, LedgerError, Outcome, Progress, RequestRecord, RequestState, SliceRecord, SliceState,
    SnapshotState, StreamState, Transition,
};
use tokio::time::Instant;

use journal::Journal;
use state::{Effect, State};

/// The embedded ledger. `Clone` shares it; `Debug` shows the file and counts.
#[derive(Clone)]
pub struct FileLedger {
    inner: Arc<Inner>,
}

struct Inner {
    data: Mutex<Data>,
    leases: Mutex<HashMap<String, Lease>>,
    path: Option<PathBuf>,
}

struct Data {
    state: State,
    /// `None` for [`FileLedger::memory`].
    journal: Option<Journal>,
}

struct Lease {
    holder: String,
    /// A lapsed lease is treated exactly like a missing one.
    until: Instant,
}

impl fmt::Debug for FileLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data = lock(&self.inner.data);
        f.debug_struct("FileLedger")
            .field("path", &self.inner.path)
            .field("live_entries", &data.state.live_entries())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic under the lock happens before `apply` (rules only read), so the data is
    // still consistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FileLedger {
    /// A ledger in memory only: gone when the last clone is dropped.
    pub fn memory() -> Self {
        Self::with(State::default(), None)
    }

    /// The ledger in the file at `path`, created (mode 0600) if missing. Fails if
    /// another process, or another `FileLedger` of this one, has it open, or if the file
    /// is not a ledger.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref().to_owned();
        let (journal, state) = tokio::task::spawn_blocking(move || Journal::open(&path))
            .await
            .map_err(|e| LedgerError::Backend(format!("opening the ledger file: {e}")))??;
        Ok(Self::with(state, Some(journal)))
    }

    fn with(state: State, journal: Option<Journal>) -> Self {
        let path = journal.as_ref().map(|j| j.path().to_owned());
        FileLedger {
            inner: Arc::new(Inner {
                data: Mutex::new(Data { state, journal }),
                leases: Mutex::new(HashMap::new()),
                path,
            }),
        }
    }

    /// The file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Reads under the lock.
    fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&lock(&self.inner.data).state)
    }

    /// One mutation: `rules` computes the effects, they are journaled, then applied,
    /// then `then` reads the result, all in one step. Compacts afterwards if due.
    async fn mutate<T, R>(
        &self,
        rule: impl FnOnce(&State) -> Result<(T, Vec<Effect>), LedgerError>,
        then: impl FnOnce(T, &State) -> R,
    ) -> Result<R, LedgerError> {
        let (result, compact) = {
            let mut data = lock(&self.inner.data);
            let Data { state, journal } = &mut *data;
            let (value, effects) = rule(state)?;
            if !effects.is_empty() {
                if let Some(j) = journal.as_mut() {
                    j.append(&effects)?;
                }
                for effect in effects {
                    state.apply(effect);
                }
            }
            let compact = journal
                .as_mut()
                .is_some_and(|j| j.begin_compaction(state.live_entries()));
            let snapshot = compact.then(|| state.clone());
            (then(value, state), snapshot)
        };
        if let Some(snapshot) = compact {
            self.compact(snapshot).await;
        }
        Ok(result)
    }

    /// Writes `snapshot` and swaps it in, on the blocking pool. The whole job runs
    /// there, so the journal's compaction state is settled even if this future is
    /// dropped.
    async fn compact(&self, snapshot: State) {
        let inner = Arc::clone(&self.inner);
        let Some(path) = inner.path.clone() else {
            return;
        };
        let job = tokio::task::spawn_blocking(move || {
            let prepared = journal::write_snapshot(&path, &snapshot);
            drop(snapshot);
            if let Some(j) = lock(&inner.data).journal.as_mut() {
                j.finish_compaction(prepared);
            }
        });
        if let Err(e) = job.await {
            tracing::warn!(error = %e, "ledger compaction task failed");
        }
    }
}

#[async_trait]
impl Ledger for FileLedger {
    async fn create_request(&self, request: &RequestRecord) -> Result<bool, LedgerError> {
        self.mutate(
            |s| Ok(rules::create_request(s, request)),
            |created, _| created,
        )
        .await
    }

    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, LedgerError> {
        Ok(self.read(|s| s.request(id).cloned()))
    }

    async fn list_requests(&self, limit: usize) -> Result<Vec<RequestRecord>, LedgerError> {
        Ok(self.read(|s| s.newest(limit)))
    }

    async fn fix_plan(
        &self,
        id: &str,
        plan: &serde_json::Value,
    ) -> Result<serde_json::Value, LedgerError> {
        self.mutate(|s| rules::fix_plan(s, id, plan), |stored, _| stored)
            .await
    }

    async fn update_request(
        &self,
        id: &str,
        state: RequestState,
        planned: bool,
        note: Option<&str>,
    ) -> Result<RequestState, LedgerError> {
        self.mutate(
            |s| rules::update_request(s, id, state, planned, note),
            |now, _| now,
        )
        .await
    }

    async fn reopen_request(&self, id: &str) -> Result<bool, LedgerError> {
        self.mutate(|s| rules::reopen_request(s, id), |reopened, _| reopened)
            .await
    }

    async fn cancel_request(&self, id: &str) -> Result<u64, LedgerError> {
        self.mutate(|s| Ok(((), rules::cancel_request(s, id)?)), |(), _| ())
            .await?;
        let mut cancelled = 0u64;
        loop {
            let n = self
                .mutate(
                    |s| {
                        let effects = rules::cancel_chunk(s, id, Utc::now());
                        Ok((effects.len(), effects))
                    },
                    |n, _| n,
                )
                .await?;
            cancelled += n as u64;
            if n < rules::CANCEL_CHUNK {
                return Ok(cancelled);
            }
            // Let the slices' workers in between chunks.
            tokio::task::yield_now().await;
        }
    }

    async fn add_slices(&self, slices: &[SliceRecord]) -> Result<Vec<String>, LedgerError> {
        self.mutate(|s| rules::add_slices(s, slices), |ids, _| ids)
            .await
    }

    async fn get_slice(&self, id: &str) -> Result<Option<SliceRecord>, LedgerError> {
        Ok(self.read(|s| s.slice(id).cloned()))
    }

    async fn list_slices(
        &self,
        request_id: &str,
        state: Option<SliceState>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SliceRecord>, LedgerError> {
        Ok(self.read(|s| {
            s.slice_ids(request_id, state, after)
                .take(limit)
                .filter_map(|id| s.slice(id).cloned())
                .collect()
        }))
    }

    async fn transition(&self, id: &str, transition: Transition) -> Result<Outcome, LedgerError> {
        let now = Utc::now();
        let (applied, slice, progress) = self
            .mutate(
                |s| {
                    Ok(match rules::transition(s, id, transition.clone(), now) {
                        Some((applied, effects)) => (applied, effects),
                        None => (false, Vec::new()),
                    })
                },
                |applied, s| {
                    let slice = s.slice(id).cloned();
                    let progress = slice
                        .as_ref()
                        .map(|sl| s.progress(&sl.request_id))
                        .unwrap_or_default();
                    (applied, slice, progress)
                },
            )
            .await?;
        let outcome = Outcome {
            applied,
            slice,
            progress,
        };
        if let Some(why) = outcome.refused_split(&transition) {
            tracing::warn!(slice_id = id, "{why}");
        }
        Ok(outcome)
    }

    async fn progress(&self, request_id: &str) -> Result<Progress, LedgerError> {
        self.read(|s| {
            s.request(request_id)
                .map(|_| s.progress(request_id))
                .ok_or_else(|| LedgerError::UnknownRequest(request_id.to_owned()))
        })
    }

    async fn stream(&self, request_id: &str, stream: &str) -> Result<StreamState, LedgerError> {
        Ok(self.read(|s| {
            s.stream(request_id, stream)
                .map(|e| e.state)
                .unwrap_or_default()
        }))
    }

    async fn plan_window(
        &self,
        request_id: &str,
        stream: &str,
        expected: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        slices: &[SliceRecord],
    ) -> Result<Option<Vec<String>>, LedgerError> {
        self.mutate(
            |s| rules::plan_window(s, request_id, stream, expected, to, slices),
            |ids, _| ids,
        )
        .await
    }

    async fn advance_watermark(
        &self,
        request_id: &str,
        stream: &str,
    ) -> Result<Option<DateTime<Utc>>, LedgerError> {
        self.mutate(
            |s| Ok(rules::advance_watermark(s, request_id, stream)),
            |w, _| w,
        )
        .await
    }

    async fn compact_stream(
        &self,
        request_id: &str,
        stream: &str,
        before: DateTime<Utc>,
    ) -> Result<u64, LedgerError> {
        let mut removed = 0u64;
        loop {
            let (n, more) = self
                .mutate(
                    |s| Ok(rules::compact_chunk(s, request_id, stream, before)),
                    |r, _| r,
                )
                .await?;
            removed += n;
            if !more {
                return Ok(removed);
            }
            tokio::task::yield_now().await;
        }
    }

    async fn snapshot(&self, request_id: &str, stream: &str) -> Result<SnapshotState, LedgerError> {
        Ok(self.read(|s| {
            s.snapshot_state(request_id, stream)
                .cloned()
                .unwrap_or_default()
        }))
    }

    async fn store_snapshot(
        &self,
        request_id: &str,
        stream: &str,
        expected_generation: u64,
        hashes: &BTreeMap<String, String>,
        observed_at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        self.mutate(
            |s| {
                rules::store_snapshot(
                    s,
                    request_id,
                    stream,
                    expected_generation,
                    hashes,
                    observed_at,
                )
            },
            |stored, _| stored,
        )
        .await
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, LedgerError> {
        let now = Instant::now();
        let mut leases = lock(&self.inner.leases);
        if let Some(l) = leases.get(name) {
            if l.until > now && l.holder != holder {
                return Ok(false);
            }
        }
        leases.insert(
            name.to_owned(),
            Lease {
                holder: holder.to_owned(),
                until: now + ttl,
            },
        );
        Ok(true)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), LedgerError> {
        let mut leases = lock(&self.inner.leases);
        if leases.get(name).is_some_and(|l| l.holder == holder) {
            leases.remove(name);
        }
        Ok(())
    }

    /// False once the file cannot be written any more (see `journal`).
    async fn ready(&self) -> bool {
        lock(&self.inner.data)
            .journal
            .as_ref()
            .is_none_or(|j| !j.is_broken())
    }
}
