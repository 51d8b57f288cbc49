//! [`Coordinator`]: the planner, the leader loop and the HTTP API wired together, and the
//! operations the API exposes (submit, list, progress, cancel, preview).
//!
//! `run(listener, shutdown)` is the whole process: declare the broker topology, start the
//! leader loop, serve the API until `shutdown`, then stop the leader (releasing its
//! lease) and any planning runs. Stopping mid-plan is safe: plans are idempotent and the
//! next leader resumes them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fleet_core::ledger::{Progress, RequestKind, RequestRecord, RequestState, StreamState};
use fleet_core::plan::request::Catalog;
use fleet_core::plan::schedule::Schedule;
use fleet_core::plan::{self, estimate, FieldError, RequestError, SyncRequest};
use fleet_core::{Broker, BrokerError, BucketKey, Ledger, LedgerError};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uipath_client::ClientError;

use crate::config::CoordinatorConfig;
use crate::leader::{Leader, PlanRuns};
use crate::metrics::Metrics;
use crate::planner::Planner;
use crate::select_check::TenantFields;
use fleet_core::Readiness;
use fleet_reader::{DatasetRef, Sources};

/// Why an operation failed, sorted by whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request itself is wrong (400 / 422).
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("no request {0}")]
    NotFound(String),
    /// A UiPath source failed or refused (502), with a hint for the user.
    #[error("{error}")]
    Source {
        error: ClientError,
        hint: Option<String>,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The process cannot start as configured.
    #[error("{0}")]
    Config(String),
    #[error("serving the API: {0}")]
    Io(#[from] std::io::Error),
}

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

/// A request with its progress, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    #[serde(flatten)]
    pub request: RequestRecord,
    pub progress: ProgressView,
    /// Sync streams with their planned end and watermark.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgressView {
    /// Slices that count toward the request (split parents excluded).
    pub total: u64,
    /// Slices in a terminal state.
    pub done: u64,
    pub percent: f64,
    #[serde(flatten)]
    pub counts: Progress,
}

impl From<Progress> for ProgressView {
    fn from(p: Progress) -> Self {
        let (total, done) = (p.total(), p.done());
        ProgressView {
            total,
            done,
            percent: if total == 0 {
                0.0
            } else {
                (done as f64 * 1000.0 / total as f64).round() / 10.0
            },
            counts: p,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamView {
    pub stream: String,
    #[serde(flatten)]
    pub state: StreamState,
}

/// A preview: a few records of a dataset, read without publishing anything.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewView {
    pub source: String,
    pub dataset: String,
    pub records: Vec<serde_json::Value>,
    /// Folders read (folder-scoped datasets).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<String>,
    /// Said when there is nothing to show, and why that may be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

pub(crate) struct Inner {
    pub(crate) planner: Planner,
    pub(crate) runs: PlanRuns,
    leader: Leader,
    config: Arc<CoordinatorConfig>,
    metrics: Metrics,
    tenant_fields: TenantFields,
}

/// The coordinator. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Coordinator {
    pub(crate) inner: Arc<Inner>,
}

impl Coordinator {
    pub fn new(
        config: CoordinatorConfig,
        ledger: Arc<dyn Ledger>,
        broker: Arc<dyn Broker>,
        sources: Sources,
    ) -> Coordinator {
        let config = Arc::new(config);
        let metrics = Metrics::new();
        let planner = Planner::new(ledger, broker, sources, config.clone(), metrics.clone());
        let runs = PlanRuns::default();
        let leader = Leader::new(planner.clone(), runs.clone());
        Coordinator {
            inner: Arc::new(Inner {
                planner,
                runs,
                leader,
                config,
                metrics,
                tenant_fields: TenantFields::default(),
            }),
        }
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.inner.config
    }
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
    pub fn planner(&self) -> &Planner {
        &self.inner.planner
    }
    pub fn sources(&self) -> &Sources {
        &self.inner.planner.sources
    }
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.inner.planner.ledger
    }
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.inner.planner.broker
    }
    pub(crate) fn tenant_fields(&self) -> &TenantFields {
        &self.inner.tenant_fields
    }

