//! Backfill and sync requests: parsed from JSON with every problem reported against the
//! field that has it, then normalized (sorted, deduplicated, canonical dataset names,
//! UTC times) so that the same request always serializes — and hashes — the same.
//!
//! Accepted JSON (see docs/api.md):
//!
//! ```json
//! {"sources": ["acme"], "datasets": ["jobs", "queue-items"],
//!  "from": "2023-01-01", "to": "2024-01-01T00:00:00Z",
//!  "slice_width": "1d", "select": {"jobs": ["Id", "State", "CreationTime"]}}
//!
//! {"sources": ["acme"], "datasets": ["jobs"], "every": "15m",
//!  "lookback": "1h", "settle": "2m", "start": "2024-06-01"}
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::schedule::Schedule;
use super::width::Width;

/// One problem with one field of a request. `field` is a JSON path such as `from`,
/// `datasets[1]` or `select.jobs[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The body is not a JSON object (HTTP 400).
    #[error("request body is not valid JSON: {0}")]
    Syntax(String),
    /// The JSON is well-formed but some fields are wrong (HTTP 422). Never empty.
    #[error("invalid request: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Fields(Vec<FieldError>),
}

/// What validation needs to know about the fleet.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Names of the configured sources.
    pub sources: Vec<String>,
    /// The current time (ranges may not reach into the future).
    pub now: DateTime<Utc>,
    /// Refuse plans with more slices than this (when the width is given).
    pub max_slices: u64,
}

/// A backfill, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillRequest {
    /// Sorted, deduplicated, each a configured source.
    pub sources: Vec<String>,
    /// Sorted, deduplicated dataset slugs (`jobs`), or `dataservice/<Entity>`.
    pub datasets: Vec<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice_width: Option<Width>,
    /// Per dataset slug: the fields to read. Missing = all fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub select: BTreeMap<String, Vec<String>>,
}

impl BackfillRequest {
    /// Parse and validate a JSON body.
    pub fn parse(body: &[u8], catalog: &Catalog) -> Result<BackfillRequest, RequestError> {
        todo!("{} {catalog:?}", body.len())
    }

    /// The canonical JSON the request id is computed from.
    pub fn normalized(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain struct")
    }
}

/// A sync, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub sources: Vec<String>,
    pub datasets: Vec<String>,
    pub schedule: Schedule,
    /// How far each window reaches back before the previous window's end, to catch late
    /// updates. Seconds.
    pub lookback_secs: u64,
    /// How long after a tick the data is considered settled: a tick at `t` plans up to
    /// `t - settle`. Seconds.
    pub settle_secs: u64,
    /// Start of the first window; `None` = when the sync was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// Width used to cut a window that grew long (the coordinator was down); default 1d.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice_width: Option<Width>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub select: BTreeMap<String, Vec<String>>,
}

impl SyncRequest {
    pub fn parse(body: &[u8], catalog: &Catalog) -> Result<SyncRequest, RequestError> {
        todo!("{} {catalog:?}", body.len())
    }

    pub fn normalized(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain struct")
    }
}
