//! Backfills of ~30,000 records under faults, one fault per test: UiPath answering 5xx
//! and broken bodies, a 429 storm, access tokens revoked mid-run, the broker connection
//! of one worker cut mid-run, and ledger replies lost after Redis applied the change.
//! Each test injects its fault, checks that it really happened (simulator counters,
//! worker metrics, `rabbitmqctl`, the lossy ledger's count), and then asserts what the
//! worker promises:
//!
//! - no record lost: everything the simulator holds arrived on the output queue, nothing
//!   foreign;
//! - duplicates bounded: a job run that ends without completing may repeat at most the
//!   one page it published but had not checkpointed, so duplicates ≤ (re-claims of slices,
//!   from the ledger's attempt counts, + publishes cut by a broker fault) × page size;
//! - every slice terminal: completed (with its `slice.completed` event), or failed with a
//!   reason in the ledger and its job in the dead-letter queue;
//! - the ledger counts each record once (checkpoints are per slice holder).

mod common;

use std::collections::BTreeMap;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::*;
use fleet_amqp::{AmqpBroker, AmqpConfig, OutputQueue};
use fleet_coordinator::Coordinator;
use fleet_core::broker::{Feed, Subscription};
use fleet_core::ledger::{
    Outcome, Progress, RequestRecord, RequestState, SliceRecord, SliceState, StreamState,
    Transition,
};
use fleet_core::wire::{headers, Event, EventBody};
use fleet_core::{Broker, Ledger, LedgerError};
use fleet_reader::Sources;
use fleet_redis::RedisLedger;
use fleet_worker::{OutputMode, Worker, WorkerConfig};
use serde_json::{json, Value};
use uipath_client::client::{ClientOptions, StatsSnapshot};
use uipath_sim::server::RunningSim;

const FROM: &str = "2024-01-01T00:00:00Z";
const TO: &str = "2024-01-15T00:00:00Z";
const DATASETS: [&str; 3] = ["jobs", "queue-items", "queue-item-events"];
const WORKERS: usize = 4;
const CONCURRENCY: usize = 3;
/// Records per page for every dataset: small pages mean many checkpoints, so faults
/// land between them.
const PAGE: u64 = 100;

/// 14 days × 3 folders × 3 datasets at 250 records per folder and day: ~31,500 records.
fn fault_sim() -> uipath_sim::config::SimConfig {
    let mut c = sim_config(14);
    c.data.jobs_per_day = 250.0;
    c.data.queue_items_per_day = 250.0;
    c.data.queue_item_events_per_day = 250.0;
    c
}

/// A fleet under test: simulator, backends, coordinator, workers, output consumer.
struct Fleet {
    sim: RunningSim,
    b: Backends,
    coordinator: Coordinator,
    workers: Vec<Running>,
    /// The AMQP connection name of each worker, for `rabbitmqctl`.
    connections: Vec<String>,
    out: Box<dyn fleet_core::broker::Subscriber>,
    events: Box<dyn fleet_core::broker::Subscriber>,
    http: reqwest::Client,
    expected: HashSet<String>,
    /// The workers' ledger when it loses replies.
    lossy: Option<Arc<LossyLedger>>,
    started: Instant,
    _guard: OnPanic,
}

/// What a finished run measured.
#[derive(Debug)]
struct Report {
    records: usize,
    duplicates: u64,
    reclaims: u64,
    bound: u64,
    failed: u64,
    seconds: f64,
}

impl Fleet {
    /// Starts everything and reads the reference data while no fault is configured;
    /// the simulator's counters are reset afterwards, so they count the run only.
    async fn start(test: &str, options: ClientOptions) -> Fleet {
        Fleet::start_with(test, options, 0).await
    }

