//! The fleet in one process: a coordinator and `[embedded].workers` workers sharing one
//! ledger, one broker, one token cache and one rate limiter, for `uipath-fleet run` and
//! `uipath-fleet demo`.
//!
//! Two variants, chosen by the configuration:
//!
//! - **Embedded** (no `[broker]`/`[redis]`): an in-process broker
//!   ([`fleet_memory::MemoryBroker`]), the ledger in a journal file under
//!   `[embedded].state_dir` ([`fleet_memory::FileLedger`]), an in-process rate limiter,
//!   and the records written to newline-delimited JSON files under `[sink].dir`
//!   ([`fleet_sink::FileSink`]).
//! - **Distributed** (`[broker].amqp_url` and `[redis].url`, or their flags): the same
//!   coordinator and workers on RabbitMQ and Redis ([`Backends::connect`]); records go to
//!   the broker's output queues for downstream consumers, no files are written here.
//!
//! # Guarantees of the embedded variant
//!
//! - **Records are on disk before the broker confirms them.** [`FileSinkBroker`] writes
//!   every record message of a batch to the files and syncs them before `publish`
//!   returns `Ok`; a worker checkpoints a page only after that. So a checkpoint in the
//!   ledger means the page's records are in the files, and a crash (even SIGKILL) loses
//!   nothing: at most the page in flight is written again after the restart.
//! - **Restarts resume.** The in-memory broker's jobs die with the process, the ledger
//!   does not: at start, every slice of an unfinished request that is queued or running
//!   gets its job published again, and the worker resumes it from its checkpoint. Plans
//!   interrupted half-way are finished by the coordinator's leader as usual.
//! - **Tokens** live in the configured token cache (`[token_cache]`; by default the same
//!   file `uipath-fleet login` writes), so refresh tokens survive restarts.
//! - **One process per state directory.** The ledger file is locked, as is the output
//!   directory, so a second `run` on the same state fails at start instead of sharing it.
//!
//! The coordinator's HTTP API is served on `[coordinator].listen` (unless
//! `[embedded].api = false`), so the client commands work against an embedded fleet too.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use fleet_coordinator::service::{RequestView, ServiceError};
use fleet_coordinator::Coordinator;
use fleet_core::broker::{
    Broker, BrokerError, Delivery, Depths, Destination, Outgoing, Subscriber, Subscription,
};
use fleet_core::ledger::{Ledger, RequestKind, SliceRecord, SliceState};
use fleet_core::plan::RequestError;
use fleet_core::RateLimiter;
use fleet_memory::{FileLedger, MemoryBroker, MemoryRateLimiter};
use fleet_reader::Sources;
use fleet_sink::{FileSink, SinkError, SinkOptions, Target};
use fleet_worker::{RunSummary, Worker};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uipath_client::client::ClientOptions;

use crate::backends::{build_sources, Backends};
use crate::config::{ConfigError, FleetConfig};
use crate::progress::{Board, Row};
use crate::token_store::TokenStore;

/// The ledger journal's file name inside the state directory.
pub const LEDGER_FILE: &str = "ledger.journal";

/// How many requests the resume step looks at (newest first).
const RESUME_SCAN: usize = 10_000;
/// Slices read from the ledger per page while resuming.
const RESUME_PAGE: usize = 500;
/// How long the coordinator's API gets to stop after the fleet was told to.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A [`Broker`] that writes record messages to a [`FileSink`] (synced) instead of an
/// exchange, and passes every other message to the in-process broker. See the module docs
/// for why the order matters.
pub struct FileSinkBroker {
    inner: MemoryBroker,
    sink: Arc<Mutex<FileSink>>,
    dir: PathBuf,
}

