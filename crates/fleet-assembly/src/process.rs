//! The processes of a distributed fleet, assembled: a worker, a coordinator, a file sink.
//! Each starts in the same order — connect its backends (retried for the connect
//! timeout; `None` when told to stop meanwhile, see [`unless_stopped`]), build what it
//! runs, bind its listener — and then runs until its shutdown token is cancelled.
//! Printing what they do is the binary's part.

use std::net::SocketAddr;
use std::time::Duration;

use fleet_amqp::{AmqpBroker, AmqpConfig};
use fleet_coordinator::{Coordinator, CoordinatorConfig};
use fleet_core::broker::{Broker as _, Subscriber, Subscription};
use fleet_core::BrokerError;
use fleet_sink::{ConsumeOptions, ConsumeSummary, FileSink, SinkOptions, Target};
use fleet_worker::{RunSummary, Worker, WorkerConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use uipath_client::client::ClientOptions;
use uipath_client::SourceConfig;

use crate::backends::{BackendOptions, Backends};
use crate::connect::{patiently, unless_stopped};
use crate::error::{Context as _, Error};

/// How long the worker's health listener gets to finish its requests after it stopped.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// What a process on the fleet's backends is connected to and serves.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    pub backends: BackendOptions,
    /// How long each backend is tried at start.
    pub connect_timeout: Duration,
    /// The sources it reads.
    pub sources: Vec<SourceConfig>,
    /// Where its HTTP listener binds (the worker's probes, the coordinator's API).
    pub listen: SocketAddr,
}

/// Connects the backends, builds the sources' clients, binds the listener; `None` when
/// `shutdown` came while connecting.
async fn open(
    options: &ProcessOptions,
    client: &ClientOptions,
    listener_name: &str,
    shutdown: &CancellationToken,
) -> Result<Option<(Backends, fleet_reader::Sources, TcpListener)>, Error> {
    let connect = Backends::connect(&options.backends, options.connect_timeout, shutdown);
    let Some(backends) = unless_stopped(shutdown, connect).await? else {
        return Ok(None);
    };
    let sources = backends.sources(&options.sources, client)?;
    let listen = options.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listener_name} {listen}"))?;
    Ok(Some((backends, sources, listener)))
}

/// One worker process, started: jobs not taken yet, health listener serving.
pub struct WorkerProcess {
    worker: Worker,
    backends: Backends,
    addr: SocketAddr,
    stop_http: CancellationToken,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for WorkerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerProcess")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl WorkerProcess {
    /// Connects, builds the worker and serves its `/healthz`, `/readyz` and `/metrics`.
    pub async fn start(
        options: &ProcessOptions,
        worker: WorkerConfig,
        client: &ClientOptions,
        shutdown: &CancellationToken,
    ) -> Result<Option<WorkerProcess>, Error> {
        let Some((backends, sources, listener)) =
            open(options, client, "worker.listen", shutdown).await?
        else {
            return Ok(None);
        };
        let broker = std::sync::Arc::new(backends.broker.clone());
        let worker = Worker::new(worker, backends.ledger(), broker, sources)
            .map_err(|e| Error::Config(e.to_string()))?;
        let addr = listener.local_addr().context("reading worker.listen")?;
        let stop_http = CancellationToken::new();
        let http = tokio::spawn(fleet_worker::http::serve(
            worker.clone(),
            listener,
            stop_http.clone(),
        ));
        Ok(Some(WorkerProcess {
            worker,
            backends,
            addr,
            stop_http,
            http,
        }))
    }

    /// Where health and metrics are served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Works jobs until `shutdown`, drains, stops the listener and closes the broker.
    pub async fn run(mut self, shutdown: CancellationToken) -> RunSummary {
        let summary = self.worker.run(shutdown).await;
        self.stop_http.cancel();
        join_within(&mut self.http, HTTP_GRACE, "the health listener").await;
        self.backends.close().await;
        summary
    }
}

/// Waits up to `grace` for a task told to stop (`what` names it in logs): its failure is
/// logged, and a task still running then is aborted.
pub(crate) async fn join_within<E: std::fmt::Display>(
    task: &mut tokio::task::JoinHandle<Result<(), E>>,
    grace: Duration,
    what: &str,
) {
    match tokio::time::timeout(grace, &mut *task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => warn!(error = %e, "{what} stopped with an error"),
        Ok(Err(e)) => warn!(error = %e, "{what} task failed"),
        Err(_) => {
            warn!("{what} did not stop in time");
            task.abort();
        }
    }
}

