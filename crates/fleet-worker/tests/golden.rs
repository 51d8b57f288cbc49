//! Golden captures of every message kind the fleet publishes, driven through the real code
//! paths (the coordinator's planner and leader, the worker's page loop and settlements) on
//! the in-process broker and the simulator.
//!
//! Every message a publish confirmed is captured with its destination, message id,
//! headers and body, then normalised: values that change from run to run (times, ids,
//! counts, record contents) become placeholders, so the many records of one kind collapse
//! into one entry. The distinct entries are compared with `tests/golden/<scenario>.json`;
//! `UPDATE_GOLDEN=1` rewrites the files. A change to a header or a body field of any kind
//! shows up as a diff of those files.

mod common;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::{acme, generous_limits, sim_config, start_sim};
use fleet_coordinator::{Coordinator, CoordinatorConfig};
use fleet_core::broker::{Delivery, Depths, Destination, Outgoing, Subscriber, Subscription};
use fleet_core::ledger::RequestState;
use fleet_core::{Broker, BrokerError, Ledger, Sealer};
use fleet_memory::{FileLedger, MemoryBroker, MemoryRateLimiter, MemoryTokenCache};
use fleet_reader::Sources;
use fleet_testkit::golden::{assert_golden, destination};
use fleet_worker::{OutputMode, Worker, WorkerConfig};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uipath_client::client::ClientOptions;
use uipath_client::UipathClient;
use uipath_sim::config::SimConfig;
use uipath_sim::server::RunningSim;

/// The in-process broker, keeping a copy of every message it confirmed.
#[derive(Clone)]
struct Capture {
    inner: MemoryBroker,
    log: Arc<Mutex<Vec<Outgoing>>>,
}

impl Capture {
    fn new(inner: MemoryBroker) -> Capture {
        Capture {
            inner,
            log: Arc::default(),
        }
    }
    fn take(&self) -> Vec<Outgoing> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

#[async_trait]
impl Broker for Capture {
    async fn declare(&self) -> Result<(), BrokerError> {
        self.inner.declare().await
    }
    async fn publish(&self, batch: Vec<Outgoing>) -> Result<(), BrokerError> {
        self.inner.publish(batch.clone()).await?;
        self.log.lock().unwrap().extend(batch);
        Ok(())
    }
    async fn next_job(&self, wait: Duration) -> Result<Option<Delivery>, BrokerError> {
        self.inner.next_job(wait).await
    }
    async fn subscribe(&self, s: Subscription) -> Result<Box<dyn Subscriber>, BrokerError> {
        self.inner.subscribe(s).await
    }
    async fn depths(&self) -> Result<Depths, BrokerError> {
        self.inner.depths().await
    }
    async fn ready(&self) -> bool {
        self.inner.ready().await
    }
}

fn one_folder(days: u32) -> SimConfig {
    let mut c = sim_config(days);
    c.data.folders = vec!["Finance".into()];
    c
}

/// A fleet on the in-process backends: the capturing broker, a memory ledger, the
/// simulator's `acme` source with in-memory tokens and budgets.
struct Fleet {
    broker: Capture,
    ledger: FileLedger,
    coordinator: Coordinator,
    sources: Sources,
}

impl Fleet {
    async fn new(sim: &RunningSim, bound: bool) -> Fleet {
        let mut memory = MemoryBroker::new(5);
        if bound {
            memory = memory.with_output_queue("out", ["#"]);
        }
        let broker = Capture::new(memory);
        broker.declare().await.unwrap();
        let ledger = FileLedger::memory();
        let tokens = Arc::new(MemoryTokenCache::new(Sealer::plain()));
        let limiter = Arc::new(MemoryRateLimiter::new(generous_limits()));
        let options = ClientOptions {
            min_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ..ClientOptions::default()
        };
        let sources = Sources::new([Arc::new(
            UipathClient::new(acme(sim), tokens, limiter, options).expect("client builds"),
        )]);
        let config = CoordinatorConfig {
            lease_ttl: Duration::from_secs(2),
            plan_lease_ttl: Duration::from_secs(2),
            tick: Duration::from_millis(200),
            ..CoordinatorConfig::default()
        };
        let coordinator = Coordinator::new(
            config,
            Arc::new(ledger.clone()),
            Arc::new(broker.clone()),
            sources.clone(),
        );
        Fleet {
            broker,
            ledger,
            coordinator,
            sources,
        }
    }

