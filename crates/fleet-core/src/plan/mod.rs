//! The planner: requests in, slices out. Pure — the coordinator does the IO (folder
//! discovery, `$count` probes, ledger, broker) and calls these functions.
//!
//! - [`request`]: backfill and sync requests, parsed from JSON with errors naming the
//!   field, normalized so that identical requests get identical ids.
//! - [`width`]: slice widths aligned to UTC boundaries, cutting a range into slices,
//!   choosing a width from a record count.
//! - [`schedule`]: sync schedules (interval or cron) and the window each tick plans.
//! - ids: [`request_id`] and [`slice_id`], deterministic.

pub mod capacity;
pub mod estimate;
pub mod request;
pub mod schedule;
pub mod width;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use request::{BackfillRequest, FieldError, RequestError, SyncRequest};
pub use schedule::Schedule;
pub use width::Width;

use crate::ledger::{RequestKind, SliceRecord, SliceState};
use crate::wire::{FolderRef, Lane, SliceJob, WIRE_VERSION};

/// One (source, dataset, folder) of a request with its slice width: the unit planning
/// cuts into slices. A request's units are decided once (folders discovered, widths
/// probed) and then fixed in the ledger, so re-planning cuts the very same slices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanUnit {
    pub source: String,
    pub dataset: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderRef>,
    /// `None` for datasets without a time field: one slice, read whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<Width>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select: Vec<String>,
}

impl PlanUnit {
    /// The stream name of this unit, for sync watermarks: `source/dataset[/folder key]`.
    pub fn stream(&self) -> String {
        match &self.folder {
            Some(f) => format!("{}/{}/{}", self.source, self.dataset, f.key),
            None => format!("{}/{}", self.source, self.dataset),
        }
    }
}

/// The fixed decisions of a request, stored with it in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub units: Vec<PlanUnit>,
}

/// A short hex digest of length-prefixed parts (length prefixes make the encoding
/// unambiguous: no two part lists hash the same bytes).
pub(crate) fn digest(parts: &[&str], hex_len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    hex[..hex_len].to_owned()
}

/// The id of a request: `bf-` or `sy-` and 20 hex digits of SHA-256 over its normalized
/// JSON. Submitting the same request again yields the same id.
pub fn request_id(kind: RequestKind, normalized: &serde_json::Value) -> String {
    // serde_json's Value keeps object keys sorted (no preserve_order feature), so the
    // text is canonical.
    let text = normalized.to_string();
    let tag = match kind {
        RequestKind::Backfill => "bf",
        RequestKind::Sync => "sy",
    };
    format!("{tag}-{}", digest(&["request", tag, &text], 20))
}

/// The id of a slice: 32 hex digits over (request, source, dataset, folder key, from, to).
pub fn slice_id(
    request_id: &str,
    source: &str,
    dataset: &str,
    folder: Option<&FolderRef>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> String {
    let from = from.map(|t| t.to_rfc3339()).unwrap_or_default();
    let to = to.map(|t| t.to_rfc3339()).unwrap_or_default();
    let folder = folder.map(|f| f.key.as_str()).unwrap_or("");
    digest(
        &["slice", request_id, source, dataset, folder, &from, &to],
        32,
    )
}

/// Build the ledger record of one slice of `unit` over `[from, to)` (or the whole
/// dataset when both are `None`).
pub fn slice_record(
    request_id: &str,
    lane: Lane,
    unit: &PlanUnit,
    range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    stream: Option<String>,
    now: DateTime<Utc>,
) -> SliceRecord {
    let (from, to) = match range {
        Some((f, t)) => (Some(f), Some(t)),
        None => (None, None),
    };
    SliceRecord {
        id: slice_id(
            request_id,
            &unit.source,
            &unit.dataset,
            unit.folder.as_ref(),
            from,
            to,
        ),
        request_id: request_id.to_owned(),
        lane,
        source: unit.source.clone(),
        dataset: unit.dataset.clone(),
        folder: unit.folder.clone(),
        from,
        to,
        select: unit.select.clone(),
        stream,
        parent: None,
        state: SliceState::Planned,
        records: 0,
        pages: 0,
        attempts: 0,
        last_error: None,
        checkpoint: None,
        updated_at: now,
    }
}

/// The job message for a slice.
pub fn job_for(slice: &SliceRecord) -> SliceJob {
    SliceJob {
        version: WIRE_VERSION,
        slice_id: slice.id.clone(),
        request_id: slice.request_id.clone(),
        lane: slice.lane,
        source: slice.source.clone(),
        dataset: slice.dataset.clone(),
        folder: slice.folder.clone(),
        from: slice.from,
        to: slice.to,
        select: slice.select.clone(),
        read: read_mode(slice.lane, &slice.dataset),
        attempt: 0,
        parent: slice.parent.clone(),
    }
}

/// How a slice of `dataset` in `lane` is read: syncs of Orchestrator sets read what
/// changed as their catalog entry says; Data Service entities are cut on `UpdateTime`
/// already, and backfills read history.
pub fn read_mode(lane: Lane, dataset: &str) -> crate::wire::ReadMode {
    crate::dataset::by_name(dataset).map_or(crate::wire::ReadMode::Created, |d| d.read_mode(lane))
}

/// Every slice of a unit over `[from, to)`, lazily, in time order: cut by the unit's
/// width, or — for datasets without a time field, which are read whole — one slice whose
/// range only names the snapshot (the worker does not filter on it). `stream` is set on
/// every slice (sync windows).
pub fn unit_slices<'a>(
    request_id: &'a str,
    lane: Lane,
    unit: &'a PlanUnit,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    stream: Option<String>,
    now: DateTime<Utc>,
) -> Box<dyn Iterator<Item = SliceRecord> + Send + 'a> {
    match unit.width {
        None => Box::new(std::iter::once(slice_record(
            request_id,
            lane,
            unit,
            Some((from, to)),
            stream,
            now,
        ))),
        Some(w) => Box::new(
            w.cut(from, to)
                .map(move |r| slice_record(request_id, lane, unit, Some(r), stream.clone(), now)),
        ),
    }
}

/// How many slices [`unit_slices`] yields, without building them.
pub fn unit_slice_count(unit: &PlanUnit, from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    match unit.width {
        None => 1,
        Some(w) => w.count(from, to),
    }
}
