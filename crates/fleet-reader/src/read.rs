//! One page of a slice of any dataset, in the slice's read mode: history by the time
//! field, changes in a window, the queue-item change feed, or the whole set.

use chrono::{DateTime, Utc};
use fleet_core::dataset::{self, ChangeMode, DatasetDef};
use fleet_core::plan::estimate;
use fleet_core::wire::{FolderRef, ReadMode};
use fleet_core::Priority;
use uipath_client::dataservice::DataServiceSlice;
use uipath_client::odata::{Cursor, Record, SliceSpec, MAX_IDS_PER_QUERY};
use uipath_client::{ClientError, UipathClient};

use crate::{DatasetRef, SliceCursor, Sources};

/// Events per page of a change feed: each page names at most this many records, read
/// in `ceil(n / MAX_IDS_PER_QUERY)` requests (two for a full page of distinct items).
/// The number is the planner's estimate's (`fleet_core::plan::estimate`), defined there.
pub const FEED_EVENTS_PER_PAGE: u32 = estimate::FEED_EVENTS_PER_PAGE as u32;

/// A slice of any dataset, as a worker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceRead {
    pub source: String,
    pub dataset: DatasetRef,
    pub folder: Option<FolderRef>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Fields to return; empty means all.
    pub select: Vec<String>,
    /// Records per page; `None`: the dataset's cap.
    pub page_size: Option<u32>,
    /// History by the time field, changes in the window, the change feed, or the whole
    /// set (see [`ReadMode`]).
    pub mode: ReadMode,
}

impl Sources {
    /// Reads the page of `read` at `cursor`: the records and the cursor after them
    /// (`None` once the slice is done).
    pub async fn read_page(
        &self,
        read: &SliceRead,
        cursor: &SliceCursor,
        priority: Priority,
    ) -> Result<(Vec<Record>, Option<SliceCursor>), ClientError> {
        let client = self.client(&read.source)?;
        match (&read.dataset, cursor) {
            (DatasetRef::Orchestrator(def), SliceCursor::Orchestrator(cursor))
                if read.mode == ReadMode::Feed =>
            {
                read_feed(client, def, read, cursor, priority).await
            }
            (DatasetRef::Orchestrator(def), SliceCursor::Orchestrator(cursor)) => {
                let mut spec = SliceSpec::new(def).range(read.from, read.to);
                if def.time_field.is_none() || read.mode == ReadMode::Snapshot {
                    // Read whole; the slice's range only names the snapshot.
                    spec = spec.range(None, None);
                }
                if read.mode == ReadMode::Modified {
                    let ChangeMode::Modified { field } = def.change else {
                        return Err(ClientError::Config(format!(
                            "dataset {} has no modification time to read changes by",
                            def.slug
                        )));
                    };
                    // Every change since the window's start, not only those before its
                    // end: a record that changes again after the end but before this read
                    // is read now in its newer state, so when the watermark passes the
                    // window the sink holds each record's state at the window's end or a
                    // later one (a bounded read would skip it until the next window).
                    spec = spec.modified(field).range(read.from, None);
                }
                if let Some(f) = &read.folder {
                    spec = spec.folder(f.key.clone());
                }
                if !read.select.is_empty() {
                    spec = spec.select(read.select.iter().cloned());
                }
                if let Some(n) = read.page_size {
                    spec = spec.page_size(n);
                }
                let page = client.fetch_page(&spec, cursor, priority).await?;
                Ok((page.records, page.next.map(SliceCursor::Orchestrator)))
            }
            (DatasetRef::DataService(entity), SliceCursor::DataService(cursor)) => {
                let mut slice = DataServiceSlice::new(entity.clone()).range(read.from, read.to);
                if !read.select.is_empty() {
                    slice = slice.select(read.select.iter().cloned());
                }
                if let Some(n) = read.page_size {
                    slice = slice.page_size(n);
                }
                let page = client
                    .fetch_dataservice_page(&slice, cursor, priority)
                    .await?;
                Ok((page.records, page.next.map(SliceCursor::DataService)))
            }
            _ => Err(ClientError::Config(format!(
                "a {} cursor does not fit dataset {:?}",
                match cursor {
                    SliceCursor::Orchestrator(_) => "Orchestrator",
                    SliceCursor::DataService(_) => "Data Service",
                },
                read.dataset
            ))),
        }
    }
}

/// One page of a change feed: the events of the window at `cursor`, then the current
/// state of every record they name, read by Id in chunks (each chunk one request of the
/// dataset's own budget). The cursor is the events' cursor, so a page whose record reads
/// fail is read again from its first event: an id is never dropped.
async fn read_feed(
    client: &UipathClient,
    def: &'static DatasetDef,
    read: &SliceRead,
    cursor: &Cursor,
    priority: Priority,
) -> Result<(Vec<Record>, Option<SliceCursor>), ClientError> {
    let ChangeMode::Feed { events, key } = def.change else {
        return Err(ClientError::Config(format!(
            "dataset {} has no change feed",
            def.slug
        )));
    };
    let events_def = dataset::by_name(events)
        .ok_or_else(|| ClientError::Config(format!("the change feed {events} is not a dataset")))?;
    let folder = read.folder.as_ref().map(|f| f.key.clone());
    let mut spec = SliceSpec::new(events_def)
        .range(read.from, read.to)
        .select([key])
        .page_size(
            read.page_size
                .map_or(FEED_EVENTS_PER_PAGE, |n| n.min(FEED_EVENTS_PER_PAGE)),
        );
    if let Some(f) = &folder {
        spec = spec.folder(f.clone());
    }
    let page = client.fetch_page(&spec, cursor, priority).await?;
    // Each id once, in the order the events name them.
    let mut ids: Vec<i64> = Vec::new();
    for (n, event) in page.records.iter().enumerate() {
        let id = event
            .get(key)
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| ClientError::Malformed {
                path: format!("/odata/{}", events_def.entity),
                detail: format!("event {n} has no integer {key}"),
            })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let mut records = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_IDS_PER_QUERY) {
        let mut spec = SliceSpec::new(def).ids(chunk.to_vec());
        if let Some(f) = &folder {
            spec = spec.folder(f.clone());
        }
        if !read.select.is_empty() {
            spec = spec.select(read.select.iter().cloned());
        }
        let mut at = Cursor::Start;
        // A chunk fits one page ($top is at least the chunk), but follow the cursor in
        // case a server pages shorter.
        loop {
            let got = client.fetch_page(&spec, &at, priority).await?;
            records.extend(got.records);
            match got.next {
                Some(next) => at = next,
                None => break,
            }
        }
    }
    Ok((records, page.next.map(SliceCursor::Orchestrator)))
}
