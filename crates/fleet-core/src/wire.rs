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
//!
//! Version 2 gives every record message an identity for change capture: an explicit
//! [`Op`] (upsert or delete: tombstones), the record's `key`, and a per-dataset version
//! order (`order_by`, `order`) a consumer compares as plain strings to keep the newest
//! version of a key ([`version_order`], [`order_value`]). Version 1 bodies are still read.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::{self, ChangeMode, VersionOrder};

/// The version this build writes.
pub const WIRE_VERSION: u32 = 2;

/// The oldest version this build still reads (jobs in flight and records written before
/// an upgrade). Readers accept `MIN_READ_VERSION..=WIRE_VERSION`.
pub const MIN_READ_VERSION: u32 = 1;

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
    /// On record-shape messages (one record each): `upsert` or `delete` (version 2).
    pub const OP: &str = "x-fleet-op";
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("message is not valid JSON for {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("{what} has version {found}; this build reads versions {MIN_READ_VERSION} to {WIRE_VERSION}")]
    Version { what: &'static str, found: u64 },
}

fn decode<T: serde::de::DeserializeOwned>(what: &'static str, body: &[u8]) -> Result<T, WireError> {
    // Check the version before the shape, so a v3 message says "version 3", not "missing
    // field" for whatever v3 renamed.
    let probe: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WireError::Malformed {
            what,
            detail: e.to_string(),
        })?;
    match probe.get("version").and_then(|v| v.as_u64()) {
        Some(v) if (u64::from(MIN_READ_VERSION)..=u64::from(WIRE_VERSION)).contains(&v) => {}
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

/// `order_by` on the wire is [`VersionOrder::as_str`].
impl Serialize for VersionOrder {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for VersionOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        [
            VersionOrder::Modified,
            VersionOrder::RowVersion,
            VersionOrder::EventTime,
            VersionOrder::ObservedAt,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown order_by `{text}`; expected modified, row-version, event-time or observed-at"
            ))
        })
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

/// What orders the versions of `dataset`'s records: the catalog's [`VersionOrder`] for
/// Orchestrator datasets, [`VersionOrder::Modified`] (`UpdateTime`, else `CreateTime`) for
/// Data Service entities, and [`VersionOrder::ObservedAt`] for a name the catalog does not
/// know (nothing else is known about its records).
pub fn version_order(dataset: &str) -> VersionOrder {
    if dataset::dataservice_entity(dataset).is_some() {
        return VersionOrder::Modified;
    }
    dataset::by_name(dataset).map_or(VersionOrder::ObservedAt, |d| d.order)
}

/// The record fields `dataset`'s order reads, in order of preference: for `modified` the
/// modification time, then the creation time (used only while the modification time is
/// null or absent); for `row-version` `RowVersion`; for `event-time` the dataset's time
/// field; none for `observed-at` (the fetch time).
pub fn order_fields(dataset: &str) -> Vec<&'static str> {
    if dataset::dataservice_entity(dataset).is_some() {
        return vec!["UpdateTime", "CreateTime"];
    }
    let Some(d) = dataset::by_name(dataset) else {
        return Vec::new();
    };
    match d.order {
        VersionOrder::Modified => {
            let modified = match d.change {
                ChangeMode::Modified { field } => field,
                _ => "LastModificationTime",
            };
            std::iter::once(modified).chain(d.time_field).collect()
        }
        VersionOrder::RowVersion => vec!["RowVersion"],
        VersionOrder::EventTime => d.time_field.into_iter().collect(),
        VersionOrder::ObservedAt => Vec::new(),
    }
}

/// The `order` of one version of a record of `dataset` (ordered by
/// [`version_order`]`(dataset)`), or `None` when the record lacks the field (or it cannot
/// be read). Times are [`order_time`] text, row versions 16 lowercase hex digits: within
/// one dataset, plain string comparison orders versions.
///
/// For `modified`, the modification time decides when it is set; only a null or absent
/// one falls back to the creation time (a never-modified record). A modification time
/// that is set but unreadable gives `None`, never the creation time.
pub fn order_value(
    dataset: &str,
    record: &serde_json::Map<String, serde_json::Value>,
    fetched_at: DateTime<Utc>,
) -> Option<String> {
    let order = version_order(dataset);
    if order == VersionOrder::ObservedAt {
        return Some(order_time(fetched_at));
    }
    let fields = order_fields(dataset);
    let field = fields
        .iter()
        .find_map(|f| record.get(*f).filter(|v| !v.is_null()))?;
    let text = field.as_str()?;
    match order {
        VersionOrder::RowVersion => row_version_hex(text),
        _ => parse_time(text).map(order_time),
    }
}

