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
//! {"source": "acme", "datasets": ["jobs"], "every": "15m",
//!  "lookback": "1h", "settle": "2m", "start": "2024-06-01"}
//! ```
//!
//! # Fields
//!
//! Both kinds:
//! - `sources`: array of configured source names, non-empty; or `source`, one name (not
//!   both). Normalized: sorted, deduplicated.
//! - `datasets`: array, non-empty. Each an Orchestrator dataset by slug or entity set
//!   name, any case (`QueueItems` → `queue-items`), or `dataservice/<Entity>` with
//!   `<Entity>` = `[A-Za-z][A-Za-z0-9_]*` (its case kept). Sorted, deduplicated.
//! - `slice_width` (optional): a rung of [`Width::LADDER`].
//! - `select` (optional): object of dataset → non-empty array of field names
//!   (`[A-Za-z_][A-Za-z0-9_.]*`, no duplicates, at most
//!   [`MAX_SELECT_FIELDS`](crate::fields::select::MAX_SELECT_FIELDS) per dataset). Keys
//!   are normalized like `datasets` and must be among them. Field lists are stored
//!   sorted. Whether each name is a field of its dataset is checked against the field
//!   catalog ([`crate::fields`]) by the coordinator, which knows the tenant.
//! - `run` (optional): a label, 1 to 64 printable ASCII characters. It is part of the
//!   request's identity: the same body again returns the earlier request (a retried POST
//!   is harmless), while another `run` makes a new request of the same work — to run
//!   again a backfill that was cancelled or has finished (`uipath-fleet backfill --rerun`).
//!
//! Backfill: `from`, `to` (required): `YYYY-MM-DD` (midnight UTC) or RFC 3339 with an
//! offset (converted to UTC); not before 2000-01-01; `from < to ≤ now`. With a
//! `slice_width`, the plan may not exceed [`Catalog::max_slices`] slices (counted per
//! dataset and source, before folders are known; datasets read whole count one).
//!
//! Sync: exactly one of `every` (an interval, 10s to 7d; see [`Schedule::every`]) or
//! `cron` (UTC; see [`Schedule::cron`]); `lookback` (default 15m, at most 7d) and
//! `settle` (default 2m, at most 1d) as durations; `start` (optional, a date or time
//! as above, not in the future).
//!
//! Any other field is an error naming it. An explicit `null` counts as absent.

mod reader;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use self::reader::Reader;
use super::schedule::Schedule;
use super::width::Width;
use crate::dataset;

/// The fields a backfill accepts.
pub const BACKFILL_FIELDS: &[&str] = &[
    "sources",
    "source",
    "datasets",
    "from",
    "to",
    "slice_width",
    "select",
    "run",
];

/// The fields a sync accepts.
pub const SYNC_FIELDS: &[&str] = &[
    "sources",
    "source",
    "datasets",
    "every",
    "cron",
    "lookback",
    "settle",
    "start",
    "slice_width",
    "select",
    "run",
];