    fn worker(&self, config: WorkerConfig) -> Worker {
        Worker::new(
            config,
            Arc::new(self.ledger.clone()),
            Arc::new(self.broker.clone()),
            self.sources.clone(),
        )
        .expect("worker builds")
    }

    /// Submits a one-day backfill of `jobs`, runs a worker with `config` and the leader
    /// until the request has finished, and returns what was published.
    async fn backfill(&self, config: WorkerConfig, end: RequestState) -> Vec<Outgoing> {
        let body = json!({
            "sources": ["acme"], "datasets": ["jobs"],
            "from": "2024-01-01", "to": "2024-01-02", "slice_width": "1d"
        });
        let (request, _) = self
            .coordinator
            .submit_backfill(body.to_string().as_bytes())
            .await
            .expect("backfill accepted");
        let stop = CancellationToken::new();
        let worker = self.worker(config);
        let task = tokio::spawn({
            let stop = stop.clone();
            async move { worker.run(stop).await }
        });
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            self.coordinator.leader_tick().await.expect("leader tick");
            let r = self.ledger.get_request(&request.id).await.unwrap().unwrap();
            if r.state == end {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "request not {end:?} after 40 s: {:?}",
                r.state
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.cancel();
        task.await.expect("worker task");
        self.broker.take()
    }
}

fn quick(output: OutputMode) -> WorkerConfig {
    WorkerConfig {
        concurrency: 2,
        output,
        poll: Duration::from_millis(50),
        ..WorkerConfig::default()
    }
}

fn kinds(messages: &[Outgoing]) -> BTreeSet<String> {
    messages
        .iter()
        .map(|m| destination(&m.destination))
        .collect()
}

// ---- scenarios ----------------------------------------------------------------------

/// Planner jobs, split children (a small record budget), record-shape messages,
/// `slice.completed` and `request.completed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_jobs_records_splits_and_events() {
    let mut c = one_folder(2);
    c.data.jobs_per_day = 300.0;
    let sim = start_sim(c).await;
    let fleet = Fleet::new(&sim, true).await;
    let config = WorkerConfig {
        page_size: Some(50),
        record_budget: 100,
        ..quick(OutputMode::Record)
    };
    let messages = fleet.backfill(config, RequestState::Completed).await;
    let seen = kinds(&messages);
    for k in [
        "jobs.backfill",
        "records acme.jobs",
        "events slice.completed",
        "events request.completed",
    ] {
        assert!(seen.contains(k), "no `{k}` message among {seen:?}");
    }
    assert!(
        messages.iter().any(|m| {
            matches!(m.destination, Destination::Jobs(_))
                && serde_json::from_slice::<Value>(&m.body).unwrap()["parent"].is_string()
        }),
        "no split child was published; the record budget should split the day"
    );
    assert_golden(GOLDEN, "record_shape", &messages);
    sim.stop().await;
}

/// Page-shape messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_pages() {
    let sim = start_sim(one_folder(2)).await;
    let fleet = Fleet::new(&sim, true).await;
    let messages = fleet
        .backfill(quick(OutputMode::Page), RequestState::Completed)
        .await;
    assert!(kinds(&messages).contains("records acme.jobs"));
    assert_golden(GOLDEN, "page_shape", &messages);
    sim.stop().await;
}

/// No queue bound for the records: the job goes to a delay queue (a retry copy), comes
/// back, fails again and is given up: dead letter, `slice.failed`, `request.completed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_retry_copy_dead_letter_and_failure_events() {
    let sim = start_sim(one_folder(2)).await;
    let fleet = Fleet::new(&sim, false).await;
    let config = WorkerConfig {
        max_attempts: 2,
        ..quick(OutputMode::Record)
    };
    let messages = fleet.backfill(config, RequestState::Failed).await;
    let seen = kinds(&messages);
    for k in [
        "jobs.backfill",
        "retry.backfill.1s",
        "dead",
        "events slice.failed",
        "events request.completed",
    ] {
        assert!(seen.contains(k), "no `{k}` message among {seen:?}");
    }
    assert_golden(GOLDEN, "retry_and_give_up", &messages);
    sim.stop().await;
}