    /// [`Fleet::start`] with workers whose ledger loses the reply of every
    /// `lose_every`-th slice transition it has applied (0: none).
    async fn start_with(test: &str, options: ClientOptions, lose_every: u64) -> Fleet {
        let started = Instant::now();
        let sim = start_sim(fault_sim()).await;
        let b = Backends::connect(test).await;
        let guard = OnPanic(b.clone());
        let reference = b
            .sources(&[acme(&sim)], generous_limits(), options.clone())
            .await;
        let expected = reference_ids(&reference, "acme", &DATASETS, &FOLDERS, FROM, TO).await;
        assert!(expected.len() > 25_000, "{}", expected.len());
        let out = b.output().await;
        let events = b
            .amqp
            .subscribe(Subscription {
                queue: "test-events".into(),
                feed: Feed::Events {
                    patterns: vec!["slice.*".into()],
                },
                prefetch: 500,
            })
            .await
            .expect("subscribe to events");
        let coordinator = b.coordinator(reference);
        let lossy =
            (lose_every > 0).then(|| Arc::new(LossyLedger::new(b.ledger.clone(), lose_every)));
        let ledger: Arc<dyn Ledger> = match &lossy {
            Some(l) => l.clone(),
            None => Arc::new(b.ledger.clone()),
        };
        let mut workers = Vec::new();
        let mut connections = Vec::new();
        for n in 0..WORKERS {
            let name = format!("{}-worker-{n}", b.prefix);
            let sources = b
                .sources(&[acme(&sim)], generous_limits(), options.clone())
                .await;
            let config = WorkerConfig {
                id: format!("w{n}"),
                concurrency: CONCURRENCY,
                output: OutputMode::Record,
                page_size: Some(PAGE as u32),
                infra_patience: Duration::from_secs(60),
                ..WorkerConfig::default()
            };
            let w = worker(&b, &name, config, ledger.clone(), sources).await;
            workers.push(Running::start(w));
            connections.push(name);
        }
        let fleet = Fleet {
            sim,
            b,
            coordinator,
            workers,
            connections,
            out,
            events,
            http: reqwest::Client::new(),
            expected,
            lossy,
            started,
            _guard: guard,
        };
        fleet.control("POST", "/_sim/stats/reset", None).await;
        fleet
    }

