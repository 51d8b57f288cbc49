//! Whether a tenant stamps `LastModificationTime` when a record changes, which syncs of
//! modification-time sets rely on.

use fleet_core::dataset;
use fleet_core::wire::FolderRef;
use fleet_core::Priority;
use uipath_client::client::{Api, ApiRequest};
use uipath_client::odata::{decode_envelope, parse_datetime, Record};
use uipath_client::ClientError;

use crate::Sources;

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

impl Sources {
    /// Whether the tenant stamps `LastModificationTime` when a record changes: reads the
    /// newest finished jobs (a job is modified when it ends) and counts those whose
    /// modification time is missing or earlier than their end. One request of the Jobs
    /// budget.
    pub async fn modification_stamps(
        &self,
        source: &str,
        folder: Option<&FolderRef>,
    ) -> Result<StampCheck, ClientError> {
        let client = self.client(source)?;
        let jobs = dataset::by_name("jobs").expect("the catalog lists Jobs");
        let request = ApiRequest::get(Api::Orchestrator, "odata/Jobs")
            .folder(folder.map(|f| f.key.clone()))
            .family(jobs.family)
            .priority(Priority::Sync)
            .query("$filter", "EndTime ne null")
            .query("$orderby", "Id desc")
            .query("$top", STAMP_SAMPLE.to_string())
            .query("$select", "Id,EndTime,LastModificationTime");
        let records = client
            .send(&request, |body| {
                decode_envelope(body).map(|(records, _)| records)
            })
            .await?;
        let time = |r: &Record, field: &str| {
            r.get(field)
                .and_then(serde_json::Value::as_str)
                .and_then(parse_datetime)
        };
        let mut check = StampCheck::default();
        for r in &records {
            let Some(end) = time(r, "EndTime") else {
                continue;
            };
            check.finished += 1;
            if time(r, "LastModificationTime").is_none_or(|m| m < end) {
                check.unstamped += 1;
            }
        }
        Ok(check)
    }
}
