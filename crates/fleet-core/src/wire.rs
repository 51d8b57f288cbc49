//! The wire formats: every message that crosses RabbitMQ, in one place.
//!
//! Each body is JSON with a `version` field. A reader accepts the versions it knows and
//! rejects the rest with [`WireError::Version`], so a job written by a newer coordinator
//! is dead-lettered with a clear reason instead of being half-understood. Domain types
//! are not serialized directly: these structs are the contract, documented with examples
//! in `docs/messages.md`, and a change to them is a change to that file.
//!
//! - [`SliceJob`]: one date-range slice of one dataset, the unit of work on the job queues.
//! - [`RecordEnvelope`] / [`RecordPage`]: records on the output exchange, one per message
//!   or one page per message.
//! - [`Event`]: `slice.completed`, `slice.failed` and `request.completed` on the events
//!   exchange.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version this build writes, and the only one it reads.
pub const WIRE_VERSION: u32 = 1;

/// AMQP header names the fleet sets on its messages (string values). Consumers can route
/// or filter on them without parsing bodies.
pub mod headers {
    pub const SOURCE: &str = "x-fleet-source";
    pub const TENANT: &str = "x-fleet-tenant";
    pub const DATASET: &str = "x-fleet-dataset";
    pub const FOLDER: &str = "x-fleet-folder";
    pub const SLICE: &str = "x-fleet-slice";
    pub const REQUEST: &str = "x-fleet-request";
    pub const VERSION: &str = "x-fleet-version";
    /// On dead-lettered jobs: why the fleet gave up on it (an error kind, not free text).
    pub const REASON: &str = "x-fleet-reason";
    /// On dead-lettered jobs: the human-readable error (never contains secrets).
    pub const ERROR: &str = "x-fleet-error";
    /// On records: `record` or `page`.
    pub const SHAPE: &str = "x-fleet-shape";
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("message is not valid JSON for {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("{what} has version {found}; this build reads version {WIRE_VERSION}")]
    Version { what: &'static str, found: u64 },
}

fn decode<T: serde::de::DeserializeOwned>(what: &'static str, body: &[u8]) -> Result<T, WireError> {
    // Check the version before the shape, so a v2 message says "version 2", not "missing
    // field" for whatever v2 renamed.
    let probe: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WireError::Malformed {
            what,
            detail: e.to_string(),
        })?;
    match probe.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(WIRE_VERSION) => {}
        Some(found) => return Err(WireError::Version { what, found }),
        None => {
            return Err(WireError::Malformed {
                what,
                detail: "missing numeric field `version`".into(),
            })
        }
    }
    serde_json::from_value(probe).map_err(|e| WireError::Malformed {
        what,
        detail: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail (string keys, no non-finite floats).
    serde_json::to_vec(value).expect("wire types always serialize")
}

/// The two job lanes. Sync jobs are served before backfill jobs, so history never
/// starves freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    Sync,
    Backfill,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Sync => "sync",
            Lane::Backfill => "backfill",
        }
    }
    pub const ALL: [Lane; 2] = [Lane::Sync, Lane::Backfill];
}

/// How a job reads its slice (`read` on [`SliceJob`]). Backfills read history; a sync
/// reads what changed in its window, in the way its dataset allows (see
/// `fleet_core::dataset::ChangeMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadMode {
    /// Records whose time field (creation, event time) is in `[from, to)`, or the whole
    /// set for untimed datasets. What every job of version 1 meant.
    #[default]
    Created,
    /// Records modified in `[from, to)`, and never-modified records created in it.
    Modified,
    /// The change feed: events in `[from, to)`, then the current state of the records
    /// they name.
    Feed,
    /// The whole set, compared with the stream's previous snapshot: changed records and
    /// tombstones for keys that disappeared.
    Snapshot,
}

impl ReadMode {
    pub fn is_created(&self) -> bool {
        *self == ReadMode::Created
    }
}

/// A folder a slice is read in (folder-scoped datasets only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FolderRef {
    pub id: i64,
    /// The folder's Key (GUID), sent as `X-UIPATH-FolderKey`.
    pub key: String,
    /// The folder's fully qualified name, for people reading jobs and records.
    pub path: String,
}

