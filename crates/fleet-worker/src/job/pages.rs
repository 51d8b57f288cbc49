//! Step 2, the page loop of a claimed slice: read a page at the cursor, publish its
//! records and wait for the confirms, then checkpoint the cursor after it; at the last
//! page, done. A client error settles the job by its disposition; a slice past its
//! record budget splits its unread remainder.

use chrono::Utc;
use fleet_core::ledger::{SliceRecord, Transition};
use fleet_core::BrokerError;
use fleet_reader::{SliceCursor, SliceRead};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uipath_client::odata::Record;
use uipath_client::{ClientError, Disposition};

use super::{Claimed, InFlight, JobOutcome};
use crate::error::WorkerError;
use crate::split;

/// Why a read stopped short of a page.
pub(super) enum Interrupted {
    /// The worker is shutting down: the last page read is checkpointed.
    Shutdown,
    Client(ClientError),
}

impl InFlight<'_> {
    /// Reads the claimed slice from `cursor` to its last page, then settles the job.
    pub(super) async fn pages(
        self,
        claimed: &Claimed,
        mut cursor: SliceCursor,
        stop: &CancellationToken,
    ) -> Result<JobOutcome, WorkerError> {
        let Claimed {
            slice,
            read,
            output,
        } = claimed;
        let (shared, slice_id) = (self.shared, self.job.slice_id.clone());
        let mut page_no = slice.pages;
        let mut records_total = slice.records;
        let mut run_records = 0u64;
        loop {
            let (records, next) = match self.read_at(read, &cursor, stop).await {
                Ok(page) => page,
                Err(why) => return self.interrupted(slice, &cursor, why).await,
            };
            let n = records.len() as u64;
            page_no += 1;
            let messages = output.page_off_runtime(page_no, records, Utc::now()).await;
            if let Err(e) = shared.publish("records", messages).await {
                return self.records_unpublished(e).await;
            }
            self.count(1, n);
            run_records += n;
            records_total += n;

            let Some(next) = next else {
                // 3. Done.
                return self
                    .done(n, 1, |s| {
                        debug!(pages = s.pages, run_records, "slice completed");
                    })
                    .await;
            };
            let checkpoint = Transition::Checkpoint {
                cursor: next.encode(),
                records: n,
                pages: 1,
                claim: self.claim,
            };
            let saved = shared.transition(&slice_id, checkpoint).await?;
            if !saved.applied {
                return self.stopped().await;
            }
            cursor = next;
            let Some(current) = saved.slice else {
                return self.stopped().await;
            };
            let budget = shared.config.record_budget;
            if budget > 0 && records_total >= budget {
                if let Some(children) = self.split_remainder(&current, &cursor) {
                    return self.split(children).await;
                }
            }
        }
    }

    /// The page of `read` at `cursor`, unless the worker is shutting down.
    pub(super) async fn read_at(
        &self,
        read: &SliceRead,
        cursor: &SliceCursor,
        stop: &CancellationToken,
    ) -> Result<(Vec<Record>, Option<SliceCursor>), Interrupted> {
        if stop.is_cancelled() {
            return Err(Interrupted::Shutdown);
        }
        let sources = &self.shared.sources;
        let page = sources.read_page(read, cursor, self.priority()).await;
        page.map_err(Interrupted::Client)
    }

    /// Settles a read that stopped short of a page: released at shutdown, else as the
    /// client error's disposition says.
    pub(super) async fn interrupted(
        self,
        slice: &SliceRecord,
        cursor: &SliceCursor,
        why: Interrupted,
    ) -> Result<JobOutcome, WorkerError> {
        match why {
            Interrupted::Shutdown => self.release().await,
            Interrupted::Client(e) => self.on_client_error(slice, cursor, e).await,
        }
    }

    /// Records could not be published: an unroutable key is retried later (a queue may
    /// be bound meanwhile), anything else drops the delivery for redelivery.
    pub(super) async fn records_unpublished(
        self,
        error: WorkerError,
    ) -> Result<JobOutcome, WorkerError> {
        match error {
            WorkerError::Broker(BrokerError::Unroutable { routing_key, .. }) => {
                let e = format!("no queue is bound for records `{routing_key}`: bind an output queue or run a sink");
                self.retry_later("unroutable", &e, None).await
            }
            e => Err(e),
        }
    }

    /// Settles the job as the client error's disposition says.
    async fn on_client_error(
        self,
        slice: &SliceRecord,
        cursor: &SliceCursor,
        e: ClientError,
    ) -> Result<JobOutcome, WorkerError> {
        let text = e.to_string();
        match e.disposition() {
            Disposition::Retry { after } => self.retry_later(e.kind(), &text, after).await,
            // The client already refreshed once; a second 401 is retried later, counted.
            Disposition::RefreshAndRetry => self.retry_later(e.kind(), &text, None).await,
            Disposition::Defer { after } => self.defer(after, &text).await,
            Disposition::Split => {
                // Normally met on the first page. Past it (rows added after the first
                // page's count), the halves re-read what was published: offset paging has
                // no cursor a child could resume from, and the rows' ids are content
                // hashes, so consumers drop the repeats.
                if !cursor.is_start() {
                    warn!("paging window exceeded after the first page; re-reading the halves");
                }
                self.halve(slice, &text).await
            }
            Disposition::GiveUp => self.give_up(e.kind(), &text).await,
        }
    }

    /// Past a paging window: split the whole slice in two, or give it up when it has no
    /// range to cut or is too narrow.
    async fn halve(self, slice: &SliceRecord, text: &str) -> Result<JobOutcome, WorkerError> {
        let min_split = self.shared.config.min_split;
        let cut = match (slice.from, slice.to) {
            (Some(from), Some(to)) => split::midpoint(from, to, min_split),
            _ => None,
        };
        if let Some(cut) = cut {
            let kids = split::children(slice, cut, None, Utc::now());
            info!(%cut, "slice past the paging window; split in two");
            return self.split(kids).await;
        }
        let e = match (slice.from, slice.to) {
            (Some(_), Some(_)) => format!(
                "{text}; the slice is narrower than {:?} and is not split further",
                min_split * 2
            ),
            _ => format!("{text}; the slice has no time range to split"),
        };
        self.give_up("window_exceeded", &e).await
    }

    /// Children for the unread remainder `[t, to)` of an over-budget slice, or `None` when
    /// the remainder cannot be cut (untimed set, offset cursor, too narrow).
    fn split_remainder(
        &self,
        slice: &SliceRecord,
        cursor: &SliceCursor,
    ) -> Option<Vec<SliceRecord>> {
        let (t, to) = (cursor.time()?, slice.to?);
        let cut = split::midpoint(t, to, self.shared.config.min_split)?;
        info!(records = slice.records, %cut, "slice over its record budget; splitting the rest");
        Some(split::children(
            slice,
            cut,
            Some(cursor.encode()),
            Utc::now(),
        ))
    }
}
