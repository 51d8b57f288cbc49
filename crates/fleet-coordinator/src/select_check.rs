//! `select` checked at submit, before anything is stored or planned: every name must be a
//! field of its dataset on every source of the request (`fleet_core::fields::select`
//! has the rules). A typo is a 422 naming the dataset, the field and the nearest name,
//! instead of one dead letter per folder later.
//!
//! The tenant's metadata is read through the source's client (`$metadata` for
//! Orchestrator, the entity list for Data Service) and **cached per source**: a success
//! for [`FRESH_FOR`], a failure for [`RETRY_AFTER`], so a burst of submits costs the
//! tenant one read and an unreachable tenant does not slow every submit. A read is
//! bounded by [`READ_TIMEOUT`]; past it, or on any error, the built-in field list decides
//! and the answer says so.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleet_core::fields::select::{Known, Verdict};
use fleet_core::plan::RequestError;
use tracing::{info, warn};
use uipath_client::dataservice::DsEntity;
use uipath_client::metadata::{dataservice_fields, TenantMetadata};

use crate::service::Coordinator;
use fleet_core::dataset::dataservice_entity;
use fleet_reader::Sources;

/// How long a tenant's metadata is trusted once read.
pub const FRESH_FOR: Duration = Duration::from_secs(10 * 60);
/// How long a failed read is remembered before the tenant is asked again.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);
/// The longest a submit waits for a tenant's metadata.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

type Read<T> = Arc<Result<T, String>>;

struct Entry<T> {
    at: Instant,
    value: Read<T>,
}

impl<T> Entry<T> {
    fn fresh(&self) -> bool {
        let ttl = if self.value.is_ok() {
            FRESH_FOR
        } else {
            RETRY_AFTER
        };
        self.at.elapsed() < ttl
    }
}

/// The tenants' field lists, cached per source. Shared by clones of a coordinator.
#[derive(Default)]
pub struct TenantFields {
    // A std mutex: held only to look up or store an entry, never across a read.
    orchestrator: Mutex<HashMap<String, Entry<TenantMetadata>>>,
    dataservice: Mutex<HashMap<String, Entry<Vec<DsEntity>>>>,
}

impl TenantFields {
    async fn orchestrator(&self, sources: &Sources, source: &str) -> Read<TenantMetadata> {
        if let Some(e) = lock(&self.orchestrator).get(source).filter(|e| e.fresh()) {
            return e.value.clone();
        }
        let read = bounded(sources.metadata(source)).await;
        remember(&self.orchestrator, source, read)
    }

    async fn dataservice(&self, sources: &Sources, source: &str) -> Read<Vec<DsEntity>> {
        if let Some(e) = lock(&self.dataservice).get(source).filter(|e| e.fresh()) {
            return e.value.clone();
        }
        let read = bounded(sources.entities(source)).await;
        remember(&self.dataservice, source, read)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn bounded<T, E: std::fmt::Display>(
    read: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {} s", READ_TIMEOUT.as_secs())),
    }
}

fn remember<T>(
    map: &Mutex<HashMap<String, Entry<T>>>,
    source: &str,
    read: Result<T, String>,
) -> Read<T> {
    let value = Arc::new(read);
    lock(map).insert(
        source.to_owned(),
        Entry {
            at: Instant::now(),
            value: value.clone(),
        },
    );
    value
}

impl Coordinator {
    /// Checks `select` (dataset → field names, as parsed) against the field catalog for
    /// each of `sources`. Unknown names refuse the request (422, each named); the
    /// warnings of an accepted one come back joined, to be kept as the request's note.
    pub(crate) async fn check_select(
        &self,
        sources: &[String],
        select: &BTreeMap<String, Vec<String>>,
    ) -> Result<Option<String>, RequestError> {
        if select.is_empty() {
            return Ok(None);
        }
        let cache = self.tenant_fields();
        let wants_orchestrator = select.keys().any(|d| dataservice_entity(d).is_none());
        let wants_dataservice = select.keys().any(|d| dataservice_entity(d).is_some());
        let mut verdict = Verdict::default();
        for source in sources {
            let orchestrator = match wants_orchestrator {
                true => Some(cache.orchestrator(self.sources(), source).await),
                false => None,
            };
            let dataservice = match wants_dataservice {
                true => Some(cache.dataservice(self.sources(), source).await),
                false => None,
            };
            for (dataset, names) in select {
                match dataservice_entity(dataset) {
                    Some(entity) => match dataservice.as_deref() {
                        Some(Ok(entities)) => {
                            let fields = entities
                                .iter()
                                .find(|e| e.name.eq_ignore_ascii_case(entity))
                                .map(dataservice_fields);
                            verdict.check(source, dataset, names, Known::Tenant(fields.as_deref()));
                        }
                        Some(Err(why)) => {
                            verdict.check(source, dataset, names, Known::Unreachable(why))
                        }
                        None => {}
                    },
                    None => match orchestrator.as_deref() {
                        Some(Ok(meta)) => {
                            let set = fleet_core::dataset::by_name(dataset)
                                .and_then(|d| meta.entity_set(d.entity));
                            verdict.check(source, dataset, names, Known::Tenant(set));
                        }
                        Some(Err(why)) => {
                            verdict.check(source, dataset, names, Known::Unreachable(why))
                        }
                        None => {}
                    },
                }
            }
        }
        if !verdict.errors.is_empty() {
            info!(
                errors = verdict.errors.len(),
                "request refused: select names fields the datasets do not have"
            );
            return Err(RequestError::Fields(verdict.errors));
        }
        for w in &verdict.warnings {
            warn!("select: {w}");
        }
        Ok((!verdict.warnings.is_empty()).then(|| verdict.warnings.join("; ")))
    }
}