    /// Serve the API on `listener` and run the leader loop until `shutdown`.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServiceError> {
        let addr: SocketAddr = listener.local_addr()?;
        if self.inner.config.api_token.is_none() && !addr.ip().is_loopback() {
            return Err(ServiceError::Config(format!(
                "the API would listen on {addr} without a bearer token; set api_token (or listen on 127.0.0.1)"
            )));
        }
        self.declare_topology(&shutdown).await?;
        let leader = {
            let me = self.clone();
            let token = shutdown.child_token();
            tokio::spawn(async move { me.inner.leader.run(token).await })
        };
        info!(%addr, replica = %self.inner.config.replica, "coordinator API listening");
        let app = crate::api::router(self.clone());
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .await;
        shutdown.cancel();
        if let Err(e) = leader.await {
            warn!(error = %e, "leader loop ended abnormally");
        }
        self.inner.runs.close().await;
        served.map_err(ServiceError::Io)
    }

    /// Declare the broker topology, retrying while the broker is unreachable.
    async fn declare_topology(&self, shutdown: &CancellationToken) -> Result<(), ServiceError> {
        let mut delay = Duration::from_millis(250);
        loop {
            match self.broker().declare().await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() && !shutdown.is_cancelled() => {
                    warn!(error = %e, "broker not ready; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Err(e.into()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One round of leader work now (tests and the embedded mode drive it directly).
    pub async fn leader_tick(&self) -> Result<(), crate::planner::PlanError> {
        self.inner.leader.tick().await
    }

    pub(crate) fn catalog(&self) -> Catalog {
        Catalog {
            sources: self.sources().names(),
            now: self.inner.config.clock.now(),
            max_slices: self.inner.config.max_slices,
        }
    }

    /// Submit a backfill (JSON body). Returns the request and whether it is new; an
    /// identical earlier request is returned as it stands (and resumed if its plan was
    /// interrupted). [`Coordinator::submit_backfill_estimated`] also returns the
    /// estimate.
    pub async fn submit_backfill(
        &self,
        body: &[u8],
    ) -> Result<(RequestRecord, bool), ServiceError> {
        let s = self.submit_backfill_estimated(body).await?;
        Ok((s.record, s.created))
    }

    /// Submit a sync (JSON body). Its windows are planned by the leader, tick by tick.
    pub async fn submit_sync(&self, body: &[u8]) -> Result<(RequestRecord, bool), ServiceError> {
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
    ) -> Result<Option<String>, ServiceError> {
        let now = self.inner.config.clock.now();
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
                    .inner
                    .config
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
                        return Err(ServiceError::Request(RequestError::Fields(vec![FieldError {
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

    /// A request as first stored: its id is the hash of its normalized JSON.
    pub(crate) fn new_record(
        &self,
        kind: RequestKind,
        state: RequestState,
        normalized: serde_json::Value,
    ) -> RequestRecord {
        RequestRecord {
            id: plan::request_id(kind, &normalized),
            kind,
            state,
            created_at: self.inner.config.clock.now(),
            spec: normalized,
            plan: None,
            planned: false,
            note: None,
        }
    }

    pub(crate) fn count_submission<T>(
        &self,
        kind: &str,
        parsed: Result<T, RequestError>,
    ) -> Result<T, ServiceError> {
        parsed.map_err(|e| {
            self.inner
                .metrics
                .submitted
                .with_label_values(&[kind, "rejected"])
                .inc();
            ServiceError::Request(e)
        })
    }

    pub(crate) async fn store(
        &self,
        kind: &str,
        record: RequestRecord,
    ) -> Result<(RequestRecord, bool), ServiceError> {
        let created = self.ledger().create_request(&record).await?;
        self.inner
            .metrics
            .submitted
            .with_label_values(&[kind, if created { "created" } else { "existing" }])
            .inc();
        if created {
            info!(request = %record.id, kind, "request accepted");
            return Ok((record, true));
        }
        let existing = self
            .ledger()
            .get_request(&record.id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(record.id.clone()))?;
        Ok((existing, false))
    }

    /// Data Service datasets must name an entity the source has.
    pub(crate) async fn check_entities(
        &self,
        sources: &[String],
        datasets: &[String],
    ) -> Result<(), ServiceError> {
        let wanted: Vec<(usize, &str)> = datasets
            .iter()
            .enumerate()
            .filter_map(|(i, d)| fleet_core::dataset::dataservice_entity(d).map(|e| (i, e)))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut errors = Vec::new();
        for source in sources {
            match self.sources().entities(source).await {
                Ok(entities) => {
                    for (i, entity) in &wanted {
                        if !entities.iter().any(|e| e.name.eq_ignore_ascii_case(entity)) {
                            let names: Vec<&str> =
                                entities.iter().map(|e| e.name.as_str()).collect();
                            errors.push(FieldError {
                                field: format!("datasets[{i}]"),
                                message: format!(
                                    "source {source} has no Data Service entity `{entity}`; it has: {}",
                                    names.join(", ")
                                ),
                            });
                        }
                    }
                }
                Err(e) => errors.push(FieldError {
                    field: format!("datasets[{}]", wanted[0].0),
                    message: format!("source {source} cannot list Data Service entities: {e}"),
                }),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(RequestError::Fields(errors).into())
        }
    }

    /// A request with its progress (and, for a sync, its streams).
    pub async fn request(&self, id: &str) -> Result<RequestView, ServiceError> {
        let request = self
            .ledger()
            .get_request(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(id.to_owned()))?;
        let progress = self.ledger().progress(id).await?;
        let streams = if request.kind == RequestKind::Sync {
            match self.inner.leader.streams(&request).await {
                Ok(s) => s
                    .into_iter()
                    .map(|(stream, state)| StreamView { stream, state })
                    .collect(),
                Err(e) => {
                    warn!(request = id, error = %e, "cannot list the sync's streams");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        Ok(RequestView {
            request,
            progress: progress.into(),
            streams,
        })
    }

    /// Requests, newest first, with progress.
    pub async fn requests(&self, limit: usize) -> Result<Vec<RequestView>, ServiceError> {
        let mut out = Vec::new();
        for request in self.ledger().list_requests(limit).await? {
            let progress = self.ledger().progress(&request.id).await?;
            out.push(RequestView {
                request,
                progress: progress.into(),
                streams: Vec::new(),
            });
        }
        Ok(out)
    }

    /// Cancel a request: queued slices are dropped (workers skip their jobs), running
    /// ones stop at their next page, a sync plans no more windows.
    pub async fn cancel(&self, id: &str) -> Result<(RequestView, u64), ServiceError> {
        if self.ledger().get_request(id).await?.is_none() {
            return Err(ServiceError::NotFound(id.to_owned()));
        }
        let cancelled = self.ledger().cancel_request(id).await?;
        info!(request = id, slices = cancelled, "request cancelled");
        Ok((self.request(id).await?, cancelled))
    }

    /// A few records of one dataset and range, read now and published nowhere.
    pub async fn preview(&self, input: PreviewInput) -> Result<PreviewView, ServiceError> {
        let mut errors = Vec::new();
        if self.sources().get(&input.source).is_none() {
            errors.push(FieldError {
                field: "source".into(),
                message: format!(
                    "unknown source `{}`; configured: {}",
                    input.source,
                    self.sources().names().join(", ")
                ),
            });
        }
        let dataset = DatasetRef::parse(&input.dataset);
        if dataset.is_none() {
            errors.push(FieldError {
                field: "dataset".into(),
                message: format!(
                    "unknown dataset `{}`; use one of GET /v1/datasets or dataservice/<Entity>",
                    input.dataset
                ),
            });
        }
        if let (Some(f), Some(t)) = (input.from, input.to) {
            if f >= t {
                errors.push(FieldError {
                    field: "to".into(),
                    message: "must be after `from`".into(),
                });
            }
        }
        let limit = input.limit.unwrap_or(10);
        if limit == 0 || limit > 100 {
            errors.push(FieldError {
                field: "limit".into(),
                message: "must be between 1 and 100".into(),
            });
        }
        let Some(dataset) = dataset.filter(|_| errors.is_empty()) else {
            return Err(RequestError::Fields(errors).into());
        };
        if let Some(message) = fleet_core::fields::select::too_long(input.select.len()) {
            return Err(RequestError::Fields(vec![FieldError {
                field: "select".into(),
                message,
            }])
            .into());
        }
        // The same check as a request's `select`: a name the dataset lacks is a 422.
        let select = BTreeMap::from([(input.dataset.clone(), input.select.clone())]);
        self.check_select(std::slice::from_ref(&input.source), &select)
            .await?;
        let hint = |e: &ClientError| preview_hint(e, &dataset);
        let folders = if dataset.folder_scoped() {
            let all =
                self.sources()
                    .folders(&input.source)
                    .await
                    .map_err(|e| ServiceError::Source {
                        hint: hint(&e),
                        error: e,
                    })?;
            match &input.folder {
                Some(want) => {
                    let found: Vec<_> = all
                        .into_iter()
                        .filter(|f| {
                            f.path.eq_ignore_ascii_case(want) || f.key.eq_ignore_ascii_case(want)
                        })
                        .collect();
                    if found.is_empty() {
                        return Err(RequestError::Fields(vec![FieldError {
                            field: "folder".into(),
                            message: format!(
                                "source {} has no folder `{want}` the application can see",
                                input.source
                            ),
                        }])
                        .into());
                    }
                    found.into_iter().map(Some).collect()
                }
                None => all.into_iter().map(Some).collect(),
            }
        } else {
            vec![None]
        };
        let mut records = Vec::new();
        let mut read = Vec::new();
        for folder in &folders {
            if records.len() >= limit as usize {
                break;
            }
            let want = limit - records.len() as u32;
            let batch = self
                .sources()
                .sample(
                    &input.source,
                    &dataset,
                    folder.as_ref(),
                    (input.from, input.to),
                    &input.select,
                    want,
                )
                .await
                .map_err(|e| ServiceError::Source {
                    hint: hint(&e),
                    error: e,
                })?;
            if let Some(f) = folder {
                read.push(f.path.clone());
            }
            records.extend(batch.into_iter().map(serde_json::Value::Object));
        }
        let message = if records.is_empty() {
            Some(if folders.is_empty() {
                "the application can see no folders; assign it to the folders to read (Orchestrator > Folders > Assign Account/Group)".to_owned()
            } else {
                format!(
                    "no {} records in this range{}; try a wider range, or check the dataset's time field",
                    input.dataset,
                    if dataset.folder_scoped() { format!(" in {} folder(s)", read.len()) } else { String::new() }
                )
            })
        } else {
            None
        };
        Ok(PreviewView {
            source: input.source,
            dataset: input.dataset,
            records,
            folders: read,
            message,
        })
    }

    /// Whether the ledger and the broker answer (for `/readyz`).
    pub async fn readiness(&self) -> Readiness {
        let (broker, ledger) = tokio::join!(self.broker().ready(), self.ledger().ready());
        Readiness { broker, ledger }
    }

    /// Refresh the queue depth gauges (at scrape time).
    pub async fn refresh_depths(&self) {
        if let Ok(d) = self.broker().depths().await {
            let g = &self.inner.metrics.queue_depth;
            g.with_label_values(&["sync"]).set(d.sync as i64);
            g.with_label_values(&["backfill"]).set(d.backfill as i64);
            g.with_label_values(&["retrying"]).set(d.retrying as i64);
            g.with_label_values(&["dead"]).set(d.dead as i64);
        }
    }
}

/// What to preview.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    pub source: String,
    pub dataset: String,
    /// A folder path or key; all visible folders (until `limit` records) when absent.
    #[serde(default)]
    pub folder: Option<String>,
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    #[serde(default)]
    pub select: Vec<String>,
    /// 1–100, default 10.
    #[serde(default)]
    pub limit: Option<u32>,
}

fn preview_hint(error: &ClientError, dataset: &DatasetRef) -> Option<String> {
    let scope = match dataset {
        DatasetRef::Orchestrator(d) => format!("{}.Read", d.scope),
        DatasetRef::DataService(_) => {
            "DataService.Data.Read (user scope: use the login flow)".to_owned()
        }
    };
    match error {
        ClientError::Forbidden { .. } | ClientError::InvalidScope { .. } => Some(format!(
            "the application needs scope {scope} and a role on the folder; add it under Admin > External Applications"
        )),
        ClientError::FolderNotFound { .. } => {
            Some("assign the application to the folder in Orchestrator".to_owned())
        }
        ClientError::UnauthorizedClient { .. } | ClientError::LoginRequired { .. } => {
            Some("run `uipath-fleet login` for this source".to_owned())
        }
        _ => None,
    }
}
