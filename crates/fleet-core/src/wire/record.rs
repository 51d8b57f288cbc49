//! Record messages: one record per message ([`RecordEnvelope`]) or one page per message
//! ([`RecordPage`]), each record with its [`Op`], `key` and version `order`, and the
//! deterministic ids consumers deduplicate by.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{decode, encode, FolderRef, WireError};
use crate::dataset::VersionOrder;

/// A deterministic record id: the same record in the same version always gets the same
/// id, whichever worker read it and however often, so consumers can drop duplicates.
///
/// `key` is the record's identity in its dataset (its `Id`, or for RobotLogs a hash of the
/// row), `version` whatever changes when the record changes (its modification time, or
/// empty for immutable rows). The id is the first 32 hex digits of SHA-256 over the parts.
pub fn record_id(source: &str, dataset: &str, key: &str, version: &str) -> String {
    let mut h = Sha256::new();
    for part in [source, dataset, key, version] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where a record came from; carried by every envelope and page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub source: String,
    /// `organization/tenant` (cloud) or the tenancy name (standalone).
    pub tenant: String,
    pub dataset: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderRef>,
    pub slice_id: String,
    pub request_id: String,
}

/// What a record message says happened to its record (version 2; a version-1 body is an
/// upsert). A version-1 reader refuses every version-2 body by its version, so it can
/// never mistake a delete for an upsert.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// The record exists in this version: insert it or replace an older version.
    #[default]
    Upsert,
    /// The key disappeared from its dataset (a tombstone): there is no `record`.
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Upsert => "upsert",
            Op::Delete => "delete",
        }
    }
}

/// One record per message (`output = "record"`). The AMQP message id is `id`.
///
/// One type reads both versions: a version-1 body has no `op` (an upsert), `key`,
/// `order_by` or `order`. This build writes version 2, where `key` and `order_by` are
/// always set, `order` when the record has its order field, and `record` only for
/// upserts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordEnvelope {
    pub version: u32,
    pub id: String,
    #[serde(flatten)]
    pub provenance: Provenance,
    /// When the worker received it from UiPath; for a delete, when the fleet saw the key
    /// gone.
    pub fetched_at: DateTime<Utc>,
    /// `upsert` or `delete` (always written; `upsert` when a version-1 body lacks it).
    #[serde(default)]
    pub op: Op,
    /// The record's identity in its dataset (its `Id` as text; `row:<hash>` for keyless
    /// RobotLogs rows). Absent only in version-1 bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What `order` is: the dataset's [`VersionOrder`]. Absent only in version-1 bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<VersionOrder>,
    /// The version's place in the key's history (see [`order_value`]): compare two
    /// versions of one key as strings, the greater is newer. Absent when the record lacks
    /// the field its `order_by` reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The record as UiPath returned it (after `$select`); absent for a delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
}

/// The checks every record, enveloped or paged, passes when read: an upsert has its
/// record, a delete has a key and no record, and version 2 always names the key.
fn check_record(
    version: u32,
    index: Option<usize>,
    op: Op,
    key: &Option<String>,
    record: &Option<serde_json::Value>,
) -> Result<(), String> {
    let at = index.map(|i| format!("record {i}: ")).unwrap_or_default();
    if version >= 2 && key.is_none() {
        return Err(format!("{at}missing field `key` (required from version 2)"));
    }
    match (op, record) {
        (Op::Upsert, None) => Err(format!("{at}an upsert needs its `record`")),
        (Op::Delete, Some(_)) => Err(format!("{at}a delete carries no `record`")),
        (Op::Delete, None) if key.is_none() => Err(format!("{at}a delete needs its `key`")),
        _ => Ok(()),
    }
}

impl RecordEnvelope {
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn from_bytes(body: &[u8]) -> Result<RecordEnvelope, WireError> {
        const WHAT: &str = "record envelope";
        let env: RecordEnvelope = decode(WHAT, body)?;
        check_record(env.version, None, env.op, &env.key, &env.record)
            .map_err(|detail| WireError::Malformed { what: WHAT, detail })?;
        Ok(env)
    }
}

/// One record inside a [`RecordPage`]; the fields mean what they mean in a
/// [`RecordEnvelope`] (`order_by` is the page's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageRecord {
    pub id: String,
    /// `upsert` or `delete` (always written; `upsert` when a version-1 body lacks it).
    #[serde(default)]
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
}

/// One API page per message (`output = "page"`). The AMQP message id is
/// `<slice_id>/<page>`; dedup still goes by each record's `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordPage {
    pub version: u32,
    #[serde(flatten)]
    pub provenance: Provenance,
    /// 0-based page number within the slice (restarts count from the checkpoint).
    pub page: u64,
    pub fetched_at: DateTime<Utc>,
    /// What every record's `order` is. Absent only in version-1 bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<VersionOrder>,
    pub records: Vec<PageRecord>,
}

impl RecordPage {
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn from_bytes(body: &[u8]) -> Result<RecordPage, WireError> {
        const WHAT: &str = "record page";
        let page: RecordPage = decode(WHAT, body)?;
        for (i, r) in page.records.iter().enumerate() {
            check_record(page.version, Some(i), r.op, &r.key, &r.record)
                .map_err(|detail| WireError::Malformed { what: WHAT, detail })?;
        }
        Ok(page)
    }
}