/// One coordinator process, started: its API bound, not serving yet.
pub struct CoordinatorProcess {
    coordinator: Coordinator,
    backends: Backends,
    listener: TcpListener,
}

impl std::fmt::Debug for CoordinatorProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorProcess")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl CoordinatorProcess {
    /// Connects, builds the coordinator on the fleet's backends and binds its API.
    pub async fn start(
        options: &ProcessOptions,
        coordinator: CoordinatorConfig,
        shutdown: &CancellationToken,
    ) -> Result<Option<CoordinatorProcess>, Error> {
        let client = ClientOptions::default();
        let Some((backends, sources, listener)) =
            open(options, &client, "coordinator.listen", shutdown).await?
        else {
            return Ok(None);
        };
        let broker = std::sync::Arc::new(backends.broker.clone());
        let coordinator = Coordinator::new(coordinator, backends.ledger(), broker, sources);
        Ok(Some(CoordinatorProcess {
            coordinator,
            backends,
            listener,
        }))
    }

    /// Where the API listens.
    pub fn addr(&self) -> Result<SocketAddr, Error> {
        self.listener
            .local_addr()
            .context("reading coordinator.listen")
    }

    /// Serves the API and leads until `shutdown`, then closes the broker connection.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let served = self.coordinator.run(self.listener, shutdown).await;
        self.backends.close().await;
        served.context("running the coordinator")
    }
}

/// Where a file sink process reads from and writes to.
#[derive(Debug, Clone)]
pub struct SinkProcessOptions {
    pub amqp: AmqpConfig,
    /// How long RabbitMQ is tried at start.
    pub connect_timeout: Duration,
    /// The sink's queue and the records it binds.
    pub subscription: Subscription,
    /// Consume a throwaway queue that RabbitMQ deletes when the process ends, instead of
    /// the durable one.
    pub throwaway: bool,
    pub target: Target,
    pub sink: SinkOptions,
    pub consume: ConsumeOptions,
}

/// A file sink process, started: its output open, its queue declared and subscribed.
pub struct SinkProcess {
    broker: AmqpBroker,
    subscriber: Box<dyn Subscriber>,
    queue: String,
    sink: FileSink,
    consume: ConsumeOptions,
}

impl std::fmt::Debug for SinkProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkProcess")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl SinkProcess {
    /// Opens the output (a directory is locked: one sink per directory), connects
    /// RabbitMQ, declares the topology and subscribes the sink's queue.
    pub async fn start(
        options: SinkProcessOptions,
        shutdown: &CancellationToken,
    ) -> Result<Option<SinkProcess>, Error> {
        let shown = match &options.target {
            Target::Dir(dir) => dir.display().to_string(),
            Target::Stdout => "stdout".to_owned(),
        };
        let sink = FileSink::open_with(options.target, options.sink)
            .with_context(|| format!("opening the sink's output {shown}"))?;
        let amqp = &options.amqp;
        let what = format!("RabbitMQ at {}", amqp.redacted_url());
        let wait = options.connect_timeout;
        let (sub, throwaway) = (&options.subscription, options.throwaway);
        let connected = async {
            let broker = patiently(&what, wait, shutdown, BrokerError::is_transient, || {
                AmqpBroker::connect(amqp.clone())
            })
            .await?;
            let b = &broker;
            let subscribed = patiently(
                &what,
                wait,
                shutdown,
                BrokerError::is_transient,
                move || async move {
                    b.declare().await?;
                    if throwaway {
                        b.subscribe_throwaway(sub.clone()).await
                    } else {
                        let queue = b.names().subscription(&sub.queue);
                        Ok((queue, b.subscribe(sub.clone()).await?))
                    }
                },
            )
            .await
            .context("declaring the sink's queue")?;
            Ok((broker, subscribed))
        };
        let Some((broker, (queue, subscriber))) = unless_stopped(shutdown, connected).await? else {
            return Ok(None);
        };
        Ok(Some(SinkProcess {
            broker,
            subscriber,
            queue,
            sink,
            consume: options.consume,
        }))
    }

    /// The queue consumed.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Consumes until `shutdown` — batches written, flushed to disk, then acknowledged;
    /// at shutdown the last batch is flushed and acknowledged — and closes the
    /// connection. Returns what was consumed and the sink (its counts).
    pub async fn run(
        mut self,
        shutdown: CancellationToken,
    ) -> Result<(ConsumeSummary, FileSink), Error> {
        let result =
            fleet_sink::consume(self.subscriber, &mut self.sink, self.consume, shutdown).await;
        self.broker.close().await;
        let summary = result.context("consuming records")?;
        Ok((summary, self.sink))
    }
}
