//! The fleet in one process: a coordinator and N workers sharing one ledger, one broker,
//! one token cache and one rate limiter (what `uipath-fleet run` and `demo` start, and
//! what tests drive).
//!
//! Two variants, chosen by [`FleetBackends`]:
//!
//! - **Embedded**: an in-process broker ([`fleet_memory::MemoryBroker`]) behind the file
//!   sink ([`FileSinkBroker`]), the ledger in a journal file in the state directory
//!   ([`fleet_memory::FileLedger`]), an in-process rate limiter, and the records written
//!   to newline-delimited JSON files in the output directory.
//! - **Distributed**: the same coordinator and workers on RabbitMQ and Redis
//!   ([`Backends::connect`]); records go to the broker's output queues for downstream
//!   consumers, no files are written here.
//!
//! # Guarantees of the embedded variant
//!
//! - **Records are on disk before the broker confirms them** ([`FileSinkBroker`]), and a
//!   worker checkpoints a page only after that. So a checkpoint in the ledger means the
//!   page's records are in the files, and a crash (even SIGKILL) loses nothing: at most
//!   the page in flight is written again after the restart.
//! - **Restarts resume.** The in-memory broker's jobs die with the process, the ledger
//!   does not: at start, every slice of an unfinished request that is queued or running
//!   gets its job published again ([`fleet_coordinator::leader::resume`]), and the worker
//!   resumes it from its checkpoint. Plans interrupted half-way are finished by the
//!   coordinator's leader as usual.
//! - **Tokens** live in the configured token cache, so refresh tokens survive restarts.
//! - **One process per state directory.** The ledger file is locked, as is the output
//!   directory, so a second fleet on the same state fails at start instead of sharing it.
//!
//! The coordinator's HTTP API is served when [`FleetOptions::api`] names an address;
//! without it the coordinator leads headless (no lease: it is its ledger's only one).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fleet_coordinator::service::RequestView;
use fleet_coordinator::CoordinatorError;
use fleet_coordinator::{Coordinator, CoordinatorConfig};
use fleet_core::broker::Broker;
use fleet_core::ledger::{Ledger, RequestKind};
use fleet_core::plan::RequestError;
use fleet_core::{LimiterConfig, RateLimiter};
use fleet_memory::{FileLedger, MemoryBroker, MemoryRateLimiter};
use fleet_reader::Sources;
use fleet_sink::{FileSinkBroker, SinkOptions};
use fleet_worker::{RunSummary, Worker, WorkerConfig};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uipath_client::client::ClientOptions;
use uipath_client::SourceConfig;

use crate::backends::{build_sources, BackendOptions, Backends};
use crate::connect::unless_stopped;
use crate::error::{Context as _, Error};
use crate::process::join_within;
use crate::token_store::{TokenStore, TokenStoreOptions};

/// The ledger journal's file name inside the state directory.
pub const LEDGER_FILE: &str = "ledger.journal";

/// How long the coordinator's API gets to stop after the fleet was told to.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The embedded variant's file sink in front of its in-process broker.
type SinkBroker = FileSinkBroker<MemoryBroker>;

/// What a fleet in one process runs, on which backends.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// The sources the fleet reads.
    pub sources: Vec<SourceConfig>,
    pub coordinator: CoordinatorConfig,
    /// Every worker's settings; worker `i` gets the id `<worker.id>-<i>`.
    pub worker: WorkerConfig,
    /// The sources' client settings (`max_wait` before a job is deferred).
    pub client: ClientOptions,
    /// How many workers.
    pub workers: usize,
    /// Where the coordinator's API listens; `None`: not served.
    pub api: Option<SocketAddr>,
    pub backends: FleetBackends,
}

/// The backends of a fleet in one process.
#[derive(Debug, Clone)]
pub enum FleetBackends {
    /// In-process broker, ledger file and file sink.
    Embedded(EmbeddedBackends),
    /// RabbitMQ and Redis, each tried for up to `connect_timeout` at start.
    Distributed {
        backends: BackendOptions,
        connect_timeout: Duration,
    },
}