/// Sync `lookback` when not given, and its upper bound.
pub const DEFAULT_LOOKBACK_SECS: u64 = 15 * 60;
pub const MAX_LOOKBACK_SECS: u64 = 7 * 86_400;
/// Sync `settle` when not given, and its upper bound.
pub const DEFAULT_SETTLE_SECS: u64 = 2 * 60;
pub const MAX_SETTLE_SECS: u64 = 86_400;

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
    #[error("request body is not a JSON object: {0}")]
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
    /// A label that makes this a new request of the same work (see the module doc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl BackfillRequest {
    /// Parse and validate a JSON body (fields: [`BACKFILL_FIELDS`]; see the module doc
    /// for each field's rules). Every field error is reported, not just the first.
    pub fn parse(body: &[u8], catalog: &Catalog) -> Result<BackfillRequest, RequestError> {
        let value = json(body)?;
        let mut r = Reader::open(&value, BACKFILL_FIELDS)?;
        let sources = r.sources(&catalog.sources);
        let datasets = r.datasets();
        let from = r.instant("from", true);
        let to = r.instant("to", true);
        if let Some(to) = to {
            if to > catalog.now {
                r.error(
                    "to",
                    format!(
                        "the range reaches into the future (now is {}); backfill up to now and use a sync for what follows",
                        catalog.now.to_rfc3339()
                    ),
                );
            }
            if from.is_some_and(|from| from >= to) {
                r.error("to", "must be after `from`");
            }
        }
        let slice_width = r.width();
        if let (Some(w), Some(from), Some(to)) = (slice_width, from, to) {
            let per_source: u64 = datasets
                .iter()
                .map(|d| {
                    // Datasets without a time field are read whole: one slice.
                    let sliced = dataset::by_name(d).is_none_or(|def| def.time_field.is_some());
                    if sliced {
                        w.count(from, to)
                    } else {
                        1
                    }
                })
                .fold(0, u64::saturating_add);
            let total = per_source.saturating_mul(sources.len() as u64);
            if total > catalog.max_slices {
                r.error(
                    "slice_width",
                    format!(
                        "{w} cuts this request into {total} slices before folders are counted, more than max_slices = {} (the cap holds one request's ledger under ~1 GiB of Redis); choose a wider width, or split the work: one request per source (tenant) or per year",
                        catalog.max_slices
                    ),
                );
            }
        }
        let select = r.select(&datasets);
        let run = r.run();
        r.finish(|| BackfillRequest {
            sources,
            datasets,
            // `finish` succeeds only without errors, and a missing or bad date is one.
            from: from.unwrap_or_default(),
            to: to.unwrap_or_default(),
            slice_width,
            select,
            run,
        })
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
    /// A label that makes this a new request of the same work (see the module doc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl SyncRequest {
    /// Parse and validate a JSON body (fields: [`SYNC_FIELDS`]; see the module doc for
    /// each field's rules). Every field error is reported, not just the first.
    pub fn parse(body: &[u8], catalog: &Catalog) -> Result<SyncRequest, RequestError> {
        let value = json(body)?;
        let mut r = Reader::open(&value, SYNC_FIELDS)?;
        let sources = r.sources(&catalog.sources);
        let datasets = r.datasets();
        let schedule = match (r.get("every").is_some(), r.get("cron").is_some()) {
            (true, true) => {
                r.error("cron", "give either `every` or `cron`, not both");
                None
            }
            (false, false) => {
                r.error(
                    "every",
                    "missing; give `every` (e.g. \"15m\") or `cron` (e.g. \"*/15 * * * *\")",
                );
                None
            }
            (true, false) => r
                .string("every")
                .and_then(|text| Schedule::every(text).map_err(|e| r.error("every", e)).ok()),
            (false, true) => r
                .string("cron")
                .and_then(|text| Schedule::cron(text).map_err(|e| r.error("cron", e)).ok()),
        };
        let lookback_secs = r.duration("lookback", DEFAULT_LOOKBACK_SECS, MAX_LOOKBACK_SECS);
        let settle_secs = r.duration("settle", DEFAULT_SETTLE_SECS, MAX_SETTLE_SECS);
        let start = r.instant("start", false);
        if start.is_some_and(|s| s > catalog.now) {
            r.error(
                "start",
                format!("is in the future (now is {})", catalog.now.to_rfc3339()),
            );
        }
        let slice_width = r.width();
        let select = r.select(&datasets);
        let run = r.run();
        r.finish(|| SyncRequest {
            sources,
            datasets,
            // `finish` succeeds only without errors, and a missing schedule is one.
            schedule: schedule.unwrap_or(Schedule::Every(DEFAULT_LOOKBACK_SECS)),
            lookback_secs,
            settle_secs,
            start,
            slice_width,
            select,
            run,
        })
    }

    /// The canonical JSON the request id is computed from.
    pub fn normalized(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain struct")
    }
}

/// The body as JSON, or why it is not.
fn json(body: &[u8]) -> Result<serde_json::Value, RequestError> {
    serde_json::from_slice(body).map_err(|e| RequestError::Syntax(e.to_string()))
}

#[cfg(test)]
mod tests;
