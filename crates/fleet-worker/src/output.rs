//! Records as messages: deterministic record ids, envelopes or pages, and the headers that
//! let consumers route without parsing bodies (docs/messages.md).

use chrono::{DateTime, Utc};
use fleet_core::broker::{Destination, Outgoing};
use fleet_core::wire::{
    headers, record_id, PageRecord, Provenance, RecordEnvelope, RecordPage, SliceJob, WIRE_VERSION,
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

/// Builds a slice's output messages.
#[derive(Debug, Clone)]
pub struct Output {
    pub mode: OutputMode,
    provenance: Provenance,
    routing_key: String,
}

impl Output {
    pub fn new(mode: OutputMode, job: &SliceJob, tenant: String) -> Output {
        Output {
            mode,
            routing_key: format!("{}.{}", job.source, job.dataset),
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

    fn message(&self, id: String, body: Vec<u8>) -> Outgoing {
        let p = &self.provenance;
        let mut m = Outgoing::new(
            Destination::Records {
                routing_key: self.routing_key.clone(),
            },
            id,
            body,
        )
        .header(headers::VERSION, WIRE_VERSION.to_string())
        .header(headers::SOURCE, p.source.as_str())
        .header(headers::TENANT, p.tenant.as_str())
        .header(headers::DATASET, p.dataset.as_str())
        .header(headers::SLICE, p.slice_id.as_str())
        .header(headers::REQUEST, p.request_id.as_str())
        .header(headers::SHAPE, self.mode.as_str());
        if let Some(f) = &p.folder {
            m = m.header(headers::FOLDER, f.path.as_str());
        }
        m
    }

    /// The messages of one page (`page` counts from 1 within the slice).
    pub fn page(
        &self,
        page: u64,
        records: Vec<Record>,
        fetched_at: DateTime<Utc>,
    ) -> Vec<Outgoing> {
        let p = &self.provenance;
        let with_ids = records.into_iter().map(|r| {
            let (key, version) = key_and_version(&r);
            (record_id(&p.source, &p.dataset, &key, &version), r)
        });
        match self.mode {
            OutputMode::Record => with_ids
                .map(|(id, record)| {
                    let body = RecordEnvelope {
                        version: WIRE_VERSION,
                        id: id.clone(),
                        provenance: p.clone(),
                        fetched_at,
                        record: Value::Object(record),
                    }
                    .to_bytes();
                    self.message(id, body)
                })
                .collect(),
            OutputMode::Page => {
                let records: Vec<PageRecord> = with_ids
                    .map(|(id, record)| PageRecord {
                        id,
                        record: Value::Object(record),
                    })
                    .collect();
                if records.is_empty() {
                    return Vec::new();
                }
                let body = RecordPage {
                    version: WIRE_VERSION,
                    provenance: p.clone(),
                    page,
                    fetched_at,
                    records,
                }
                .to_bytes();
                vec![self.message(format!("{}/{page}", p.slice_id), body)]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_core::wire::{FolderRef, Lane};
    use serde_json::json;

    fn job() -> SliceJob {
        SliceJob {
            version: WIRE_VERSION,
            slice_id: "s1".into(),
            request_id: "r1".into(),
            lane: Lane::Backfill,
            source: "acme".into(),
            dataset: "jobs".into(),
            folder: Some(FolderRef {
                id: 3,
                key: "k".into(),
                path: "Finance".into(),
            }),
            from: None,
            to: None,
            select: vec![],
            read: Default::default(),
            attempt: 0,
            parent: None,
        }
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
            (headers::VERSION, "1"),
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
        let page = RecordPage::from_bytes(&msgs[0].body).unwrap();
        assert_eq!(page.records.len(), 2);
        let (key, version) = key_and_version(&rec(json!({"Id": 2})));
        assert_eq!(
            page.records[1].id,
            record_id("acme", "jobs", &key, &version)
        );
        assert!(out.page(8, vec![], Utc::now()).is_empty());
    }
}
