//! The configured UiPath sources and the few questions planning asks them: which folders
//! exist, how many records a range holds, which Data Service entities there are, and a
//! sample of records for previews. Each source is a [`UipathClient`], so these calls go
//! through the fleet's shared token cache and rate limiter like any worker's.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fleet_core::dataset::{self, DatasetDef};
use fleet_core::wire::FolderRef;
use fleet_core::Priority;
use uipath_client::dataservice::{DataServiceSlice, DsCursor, DsEntity};
use uipath_client::odata::{Cursor, Record, SliceSpec};
use uipath_client::{ClientError, UipathClient};

/// The prefix naming a Data Service entity as a dataset: `dataservice/Invoice`.
pub const DATASERVICE_PREFIX: &str = "dataservice/";

/// A dataset as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetRef {
    Orchestrator(&'static DatasetDef),
    DataService(String),
}

impl DatasetRef {
    /// Resolve a normalized dataset name (a slug or `dataservice/<Entity>`).
    pub fn parse(name: &str) -> Option<DatasetRef> {
        match name.strip_prefix(DATASERVICE_PREFIX) {
            Some(entity) if !entity.is_empty() => Some(DatasetRef::DataService(entity.to_owned())),
            Some(_) => None,
            None => dataset::by_name(name).map(DatasetRef::Orchestrator),
        }
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

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<UipathClient>)> {
        self.clients.iter()
    }

    fn client(&self, name: &str) -> Result<&Arc<UipathClient>, ClientError> {
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
