//! Records as messages: deterministic record ids, envelopes or pages, upserts and
//! tombstones, and the headers that let consumers route without parsing bodies
//! (docs/messages.md).

use chrono::{DateTime, Utc};
use fleet_core::broker::Outgoing;
use fleet_core::dataset::VersionOrder;
use fleet_core::messages;
use fleet_core::wire::{
    self, record_id, tombstone_id, Op, PageRecord, Provenance, RecordEnvelope, RecordPage,
    SliceJob, WIRE_VERSION,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uipath_client::odata::Record;

use crate::config::OutputMode;

/// Fields that change whenever a record changes, in order of preference: the record's
/// version for its id.
const VERSION_FIELDS: [&str; 3] = ["LastModificationTime", "UpdateTime", "LastModified"];

/// The key and version a record's id is made of. The key is the record's `Id` as text;
/// for rows without one (RobotLogs) it is a hash of the whole row, and the version is
/// empty. The version is the record's last modification time where it has one, else a
/// hash of its content: either way, a record read again unchanged gets the same id, and a
/// changed one (a queue item that moved on) a new one.
pub fn key_and_version(record: &Record) -> (String, String) {
    let key = match record.get("Id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return (format!("row:{}", content_hash(record)), String::new()),
    };
    let version = VERSION_FIELDS
        .iter()
        .find_map(|f| record.get(*f).and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("content:{}", content_hash(record)));
    (key, version)
}

/// 32 hex digits of SHA-256 over the record's JSON. serde_json's maps are ordered by key
/// (no `preserve_order` feature), so the text, and the hash, do not depend on the order
/// the server sent the fields in.
fn content_hash(record: &Record) -> String {
    let text = serde_json::to_string(record).expect("records serialize");
    Sha256::digest(text.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs CPU work (serializing, hashing a page) on the blocking pool and waits for it,
/// so it never holds a runtime thread; a panic in it goes on as the caller's panic.
pub(crate) async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// What a snapshot diff compares: 32 hex digits of SHA-256 over the record's JSON with
/// its keys sorted (at every depth) and the top-level `volatile` fields (a heartbeat, a
/// next occurrence; the dataset's `ChangeMode::Snapshot { volatile }`) left out. A record
/// whose other fields are unchanged hashes the same; any other change, a new hash. With
/// no volatile fields it is the hash in a `content:` version. The worker stores it per
/// key and passes it back to [`Output::tombstones`] when the key disappears.
pub fn snapshot_hash(record: &Record, volatile: &[&str]) -> String {
    if volatile.iter().all(|f| !record.contains_key(*f)) {
        return content_hash(record);
    }
    let mut stable = record.clone();
    for f in volatile {
        stable.remove(*f);
    }
    content_hash(&stable)
}

/// Builds a slice's output messages.
#[derive(Debug, Clone)]
pub struct Output {
    pub mode: OutputMode,
    provenance: Provenance,
    /// What orders the versions of the dataset's records (`order_by`).
    order_by: VersionOrder,
}

impl Output {
    /// The routing key is `<source>.<dataset>`: a source is exactly one tenant, so the
    /// tenant travels in the body and the `x-fleet-tenant` header, not in the key (see
    /// docs/messages.md, "Tenants").
    pub fn new(mode: OutputMode, job: &SliceJob, tenant: String) -> Output {
        Output {
            mode,
            order_by: wire::version_order(&job.dataset),
            provenance: Provenance {
                source: job.source.clone(),
                tenant,
                dataset: job.dataset.clone(),
                folder: job.folder.clone(),
                slice_id: job.slice_id.clone(),
                request_id: job.request_id.clone(),
            },
        }
    }

    /// The messages of one page of records read (`page` counts from 1 within the slice):
    /// upserts, each with its id ([`key_and_version`]), `key`, and `order` (from
    /// `fleet_core::wire::order_value`). Record mode: one message per record; page mode:
    /// one message, none for an empty page.
    pub fn page(
        &self,
        page: u64,
        records: Vec<Record>,
        fetched_at: DateTime<Utc>,
    ) -> Vec<Outgoing> {
        let p = &self.provenance;
        let items = records.into_iter().map(|r| {
            let (key, version) = key_and_version(&r);
            PageRecord {
                id: record_id(&p.source, &p.dataset, &key, &version),
                op: Op::Upsert,
                order: wire::order_value(&p.dataset, &r, fetched_at),
                key: Some(key),
                record: Some(Value::Object(r)),
            }
        });
        self.messages(page, items, fetched_at)
    }

    /// [`Output::page`] on the blocking pool. Serializing and hashing a page of a
    /// thousand wide records is CPU work long enough to starve what shares a runtime
    /// thread (the broker's heartbeats among them), so the worker never does it there.
    pub async fn page_off_runtime(
        &self,
        page: u64,
        records: Vec<Record>,
        fetched_at: DateTime<Utc>,
    ) -> Vec<Outgoing> {
        // The output is small (names and provenance); a copy moves with the page.
        let me = self.clone();
        off_runtime(move || me.page(page, records, fetched_at)).await
    }

    /// The tombstones of keys a snapshot diff found gone: `gone` is `(key, the version
    /// hash the fleet last saw for it)` (the [`snapshot_hash`] it stored), `observed_at`
    /// when the snapshot that misses them was read. Each delete's id is
    /// `fleet_core::wire::tombstone_id(source, dataset, key, last_seen)`, the same for the
    /// same deletion however often it is sent; it has no record, and its `order` is
    /// `observed_at` when the dataset is ordered by observation (every snapshot dataset),
    /// else absent. Record mode: one message per key; page mode: one page message
    /// (message id `<slice_id>/<page>`: number it after the slice's last page); nothing
    /// for an empty list.
    ///
    /// Only a complete snapshot may produce tombstones: never call this for a read that
    /// failed or was cut short.
    pub fn tombstones(
        &self,
        page: u64,
        gone: Vec<(String, String)>,
        observed_at: DateTime<Utc>,
    ) -> Vec<Outgoing> {
        let p = &self.provenance;
        let order =
            (self.order_by == VersionOrder::ObservedAt).then(|| wire::order_time(observed_at));
        let items = gone.into_iter().map(|(key, last_seen)| PageRecord {
            id: tombstone_id(&p.source, &p.dataset, &key, &last_seen),
            op: Op::Delete,
            key: Some(key),
            order: order.clone(),
            record: None,
        });
        self.messages(page, items, observed_at)
    }

    fn messages(
        &self,
        page: u64,
        items: impl Iterator<Item = PageRecord>,
        fetched_at: DateTime<Utc>,
    ) -> Vec<Outgoing> {
        let p = &self.provenance;
        match self.mode {
            OutputMode::Record => items
                .map(|r| {
                    let body = RecordEnvelope {
                        version: WIRE_VERSION,
                        id: r.id.clone(),
                        provenance: p.clone(),
                        fetched_at,
                        op: r.op,
                        key: r.key,
                        order_by: Some(self.order_by),
                        order: r.order,
                        record: r.record,
                    }
                    .to_bytes();
                    messages::record(p, r.id, r.op, body)
                })
                .collect(),
            OutputMode::Page => {
                let records: Vec<PageRecord> = items.collect();
                if records.is_empty() {
                    return Vec::new();
                }
                let body = RecordPage {
                    version: WIRE_VERSION,
                    provenance: p.clone(),
                    page,
                    fetched_at,
                    order_by: Some(self.order_by),
                    records,
                }
                .to_bytes();
                vec![messages::page(p, page, body)]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_core::broker::Destination;
    use fleet_core::wire::headers;
    use serde_json::json;

    /// A backfill job `s1` of request `r1` reading `dataset` of source `acme`, in folder
    /// `folder` (id 3, key `k`) if any, as a worker receives it.
    pub(super) fn job_of(dataset: &str, folder: Option<&str>) -> SliceJob {
        let folder = folder.map(|path| json!({"id": 3, "key": "k", "path": path}));
        let body = json!({"version": WIRE_VERSION, "slice_id": "s1", "request_id": "r1",
            "lane": "backfill", "source": "acme", "dataset": dataset, "folder": folder});
        SliceJob::from_bytes(body.to_string().as_bytes()).expect("a job")
    }

    fn job() -> SliceJob {
        job_of("jobs", Some("Finance"))
    }

    fn rec(v: Value) -> Record {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn ids_follow_key_and_version() {
        let a = rec(json!({"Id": 42, "LastModificationTime": "2024-01-01T09:30:12.345Z"}));
        assert_eq!(
            key_and_version(&a),
            ("42".into(), "2024-01-01T09:30:12.345Z".into())
        );
        let ds = rec(json!({"Id": "AB-1", "UpdateTime": "2024-01-02T00:00:00Z"}));
        assert_eq!(key_and_version(&ds).0, "AB-1");
        // Rows without an Id are keyed by their content, the same whatever the field order.
        let log1 = rec(json!({"TimeStamp": "t", "Message": "m"}));
        let log2 = rec(json!({"Message": "m", "TimeStamp": "t"}));
        assert_eq!(key_and_version(&log1), key_and_version(&log2));
        assert!(key_and_version(&log1).0.starts_with("row:"));
        assert_eq!(key_and_version(&log1).1, "");
        // Without a modification time, a changed record gets a new version.
        let q1 = rec(json!({"Id": 7, "Status": "New"}));
        let q2 = rec(json!({"Id": 7, "Status": "Successful"}));
        assert_ne!(key_and_version(&q1).1, key_and_version(&q2).1);
        assert_eq!(key_and_version(&q1), key_and_version(&q1.clone()));
        assert_ne!(
            key_and_version(&log1),
            key_and_version(&rec(json!({"TimeStamp": "t", "Message": "other"})))
        );
    }

    #[test]
    fn record_mode_is_one_message_per_record_with_headers() {
        let out = Output::new(OutputMode::Record, &job(), "demo-org/Default".into());
        let at = Utc::now();
        let msgs = out.page(1, vec![rec(json!({"Id": 1})), rec(json!({"Id": 2}))], at);
        assert_eq!(msgs.len(), 2);
        let env = RecordEnvelope::from_bytes(&msgs[0].body).unwrap();
        assert_eq!(msgs[0].message_id, env.id);
        let (key, version) = key_and_version(&rec(json!({"Id": 1})));
        assert_eq!((key.as_str(), version.starts_with("content:")), ("1", true));
        assert_eq!(env.id, record_id("acme", "jobs", &key, &version));
        assert_eq!(
            msgs[0].destination,
            Destination::Records {
                routing_key: "acme.jobs".into()
            }
        );
        for (h, v) in [
            (headers::SOURCE, "acme"),
            (headers::TENANT, "demo-org/Default"),
            (headers::DATASET, "jobs"),
            (headers::FOLDER, "Finance"),
            (headers::SLICE, "s1"),
            (headers::REQUEST, "r1"),
            (headers::SHAPE, "record"),
            (headers::VERSION, "2"),
            (headers::OP, "upsert"),
        ] {
            assert_eq!(msgs[0].headers.get(h).map(String::as_str), Some(v), "{h}");
        }
    }

    #[test]
    fn page_mode_is_one_message_per_page() {
        let out = Output::new(OutputMode::Page, &job(), "t".into());
        let msgs = out.page(
            7,
            vec![rec(json!({"Id": 1})), rec(json!({"Id": 2}))],
            Utc::now(),
        );
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].message_id, "s1/7");
        assert_eq!(
            msgs[0].headers.get(headers::VERSION).map(String::as_str),
            Some("2")
        );
        assert!(
            !msgs[0].headers.contains_key(headers::OP),
            "pages have no op header"
        );
        let page = RecordPage::from_bytes(&msgs[0].body).unwrap();
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.order_by, Some(VersionOrder::Modified));
        assert_eq!(page.records[1].op, Op::Upsert);
        assert_eq!(page.records[1].key.as_deref(), Some("2"));
        let (key, version) = key_and_version(&rec(json!({"Id": 2})));
        assert_eq!(
            page.records[1].id,
            record_id("acme", "jobs", &key, &version)
        );
        assert!(out.page(8, vec![], Utc::now()).is_empty());
    }

    #[test]
    fn upserts_carry_key_and_order() {
        let out = Output::new(OutputMode::Record, &job(), "t".into());
        let at: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let msgs = out.page(
            1,
            vec![
                rec(json!({"Id": 1, "CreationTime": "2024-01-01T00:00:00Z",
                    "LastModificationTime": "2024-02-01T10:00:00.5+01:00"})),
                rec(json!({"Id": 2, "CreationTime": "2024-01-01T00:00:00Z",
                    "LastModificationTime": null})),
                rec(json!({"Id": 3})),
            ],
            at,
        );
        let envs: Vec<RecordEnvelope> = msgs
            .iter()
            .map(|m| RecordEnvelope::from_bytes(&m.body).unwrap())
            .collect();
        for (env, key) in envs.iter().zip(["1", "2", "3"]) {
            assert_eq!(env.version, 2);
            assert_eq!(env.op, Op::Upsert);
            assert_eq!(env.key.as_deref(), Some(key));
            assert_eq!(env.order_by, Some(VersionOrder::Modified));
            assert!(env.record.is_some());
        }
        assert_eq!(
            envs[0].order.as_deref(),
            Some("2024-02-01T09:00:00.5000000Z")
        );
        assert_eq!(
            envs[1].order.as_deref(),
            Some("2024-01-01T00:00:00.0000000Z")
        );
        assert_eq!(envs[2].order, None, "no time field, no order");
        // Ids are the v1 ids: key and version as before.
        let (key, version) = key_and_version(&rec(json!({"Id": 3})));
        assert_eq!(envs[2].id, record_id("acme", "jobs", &key, &version));
    }

    fn machines_job() -> SliceJob {
        job_of("machines", None)
    }

    #[test]
    fn tombstones_are_deletes_with_deterministic_ids() {
        let at: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let gone = || {
            vec![
                ("7".to_owned(), "h7".to_owned()),
                ("9".to_owned(), "h9".to_owned()),
            ]
        };
        let out = Output::new(OutputMode::Record, &machines_job(), "t".into());
        let msgs = out.tombstones(3, gone(), at);
        assert_eq!(msgs.len(), 2);
        let env = RecordEnvelope::from_bytes(&msgs[0].body).unwrap();
        assert_eq!(env.op, Op::Delete);
        assert_eq!(env.key.as_deref(), Some("7"));
        assert_eq!(env.record, None);
        assert_eq!(env.fetched_at, at);
        assert_eq!(env.order_by, Some(VersionOrder::ObservedAt));
        assert_eq!(env.order.as_deref(), Some("2030-01-01T00:00:00.0000000Z"));
        assert_eq!(env.id, record_id("acme", "machines", "7", "deleted:h7"));
        assert_eq!(msgs[0].message_id, env.id);
        assert_eq!(
            msgs[0].headers.get(headers::OP).map(String::as_str),
            Some("delete")
        );
        // The same deletion, sent again later, has the same id.
        let again = out.tombstones(5, gone(), Utc::now());
        assert_eq!(again[1].message_id, msgs[1].message_id);
        assert!(out.tombstones(4, vec![], at).is_empty());

        let out = Output::new(OutputMode::Page, &machines_job(), "t".into());
        let msgs = out.tombstones(3, gone(), at);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].message_id, "s1/3");
        let page = RecordPage::from_bytes(&msgs[0].body).unwrap();
        assert_eq!(page.order_by, Some(VersionOrder::ObservedAt));
        assert!(page
            .records
            .iter()
            .all(|r| r.op == Op::Delete && r.record.is_none()));
        assert_eq!(
            page.records[1].id,
            tombstone_id("acme", "machines", "9", "h9")
        );
        assert!(out.tombstones(4, vec![], at).is_empty());
    }

    #[test]
    fn snapshot_hashes_ignore_volatile_fields_only() {
        let a = rec(json!({"Id": 1, "State": "Available", "ReportingTime": "t1",
            "Nested": {"b": 1, "a": 2}}));
        let b = rec(json!({"Nested": {"a": 2, "b": 1}, "ReportingTime": "t2",
            "State": "Available", "Id": 1}));
        let c = rec(json!({"Id": 1, "State": "Busy", "ReportingTime": "t1",
            "Nested": {"b": 1, "a": 2}}));
        let volatile = ["ReportingTime"];
        assert_eq!(snapshot_hash(&a, &volatile), snapshot_hash(&b, &volatile));
        assert_ne!(snapshot_hash(&a, &volatile), snapshot_hash(&c, &volatile));
        assert_ne!(snapshot_hash(&a, &[]), snapshot_hash(&b, &[]));
        assert_eq!(snapshot_hash(&a, &volatile).len(), 32);
        // Without volatile fields it is the content hash of a `content:` version.
        let q = rec(json!({"Id": 7, "Status": "New"}));
        assert_eq!(
            key_and_version(&q).1,
            format!("content:{}", snapshot_hash(&q, &["Absent"]))
        );
        let nested_change = rec(json!({"Id": 1, "State": "Available", "ReportingTime": "t1",
            "Nested": {"b": 1, "a": 3}}));
        assert_ne!(
            snapshot_hash(&a, &volatile),
            snapshot_hash(&nested_change, &volatile)
        );
    }
}

#[cfg(test)]
mod liveness {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use serde_json::{json, Value};

    use super::*;

    /// A page far bigger than any real one: `n` records of 60 fields.
    fn huge_page(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let mut r = serde_json::Map::new();
                r.insert("Id".into(), json!(i as i64 + 1));
                r.insert("CreationTime".into(), json!("2024-03-01T10:00:00.000Z"));
                r.insert(
                    "LastModificationTime".into(),
                    json!("2024-03-01T11:00:00.000Z"),
                );
                for f in 0..57 {
                    r.insert(
                        format!("Field{f}"),
                        Value::String(format!("value {i} of field {f} with some text")),
                    );
                }
                r
            })
            .collect()
    }

    /// A liveness check, not a performance claim: while the messages of a deliberately
    /// huge page are built, a one-thread runtime keeps running its other tasks (a broker
    /// heartbeat is one of them). Built on the runtime thread, this page holds it for
    /// seconds; the bound is a generous fraction of that.
    #[tokio::test(flavor = "current_thread")]
    async fn a_huge_page_is_built_while_the_runtime_keeps_ticking() {
        let job = super::tests::job_of("jobs", None);
        let output = Output::new(OutputMode::Record, &job, "org/tenant".into());
        let records = huge_page(30_000);
        let stop = Arc::new(AtomicBool::new(false));
        let gap = Arc::new(Mutex::new(Duration::ZERO));
        let ticker = tokio::spawn({
            let (stop, gap) = (stop.clone(), gap.clone());
            async move {
                let mut last = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let now = Instant::now();
                    let mut g = gap.lock().unwrap();
                    *g = (*g).max(now - last);
                    last = now;
                }
            }
        });
        tokio::task::yield_now().await;
        let started = Instant::now();
        let messages = output.page_off_runtime(1, records, Utc::now()).await;
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        ticker.await.unwrap();
        assert_eq!(messages.len(), 30_000);
        let gap = *gap.lock().unwrap();
        println!("page built in {took:?}; longest pause of the ticker {gap:?}");
        assert!(
            gap < Duration::from_secs(1),
            "the runtime stalled for {gap:?} (page took {took:?})"
        );
    }
}
