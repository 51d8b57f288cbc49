//! The configured UiPath sources, by the fleet's names for them, and what the fleet asks
//! of them: which folders exist, how many records a range holds, which Data Service
//! entities there are, a sample of records for previews (the coordinator), and one page
//! of a slice of any dataset with a cursor that can be checkpointed (the workers). Each
//! source is a [`UipathClient`], so every call goes through the fleet's shared token cache
//! and rate limiter.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::dataservice::{DataServiceSlice, DsCursor, DsEntity};
use crate::odata::{Cursor, Record, SliceSpec};
use crate::{ClientError, UipathClient};
use chrono::{DateTime, Utc};
use fleet_core::dataset::ChangeMode;
use fleet_core::dataset::{self, DatasetDef, DatasetName};
use fleet_core::wire::{FolderRef, ReadMode};
use fleet_core::Priority;

/// A dataset as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetRef {
    Orchestrator(&'static DatasetDef),
    DataService(String),
}

impl DatasetRef {
    /// Resolve a normalized dataset name (a slug or `dataservice/<Entity>`).
    pub fn parse(name: &str) -> Option<DatasetRef> {
        Some(match dataset::parse_name(name)? {
            DatasetName::Orchestrator(d) => DatasetRef::Orchestrator(d),
            DatasetName::DataService(entity) => DatasetRef::DataService(entity.to_owned()),
        })
    }

    pub fn folder_scoped(&self) -> bool {
        matches!(self, DatasetRef::Orchestrator(d) if d.folder_scoped)
    }

    /// Whether slices are cut on a time field (otherwise the set is read whole).
    pub fn timed(&self) -> bool {
        match self {
            DatasetRef::Orchestrator(d) => d.time_field.is_some(),
            DatasetRef::DataService(_) => true,
        }
    }
}

/// The sources by name.
#[derive(Clone, Default)]
pub struct Sources {
    clients: BTreeMap<String, Arc<UipathClient>>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.clients.keys()).finish()
    }
}

impl Sources {
    pub fn new(clients: impl IntoIterator<Item = Arc<UipathClient>>) -> Sources {
        Sources {
            clients: clients
                .into_iter()
                .map(|c| (c.source().name.clone(), c))
                .collect(),
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.clients.keys().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<UipathClient>> {
        self.clients.get(name)
    }

    /// Whether no source is configured.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<UipathClient>)> {
        self.clients.iter()
    }

    pub(crate) fn client(&self, name: &str) -> Result<&Arc<UipathClient>, ClientError> {
        self.clients.get(name).ok_or_else(|| ClientError::NotFound {
            path: format!("source {name}"),
        })
    }

    /// Every folder the source's credentials can see.
    pub async fn folders(&self, source: &str) -> Result<Vec<FolderRef>, ClientError> {
        Ok(self
            .client(source)?
            .folders()
            .await?
            .into_iter()
            .map(|f| FolderRef {
                id: f.id,
                key: f.key,
                path: f.path,
            })
            .collect())
    }

    /// The source's Orchestrator `$metadata`: each entity set's fields and types.
    pub async fn metadata(
        &self,
        source: &str,
    ) -> Result<crate::metadata::TenantMetadata, ClientError> {
        self.client(source)?.orchestrator_metadata().await
    }

    /// The source's Data Service entities.
    pub async fn entities(&self, source: &str) -> Result<Vec<DsEntity>, ClientError> {
        self.client(source)?.dataservice_entities().await
    }

    /// How many records `[from, to)` holds: a `$count` probe for Orchestrator sets; for a
    /// Data Service entity, the entity's whole record count (an upper bound — Data Service
    /// has no cheap ranged count), which errs toward narrower slices.
    pub async fn count(
        &self,
        source: &str,
        dataset: &DatasetRef,
        folder: Option<&FolderRef>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<u64, ClientError> {
        let client = self.client(source)?;
        match dataset {
            DatasetRef::Orchestrator(def) => {
                let mut spec = SliceSpec::new(def).range(Some(from), Some(to));
                if let Some(f) = folder {
                    spec = spec.folder(f.key.clone());
                }
                client.count(&spec, Priority::Backfill).await
            }
            DatasetRef::DataService(entity) => Ok(client
                .dataservice_entities()
                .await?
                .into_iter()
                .find(|e| e.name.eq_ignore_ascii_case(entity))
                .and_then(|e| e.record_count)
                .unwrap_or(0)),
        }
    }

    /// Up to `limit` records of a dataset in `[from, to)`, first page only, for previews.
    pub async fn sample(
        &self,
        source: &str,
        dataset: &DatasetRef,
        folder: Option<&FolderRef>,
        range: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        select: &[String],
        limit: u32,
    ) -> Result<Vec<Record>, ClientError> {
        let client = self.client(source)?;
        let records = match dataset {
            DatasetRef::Orchestrator(def) => {
                let mut spec = SliceSpec::new(def).range(range.0, range.1).page_size(limit);
                if let Some(f) = folder {
                    spec = spec.folder(f.key.clone());
                }
                if !select.is_empty() {
                    spec = spec.select(select.iter().cloned());
                }
                client
                    .fetch_page(&spec, &Cursor::Start, Priority::Sync)
                    .await?
                    .records
            }
            DatasetRef::DataService(entity) => {
                let mut slice = DataServiceSlice::new(entity.clone())
                    .range(range.0, range.1)
                    .page_size(limit);
                if !select.is_empty() {
                    slice = slice.select(select.iter().cloned());
                }
                client
                    .fetch_dataservice_page(&slice, &DsCursor::Start, Priority::Sync)
                    .await?
                    .records
            }
        };
        Ok(records.into_iter().take(limit as usize).collect())
    }
}

/// Finished jobs read by [`Sources::modification_stamps`].
pub const STAMP_SAMPLE: u32 = 20;

/// What [`Sources::modification_stamps`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StampCheck {
    /// Finished jobs read.
    pub finished: u32,
    /// Of those, the ones whose `LastModificationTime` is null or earlier than `EndTime`.
    pub unstamped: u32,
}

impl StampCheck {
    /// Whether the tenant evidently does not stamp modifications.
    pub fn misses_changes(&self) -> bool {
        self.unstamped > 0
    }
}

/// Events per page of a change feed: each page names at most this many records, read
/// in `ceil(n / MAX_IDS_PER_QUERY)` requests (two for a full page of distinct items).
pub const FEED_EVENTS_PER_PAGE: u32 = 100;

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

/// Where the read of a [`SliceRead`] stands: an Orchestrator or a Data Service cursor.
/// [`SliceCursor::encode`] is what a worker checkpoints; [`SliceCursor::decode`] needs
/// the dataset to know which kind to expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SliceCursor {
    Orchestrator(Cursor),
    DataService(DsCursor),
}