impl std::fmt::Debug for FileSinkBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSinkBroker")
            .field("inner", &self.inner)
            .field("dir", &self.dir)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while writing leaves at worst unflushed lines the sink forgets and a retry
    // writes again; the sink itself stays usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FileSinkBroker {
    /// Opens the file sink on `dir` (created; locked to this process) in front of `inner`,
    /// writing as `options` say (dedupe window, file mode).
    pub fn open(
        inner: MemoryBroker,
        dir: &Path,
        options: SinkOptions,
    ) -> anyhow::Result<FileSinkBroker> {
        let sink = FileSink::open_with(Target::Dir(dir.to_owned()), options)
            .with_context(|| format!("opening the output directory {}", dir.display()))?;
        Ok(FileSinkBroker {
            inner,
            sink: Arc::new(Mutex::new(sink)),
            dir: dir.to_owned(),
        })
    }

    /// The directory the records go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records written per (source, dataset) by this process, duplicates not included.
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        lock(&self.sink).counts().clone()
    }

    /// Records skipped by this process because it had written them already.
    pub fn duplicates(&self) -> u64 {
        lock(&self.sink).duplicates()
    }

    /// Writes and syncs `records`; on the blocking pool so the runtime keeps running.
    async fn write_records(&self, records: Vec<Outgoing>) -> Result<(), BrokerError> {
        let sink = self.sink.clone();
        let written = tokio::task::spawn_blocking(move || -> Result<(), SinkError> {
            let mut sink = lock(&sink);
            for m in &records {
                sink.write(&m.headers, &m.body)?;
            }
            sink.flush().map_err(|e| SinkError::Io {
                path: "the output files".into(),
                source: e,
            })
        })
        .await
        .map_err(|e| BrokerError::Unavailable(format!("the file writer stopped: {e}")))?;
        match written {
            Ok(()) => Ok(()),
            Err(e @ SinkError::Io { .. }) => {
                warn!(error = %e, "writing records failed; the worker will retry the page");
                Err(BrokerError::Unavailable(format!("writing records: {e}")))
            }
            // A worker never sends one; if it did, retrying could not help.
            Err(e @ SinkError::Malformed(_)) => Err(BrokerError::Topology(e.to_string())),
        }
    }
}

#[async_trait]
impl Broker for FileSinkBroker {
    async fn declare(&self) -> Result<(), BrokerError> {
        self.inner.declare().await
    }

    async fn publish(&self, batch: Vec<Outgoing>) -> Result<(), BrokerError> {
        let (records, rest): (Vec<Outgoing>, Vec<Outgoing>) = batch
            .into_iter()
            .partition(|m| matches!(m.destination, Destination::Records { .. }));
        if !records.is_empty() {
            self.write_records(records).await?;
        }
        if !rest.is_empty() {
            self.inner.publish(rest).await?;
        }
        Ok(())
    }

    async fn next_job(&self, wait: Duration) -> Result<Option<Delivery>, BrokerError> {
        self.inner.next_job(wait).await
    }

    async fn subscribe(
        &self,
        subscription: Subscription,
    ) -> Result<Box<dyn Subscriber>, BrokerError> {
        self.inner.subscribe(subscription).await
    }

    async fn depths(&self) -> Result<Depths, BrokerError> {
        self.inner.depths().await
    }

    async fn ready(&self) -> bool {
        self.inner.ready().await
    }
}

/// A request submitted from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub id: String,
    pub kind: RequestKind,
    /// `backfills[0]`, `syncs[1]`: where it is in the configuration.
    pub origin: String,
    /// False when an identical request existed already (a restart).
    pub created: bool,
    /// A new backfill's estimate in words (slices, records, requests, time), or why
    /// there is none.
    pub estimate: Option<String>,
}

/// What the fleet did, reported when it stops.
#[derive(Debug, Clone, Default)]
pub struct StopSummary {
    /// Jobs by outcome, over all workers.
    pub jobs: RunSummary,
    /// Records written to files per (source, dataset) by this process (embedded only).
    pub written: BTreeMap<(String, String), u64>,
}

/// A running one-process fleet. Stop it with [`EmbeddedFleet::stop`].
pub struct EmbeddedFleet {
    coordinator: Coordinator,
    sources: Sources,
    sink: Option<Arc<FileSinkBroker>>,
    backends: Option<Backends>,
    api: Option<SocketAddr>,
    workers: usize,
    slots: usize,
    resumed: u64,
    stop: CancellationToken,
    coordinator_task: tokio::task::JoinHandle<Result<(), ServiceError>>,
    worker_tasks: JoinSet<RunSummary>,
}

impl std::fmt::Debug for EmbeddedFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedFleet")
            .field("api", &self.api)
            .field("workers", &self.workers)
            .field("sink", &self.sink)
            .finish_non_exhaustive()
    }
}

/// Whether `config` asks for the distributed variant (RabbitMQ and Redis).
pub fn is_distributed(config: &FleetConfig) -> bool {
    config.broker.amqp_url.is_some() || config.redis.url.is_some()
}

