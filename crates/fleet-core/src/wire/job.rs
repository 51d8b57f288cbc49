//! The job message: one slice of work on a lane, and how it is read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{decode, encode, WireError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WIRE_VERSION;

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
}
