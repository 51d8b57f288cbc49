//! [`consume`]: the loop between a broker subscription and a [`FileSink`].
//!
//! Deliveries are taken in batches — up to `batch` messages, or whatever arrived within
//! `flush_interval` of the batch's first message — written, flushed to disk, and only
//! **then** acknowledged. So an acknowledged record is on disk, and a crash at any
//! point loses nothing: what was not acknowledged is delivered again (and may then be
//! written twice; at most one batch per crash).
//!
//! A message that is not a record message is rejected at once (the broker dead-letters
//! it) with a warning naming what is wrong; it never blocks the ones after it. A failed
//! write or flush (disk full, permissions) ends the loop with the error and leaves the
//! batch unacknowledged for redelivery. At shutdown the current batch is flushed and
//! acknowledged before returning.
//!
//! Give the subscription a prefetch of at least `batch`: a batch holds its deliveries
//! until it is flushed, so a smaller prefetch only makes every batch wait out its
//! `flush_interval`.

use std::time::Duration;

use anyhow::Context as _;
use fleet_core::broker::{Delivery, Subscriber};
use tokio::runtime::RuntimeFlavor;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::{FileSink, SinkError};

/// How long one wait for a message lasts when no batch is open (shutdown interrupts it).
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// Pause after the broker was unavailable, before asking again.
const BROKER_PAUSE: Duration = Duration::from_secs(1);

/// How [`consume`] batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumeOptions {
    /// Messages per flush at most (at least 1).
    pub batch: usize,
    /// The longest a written message waits for its flush and acknowledgement.
    pub flush_interval: Duration,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions {
            batch: 500,
            flush_interval: Duration::from_secs(1),
        }
    }
}

/// What [`consume`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumeSummary {
    /// Record messages written, flushed and acknowledged.
    pub messages: u64,
    /// Records written (duplicates not included).
    pub records: u64,
    /// Records skipped because this sink had written their id before.
    pub duplicates: u64,
    /// Messages rejected to the dead-letter queue as not record messages.
    pub malformed: u64,
}

/// Consumes `subscriber` into `sink` until `shutdown`; see the module docs.
pub async fn consume(
    mut subscriber: Box<dyn Subscriber>,
    sink: &mut FileSink,
    options: ConsumeOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<ConsumeSummary> {
    let batch = options.batch.max(1);
    let mut summary = ConsumeSummary::default();
    let mut written: Vec<Delivery> = Vec::with_capacity(batch.min(4096));
    // When the open batch must be flushed; `None` while no batch is open.
    let mut due: Option<Instant> = None;
    loop {
        let stopping = shutdown.is_cancelled();
        if stopping || written.len() >= batch || due.is_some_and(|t| Instant::now() >= t) {
            settle(sink, &mut written, &mut summary).await?;
            due = None;
            if stopping {
                return Ok(summary);
            }
        }
        let wait = due.map_or(IDLE_WAIT, |t| t.saturating_duration_since(Instant::now()));
        let next = tokio::select! {
            biased;
            () = shutdown.cancelled() => continue,
            next = subscriber.next(wait) => next,
        };
        let delivery = match next {
            Ok(Some(delivery)) => delivery,
            Ok(None) => continue,
            Err(e) if e.is_transient() => {
                warn!(error = %e, "records queue unavailable; waiting for the broker");
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(BROKER_PAUSE) => {}
                }
                continue;
            }
            Err(e) => {
                settle(sink, &mut written, &mut summary).await?;
                return Err(e).context("consuming the records queue");
            }
        };
        let duplicates_before = sink.duplicates();
        match blocking(|| sink.write(&delivery.headers, &delivery.body)) {
            Ok(n) => {
                summary.records += n as u64;
                summary.duplicates += sink.duplicates() - duplicates_before;
                written.push(delivery);
                due.get_or_insert_with(|| Instant::now() + options.flush_interval);
            }
            Err(SinkError::Malformed(why)) => {
                summary.malformed += 1;
                warn!(
                    message_id = delivery.message_id.as_deref().unwrap_or("-"),
                    error = %why,
                    "rejecting a message that is not a record message (it goes to the dead-letter queue)"
                );
                if let Err(e) = delivery.reject().await {
                    warn!(error = %e, "could not reject the message; it will come again");
                }
            }
            // The batch is dropped unacknowledged: the broker delivers it again.
            Err(e) => return Err(e).context("writing records"),
        }
    }
}

/// Flushes the sink, then acknowledges the batch.
async fn settle(
    sink: &mut FileSink,
    written: &mut Vec<Delivery>,
    summary: &mut ConsumeSummary,
) -> anyhow::Result<()> {
    if written.is_empty() {
        return Ok(());
    }
    blocking(|| sink.flush()).context("flushing records to disk")?;
    let n = written.len();
    for delivery in written.drain(..) {
        // A failed ack (connection lost) means the message comes again: a duplicate
        // this sink skips, not a loss.
        if let Err(e) = delivery.ack().await {
            warn!(error = %e, "could not acknowledge a written message; it will come again");
        }
    }
    summary.messages += n as u64;
    debug!(messages = n, "batch flushed and acknowledged");
    Ok(())
}

/// Runs blocking file work off the async workers where the runtime allows it
/// (`block_in_place` needs the multi-thread runtime); on a current-thread runtime (tests)
/// it runs inline.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