/// The backends of a fleet, opened, and the clients of its sources.
struct Opened {
    ledger: Arc<dyn Ledger>,
    broker: Arc<dyn Broker>,
    sources: Sources,
    /// The embedded variant's broker, for its file counts.
    sink: Option<Arc<FileSinkBroker>>,
    /// The distributed variant's connections, closed at the end.
    backends: Option<Backends>,
}

/// RabbitMQ and Redis, as a distributed fleet process connects to them.
async fn open_distributed(
    config: &FleetConfig,
    options: &ClientOptions,
    shutdown: &CancellationToken,
) -> anyhow::Result<Opened> {
    let backends = Backends::connect(
        config,
        "uipath-fleet run",
        config.coordinator.connect_timeout(),
        shutdown,
    )
    .await?;
    let sources = backends.sources(config, options)?;
    Ok(Opened {
        ledger: backends.ledger(),
        broker: Arc::new(backends.broker.clone()),
        sources,
        sink: None,
        backends: Some(backends),
    })
}

/// The in-process broker in front of the file sink, the ledger file in the state
/// directory, the configured token cache and an in-process rate limiter.
async fn open_embedded(config: &FleetConfig, options: &ClientOptions) -> anyhow::Result<Opened> {
    let embedded = &config.embedded;
    let state = &embedded.state_dir;
    std::fs::create_dir_all(state)
        .with_context(|| format!("creating the state directory {}", state.display()))?;
    let path = state.join(LEDGER_FILE);
    let ledger = FileLedger::open(&path).await.with_context(|| {
        format!(
            "opening the ledger {} (is another `uipath-fleet run` using this state directory?)",
            path.display()
        )
    })?;
    let tokens = TokenStore::open(&config.effective_token_cache()).await?;
    let limiter: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new(config.limits.clone()));
    let sources = build_sources(config, &tokens, limiter, options)?;
    let sink = Arc::new(FileSinkBroker::open(
        MemoryBroker::default(),
        &config.sink.dir,
        config.sink.sink_options(),
    )?);
    info!(
        state = %state.display(),
        out = %config.sink.dir.display(),
        tokens = %tokens.describe(),
        "embedded fleet: in-process broker, ledger and sink"
    );
    Ok(Opened {
        ledger: Arc::new(ledger),
        broker: sink.clone(),
        sources,
        sink: Some(sink),
        backends: None,
    })
}

impl EmbeddedFleet {
    /// Opens the backends `config` names, resumes what a previous run of this state left
    /// unfinished, and starts the coordinator (and its API) and the workers. Returns once
    /// everything runs. `shutdown` only interrupts the start (connecting); stop a
    /// started fleet with [`EmbeddedFleet::stop`].
    pub async fn start(
        config: &FleetConfig,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<EmbeddedFleet> {
        let settings = config.worker.settings()?;
        let embedded = &config.embedded;
        let Opened {
            ledger,
            broker,
            sources,
            sink,
            backends,
        } = if is_distributed(config) {
            open_distributed(config, &settings.client, shutdown).await?
        } else {
            open_embedded(config, &settings.client).await?
        };

        let coordinator = Coordinator::new(
            config.coordinator.settings_with(&config.limits),
            ledger.clone(),
            broker.clone(),
            sources.clone(),
        );
        broker
            .declare()
            .await
            .context("declaring the broker's queues")?;
        let resumed = if sink.is_some() {
            resume(&coordinator).await?
        } else {
            0
        };

        let stop = CancellationToken::new();
        let (coordinator_task, api) = if embedded.api {
            let listen = config.coordinator.listen;
            let listener = TcpListener::bind(listen).await.with_context(|| {
                format!(
                    "binding coordinator.listen {listen} for the fleet's API (choose another address, port 0 for any free port, or set [embedded] api = false)"
                )
            })?;
            let addr = listener.local_addr()?;
            let task = tokio::spawn(coordinator.clone().run(listener, stop.clone()));
            (task, Some(addr))
        } else {
            let (c, stop) = (coordinator.clone(), stop.clone());
            let tick = c.config().tick;
            let task = tokio::spawn(async move {
                loop {
                    if let Err(e) = c.leader_tick().await {
                        warn!(error = %e, "leader tick failed; the next one retries");
                    }
                    tokio::select! {
                        _ = stop.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(tick) => {}
                    }
                }
            });
            (task, None)
        };

        let mut worker_tasks = JoinSet::new();
        for i in 0..embedded.workers {
            let mut worker_config = settings.worker.clone();
            worker_config.id = format!("{}-{i}", settings.worker.id);
            let worker = Worker::new(
                worker_config,
                ledger.clone(),
                broker.clone(),
                sources.clone(),
            )
            .map_err(|e| ConfigError(e.to_string()))?;
            let stop = stop.clone();
            worker_tasks.spawn(async move { worker.run(stop).await });
        }
        Ok(EmbeddedFleet {
            coordinator,
            sources,
            sink,
            backends,
            api,
            workers: embedded.workers,
            slots: settings.worker.concurrency,
            resumed,
            stop,
            coordinator_task,
            worker_tasks,
        })
    }

    /// The coordinator (submit, progress, cancel).
    pub fn coordinator(&self) -> &Coordinator {
        &self.coordinator
    }

    /// The source clients every worker shares (their counters: requests, 429s, refreshes).
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Where the API listens, if it is served.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api
    }

