//! Tests of the sink as a whole: messages as the worker writes them, in; files and
//! acknowledgements, out. The fixtures are here; `writing` checks what lands in the
//! files, `consuming` the stream sink and the consume loop's acknowledgements.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fleet_core::broker::{Broker, Destination, Feed, Headers, Outgoing, Subscription};
use fleet_core::wire::{
    self, headers, FolderRef, Op, PageRecord, Provenance, RecordEnvelope, RecordPage, WIRE_VERSION,
};
use fleet_memory::MemoryBroker;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::{consume, ConsumeOptions, FileSink, SinkError, Target};

mod consuming;
mod writing;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("fleet-sink-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn provenance(dataset: &str, folder: Option<&str>) -> Provenance {
    Provenance {
        source: "acme".into(),
        tenant: "acme/Prod".into(),
        dataset: dataset.into(),
        folder: folder.map(|path| FolderRef {
            id: 3,
            key: "k-3".into(),
            path: path.into(),
        }),
        slice_id: "s1".into(),
        request_id: "r1".into(),
    }
}

fn fetched() -> DateTime<Utc> {
    "2030-01-01T12:00:00Z".parse().unwrap()
}

fn shape(s: &str) -> Headers {
    let mut h = Headers::new();
    h.insert(headers::SHAPE.into(), s.into());
    h
}

/// An upsert as the worker writes it: the key is the record's `Id` (else the id), the
/// order what fleet-core computes.
fn upsert(dataset: &str, id: &str, record: Value) -> PageRecord {
    let key = match record.get("Id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => id.to_owned(),
    };
    PageRecord {
        id: id.into(),
        op: Op::Upsert,
        key: Some(key),
        order: record
            .as_object()
            .and_then(|r| wire::order_value(dataset, r, fetched())),
        record: Some(record),
    }
}

fn delete(dataset: &str, key: &str) -> PageRecord {
    PageRecord {
        id: wire::tombstone_id("acme", dataset, key, "last-seen"),
        op: Op::Delete,
        key: Some(key.into()),
        order: Some(wire::order_time(fetched())),
        record: None,
    }
}

fn envelope(dataset: &str, id: &str, record: Value) -> Vec<u8> {
    envelope_of(dataset, upsert(dataset, id, record))
}

fn envelope_of(dataset: &str, r: PageRecord) -> Vec<u8> {
    RecordEnvelope {
        version: WIRE_VERSION,
        id: r.id,
        provenance: provenance(dataset, Some("Shared/Finance")),
        fetched_at: fetched(),
        op: r.op,
        key: r.key,
        order_by: Some(wire::version_order(dataset)),
        order: r.order,
        record: r.record,
    }
    .to_bytes()
}

fn page(dataset: &str, records: &[(&str, Value)]) -> Vec<u8> {
    page_of(
        dataset,
        records
            .iter()
            .map(|(id, r)| upsert(dataset, id, r.clone()))
            .collect(),
    )
}

fn page_of(dataset: &str, records: Vec<PageRecord>) -> Vec<u8> {
    RecordPage {
        version: WIRE_VERSION,
        provenance: provenance(dataset, None),
        page: 0,
        fetched_at: fetched(),
        order_by: Some(wire::version_order(dataset)),
        records,
    }
    .to_bytes()
}

/// Every line under `dir`, by file path relative to it.
fn files(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, Vec<Value>>) {
        for entry in std::fs::read_dir(d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|e| e == "ndjson") {
                let text = std::fs::read_to_string(&p).unwrap();
                let lines = text
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
                out.insert(rel, lines);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
