//! Submitting a sync: the request parsed, its Data Service entities and `select`
//! checked, and the requests a minute its streams need held against the tenant's
//! budget (`[limits]`) before it is stored; its windows are then planned by the leader.

use chrono::{DateTime, Utc};
use fleet_core::ledger::{RequestKind, RequestRecord, RequestState};
use fleet_core::plan::schedule::Schedule;
use fleet_core::plan::{estimate, FieldError, RequestError, SyncRequest};
use fleet_core::BucketKey;
use tracing::warn;

use crate::error::CoordinatorError;
use crate::service::Coordinator;

/// Seconds between a schedule's ticks (for cron, the next two after `now`).
fn interval_secs(schedule: &Schedule, now: DateTime<Utc>) -> u64 {
    match schedule {
        Schedule::Every(secs) => *secs,
        Schedule::Cron(_) => schedule
            .next_tick(now)
            .and_then(|a| Some((a, schedule.next_tick(a)?)))
            .map_or(3_600, |(a, b)| (b - a).num_seconds().max(1) as u64),
    }
}

impl Coordinator {
    /// Submit a sync (JSON body). Its windows are planned by the leader, tick by tick.
    pub async fn submit_sync(
        &self,
        body: &[u8],
    ) -> Result<(RequestRecord, bool), CoordinatorError> {
        let parsed = SyncRequest::parse(body, &self.catalog());
        let spec = self.count_submission("sync", parsed)?;
        self.check_entities(&spec.sources, &spec.datasets).await?;
        let checked = self.check_select(&spec.sources, &spec.select).await;
        let select_note = self.count_submission("sync", checked)?;
        let mut record =
            self.new_record(RequestKind::Sync, RequestState::Running, spec.normalized());
        let budget_note = self.sync_budget(&record.id, &spec).await?;
        record.note = [select_note, budget_note]
            .into_iter()
            .flatten()
            .reduce(|a, b| format!("{a}; {b}"));
        self.store("sync", record).await
    }

    /// The requests per minute the syncs of each of `spec`'s sources need with this one
    /// added, against the tenant's budget (`[limits]`): over it, the sync is refused
    /// (422 naming it, the family and the numbers); above 80% it is accepted with the
    /// warning returned (kept as the request's note). See `fleet_core::plan::estimate`.
    async fn sync_budget(
        &self,
        id: &str,
        spec: &SyncRequest,
    ) -> Result<Option<String>, CoordinatorError> {
        let now = self.config().clock.now();
        let others: Vec<(String, SyncRequest)> = self
            .ledger()
            .list_requests(10_000)
            .await?
            .into_iter()
            .filter(|r| {
                r.kind == RequestKind::Sync && r.state == RequestState::Running && r.id != id
            })
            .filter_map(|r| Some((r.id, serde_json::from_value(r.spec).ok()?)))
            .collect();
        let mut warnings = Vec::new();
        for source in &spec.sources {
            let Some(client) = self.sources().get(source) else {
                continue;
            };
            let syncs = std::iter::once((id, spec))
                .chain(others.iter().map(|(i, s)| (i.as_str(), s)))
                .filter(|(_, s)| s.sources.contains(source));
            let mut folders: Option<u64> = None;
            let mut load = estimate::Requests::new();
            for (_, sync) in syncs {
                let interval = interval_secs(&sync.schedule, now);
                for name in &sync.datasets {
                    let Some(def) = fleet_core::dataset::by_name(name) else {
                        continue; // Data Service: not budgeted by Orchestrator
                    };
                    let streams = if def.folder_scoped {
                        if folders.is_none() {
                            match self.sources().folders(source).await {
                                Ok(f) => folders = Some(f.len() as u64),
                                Err(e) => {
                                    warn!(source, error = %e, "cannot list folders; sync budget not checked");
                                    return Ok(None);
                                }
                            }
                        }
                        folders.unwrap_or(1)
                    } else {
                        1
                    };
                    for _ in 0..streams {
                        estimate::add(&mut load, &estimate::sync_stream_per_minute(def, interval));
                    }
                }
            }
            let tenant = client.source().tenant_key();
            for (family, need) in load {
                let budget = self
                    .config()
                    .limits
                    .budget(&BucketKey::new(tenant.clone(), family))
                    .map(|b| estimate::per_minute(&b));
                let what = format!(
                    "the syncs of source {source} need at least {need:.0} {family} requests a minute (this one included) against a budget of {:.0}",
                    budget.unwrap_or_default()
                );
                match estimate::verdict(need, budget) {
                    estimate::Verdict::Fits => {}
                    estimate::Verdict::Tight { share } => warnings.push(format!(
                        "{what} ({:.0}%): little is left for backfills and other tools",
                        share * 100.0
                    )),
                    estimate::Verdict::Over { .. } => {
                        return Err(CoordinatorError::Request(RequestError::Fields(vec![FieldError {
                            field: "every".into(),
                            message: format!(
                                "sync {id}: {what}; sync less often, fewer datasets or folders, or raise the budget in [limits] if the tenant has more"
                            ),
                        }])))
                    }
                }
            }
        }
        for w in &warnings {
            warn!(request = id, "{w}");
        }
        Ok((!warnings.is_empty()).then(|| warnings.join("; ")))
    }
}