impl SliceCursor {
    /// The beginning of a slice of `dataset`.
    pub fn start(dataset: &DatasetRef) -> SliceCursor {
        match dataset {
            DatasetRef::Orchestrator(_) => SliceCursor::Orchestrator(Cursor::Start),
            DatasetRef::DataService(_) => SliceCursor::DataService(DsCursor::Start),
        }
    }

    /// JSON text, e.g. `{"kind":"after","time":"2024-01-01T00:00:00Z","id":42}`.
    pub fn encode(&self) -> String {
        let text = match self {
            SliceCursor::Orchestrator(c) => serde_json::to_string(c),
            SliceCursor::DataService(c) => serde_json::to_string(c),
        };
        text.expect("cursors always serialize")
    }

    /// Reads a checkpoint written by [`SliceCursor::encode`] for `dataset`.
    pub fn decode(dataset: &DatasetRef, text: &str) -> Result<SliceCursor, String> {
        let cursor = match dataset {
            DatasetRef::Orchestrator(_) => {
                serde_json::from_str(text).map(SliceCursor::Orchestrator)
            }
            DatasetRef::DataService(_) => serde_json::from_str(text).map(SliceCursor::DataService),
        };
        cursor.map_err(|e| format!("checkpoint `{text}` is not a cursor of this dataset: {e}"))
    }

    /// Whether this is the beginning of the slice.
    pub fn is_start(&self) -> bool {
        matches!(
            self,
            SliceCursor::Orchestrator(Cursor::Start) | SliceCursor::DataService(DsCursor::Start)
        )
    }

