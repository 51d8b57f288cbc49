//! [`FileSinkBroker`]: the file sink in front of a broker, for a fleet in one process.
//!
//! Record messages are written to a [`FileSink`] and synced **before** `publish` returns
//! `Ok`; every other message (jobs, events, retries, dead letters) goes to the wrapped
//! broker. A worker checkpoints a page only after its records are confirmed, so with
//! this broker a checkpoint in the ledger means the page's records are on disk, and a
//! crash (even SIGKILL) loses nothing: at most the page in flight is written again.
//! This is the embedded fleet's central invariant ("confirmed" means "on disk").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fleet_core::broker::{
    Broker, BrokerError, Delivery, Depths, Destination, Outgoing, Subscriber, Subscription,
};
use tracing::warn;

use crate::{FileSink, SinkError, SinkOptions, Target};

/// A [`Broker`] that writes record messages to a [`FileSink`] (synced) instead of an
/// exchange, and passes every other message to `B`. See the module docs for why the
/// order matters.
pub struct FileSinkBroker<B> {
    inner: B,
    sink: Arc<Mutex<FileSink>>,
    dir: PathBuf,
}

impl<B: std::fmt::Debug> std::fmt::Debug for FileSinkBroker<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSinkBroker")
            .field("inner", &self.inner)
            .field("dir", &self.dir)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while writing leaves at worst unflushed lines the sink forgets and a retry
    // writes again; the sink itself stays usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<B> FileSinkBroker<B> {
    /// Opens the file sink on `dir` (created; locked to this process) in front of `inner`,
    /// writing as `options` say (dedupe window, file mode).
    pub fn open(inner: B, dir: &Path, options: SinkOptions) -> std::io::Result<FileSinkBroker<B>> {
        let sink = FileSink::open_with(Target::Dir(dir.to_owned()), options)?;
        Ok(FileSinkBroker {
            inner,
            sink: Arc::new(Mutex::new(sink)),
            dir: dir.to_owned(),
        })
    }

    /// The directory the records go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records written per (source, dataset) by this process, duplicates not included.
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        lock(&self.sink).counts().clone()
    }

    /// Records skipped by this process because it had written them already.
    pub fn duplicates(&self) -> u64 {
        lock(&self.sink).duplicates()
    }

    /// Writes and syncs `records`; on the blocking pool so the runtime keeps running.
    async fn write_records(&self, records: Vec<Outgoing>) -> Result<(), BrokerError> {
        let sink = self.sink.clone();
        let written = tokio::task::spawn_blocking(move || -> Result<(), SinkError> {
            let mut sink = lock(&sink);
            for m in &records {
                sink.write(&m.headers, &m.body)?;
            }
            sink.flush().map_err(|e| SinkError::Io {
                path: "the output files".into(),
                source: e,
            })
        })
        .await
        .map_err(|e| BrokerError::Unavailable(format!("the file writer stopped: {e}")))?;
        match written {
            Ok(()) => Ok(()),
            Err(e @ SinkError::Io { .. }) => {
                warn!(error = %e, "writing records failed; the worker will retry the page");
                Err(BrokerError::Unavailable(format!("writing records: {e}")))
            }
            // A worker never sends one; if it did, retrying could not help.
            Err(e @ (SinkError::Malformed(_) | SinkError::Config(_))) => {
                Err(BrokerError::Topology(e.to_string()))
            }
        }
    }
}

#[async_trait]
impl<B: Broker> Broker for FileSinkBroker<B> {
    async fn declare(&self) -> Result<(), BrokerError> {
        self.inner.declare().await
    }

    async fn publish(&self, batch: Vec<Outgoing>) -> Result<(), BrokerError> {
        let (records, rest): (Vec<Outgoing>, Vec<Outgoing>) = batch
            .into_iter()
            .partition(|m| matches!(m.destination, Destination::Records { .. }));
        if !records.is_empty() {
            self.write_records(records).await?;
        }
        if !rest.is_empty() {
            self.inner.publish(rest).await?;
        }
        Ok(())
    }

    async fn next_job(&self, wait: Duration) -> Result<Option<Delivery>, BrokerError> {
        self.inner.next_job(wait).await
    }

    async fn subscribe(
        &self,
        subscription: Subscription,
    ) -> Result<Box<dyn Subscriber>, BrokerError> {
        self.inner.subscribe(subscription).await
    }

    async fn depths(&self) -> Result<Depths, BrokerError> {
        self.inner.depths().await
    }

    async fn ready(&self) -> bool {
        self.inner.ready().await
    }
}

#[cfg(test)]
mod tests {
    use fleet_core::wire::Lane;
    use fleet_core::wire::{self, headers, Op, PageRecord, Provenance, RecordPage};
    use fleet_memory::MemoryBroker;

    use super::*;

    fn record_page(id: &str) -> Outgoing {
        let provenance = Provenance {
            source: "acme".into(),
            tenant: "acme/Prod".into(),
            dataset: "jobs".into(),
            folder: None,
            slice_id: "s1".into(),
            request_id: "r1".into(),
        };
        let fetched = "2030-01-01T12:00:00Z".parse().unwrap();
        let body = RecordPage {
            version: wire::WIRE_VERSION,
            provenance,
            page: 0,
            fetched_at: fetched,
            order_by: Some(wire::version_order("jobs")),
            records: vec![PageRecord {
                id: id.into(),
                op: Op::Upsert,
                key: Some(id.into()),
                order: Some(wire::order_time(fetched)),
                record: Some(serde_json::json!({ "Id": 1, "StartTime": "2030-01-01T00:00:00Z" })),
            }],
        }
        .to_bytes();
        Outgoing::new(
            Destination::Records {
                routing_key: "acme.jobs".into(),
            },
            id,
            body,
        )
        .header(headers::SHAPE, "page")
    }

    fn ndjson_lines(dir: &Path) -> usize {
        let jobs = dir.join("acme").join("jobs");
        std::fs::read_dir(jobs)
            .map(|entries| {
                entries
                    .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                    .map(|text| text.lines().count())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Records are in the files when `publish` returns; jobs go to the wrapped broker.
    #[tokio::test]
    async fn records_are_on_disk_when_publish_returns_and_the_rest_passes_through() {
        let dir = std::env::temp_dir().join(format!(
            "fleet-sink-broker-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let broker =
            FileSinkBroker::open(MemoryBroker::default(), &dir, SinkOptions::default()).unwrap();
        broker.declare().await.unwrap();
        assert_eq!(broker.dir(), dir);

        let job = Outgoing::new(Destination::Jobs(Lane::Backfill), "j1", b"{}".to_vec());
        broker
            .publish(vec![record_page("a"), job, record_page("a")])
            .await
            .unwrap();
        assert_eq!(
            ndjson_lines(&dir),
            1,
            "written and deduplicated before the confirm"
        );
        assert_eq!(broker.duplicates(), 1);
        assert_eq!(
            broker.counts().get(&("acme".to_owned(), "jobs".to_owned())),
            Some(&1)
        );
        let delivery = broker.next_job(Duration::from_secs(1)).await.unwrap();
        assert_eq!(delivery.expect("the job passed through").body, b"{}");

        // One process per output directory.
        assert!(
            FileSinkBroker::open(MemoryBroker::default(), &dir, SinkOptions::default()).is_err()
        );
        drop(broker);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
