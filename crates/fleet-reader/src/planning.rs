//! What planning and previews ask of a source: its folders, its `$metadata`, its Data
//! Service entities, how many records a range holds, and a sample of records.

use chrono::{DateTime, Utc};
use fleet_core::wire::FolderRef;
use fleet_core::Priority;
use uipath_client::dataservice::{DataServiceSlice, DsCursor, DsEntity};
use uipath_client::metadata::TenantMetadata;
use uipath_client::odata::{Cursor, Record, SliceSpec};
use uipath_client::ClientError;

use crate::{DatasetRef, Sources};

impl Sources {
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
    pub async fn metadata(&self, source: &str) -> Result<TenantMetadata, ClientError> {
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