    /// Workers and job slots per worker.
    pub fn workers(&self) -> (usize, usize) {
        (self.workers, self.slots)
    }

    /// Slices whose jobs were published again at start (a resumed run).
    pub fn resumed(&self) -> u64 {
        self.resumed
    }

    /// The output directory, for the embedded variant.
    pub fn out_dir(&self) -> Option<&Path> {
        self.sink.as_deref().map(FileSinkBroker::dir)
    }

    /// Records written per (source, dataset) so far by this process (embedded only).
    pub fn written(&self) -> BTreeMap<(String, String), u64> {
        self.sink.as_ref().map(|s| s.counts()).unwrap_or_default()
    }

    /// Submits every `[[backfills]]` and `[[syncs]]` table of `config`. An identical
    /// request submitted earlier (a restart) is returned as it stands. A table the API
    /// refuses is a [`ConfigError`] naming `backfills[i].<field>`.
    pub async fn submit_configured(&self, config: &FleetConfig) -> anyhow::Result<Vec<Submitted>> {
        let mut out = Vec::new();
        for (kind, list, tables) in [
            (RequestKind::Backfill, "backfills", &config.backfills),
            (RequestKind::Sync, "syncs", &config.syncs),
        ] {
            for (i, table) in tables.iter().enumerate() {
                let origin = format!("{list}[{i}]");
                let body = table_json(table).to_string();
                out.push(self.submit(kind, &origin, body.as_bytes()).await?);
            }
        }
        Ok(out)
    }