/// Jobs no worker can run: a body that is not JSON, a job of a newer wire version, and a
/// job for a source the worker does not have. Each is dead-lettered with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_rejected_jobs() {
    let sim = start_sim(one_folder(1)).await;
    let fleet = Fleet::new(&sim, true).await;
    let job = |source: &str, version: u32| {
        json!({
            "version": version,
            "slice_id": "0123456789abcdef0123456789abcdef",
            "request_id": "bf-0123456789abcdef0123",
            "lane": "backfill",
            "source": source,
            "dataset": "jobs",
            "from": "2024-01-01T00:00:00Z",
            "to": "2024-01-02T00:00:00Z",
            "attempt": 0
        })
        .to_string()
        .into_bytes()
    };
    let lane = Destination::Jobs(fleet_core::wire::Lane::Backfill);
    let with_headers = |m: Outgoing, version: &str, source: &str| {
        m.header("x-fleet-version", version)
            .header("x-fleet-source", source)
            .header("x-fleet-dataset", "jobs")
            .header("x-fleet-slice", "0123456789abcdef0123456789abcdef")
            .header("x-fleet-request", "bf-0123456789abcdef0123")
    };
    fleet
        .broker
        .publish(vec![
            Outgoing::new(lane.clone(), "junk-1", b"not json".to_vec()),
            with_headers(
                Outgoing::new(lane.clone(), "newer-1", job("acme", 9)),
                "9",
                "acme",
            ),
            with_headers(
                Outgoing::new(lane.clone(), "nosource-1", job("nope", 2)),
                "2",
                "nope",
            ),
        ])
        .await
        .unwrap();
    fleet.broker.take();
    let stop = CancellationToken::new();
    let worker = fleet.worker(quick(OutputMode::Record));
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { worker.run(stop).await }
    });
    fleet_testkit::wait_until(
        "three dead letters",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async { fleet.broker.depths().await.unwrap().dead == 3 },
    )
    .await
    .unwrap();
    stop.cancel();
    task.await.unwrap();
    let messages = fleet.broker.take();
    assert!(kinds(&messages).contains("dead"));
    assert_golden(GOLDEN, "rejected_jobs", &messages);
    sim.stop().await;
}

/// A sync of a set read as snapshots (Machines): sync-lane jobs with `read` = `snapshot`,
/// records ordered by `observed-at`, and a tombstone for a machine the stored snapshot
/// holds and the tenant does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_snapshot_sync() {
    let sim = start_sim(one_folder(1)).await;
    let fleet = Fleet::new(&sim, true).await;
    let start = chrono::Utc::now() - chrono::Duration::minutes(3);
    let body = json!({
        "sources": ["acme"], "datasets": ["machines"], "every": "1m",
        "lookback": "0s", "settle": "0s", "start": start.to_rfc3339()
    });
    let (request, _) = fleet
        .coordinator
        .submit_sync(body.to_string().as_bytes())
        .await
        .expect("sync accepted");
    // The stream's previous snapshot, as a worker would have stored it, with one machine
    // the simulator does not have: the first window finds it gone.
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        fleet.coordinator.leader_tick().await.expect("leader tick");
        let slices = fleet
            .ledger
            .list_slices(&request.id, None, None, 10)
            .await
            .unwrap();
        if let Some(stream) = slices.first().and_then(|s| s.stream.clone()) {
            break stream;
        }
        assert!(Instant::now() < deadline, "no sync window planned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let gone = [(
        "990001".to_owned(),
        "9f86d081884c7d659a2feaa0c55ad015".to_owned(),
    )];
    let stored = fleet
        .ledger
        .store_snapshot(&request.id, &stream, 0, &gone.into(), start)
        .await
        .unwrap();
    assert!(stored, "the seeded snapshot is the stream's first");
    let stop = CancellationToken::new();
    let worker = fleet.worker(quick(OutputMode::Record));
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { worker.run(stop).await }
    });
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        fleet.coordinator.leader_tick().await.expect("leader tick");
        let p = fleet.ledger.progress(&request.id).await.unwrap();
        if p.completed > 0 && p.done() == p.total() {
            break;
        }
        assert!(Instant::now() < deadline, "no sync window done: {p:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    task.await.expect("worker task");
    let messages = fleet.broker.take();
    let seen = kinds(&messages);
    for k in [
        "jobs.sync",
        "records acme.machines",
        "events slice.completed",
    ] {
        assert!(seen.contains(k), "no `{k}` message among {seen:?}");
    }
    assert!(
        messages
            .iter()
            .any(|m| m.headers.get("x-fleet-op").map(String::as_str) == Some("delete")),
        "no tombstone for the machine that is gone"
    );
    assert_golden(GOLDEN, "snapshot_sync", &messages);
    sim.stop().await;
}
