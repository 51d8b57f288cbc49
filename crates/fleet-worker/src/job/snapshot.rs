//! A sync window of a set that has no modification time (Machines, Folders, Sessions,
//! ProcessSchedules, QueueDefinitions): read the whole set, publish only the records whose
//! content changed since the stream's previous snapshot, and a tombstone for every key
//! that disappeared.
//!
//! What keeps it exact:
//! - **Tombstones come only from a read that reached its end.** Any failure before the
//!   last page (an error, a 403, a cut connection, shutdown) leaves through the ordinary
//!   dispositions before a single tombstone is built; a folder that is gone is an error
//!   too.
//! - **The stored snapshot moves by compare-and-set on its generation**, after every
//!   changed record and tombstone was confirmed. Two windows of one stream read at the
//!   same time: the one that stores second finds the generation moved and reads again
//!   (deferred, not an attempt), so a removal or change between the two reads is never
//!   hidden by the older read overwriting the newer.
//! - **A crash repeats, never loses**: the read starts over from the first page (no
//!   checkpoints: the comparison needs every key), republishing what it had published
//!   (same ids) until the snapshot is stored.
//!
//! The hashes leave out the dataset's volatile fields (a session's `ReportingTime`, a
//! trigger's next occurrence), so a heartbeat is not a change. Memory: one key and hash
//! per record of the set, never the records.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fleet_core::dataset::ChangeMode;
use fleet_reader::{DatasetRef, SliceCursor};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::{Claimed, InFlight, JobOutcome};
use crate::error::WorkerError;
use crate::output::{key_and_version, off_runtime, snapshot_hash};

/// How soon a window that lost the race to store its snapshot reads again.
const REREAD_AFTER: Duration = Duration::from_secs(1);

impl InFlight<'_> {
    /// Works a snapshot window of the claimed slice to its settlement.
    pub(super) async fn snapshot(
        self,
        claimed: &Claimed,
        stop: &CancellationToken,
    ) -> Result<JobOutcome, WorkerError> {
        let (slice, read, output) = (&claimed.slice, &claimed.read, &claimed.output);
        let volatile: &'static [&'static str] = match &read.dataset {
            DatasetRef::Orchestrator(def) => match def.change {
                ChangeMode::Snapshot { volatile } => volatile,
                _ => &[],
            },
            DatasetRef::DataService(_) => &[],
        };
        let Some(stream) = slice.stream.clone() else {
            let e = "a snapshot read needs the sync stream it compares with; only sync windows read this way";
            return self.give_up("bad_request", e).await;
        };
        let (shared, request_id) = (self.shared, self.job.request_id.clone());
        let before = shared
            .patiently("reading the stored snapshot", || {
                shared.ledger.snapshot(&request_id, &stream)
            })
            .await?;
        // The stored hashes are shared with the blocking pool, where each page is hashed.
        let known = Arc::new(before.hashes);
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut cursor = SliceCursor::start(&read.dataset);
        let (mut pages, mut published) = (0u64, 0u64);
        loop {
            let (records, next) = match self.read_at(read, &cursor, stop).await {
                Ok(page) => page,
                Err(why) => return self.interrupted(slice, &cursor, why).await,
            };
            pages += 1;
            // Hashing a page is CPU work: off the runtime threads, like building messages.
            let page_known = Arc::clone(&known);
            let (changed, hashed) = off_runtime(move || {
                let mut changed = Vec::new();
                let mut hashed = Vec::with_capacity(records.len());
                for record in records {
                    let (key, _) = key_and_version(&record);
                    let hash = snapshot_hash(&record, volatile);
                    if page_known.get(&key) != Some(&hash) {
                        changed.push(record);
                    }
                    hashed.push((key, hash));
                }
                (changed, hashed)
            })
            .await;
            seen.extend(hashed);
            let n = changed.len() as u64;
            if n > 0 {
                let messages = output.page_off_runtime(pages, changed, Utc::now()).await;
                if let Err(e) = shared.publish("records", messages).await {
                    return self.records_unpublished(e).await;
                }
            }
            self.count(1, n);
            published += n;
            match next {
                Some(next) => cursor = next,
                None => break,
            }
        }
        // The read reached its end: every key not seen is gone.
        let gone: Vec<(String, String)> = known
            .iter()
            .filter(|(key, _)| !seen.contains_key(*key))
            .map(|(key, hash)| (key.clone(), hash.clone()))
            .collect();
        let deleted = gone.len() as u64;
        if deleted > 0 {
            let tombstones = output.tombstones(pages + 1, gone, Utc::now());
            if let Err(e) = shared.publish("tombstones", tombstones).await {
                return self.records_unpublished(e).await;
            }
            self.count(0, deleted);
        }
        let stored = shared
            .patiently("storing the snapshot", || {
                shared.ledger.store_snapshot(
                    &request_id,
                    &stream,
                    before.generation,
                    &seen,
                    Utc::now(),
                )
            })
            .await?;
        if !stored {
            debug!("another window stored its snapshot first; reading again");
            let why = "a newer snapshot was stored meanwhile";
            return self.defer(REREAD_AFTER, why).await;
        }
        let keys = seen.len();
        self.done(published + deleted, pages, |_| {
            info!(
                keys,
                changed = published,
                deleted,
                pages,
                "snapshot window completed"
            );
        })
        .await
    }
}