/// A time as `order` text: UTC, always 7 fractional digits (UiPath sends up to 7),
/// `2024-01-01T09:30:12.3450000Z`. Fixed width, so string order is time order.
pub fn order_time(t: DateTime<Utc>) -> String {
    use chrono::Timelike as _;
    // chrono formats 3, 6 or 9 digits; UiPath's ticks are 100 ns (a leap second's
    // nanoseconds run past 10^9 and stay in 7 digits capped).
    let ticks = (t.nanosecond() / 100).min(9_999_999);
    format!("{}.{ticks:07}Z", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// Parses a UiPath time to an instant ([`crate::time::parse_instant`]: with a zone, or
/// without one read as UTC; a date alone is no instant).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    crate::time::parse_instant(text).ok()
}

/// SQL Server's `RowVersion` (base64 of 8 bytes, big-endian) as 16 lowercase hex digits.
fn row_version_hex(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    if bytes.len() != 8 {
        return None;
    }
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
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
        v["version"] = 3.into();
        let err = SliceJob::from_bytes(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(err, WireError::Version { found: 3, .. }), "{err}");
        assert!(err.to_string().contains("versions 1 to 2"), "{err}");
        v["version"] = 0.into();
        let err = SliceJob::from_bytes(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(err, WireError::Version { found: 0, .. }), "{err}");
        let err = SliceJob::from_bytes(b"{not json").unwrap_err();
        assert!(err.to_string().contains("slice job"), "{err}");
        let err = SliceJob::from_bytes(br#"{"version":1}"#).unwrap_err();
        assert!(err.to_string().contains("missing field"), "{err}");
    }

    #[test]
    fn a_version_1_job_still_reads_as_a_created_read() {
        let mut v: serde_json::Value = serde_json::from_slice(&job().to_bytes()).unwrap();
        assert_eq!(v["version"], 2);
        assert!(v.get("read").is_none(), "created is the default, left out");
        v["version"] = 1.into();
        let old = SliceJob::from_bytes(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!((old.version, old.read), (1, ReadMode::Created));
        let mut sync = job();
        sync.read = ReadMode::Snapshot;
        let again = SliceJob::from_bytes(&sync.to_bytes()).unwrap();
        assert_eq!(again.read, ReadMode::Snapshot);
    }

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

    fn rec(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_dataset_has_its_version_order() {
        assert_eq!(version_order("jobs"), VersionOrder::Modified);
        assert_eq!(version_order("queue-items"), VersionOrder::RowVersion);
        assert_eq!(version_order("robot-logs"), VersionOrder::EventTime);
        assert_eq!(version_order("machines"), VersionOrder::ObservedAt);
        assert_eq!(version_order("dataservice/Invoice"), VersionOrder::Modified);
        assert_eq!(version_order("nope"), VersionOrder::ObservedAt);
        assert_eq!(
            order_fields("jobs"),
            ["LastModificationTime", "CreationTime"]
        );
        assert_eq!(
            order_fields("dataservice/Invoice"),
            ["UpdateTime", "CreateTime"]
        );
        assert_eq!(order_fields("queue-items"), ["RowVersion"]);
        assert_eq!(order_fields("audit-logs"), ["ExecutionTime"]);
        assert!(order_fields("folders").is_empty());
        for d in dataset::all() {
            assert_eq!(version_order(d.slug), d.order, "{}", d.slug);
            if d.order != VersionOrder::ObservedAt {
                assert!(!order_fields(d.slug).is_empty(), "{}", d.slug);
            }
        }
    }

    #[test]
    fn order_values_compare_as_strings() {
        let at: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let jobs = |v| order_value("jobs", &rec(v), at);
        // Modification time wins; creation time while never modified; fixed width UTC.
        assert_eq!(
            jobs(serde_json::json!({"CreationTime": "2024-01-01T00:00:00Z",
                "LastModificationTime": "2024-01-01T11:30:12.345+02:00"})),
            Some("2024-01-01T09:30:12.3450000Z".into())
        );
        assert_eq!(
            jobs(
                serde_json::json!({"CreationTime": "2024-01-01T00:00:00.1234567Z",
                "LastModificationTime": null})
            ),
            Some("2024-01-01T00:00:00.1234567Z".into())
        );
        assert_eq!(jobs(serde_json::json!({"Id": 1})), None);
        assert_eq!(
            jobs(serde_json::json!({"CreationTime": "2024-01-01T00:00:00Z",
                "LastModificationTime": "garbage"})),
            None,
            "an unreadable modification time is not replaced by the creation time"
        );
        // Data Service: zone-less is UTC.
        assert_eq!(
            order_value(
                "dataservice/Invoice",
                &rec(serde_json::json!({"CreateTime": "2024-05-06T07:08:09.5"})),
                at
            ),
            Some("2024-05-06T07:08:09.5000000Z".into())
        );
        // RowVersion: 8 bytes as hex, compares like the counter.
        let rv = |b64: &str| {
            order_value(
                "queue-items",
                &rec(serde_json::json!({"RowVersion": b64})),
                at,
            )
        };
        assert_eq!(rv("AAAAAAAAB9E="), Some("00000000000007d1".into()));
        assert!(rv("AAAAAAAAB9E=") < rv("AAAAAAABAAA="));
        assert_eq!(rv("not base64!"), None);
        assert_eq!(rv("AAE="), None, "not 8 bytes");
        // Event time and observed-at.
        assert_eq!(
            order_value(
                "robot-logs",
                &rec(serde_json::json!({"TimeStamp": "2024-03-04T05:06:07.1Z"})),
                at
            ),
            Some("2024-03-04T05:06:07.1000000Z".into())
        );
        assert_eq!(
            order_value("sessions", &rec(serde_json::json!({})), at),
            Some("2030-01-01T00:00:00.0000000Z".into())
        );
        // String order is time order across precisions and offsets.
        let times = [
            "2024-01-01T09:00:00+01:00",
            "2024-01-01T08:00:00.0000001Z",
            "2024-01-01T08:00:00.1Z",
            "2024-01-01T08:00:00.12Z",
            "2024-01-01T10:00:00.5+02:00",
            "2024-01-01T08:00:01",
        ];
        let orders: Vec<String> = times
            .iter()
            .map(|t| order_time(parse_time(t).unwrap()))
            .collect();
        for w in orders.windows(2) {
            assert!(w[0] < w[1], "{w:?}");
        }
        for o in &orders {
            assert_eq!(o.len(), "2024-01-01T09:30:12.3450000Z".len());
        }
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