    /// Submits one request (JSON body); a refusal is a [`ConfigError`] naming
    /// `<origin>.<field>`.
    pub async fn submit(
        &self,
        kind: RequestKind,
        origin: &str,
        body: &[u8],
    ) -> anyhow::Result<Submitted> {
        let submitted = match kind {
            RequestKind::Backfill => {
                self.coordinator
                    .submit_backfill_estimated(body)
                    .await
                    .map(|s| {
                        let estimate = match (&s.estimate, &s.estimate_error) {
                            (Some(e), _) => Some(format!("estimate: {}", e.describe())),
                            (None, Some(why)) => Some(format!("no estimate: {why}")),
                            (None, None) => None,
                        };
                        (s.record, s.created, estimate)
                    })
            }
            RequestKind::Sync => self
                .coordinator
                .submit_sync(body)
                .await
                .map(|(r, c)| (r, c, None)),
        };
        match submitted {
            Ok((record, created, estimate)) => {
                info!(request = %record.id, origin, created, "request submitted");
                Ok(Submitted {
                    id: record.id,
                    kind,
                    origin: origin.to_owned(),
                    created,
                    estimate,
                })
            }
            Err(ServiceError::Request(RequestError::Fields(fields))) => {
                let list: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{origin}.{}: {}", f.field, f.message))
                    .collect();
                Err(ConfigError(list.join("; ")).into())
            }
            Err(ServiceError::Request(RequestError::Syntax(e))) => {
                Err(ConfigError(format!("{origin}: {e}")).into())
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("submitting {origin}"))),
        }
    }

    /// The requests `ids` with their progress, in that order (unknown ones skipped).
    pub async fn views(&self, ids: &[String]) -> anyhow::Result<Vec<RequestView>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.coordinator.request(id).await {
                Ok(v) => out.push(v),
                Err(ServiceError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Shows the progress of `ids` on `board`, one row each (`row` labels it), every
    /// `poll`, until all of them have ended (only when `until_done`) or `shutdown` is
    /// cancelled. Returns the last views and whether `shutdown` ended the watch. A failed
    /// read of the progress is logged and tried again at the next poll.
    pub async fn watch(
        &self,
        ids: &[String],
        board: &mut Board,
        row: impl Fn(usize, &RequestView) -> Row,
        until_done: bool,
        poll: Duration,
        shutdown: &CancellationToken,
    ) -> (Vec<RequestView>, bool) {
        let mut last = Vec::new();
        loop {
            match self.views(ids).await {
                Ok(views) => last = views,
                Err(e) => warn!(error = %format!("{e:#}"), "cannot read progress"),
            }
            let rows: Vec<Row> = last.iter().enumerate().map(|(i, v)| row(i, v)).collect();
            board.update(&rows);
            let done =
                last.len() == ids.len() && last.iter().all(|v| v.request.state.is_terminal());
            if until_done && done {
                board.finish();
                return (last, false);
            }
            tokio::select! {
                _ = shutdown.cancelled() => {
                    board.finish();
                    return (last, true);
                }
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Stops the fleet: the workers drain (running jobs stop at their next page and keep
    /// their checkpoint), the coordinator and its API stop, the broker connection (if
    /// any) closes. Every record already confirmed is in its file.
    pub async fn stop(mut self) -> StopSummary {
        self.stop.cancel();
        let mut jobs = RunSummary::default();
        while let Some(joined) = self.worker_tasks.join_next().await {
            match joined {
                Ok(summary) => {
                    for (outcome, n) in summary.outcomes {
                        *jobs.outcomes.entry(outcome).or_default() += n;
                    }
                    jobs.abandoned += summary.abandoned;
                }
                Err(e) => warn!(error = %e, "a worker task failed"),
            }
        }
        match tokio::time::timeout(STOP_GRACE, &mut self.coordinator_task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => warn!(error = %e, "the coordinator stopped with an error"),
            Ok(Err(e)) => warn!(error = %e, "the coordinator task failed"),
            Err(_) => {
                warn!("the coordinator did not stop in time");
                self.coordinator_task.abort();
            }
        }
        if let Some(backends) = &self.backends {
            backends.close().await;
        }
        StopSummary {
            jobs,
            written: self.written(),
        }
    }
}

/// Publishes again the jobs of every queued or running slice of every unfinished
/// request: the in-memory broker that held them is gone with the previous process.
/// Slices still `Planned` are left to the planner (unfinished plans) and the leader
/// (sync windows), which publish them themselves. Returns how many were published.
async fn resume(coordinator: &Coordinator) -> anyhow::Result<u64> {
    let ledger = coordinator.ledger();
    let mut published = 0u64;
    let requests = ledger
        .list_requests(RESUME_SCAN)
        .await
        .context("reading the ledger")?;
    for request in requests.iter().filter(|r| !r.state.is_terminal()) {
        for state in [SliceState::Queued, SliceState::Running] {
            let mut after: Option<String> = None;
            loop {
                let page: Vec<SliceRecord> = ledger
                    .list_slices(&request.id, Some(state), after.as_deref(), RESUME_PAGE)
                    .await
                    .context("reading the ledger")?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                let refs: Vec<&SliceRecord> = page.iter().collect();
                coordinator
                    .planner()
                    .publish_jobs(&refs)
                    .await
                    .context("publishing resumed jobs")?;
                published += page.len() as u64;
            }
        }
    }
    if published > 0 {
        info!(
            slices = published,
            "resumed the unfinished slices of the previous run"
        );
    }
    Ok(published)
}

/// A configuration table as the API's JSON body: TOML dates and times become the strings
/// the API parses (`2024-01-01`, `2024-01-01T00:00:00Z`).
pub fn table_json(table: &toml::Table) -> serde_json::Value {
    serde_json::Value::Object(
        table
            .iter()
            .map(|(k, v)| (k.clone(), toml_json(v)))
            .collect(),
    )
}

fn toml_json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_json).collect()),
        toml::Value::Table(t) => table_json(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_tables_become_the_api_body() {
        let table: toml::Table = toml::from_str(
            "sources = [\"acme\"]\ndatasets = [\"jobs\"]\nfrom = 2024-01-01\nto = 2024-02-01T00:00:00Z\nselect = { jobs = [\"Id\"] }\n",
        )
        .unwrap();
        let json = table_json(&table);
        assert_eq!(json["from"], "2024-01-01");
        assert_eq!(json["to"], "2024-02-01T00:00:00Z");
        assert_eq!(json["select"]["jobs"][0], "Id");
        assert_eq!(json["sources"][0], "acme");
    }
}