    /// A call to the simulator's control API; its JSON answer (`null` when empty).
    async fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.sim.base_url());
        let req = match method {
            "PUT" => self.http.put(&url),
            "POST" => self.http.post(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.get(&url),
        };
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let resp = req.send().await.expect("simulator control API");
        assert!(
            resp.status().is_success(),
            "{method} {path}: {}",
            resp.status()
        );
        let text = resp.text().await.unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn sim_stats(&self) -> Value {
        self.control("GET", "/_sim/stats", None).await
    }

    async fn submit(&self) -> String {
        submit(
            &self.coordinator,
            json!({"sources": ["acme"], "datasets": DATASETS, "from": FROM, "to": TO,
                   "slice_width": "1d"}),
        )
        .await
    }

    /// Waits until a fraction of the expected records is checkpointed: "mid-run".
    async fn wait_progress(&self, id: &str, fraction: f64) {
        let want = (self.expected.len() as f64 * fraction) as u64;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let p = read("progress", || self.b.ledger.progress(id)).await;
            if p.records >= want {
                return;
            }
            assert!(
                p.total() == 0 || p.done() < p.total(),
                "the run finished before {fraction} of it was reached: {p:?}"
            );
            assert!(Instant::now() < deadline, "no progress to {want}: {p:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The workers' client counters, summed.
    fn client_stats(&self) -> StatsSnapshot {
        let mut sum = StatsSnapshot::default();
        for w in &self.workers {
            for (_, c) in w.worker.sources().iter() {
                let s = c.stats();
                sum.ok += s.ok;
                sum.unauthorized += s.unauthorized;
                sum.throttled += s.throttled;
                sum.server_errors += s.server_errors;
                sum.transport_errors += s.transport_errors;
                sum.malformed += s.malformed;
                sum.retries += s.retries;
                sum.refreshes += s.refreshes;
                sum.deferred += s.deferred;
            }
        }
        sum
    }

    /// Jobs finished with `outcome`, all workers.
    fn jobs(&self, outcome: &str) -> u64 {
        self.workers
            .iter()
            .map(|w| w.worker.metrics().jobs.with_label_values(&[outcome]).get())
            .sum()
    }

    /// Waits for the run to end and checks the promises (module docs). `cut_publishes`:
    /// publishes a broker fault may have interrupted (each may repeat one page).
    async fn finish(mut self, id: &str, cut_publishes: u64) -> Report {
        wait_settled(&self.b.ledger, id, Duration::from_secs(600)).await;
        let seconds = self.started.elapsed().as_secs_f64();
        let mut received = Received::default();
        collect(&mut self.out, &mut received, Duration::from_secs(3)).await;

        // Every slice terminal; failures carry a reason and a dead letter, completions
        // at least one slice.completed event (a redelivered job of a completed slice
        // sends it again) with the ledger's record count.
        let slices = all_slices(&self.b.ledger, id).await;
        let dead = dead_letters(&self.b).await;
        let events = completed_events(&mut self.events).await;
        let mut reclaims = 0;
        let mut failed = 0;
        // Every broken promise is listed before the test fails, not just the first.
        let mut problems = Vec::new();
        let mut no_event = Vec::new();
        for s in &slices {
            reclaims += u64::from(s.attempts.saturating_sub(1));
            match s.state {
                SliceState::Failed => {
                    failed += 1;
                    let why = s.last_error.as_deref().unwrap_or("");
                    if why.is_empty() {
                        problems.push(format!("failed slice {} has no reason", s.id));
                    }
                    if !dead.contains(&s.id) {
                        problems.push(format!(
                            "failed slice {} ({why}) is not in the dead-letter queue",
                            s.id
                        ));
                    }
                }
                SliceState::Completed => match events.get(&s.id) {
                    None => no_event.push(s.id.as_str()),
                    Some(counts) if counts.iter().any(|r| *r != s.records) => {
                        problems.push(format!(
                            "slice.completed of {} says {counts:?} records, the ledger {}",
                            s.id, s.records
                        ))
                    }
                    Some(_) => {}
                },
                SliceState::Split => {}
                other => problems.push(format!("slice {} is {other:?}", s.id)),
            }
        }
        if !no_event.is_empty() {
            problems.push(format!(
                "{} completed slices have no slice.completed event, e.g. {:?}",
                no_event.len(),
                &no_event[..no_event.len().min(3)]
            ));
        }
        let p = read("progress", || self.b.ledger.progress(id)).await;
        if p.failed > 0 {
            problems.push(format!("transient faults failed slices: {p:?}"));
        }
        if p.records != self.expected.len() as u64 {
            problems.push(format!(
                "the ledger counts {} records, the simulator holds {}: {p:?}",
                p.records,
                self.expected.len()
            ));
        }
        let duplicates = received.duplicates();
        let bound = (reclaims + cut_publishes) * PAGE;
        if duplicates > bound {
            problems.push(format!(
                "{duplicates} duplicates, more than (re-claims {reclaims} + cut publishes \
                 {cut_publishes}) × page {PAGE} = {bound}"
            ));
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        // No record lost, none foreign.
        assert_complete(&received, &self.expected);

        let report = Report {
            records: self.expected.len(),
            duplicates,
            reclaims,
            bound,
            failed,
            seconds,
        };
        for w in self.workers {
            w.stop().await;
        }
        self.b.cleanup().await;
        self.sim.stop().await;
        report
    }
}

/// A ledger read, asked again while it fails (Redis answering late on a loaded 2-core
/// box) for up to 30 s: the test judges the worker, not the box.
async fn read<T, F, Fut>(what: &str, call: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, LedgerError>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match call().await {
            Ok(v) => return v,
            Err(e) if Instant::now() < deadline => {
                eprintln!("{what}: {e}; asking again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Like `common::wait_done`, with ledger reads that tolerate a slow Redis.
async fn wait_settled(ledger: &dyn Ledger, request: &str, deadline: Duration) {
    let start = Instant::now();
    loop {
        let r = read("request", || ledger.get_request(request)).await;
        let p = read("progress", || ledger.progress(request)).await;
        let planned = r.is_some_and(|r| r.planned);
        if planned && p.total() > 0 && p.done() == p.total() {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "request {request} not done after {deadline:?}: planned={planned} {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The workers' ledger with lost replies: every `every`-th `Start`, `Checkpoint` or
/// `Complete` is applied in Redis and then answered with a backend error, as when the
/// script ran but its reply timed out (a loaded box, a network blip). Everything else
/// goes straight through.
struct LossyLedger {
    inner: RedisLedger,
    every: u64,
    seen: AtomicU64,
    /// Replies lost so far, by transition.
    lost: Mutex<BTreeMap<&'static str, u64>>,
}

impl LossyLedger {
    fn new(inner: RedisLedger, every: u64) -> LossyLedger {
        LossyLedger {
            inner,
            every,
            seen: AtomicU64::new(0),
            lost: Mutex::default(),
        }
    }
}

#[async_trait]
impl Ledger for LossyLedger {
    async fn create_request(&self, r: &RequestRecord) -> Result<bool, LedgerError> {
        self.inner.create_request(r).await
    }
    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, LedgerError> {
        self.inner.get_request(id).await
    }
    async fn list_requests(&self, limit: usize) -> Result<Vec<RequestRecord>, LedgerError> {
        self.inner.list_requests(limit).await
    }
    async fn fix_plan(&self, id: &str, plan: &Value) -> Result<Value, LedgerError> {
        self.inner.fix_plan(id, plan).await
    }
    async fn update_request(
        &self,
        id: &str,
        state: RequestState,
        planned: bool,
        note: Option<&str>,
    ) -> Result<RequestState, LedgerError> {
        self.inner.update_request(id, state, planned, note).await
    }
    async fn reopen_request(&self, id: &str) -> Result<bool, LedgerError> {
        self.inner.reopen_request(id).await
    }
    async fn cancel_request(&self, id: &str) -> Result<u64, LedgerError> {
        self.inner.cancel_request(id).await
    }
    async fn add_slices(&self, slices: &[SliceRecord]) -> Result<Vec<String>, LedgerError> {
        self.inner.add_slices(slices).await
    }
    async fn get_slice(&self, id: &str) -> Result<Option<SliceRecord>, LedgerError> {
        self.inner.get_slice(id).await
    }
    async fn list_slices(
        &self,
        request_id: &str,
        state: Option<SliceState>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SliceRecord>, LedgerError> {
        self.inner
            .list_slices(request_id, state, after, limit)
            .await
    }
    async fn transition(&self, id: &str, t: Transition) -> Result<Outcome, LedgerError> {
        let kind = match &t {
            Transition::Start => "start",
            Transition::Checkpoint { .. } => "checkpoint",
            Transition::Complete { .. } => "complete",
            _ => return self.inner.transition(id, t).await,
        };
        let out = self.inner.transition(id, t).await?;
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if !out.applied || !n.is_multiple_of(self.every) {
            return Ok(out);
        }
        *self.lost.lock().unwrap().entry(kind).or_default() += 1;
        Err(LedgerError::Backend(format!(
            "{kind}: reply lost (injected)"
        )))
    }
    async fn progress(&self, request_id: &str) -> Result<Progress, LedgerError> {
        self.inner.progress(request_id).await
    }
    async fn stream(&self, request_id: &str, stream: &str) -> Result<StreamState, LedgerError> {
        self.inner.stream(request_id, stream).await
    }
    async fn plan_window(
        &self,
        request_id: &str,
        stream: &str,
        expected: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        slices: &[SliceRecord],
    ) -> Result<Option<Vec<String>>, LedgerError> {
        self.inner
            .plan_window(request_id, stream, expected, to, slices)
            .await
    }
    async fn advance_watermark(
        &self,
        request_id: &str,
        stream: &str,
    ) -> Result<Option<DateTime<Utc>>, LedgerError> {
        self.inner.advance_watermark(request_id, stream).await
    }
    async fn compact_stream(
        &self,
        request_id: &str,
        stream: &str,
        before: DateTime<Utc>,
    ) -> Result<u64, LedgerError> {
        self.inner.compact_stream(request_id, stream, before).await
    }
    async fn snapshot(
        &self,
        request_id: &str,
        stream: &str,
    ) -> Result<fleet_core::ledger::SnapshotState, LedgerError> {
        self.inner.snapshot(request_id, stream).await
    }
    async fn store_snapshot(
        &self,
        request_id: &str,
        stream: &str,
        expected_generation: u64,
        hashes: &std::collections::BTreeMap<String, String>,
        observed_at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        self.inner
            .store_snapshot(request_id, stream, expected_generation, hashes, observed_at)
            .await
    }
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, LedgerError> {
        self.inner.try_lease(name, holder, ttl).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), LedgerError> {
        self.inner.release_lease(name, holder).await
    }
    async fn ready(&self) -> bool {
        self.inner.ready().await
    }
}

/// A worker with its own named connection to the fleet's broker.
async fn worker(
    b: &Backends,
    name: &str,
    config: WorkerConfig,
    ledger: Arc<dyn Ledger>,
    sources: Sources,
) -> Worker {
    let mut amqp = AmqpConfig::new(&b.amqp_url, &b.prefix);
    amqp.connection_name = name.to_owned();
    amqp.output_queues = vec![OutputQueue {
        name: OUT_QUEUE.into(),
        patterns: vec!["#".into()],
    }];
    let broker = AmqpBroker::connect(amqp).await.expect("rabbitmq connects");
    broker.declare().await.expect("topology declared");
    Worker::new(config, ledger, Arc::new(broker), sources).expect("worker builds")
}

/// Every slice of the request (split parents included).
async fn all_slices(ledger: &dyn Ledger, id: &str) -> Vec<SliceRecord> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map(|s: &SliceRecord| s.id.clone());
        let page = read("slices", || {
            ledger.list_slices(id, None, after.as_deref(), 500)
        })
        .await;
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// The slice ids in the dead-letter queue (drained).
async fn dead_letters(b: &Backends) -> HashSet<String> {
    let mut sub = b
        .amqp
        .subscribe(Subscription {
            queue: "dead".into(),
            feed: Feed::DeadLetters,
            prefetch: 100,
        })
        .await
        .expect("subscribe to dead letters");
    let mut ids = HashSet::new();
    while let Some(d) = sub
        .next(Duration::from_millis(500))
        .await
        .expect("dead letters")
    {
        if let Some(s) = d.headers.get(headers::SLICE) {
            ids.insert(s.clone());
        }
        d.ack().await.expect("ack dead letter");
    }
    ids
}

/// The record counts of every slice.completed event, by slice (drained).
async fn completed_events(
    sub: &mut Box<dyn fleet_core::broker::Subscriber>,
) -> HashMap<String, Vec<u64>> {
    let mut all: HashMap<String, Vec<u64>> = HashMap::new();
    while let Some(d) = sub
        .next(Duration::from_secs(1))
        .await
        .expect("events queue")
    {
        if let EventBody::SliceCompleted {
            slice_id, records, ..
        } = Event::from_bytes(&d.body).expect("an event").body
        {
            all.entry(slice_id).or_default().push(records);
        }
        d.ack().await.expect("ack event");
    }
    all
}

fn fault_count(stats: &Value, kind: &str) -> u64 {
    stats["faults"][kind].as_u64().unwrap_or(0)
}

/// The sum of a metric's samples in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn print(test: &str, r: &Report, extra: String) {
    eprintln!(
        "{test}: {} records, {} duplicates (bound {}, re-claims {}), {} failed slices, \
         {:.1}s; {extra}",
        r.records, r.duplicates, r.bound, r.reclaims, r.failed, r.seconds
    );
}

/// 5% server errors plus truncated and schema-breaking bodies for the first half of the
/// run, then a 2 s outage (every request a 503), then a clean API. The client retries
/// the scattered faults within the call; in the outage its attempts run out, and the
/// worker sends the jobs through the delay queue to resume from their checkpoints.
///
/// The client gets 6 attempts instead of 4: a page whose every attempt fails with the
/// last one malformed is given up as a bad page (dead-lettered, by design); at these
/// rates that is one page in ~40,000 with 4 attempts, ~1% of runs of this test, and one
/// in ~5 million with 6. For the same reason the API is clean after the outage: a call
/// that spends its attempts in the outage must not meet a broken body on its last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_broken_bodies_and_an_outage_lose_nothing() {
    let options = ClientOptions {
        attempts: 6,
        ..client_options(Duration::from_secs(5))
    };
    let fleet = Fleet::start("worker-faults-errors", options).await;
    let scattered = json!({"error_rate": 0.05, "truncate_rate": 0.02, "malformed_rate": 0.02,
                           "seed": 11});
    fleet.control("PUT", "/_sim/faults", Some(scattered)).await;
    let id = fleet.submit().await;
    fleet.wait_progress(&id, 0.5).await;
    let outage = json!({"error_rate": 1.0, "error_statuses": [503], "seed": 12});
    fleet.control("PUT", "/_sim/faults", Some(outage)).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // the outage's length, not a wait
    fleet.control("DELETE", "/_sim/faults", None).await;
    wait_settled(&fleet.b.ledger, &id, Duration::from_secs(600)).await;

    let stats = fleet.sim_stats().await;
    let client = fleet.client_stats();
    let retried = fleet.jobs("retried");
    for kind in ["error", "truncate", "malformed"] {
        assert!(fault_count(&stats, kind) > 0, "no {kind} fault: {stats}");
    }
    assert!(
        client.server_errors > 0 && client.malformed > 0,
        "{client:?}"
    );
    assert!(
        client.retries > 0,
        "the client retried within calls: {client:?}"
    );
    assert!(retried > 0, "the outage sent jobs to the delay queue");
    let report = fleet.finish(&id, 0).await;
    assert!(report.reclaims > 0, "retried slices were claimed again");
    print(
        "errors",
        &report,
        format!(
            "sim faults {}, client server_errors {} malformed {} in-call retries {}, \
             jobs retried {retried}",
            stats["faults"], client.server_errors, client.malformed, client.retries
        ),
    );
}

const STORM_SECS: f64 = 3.0;

/// A 429 storm of a few seconds in the middle of the run: the clients pause the tenant
/// (in the shared limiter) instead of hammering it, jobs that cannot wait are deferred,
/// and the run completes once the storm is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_mid_run_pauses_and_completes() {
    let fleet = Fleet::start(
        "worker-faults-storm",
        client_options(Duration::from_secs(1)),
    )
    .await;
    let id = fleet.submit().await;
    fleet.wait_progress(&id, 0.3).await;
    fleet
        .control(
            "POST",
            "/_sim/faults/storm",
            Some(json!({"seconds": STORM_SECS, "retry_after_secs": 1})),
        )
        .await;
    wait_settled(&fleet.b.ledger, &id, Duration::from_secs(600)).await;
    let stats = fleet.sim_stats().await;
    let client = fleet.client_stats();
    let deferred = fleet.jobs("deferred");
    let storm = fault_count(&stats, "storm");
    assert!(storm > 0, "no request met the storm: {stats}");
    assert!(client.throttled > 0, "{client:?}");
    assert!(
        deferred > 0,
        "jobs that could not wait out the pause were deferred"
    );
    // A 429 pauses the tenant's bucket for every client (Retry-After: 1 s), and a call
    // that meets one defers its job, so each job slot sends about one request into the
    // storm per second. Without the pause a call would resend at once, thousands of
    // times. The bound is loose (slots × (seconds + 3)); a slower box only sends fewer.
    let slots = (WORKERS * CONCURRENCY) as u64;
    let bound = slots * (STORM_SECS as u64 + 3);
    assert!(
        storm <= bound,
        "{storm} requests into the storm, more than {bound}: the tenant was not paused"
    );
    let report = fleet.finish(&id, 0).await;
    print(
        "storm",
        &report,
        format!(
            "429s served {storm}, seen by clients {}, client deferrals {}, jobs deferred {deferred}",
            client.throttled, client.deferred
        ),
    );
}

/// Every access token revoked twice mid-run: each client meets a 401, replaces the
/// token once (shared through the token cache) and carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_mid_run_are_refreshed() {
    let fleet = Fleet::start(
        "worker-faults-revoke",
        client_options(Duration::from_secs(5)),
    )
    .await;
    let id = fleet.submit().await;
    let mut revoked = 0;
    for at in [0.25, 0.6] {
        fleet.wait_progress(&id, at).await;
        let r = fleet.control("POST", "/_sim/tokens/revoke", None).await;
        revoked += r["revoked"].as_u64().unwrap_or(0);
    }
    wait_settled(&fleet.b.ledger, &id, Duration::from_secs(600)).await;
    let stats = fleet.sim_stats().await;
    let client = fleet.client_stats();
    assert!(
        revoked >= 2,
        "a live token was revoked each time: {revoked}"
    );
    assert!(
        stats["unauthorized"].as_u64().unwrap_or(0) > 0,
        "no 401: {stats}"
    );
    let grants = stats["token_grants"]["client_credentials"]
        .as_u64()
        .unwrap_or(0);
    assert!(grants >= 2, "a new token after each revocation: {stats}");
    assert!(client.refreshes > 0, "{client:?}");
    // The exported metrics show the same refreshes.
    let exported: f64 = fleet
        .workers
        .iter()
        .map(|w| {
            metric(
                &w.worker.render_metrics(),
                "uipath_fleet_worker_token_refreshes_total",
            )
        })
        .sum();
    assert_eq!(exported as u64, client.refreshes, "exported refreshes");
    let report = fleet.finish(&id, 0).await;
    print(
        "revoke",
        &report,
        format!(
            "tokens revoked {revoked}, 401s {}, grants {grants}, client refreshes {}",
            stats["unauthorized"], client.refreshes
        ),
    );
}

/// Runs `rabbitmqctl args` off the runtime's threads.
async fn rabbitmqctl(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("rabbitmqctl")
            .args(&args)
            .output()
            .expect("run rabbitmqctl (this test needs it on PATH, as root)")
    })
    .await
    .expect("rabbitmqctl task")
}

/// Broker-side pids of the connections named `name`.
async fn connection_pids(name: &str) -> Vec<String> {
    let out = rabbitmqctl(&["list_connections", "pid", "client_properties", "--silent"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    let needle = format!("{{\"connection_name\",\"{name}\"}}");
    text.lines()
        .filter(|l| l.contains(&needle))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// One worker's broker connection closed by the server mid-run (what a network fault
/// or a broker restart does to it): its unsettled jobs go back to the queue, its
/// in-flight publishes are repeated on a new connection, and it carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_broker_connection_cut_mid_run_loses_nothing() {
    let fleet = Fleet::start("worker-faults-cut", client_options(Duration::from_secs(5))).await;
    let name = fleet.connections[0].clone();
    let victim = fleet.workers[0].worker.clone();
    let id = fleet.submit().await;
    fleet.wait_progress(&id, 0.3).await;
    // Cut while the worker holds jobs, so the cut takes unsettled deliveries with it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while victim.metrics().in_flight.get() == 0 {
        assert!(Instant::now() < deadline, "worker 0 never holds a job");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = connection_pids(&name).await;
    assert_eq!(before.len(), 1, "one connection named {name}: {before:?}");
    let held = victim.metrics().in_flight.get();
    let completed_before = victim
        .metrics()
        .jobs
        .with_label_values(&["completed"])
        .get();
    let out = rabbitmqctl(&["close_connection", &before[0], "chaos"]).await;
    assert!(
        out.status.success(),
        "rabbitmqctl close_connection: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The worker reconnects by itself, under the same name.
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let now = connection_pids(&name).await;
        if !now.is_empty() && !now.contains(&before[0]) {
            break now;
        }
        assert!(Instant::now() < deadline, "worker 0 did not reconnect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    wait_settled(&fleet.b.ledger, &id, Duration::from_secs(600)).await;
    let completed_after = victim
        .metrics()
        .jobs
        .with_label_values(&["completed"])
        .get();
    assert!(
        completed_after > completed_before,
        "worker 0 completed no job after the cut ({completed_before} before)"
    );
    let outcomes: HashMap<&str, u64> = ["completed", "retried", "cancelled", "skipped"]
        .into_iter()
        .map(|o| (o, fleet.jobs(o)))
        .collect();
    // Each job the worker held may have had one publish cut.
    let report = fleet.finish(&id, CONCURRENCY as u64).await;
    print(
        "cut",
        &report,
        format!(
            "jobs held at the cut {held}, connection {} → {after:?}, worker 0 completed \
             {completed_before} before / {completed_after} after; all workers {outcomes:?}",
            before[0]
        ),
    );
}

/// Redis runs a transition's script but its reply is lost, so the worker calls again. A
/// repeated `Start` only counts one more attempt; a repeated `Checkpoint` must not count
/// its page twice, and a repeated `Complete` must not cost the slice its
/// `slice.completed` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_ledger_replies_neither_double_count_nor_drop_completions() {
    let fleet = Fleet::start_with(
        "worker-faults-ledger",
        client_options(Duration::from_secs(5)),
        7,
    )
    .await;
    let id = fleet.submit().await;
    wait_settled(&fleet.b.ledger, &id, Duration::from_secs(600)).await;
    let lost = fleet
        .lossy
        .as_ref()
        .map(|l| l.lost.lock().unwrap().clone())
        .unwrap_or_default();
    for kind in ["start", "checkpoint", "complete"] {
        assert!(
            lost.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} reply lost: {lost:?}"
        );
    }
    let report = fleet.finish(&id, 0).await;
    print("ledger", &report, format!("replies lost {lost:?}"));
}