/// The id of a tombstone: deterministic for the same deletion, so a delete published
/// twice (a retried snapshot diff) is deduplicated like any record. `last_version` is the
/// version hash the fleet last saw for the key (the snapshot hash it stored).
pub fn tombstone_id(source: &str, dataset: &str, key: &str, last_version: &str) -> String {
    record_id(source, dataset, key, &format!("deleted:{last_version}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Event, EventBody, WIRE_VERSION};

    fn provenance() -> Provenance {
        Provenance {
            source: "acme".into(),
            tenant: "org/T".into(),
            dataset: "jobs".into(),
            folder: None,
            slice_id: "s".into(),
            request_id: "r".into(),
        }
    }

    #[test]
    fn version_1_records_read_as_upserts_without_identity() {
        let v1 = serde_json::json!({
            "version": 1, "id": "a", "source": "acme", "tenant": "org/T", "dataset": "jobs",
            "slice_id": "s", "request_id": "r", "fetched_at": "2024-01-01T00:00:00Z",
            "record": {"Id": 1}
        });
        let env = RecordEnvelope::from_bytes(&serde_json::to_vec(&v1).unwrap()).unwrap();
        assert_eq!(
            (env.op, env.key, env.order_by, env.order),
            (Op::Upsert, None, None, None)
        );
        assert_eq!(env.record, Some(serde_json::json!({"Id": 1})));
        let page = serde_json::json!({
            "version": 1, "source": "acme", "tenant": "org/T", "dataset": "jobs",
            "slice_id": "s", "request_id": "r", "page": 0,
            "fetched_at": "2024-01-01T00:00:00Z", "records": [{"id": "a", "record": {"Id": 1}}]
        });
        let page = RecordPage::from_bytes(&serde_json::to_vec(&page).unwrap()).unwrap();
        assert_eq!(page.records[0].op, Op::Upsert);
        assert_eq!(page.order_by, None);
        // A v1 body still needs its record; v2 needs its key.
        let mut bad = v1.clone();
        bad.as_object_mut().unwrap().remove("record");
        let e = RecordEnvelope::from_bytes(&serde_json::to_vec(&bad).unwrap()).unwrap_err();
        assert!(e.to_string().contains("upsert needs its `record`"), "{e}");
        let mut bad = v1;
        bad["version"] = 2.into();
        let e = RecordEnvelope::from_bytes(&serde_json::to_vec(&bad).unwrap()).unwrap_err();
        assert!(e.to_string().contains("`key`"), "{e}");
    }

    #[test]
    fn deletes_carry_a_key_and_no_record() {
        let del = RecordEnvelope {
            version: WIRE_VERSION,
            id: tombstone_id("acme", "machines", "7", "abc"),
            provenance: Provenance {
                dataset: "machines".into(),
                ..provenance()
            },
            fetched_at: "2024-01-01T00:00:00Z".parse().unwrap(),
            op: Op::Delete,
            key: Some("7".into()),
            order_by: Some(VersionOrder::ObservedAt),
            order: Some("2024-01-01T00:00:00.0000000Z".into()),
            record: None,
        };
        let v: serde_json::Value = serde_json::from_slice(&del.to_bytes()).unwrap();
        assert_eq!(v["op"], "delete");
        assert_eq!(v["order_by"], "observed-at");
        assert!(v.get("record").is_none());
        assert_eq!(RecordEnvelope::from_bytes(&del.to_bytes()).unwrap(), del);
        assert_eq!(del.id, record_id("acme", "machines", "7", "deleted:abc"));
        // A null record is no record.
        let mut null = v.clone();
        null["record"] = serde_json::Value::Null;
        assert!(RecordEnvelope::from_bytes(&serde_json::to_vec(&null).unwrap()).is_ok());
        let mut with = v.clone();
        with["record"] = serde_json::json!({"Id": 7});
        let e = RecordEnvelope::from_bytes(&serde_json::to_vec(&with).unwrap()).unwrap_err();
        assert!(e.to_string().contains("delete carries no `record`"), "{e}");
        let mut unknown = v;
        unknown["order_by"] = "sequence".into();
        let e = RecordEnvelope::from_bytes(&serde_json::to_vec(&unknown).unwrap()).unwrap_err();
        assert!(e.to_string().contains("unknown order_by"), "{e}");
        // Events of version 1 and 2 read alike.
        let ev = Event::new(EventBody::RequestCompleted {
            request_id: "r".into(),
            slices: 1,
            failed: 0,
            records: 1,
        });
        let mut v: serde_json::Value = serde_json::from_slice(&ev.to_bytes()).unwrap();
        v["version"] = 1.into();
        assert!(Event::from_bytes(&serde_json::to_vec(&v).unwrap()).is_ok());
    }

    #[test]
    fn record_ids_are_stable_and_unambiguous() {
        let a = record_id("acme", "jobs", "42", "2024-01-01T00:00:00Z");
        assert_eq!(a, record_id("acme", "jobs", "42", "2024-01-01T00:00:00Z"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, record_id("acme", "jobs", "42", "2024-01-01T00:00:01Z"));
        // Length-prefixed parts: moving a character across a boundary changes the id.
        assert_ne!(record_id("ab", "c", "", ""), record_id("a", "bc", "", ""));
    }
}
