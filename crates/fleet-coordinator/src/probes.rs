//! What planning asks of a source — its folders and `$count` probes — remembered for a
//! short while, so that a dry run and the real submission that follows (or the
//! submission's estimate and its plan) spend the tenant's budget once.
//!
//! The cache is per process and only an optimisation: a miss asks the source again, and
//! a request's decisions are still fixed once in the ledger (`fix_plan`), so a replica
//! whose cache differs cannot change a plan already decided. Failures are never cached:
//! the next call asks again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fleet_core::wire::FolderRef;
use uipath_client::ClientError;

use fleet_reader::{DatasetRef, Sources};

/// (source, dataset, folder key, from, to): what one `$count` probe asked.
type CountKey = (String, String, String, DateTime<Utc>, DateTime<Utc>);

/// Folder lists by source, with when they were read.
type FolderLists = HashMap<String, (Instant, Vec<FolderRef>)>;

/// The cached answers. Cheap to clone; clones share the maps.
#[derive(Clone, Default)]
pub struct ProbeCache {
    counts: Arc<Mutex<HashMap<CountKey, (Instant, u64)>>>,
    folders: Arc<Mutex<FolderLists>>,
}

impl ProbeCache {
    /// The source's folders, from the cache when younger than `ttl`.
    pub async fn folders(
        &self,
        sources: &Sources,
        source: &str,
        ttl: Duration,
    ) -> Result<Vec<FolderRef>, ClientError> {
        if let Some(folders) = self.cached_folders(source, ttl) {
            return Ok(folders);
        }
        let folders = sources.folders(source).await?;
        self.folders
            .lock()
            .expect("not poisoned")
            .insert(source.to_owned(), (Instant::now(), folders.clone()));
        Ok(folders)
    }

    /// The source's folders if a list younger than `ttl` is at hand (no request made).
    pub fn cached_folders(&self, source: &str, ttl: Duration) -> Option<Vec<FolderRef>> {
        let map = self.folders.lock().expect("not poisoned");
        map.get(source)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, f)| f.clone())
    }

    /// How many records `[from, to)` of a dataset holds, from the cache when a probe of
    /// exactly that younger than `ttl` is remembered.
    #[allow(clippy::too_many_arguments)]
    pub async fn count(
        &self,
        sources: &Sources,
        source: &str,
        dataset_name: &str,
        dataset: &DatasetRef,
        folder: Option<&FolderRef>,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        ttl: Duration,
    ) -> Result<u64, ClientError> {
        let key: CountKey = (
            source.to_owned(),
            dataset_name.to_owned(),
            folder.map(|f| f.key.clone()).unwrap_or_default(),
            from,
            to,
        );
        {
            let mut map = self.counts.lock().expect("not poisoned");
            match map.get(&key) {
                Some((at, n)) if at.elapsed() < ttl => return Ok(*n),
                Some(_) => {
                    map.remove(&key);
                }
                None => {}
            }
        }
        let n = sources.count(source, dataset, folder, from, to).await?;
        let mut map = self.counts.lock().expect("not poisoned");
        // Drop what has expired now and then, so the map stays as small as the probes
        // of the last `ttl`.
        if map.len() > 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        map.insert(key, (Instant::now(), n));
        Ok(n)
    }
}