/// Where the embedded variant keeps its state and writes its records.
#[derive(Debug, Clone)]
pub struct EmbeddedBackends {
    /// Holds the ledger journal ([`LEDGER_FILE`]).
    pub state_dir: PathBuf,
    /// Where the records are written.
    pub out_dir: PathBuf,
    pub sink: SinkOptions,
    pub tokens: TokenStoreOptions,
    pub limits: LimiterConfig,
}

/// A request submitted to the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub id: String,
    pub kind: RequestKind,
    /// `backfills[0]`, `syncs[1]`: where it comes from.
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
    sink: Option<Arc<SinkBroker>>,
    backends: Option<Backends>,
    api: Option<SocketAddr>,
    workers: usize,
    slots: usize,
    resumed: u64,
    stop: CancellationToken,
    coordinator_task: tokio::task::JoinHandle<Result<(), CoordinatorError>>,
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

/// The backends of a fleet, opened, and the clients of its sources.
struct Opened {
    ledger: Arc<dyn Ledger>,
    broker: Arc<dyn Broker>,
    sources: Sources,
    /// The embedded variant's broker, for its file counts.
    sink: Option<Arc<SinkBroker>>,
    /// The distributed variant's connections, closed at the end.
    backends: Option<Backends>,
}

/// RabbitMQ and Redis, as a distributed fleet process connects to them.
async fn open_distributed(
    options: &FleetOptions,
    backends: &BackendOptions,
    wait: Duration,
    shutdown: &CancellationToken,
) -> Result<Opened, Error> {
    let backends = Backends::connect(backends, wait, shutdown).await?;
    let sources = backends.sources(&options.sources, &options.client)?;
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
async fn open_embedded(
    options: &FleetOptions,
    embedded: &EmbeddedBackends,
) -> Result<Opened, Error> {
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
    let tokens = TokenStore::open(embedded.tokens.clone()).await?;
    let limiter: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new(embedded.limits.clone()));
    let sources = build_sources(&options.sources, &tokens, limiter, &options.client)?;
    let out = &embedded.out_dir;
    let sink = FileSinkBroker::open(MemoryBroker::default(), out, embedded.sink)
        .with_context(|| format!("opening the output directory {}", out.display()))?;
    let sink = Arc::new(sink);
    info!(
        state = %state.display(),
        out = %out.display(),
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
    /// Opens the backends `options` name, resumes what a previous run of this state left
    /// unfinished, and starts the coordinator (and its API) and the workers. Returns once
    /// everything runs, or `None` when `shutdown` interrupted the start (connecting);
    /// stop a started fleet with [`EmbeddedFleet::stop`].
    pub async fn start(
        options: &FleetOptions,
        shutdown: &CancellationToken,
    ) -> Result<Option<EmbeddedFleet>, Error> {
        let opened = unless_stopped(shutdown, async {
            match &options.backends {
                FleetBackends::Distributed {
                    backends,
                    connect_timeout,
                } => open_distributed(options, backends, *connect_timeout, shutdown).await,
                FleetBackends::Embedded(embedded) => open_embedded(options, embedded).await,
            }
        });
        let Some(Opened {
            ledger,
            broker,
            sources,
            sink,
            backends,
        }) = opened.await?
        else {
            return Ok(None);
        };

        let coordinator = Coordinator::new(
            options.coordinator.clone(),
            ledger.clone(),
            broker.clone(),
            sources.clone(),
        );
        broker
            .declare()
            .await
            .context("declaring the broker's queues")?;
        let resumed = if sink.is_some() {
            fleet_coordinator::leader::resume(coordinator.planner())
                .await
                .context("resuming the slices of the previous run")?
        } else {
            0
        };

        let stop = CancellationToken::new();
        let (coordinator_task, api) = match options.api {
            Some(listen) => {
                let listener = TcpListener::bind(listen).await.with_context(|| {
                    format!(
                        "binding coordinator.listen {listen} for the fleet's API (choose another address, port 0 for any free port, or set [embedded] api = false)"
                    )
                })?;
                let addr = listener.local_addr().context("reading the API's address")?;
                let task = tokio::spawn(coordinator.clone().run(listener, stop.clone()));
                (task, Some(addr))
            }
            None => {
                let (c, stop) = (coordinator.clone(), stop.clone());
                let task = tokio::spawn(async move {
                    c.lead(stop).await;
                    Ok(())
                });
                (task, None)
            }
        };

        let mut worker_tasks = JoinSet::new();
        for i in 0..options.workers {
            let mut config = options.worker.clone();
            config.id = format!("{}-{i}", options.worker.id);
            let worker = Worker::new(config, ledger.clone(), broker.clone(), sources.clone())
                .map_err(|e| Error::Config(e.to_string()))?;
            let stop = stop.clone();
            worker_tasks.spawn(async move { worker.run(stop).await });
        }
        Ok(Some(EmbeddedFleet {
            coordinator,
            sources,
            sink,
            backends,
            api,
            workers: options.workers,
            slots: options.worker.concurrency,
            resumed,
            stop,
            coordinator_task,
            worker_tasks,
        }))
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
        self.sink.as_deref().map(SinkBroker::dir)
    }

    /// Records written per (source, dataset) so far by this process (embedded only).
    pub fn written(&self) -> BTreeMap<(String, String), u64> {
        self.sink.as_ref().map(|s| s.counts()).unwrap_or_default()
    }

    /// Submits one request (JSON body); a refusal is an [`Error::Config`] naming
    /// `<origin>.<field>`. An identical request submitted earlier (a restart) is returned
    /// as it stands.
    pub async fn submit(
        &self,
        kind: RequestKind,
        origin: &str,
        body: &[u8],
    ) -> Result<Submitted, Error> {
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
            Err(CoordinatorError::Request(RequestError::Fields(fields))) => {
                let list: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{origin}.{}: {}", f.field, f.message))
                    .collect();
                Err(Error::Config(list.join("; ")))
            }
            Err(CoordinatorError::Request(RequestError::Syntax(e))) => {
                Err(Error::Config(format!("{origin}: {e}")))
            }
            Err(e) => Err(e).context(format!("submitting {origin}")),
        }
    }

    /// The requests `ids` with their progress, in that order (unknown ones skipped).
    pub async fn views(&self, ids: &[String]) -> Result<Vec<RequestView>, CoordinatorError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.coordinator.request(id).await {
                Ok(v) => out.push(v),
                Err(CoordinatorError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Reads the progress of `ids` every `poll` and hands it to `show`, until all of them
    /// have ended (only when `until_done`) or `shutdown` is cancelled. Returns the last
    /// views and whether `shutdown` ended the watch. A failed read of the progress is
    /// logged and tried again at the next poll.
    pub async fn watch(
        &self,
        ids: &[String],
        until_done: bool,
        poll: Duration,
        shutdown: &CancellationToken,
        mut show: impl FnMut(&[RequestView]),
    ) -> (Vec<RequestView>, bool) {
        let mut last = Vec::new();
        loop {
            match self.views(ids).await {
                Ok(views) => last = views,
                Err(e) => warn!(error = %e, "cannot read progress"),
            }
            show(&last);
            let done =
                last.len() == ids.len() && last.iter().all(|v| v.request.state.is_terminal());
            if until_done && done {
                return (last, false);
            }
            tokio::select! {
                _ = shutdown.cancelled() => return (last, true),
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
                Ok(summary) => jobs.merge(summary),
                Err(e) => warn!(error = %e, "a worker task failed"),
            }
        }
        join_within(&mut self.coordinator_task, STOP_GRACE, "the coordinator").await;
        if let Some(backends) = &self.backends {
            backends.close().await;
        }
        StopSummary {
            jobs,
            written: self.written(),
        }
    }
}
