//! [`Coordinator`]: the planner, the leader loop and the HTTP API wired together, and the
//! operations the API exposes (submit, list, progress, cancel, preview).
//!
//! `run(listener, shutdown)` is the whole process: declare the broker topology, start the
//! leader loop, serve the API until `shutdown`, then stop the leader (releasing its
//! lease) and any planning runs. Stopping mid-plan is safe: plans are idempotent and the
//! next leader resumes them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fleet_core::ledger::{RequestKind, RequestRecord, RequestState};
use fleet_core::plan::request::Catalog;
use fleet_core::plan::{self, FieldError, RequestError};
use fleet_core::{Backoff, Broker, Ledger};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uipath_client::ClientError;

use crate::config::CoordinatorConfig;
use crate::error::CoordinatorError;
use crate::leader::{Leader, Lease, PlanRuns};
use crate::metrics::Metrics;
use crate::planner::Planner;
use crate::select_check::TenantFields;
use fleet_core::Readiness;
use fleet_reader::{DatasetRef, Sources};

pub use crate::preview::{PreviewInput, PreviewView};

pub use crate::api::views::{ProgressView, RequestView, StreamView};

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
    ) -> Result<(), CoordinatorError> {
        let addr: SocketAddr = listener.local_addr()?;
        if self.inner.config.api_token.is_none() && !addr.ip().is_loopback() {
            return Err(CoordinatorError::Config(format!(
                "the API would listen on {addr} without a bearer token; set api_token (or listen on 127.0.0.1)"
            )));
        }
        self.declare_topology(&shutdown).await?;
        let leader = {
            let me = self.clone();
            let token = shutdown.child_token();
            tokio::spawn(async move { me.inner.leader.run(token, Lease::Shared).await })
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
        served.map_err(CoordinatorError::Io)
    }

    /// Declare the broker topology, retrying while the broker is unreachable.
    async fn declare_topology(&self, shutdown: &CancellationToken) -> Result<(), CoordinatorError> {
        let mut delays = Backoff::new(Duration::from_millis(250), Duration::from_secs(10)).delays();
        loop {
            match self.broker().declare().await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() && !shutdown.is_cancelled() => {
                    warn!(error = %e, "broker not ready; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Err(e.into()),
                        _ = tokio::time::sleep(delays.next_or_max()) => {}
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Run the leader loop without the API and without the schedule lease until
    /// `shutdown` (the headless mode of a fleet in one process, the only coordinator of
    /// its ledger); then stop its planning runs.
    pub async fn lead(&self, shutdown: CancellationToken) {
        self.inner.leader.run(shutdown, Lease::Alone).await;
        self.inner.runs.close().await;
    }

    /// One round of leader work now (tests drive it directly).
    pub async fn leader_tick(&self) -> Result<(), CoordinatorError> {
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
    ) -> Result<(RequestRecord, bool), CoordinatorError> {
        let s = self.submit_backfill_estimated(body).await?;
        Ok((s.record, s.created))
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
    ) -> Result<T, CoordinatorError> {
        parsed.map_err(|e| {
            self.inner
                .metrics
                .submitted
                .with_label_values(&[kind, "rejected"])
                .inc();
            CoordinatorError::Request(e)
        })
    }

    pub(crate) async fn store(
        &self,
        kind: &str,
        record: RequestRecord,
    ) -> Result<(RequestRecord, bool), CoordinatorError> {
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
            .ok_or_else(|| CoordinatorError::NotFound(record.id.clone()))?;
        Ok((existing, false))
    }

    /// Data Service datasets must name an entity the source has.
    pub(crate) async fn check_entities(
        &self,
        sources: &[String],
        datasets: &[String],
    ) -> Result<(), CoordinatorError> {
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
    pub async fn request(&self, id: &str) -> Result<RequestView, CoordinatorError> {
        let request = self
            .ledger()
            .get_request(id)
            .await?
            .ok_or_else(|| CoordinatorError::NotFound(id.to_owned()))?;
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
    pub async fn requests(&self, limit: usize) -> Result<Vec<RequestView>, CoordinatorError> {
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
    pub async fn cancel(&self, id: &str) -> Result<(RequestView, u64), CoordinatorError> {
        if self.ledger().get_request(id).await?.is_none() {
            return Err(CoordinatorError::NotFound(id.to_owned()));
        }
        let cancelled = self.ledger().cancel_request(id).await?;
        info!(request = id, slices = cancelled, "request cancelled");
        Ok((self.request(id).await?, cancelled))
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

pub(crate) fn preview_hint(error: &ClientError, dataset: &DatasetRef) -> Option<String> {
    uipath_client::fix::preview(error, &dataset.read_scope())
}