    /// The time of the last record read, for keyset cursors: everything before it is read.
    /// `None` at the start, and for offset (RobotLogs) and Id cursors.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        let text = match self {
            SliceCursor::Orchestrator(Cursor::After { time, .. })
            | SliceCursor::DataService(DsCursor::After { time, .. }) => time,
            _ => return None,
        };
        crate::odata::parse_datetime(text)
    }
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
                self.read_feed(client, def, read, cursor, priority).await
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

    /// One page of a change feed: the events of the window at `cursor`, then the current
    /// state of every record they name, read by Id in chunks (each chunk one request of
    /// the dataset's own budget). The cursor is the events' cursor, so a page whose record
    /// reads fail is read again from its first event: an id is never dropped.
    async fn read_feed(
        &self,
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
        let events_def = dataset::by_name(events).ok_or_else(|| {
            ClientError::Config(format!("the change feed {events} is not a dataset"))
        })?;
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
        for chunk in ids.chunks(crate::odata::MAX_IDS_PER_QUERY) {
            let mut spec = SliceSpec::new(def).ids(chunk.to_vec());
            if let Some(f) = &folder {
                spec = spec.folder(f.clone());
            }
            if !read.select.is_empty() {
                spec = spec.select(read.select.iter().cloned());
            }
            let mut at = Cursor::Start;
            // A chunk fits one page ($top is at least the chunk), but follow the cursor
            // in case a server pages shorter.
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

    /// Whether the tenant stamps `LastModificationTime` when a record changes, which
    /// syncs of modification-time sets rely on: reads the newest finished jobs (a job is
    /// modified when it ends) and counts those whose modification time is missing or
    /// earlier than their end. One request of the Jobs budget.
    pub async fn modification_stamps(
        &self,
        source: &str,
        folder: Option<&FolderRef>,
    ) -> Result<StampCheck, ClientError> {
        let client = self.client(source)?;
        let jobs = dataset::by_name("jobs").expect("the catalog lists Jobs");
        let request =
            crate::client::ApiRequest::get(crate::client::Api::Orchestrator, "odata/Jobs")
                .folder(folder.map(|f| f.key.clone()))
                .family(jobs.family)
                .priority(Priority::Sync)
                .query("$filter", "EndTime ne null")
                .query("$orderby", "Id desc")
                .query("$top", STAMP_SAMPLE.to_string())
                .query("$select", "Id,EndTime,LastModificationTime");
        let records = client
            .send(&request, |body| {
                crate::odata::decode_envelope(body).map(|(records, _)| records)
            })
            .await?;
        let mut check = StampCheck::default();
        for r in &records {
            let end = r
                .get("EndTime")
                .and_then(serde_json::Value::as_str)
                .and_then(crate::odata::parse_datetime);
            let modified = r
                .get("LastModificationTime")
                .and_then(serde_json::Value::as_str)
                .and_then(crate::odata::parse_datetime);
            let Some(end) = end else { continue };
            check.finished += 1;
            if modified.is_none_or(|m| m < end) {
                check.unstamped += 1;
            }
        }
        Ok(check)
    }

    /// The tenant as record headers name it: `organization/tenant` on Automation Cloud and
    /// Automation Suite, the tenancy name on standalone Orchestrator.
    pub fn tenant_label(&self, source: &str) -> Option<String> {
        let config = self.clients.get(source)?.source();
        Some(match &config.deployment {
            crate::Deployment::Cloud {
                organization,
                tenant,
                ..
            } => format!("{organization}/{tenant}"),
            crate::Deployment::Standalone { tenancy_name, .. } => tenancy_name.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_per_dataset_kind() {
        let jobs = DatasetRef::parse("jobs").unwrap();
        let ds = DatasetRef::parse("dataservice/Invoice").unwrap();
        let c = SliceCursor::Orchestrator(Cursor::After {
            time: "2024-01-01T10:00:00.123Z".into(),
            id: 42,
        });
        assert_eq!(SliceCursor::decode(&jobs, &c.encode()).unwrap(), c);
        assert_eq!(
            c.time().unwrap(),
            "2024-01-01T10:00:00.123Z".parse::<DateTime<Utc>>().unwrap()
        );
        let d = SliceCursor::DataService(DsCursor::After {
            time: "2024-01-01T10:00:00Z".into(),
            id: "3F2504E0-4F89-11D3-9A0C-0305E82C3301".into(),
        });
        assert_eq!(SliceCursor::decode(&ds, &d.encode()).unwrap(), d);
        // A Data Service cursor (uuid id) is not an Orchestrator one.
        assert!(SliceCursor::decode(&jobs, &d.encode()).is_err());
        assert!(SliceCursor::start(&jobs).is_start());
        assert_eq!(SliceCursor::start(&ds).time(), None);
        assert!(SliceCursor::decode(&jobs, "not json").is_err());
    }
}