/// One slice of work: read `dataset` of `source` (in `folder`) for records whose time
/// field is in `[from, to)`, and publish them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceJob {
    pub version: u32,
    /// Deterministic: the same request, dataset, folder and range give the same id.
    pub slice_id: String,
    pub request_id: String,
    pub lane: Lane,
    pub source: String,
    /// A dataset slug (`jobs`, `queue-items`, ...) or `dataservice/<Entity>`.
    pub dataset: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderRef>,
    /// Inclusive lower bound; absent for datasets without a time field (read whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// Fields to read (`$select`); empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select: Vec<String>,
    /// How the slice is read; `created` when absent.
    #[serde(default, skip_serializing_if = "ReadMode::is_created")]
    pub read: ReadMode,
    /// How many times this job was retried through the delay queues (0 on first publish).
    #[serde(default)]
    pub attempt: u32,
    /// Set on the children of a split slice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl SliceJob {
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn from_bytes(body: &[u8]) -> Result<SliceJob, WireError> {
        decode("slice job", body)
    }
}

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

/// One record per message (`output = "record"`). The AMQP message id is `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordEnvelope {
    pub version: u32,
    pub id: String,
    #[serde(flatten)]
    pub provenance: Provenance,
    pub fetched_at: DateTime<Utc>,
    /// The record as UiPath returned it (after `$select`).
    pub record: serde_json::Value,
}

impl RecordEnvelope {
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn from_bytes(body: &[u8]) -> Result<RecordEnvelope, WireError> {
        decode("record envelope", body)
    }
}

/// One record inside a [`RecordPage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageRecord {
    pub id: String,
    pub record: serde_json::Value,
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
    pub records: Vec<PageRecord>,
}

impl RecordPage {
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn from_bytes(body: &[u8]) -> Result<RecordPage, WireError> {
        decode("record page", body)
    }
}

/// A notification on the events exchange. Routing key = [`EventBody::routing_key`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub version: u32,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventBody {
    #[serde(rename = "slice.completed")]
    SliceCompleted {
        request_id: String,
        slice_id: String,
        source: String,
        dataset: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folder: Option<FolderRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<DateTime<Utc>>,
        records: u64,
        pages: u64,
    },
    #[serde(rename = "slice.failed")]
    SliceFailed {
        request_id: String,
        slice_id: String,
        source: String,
        dataset: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folder: Option<FolderRef>,
        /// The error kind (stable, for alerting).
        reason: String,
        /// The error, readable (no secrets).
        error: String,
        attempts: u32,
    },
    #[serde(rename = "request.completed")]
    RequestCompleted {
        request_id: String,
        slices: u64,
        failed: u64,
        records: u64,
    },
}

impl EventBody {
    pub fn routing_key(&self) -> &'static str {
        match self {
            EventBody::SliceCompleted { .. } => "slice.completed",
            EventBody::SliceFailed { .. } => "slice.failed",
            EventBody::RequestCompleted { .. } => "request.completed",
        }
    }
}

impl Event {
    pub fn new(body: EventBody) -> Event {
        Event {
            version: WIRE_VERSION,
            at: Utc::now(),
            body,
        }
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn from_bytes(body: &[u8]) -> Result<Event, WireError> {
        decode("event", body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> SliceJob {
        SliceJob {
            version: WIRE_VERSION,
            slice_id: "s1".into(),
            request_id: "r1".into(),
            lane: Lane::Backfill,
            source: "acme".into(),
            dataset: "jobs".into(),
            folder: Some(FolderRef {
                id: 7,
                key: "k".into(),
                path: "Shared".into(),
            }),
            from: Some("2024-01-01T00:00:00Z".parse().unwrap()),
            to: Some("2024-01-02T00:00:00Z".parse().unwrap()),
            select: vec![],
            read: Default::default(),
            attempt: 0,
            parent: None,
        }
    }

    #[test]
    fn job_round_trips() {
        let j = job();
        assert_eq!(SliceJob::from_bytes(&j.to_bytes()).unwrap(), j);
    }

    #[test]
    fn other_versions_and_garbage_are_named_errors() {
        let mut v: serde_json::Value = serde_json::from_slice(&job().to_bytes()).unwrap();
        v["version"] = 2.into();
        let err = SliceJob::from_bytes(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(err, WireError::Version { found: 2, .. }), "{err}");
        let err = SliceJob::from_bytes(b"{not json").unwrap_err();
        assert!(err.to_string().contains("slice job"), "{err}");
        let err = SliceJob::from_bytes(br#"{"version":1}"#).unwrap_err();
        assert!(err.to_string().contains("missing field"), "{err}");
    }

    #[test]
    fn events_are_tagged_by_routing_key() {
        let e = Event::new(EventBody::RequestCompleted {
            request_id: "r".into(),
            slices: 3,
            failed: 0,
            records: 10,
        });
        let v: serde_json::Value = serde_json::from_slice(&e.to_bytes()).unwrap();
        assert_eq!(v["type"], "request.completed");
        assert_eq!(Event::from_bytes(&e.to_bytes()).unwrap(), e);
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
