//! Set-up for tests that run `uipath-fleet worker` as separate processes: a simulator and
//! a coordinator in the test process, the fleet's real RabbitMQ and Redis under the
//! test's own prefix, a consumer of the records exchange bound before anything runs, the
//! configuration file the processes read, the processes themselves, and the reference:
//! every record the simulator holds for a request, read directly.

#![allow(dead_code)]

mod process;

pub use process::{worker_command, WorkerProcess};

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use fleet_amqp::{AmqpBroker, AmqpConfig, OutputQueue};
use fleet_coordinator::{Coordinator, CoordinatorConfig};
use fleet_core::broker::{Feed, Subscription};
use fleet_core::ledger::SliceState;
use fleet_core::ratelimit::FamilyBudgets;
use fleet_core::wire::RecordEnvelope;
use fleet_core::{Broker as _, Budget, Ledger, LimiterConfig, Sealer, Secret};
use fleet_reader::{DatasetRef, SliceCursor, SliceRead, Sources};
use fleet_redis::{RedisLedger, RedisRateLimiter, RedisTokenCache};
use fleet_worker::output::key_and_version;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uipath_client::client::ClientOptions;
use uipath_client::{AuthConfig, Deployment, SourceConfig, UipathClient};
use uipath_sim::config::{
    SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG, DEMO_TENANT, OR_READ_SCOPES,
};
use uipath_sim::faults::FaultConfig;
use uipath_sim::server::RunningSim;

pub const FOLDERS: [&str; 3] = ["Finance", "HR", "Operations"];
pub const FROM: &str = "2024-01-01T00:00:00Z";
/// The output queue the worker processes declare from their configuration.
pub const LAKE: &str = "lake";

/// `days` of data from 2024-01-01 in three folders, `per_day` jobs and as many queue
/// items per folder and day, no rate limit, no faults.
pub fn sim_config(days: u32, per_day: f64) -> SimConfig {
    let mut c = SimConfig::default();
    c.rate_limit.requests = 0;
    c.data.span_start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    c.data.span_end = c.data.span_start + chrono::Days::new(u64::from(days));
    c.data.folders = FOLDERS.map(String::from).to_vec();
    c.data.extra_folders = 0;
    c.data.jobs_per_day = per_day;
    c.data.queue_items_per_day = per_day;
    c
}

/// `to` of a request covering the first `days` days.
pub fn to_after(days: u32) -> String {
    format!(
        "{}T00:00:00Z",
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(u64::from(days))
    )
}

/// Budgets far above what a test sends: the fleet's limiter never defers.
pub fn generous_limits() -> LimiterConfig {
    let b = Some(Budget {
        requests: 1_000_000,
        period_ms: 60_000,
        burst: 1_000,
    });
    LimiterConfig {
        default: FamilyBudgets {
            jobs: b,
            queue_items: b,
            other: b,
        },
        ..LimiterConfig::default()
    }
}

/// The same budgets as TOML, for the processes' configuration.
const LIMITS_TOML: &str = r#"
[limits.default]
jobs = { requests = 1000000, period_ms = 60000, burst = 1000 }
queue_items = { requests = 1000000, period_ms = 60000, burst = 1000 }
other = { requests = 1000000, period_ms = 60000, burst = 1000 }
"#;

/// The simulator, the fleet's backends under one prefix, a coordinator, the records
/// consumer and a scratch directory, for one test.
pub struct Fleet {
    pub sim: RunningSim,
    pub prefix: String,
    pub amqp_url: String,
    pub redis_url: String,
    pub amqp: AmqpBroker,
    pub ledger: RedisLedger,
    /// Test-side clients (reference reads, the coordinator's planning).
    pub sources: Sources,
    pub coordinator: Coordinator,
    pub received: Arc<Mutex<Received>>,
    /// Stops the records consumer, and its task (taken and awaited at cleanup).
    consumer: (CancellationToken, Mutex<Option<JoinHandle<()>>>),
    pub dir: PathBuf,
}

impl Fleet {
    pub async fn start(test: &str, sim: SimConfig) -> Fleet {
        let amqp_url = fleet_testkit::require_rabbitmq().await;
        let redis_url = fleet_testkit::require_redis().await;
        let prefix = fleet_testkit::unique_prefix(test);
        let sim = RunningSim::start(sim).await.expect("simulator starts");
        // The handle knows the processes' output queue so that cleanup deletes it.
        let mut config = AmqpConfig::new(&amqp_url, &prefix);
        config.output_queues = vec![OutputQueue {
            name: LAKE.into(),
            patterns: vec!["#".into()],
        }];
        let amqp = AmqpBroker::connect(config)
            .await
            .expect("rabbitmq connects");
        amqp.declare().await.expect("topology declared");
        let ledger = RedisLedger::connect(&redis_url, &prefix)
            .await
            .expect("redis connects");
        let tokens = Arc::new(
            RedisTokenCache::connect(&redis_url, &prefix, Sealer::plain())
                .await
                .expect("token cache connects"),
        );
        let limiter = Arc::new(
            RedisRateLimiter::connect(&redis_url, &prefix, generous_limits())
                .await
                .expect("limiter connects"),
        );
        let client = UipathClient::new(acme(&sim), tokens, limiter, ClientOptions::default())
            .expect("client builds");
        let sources = Sources::new([Arc::new(client)]);
        let coordinator = Coordinator::new(
            CoordinatorConfig {
                tick: Duration::from_millis(200),
                ..CoordinatorConfig::default()
            },
            Arc::new(ledger.clone()),
            Arc::new(amqp.clone()),
            sources.clone(),
        );
        // Bound before any worker runs: every record published from now on is kept.
        let mut sub = amqp
            .subscribe(Subscription {
                queue: "all-records".into(),
                feed: Feed::Records {
                    patterns: vec!["#".into()],
                },
                prefetch: 500,
            })
            .await
            .expect("subscribe to the records");
        let received = Arc::new(Mutex::new(Received::default()));
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (received, stop) = (received.clone(), stop.clone());
            async move {
                while !stop.is_cancelled() {
                    let Some(d) = sub.next(Duration::from_millis(200)).await.expect("records")
                    else {
                        continue;
                    };
                    let env = RecordEnvelope::from_bytes(&d.body).expect("a record envelope");
                    assert_eq!(d.message_id.as_deref(), Some(env.id.as_str()));
                    received.lock().unwrap().add(&env);
                    d.ack().await.expect("ack a record");
                }
            }
        });
        let dir = std::env::temp_dir().join(format!("uipath-fleet-{prefix}"));
        std::fs::create_dir_all(&dir).unwrap();
        Fleet {
            sim,
            prefix,
            amqp_url,
            redis_url,
            amqp,
            ledger,
            sources,
            coordinator,
            received,
            consumer: (stop, Mutex::new(Some(task))),
            dir,
        }
    }

    /// Writes the processes' configuration: the simulator as source `acme`, Redis from
    /// the file, RabbitMQ's URL left to `UIPATH_FLEET_AMQP_URL` (see [`Fleet::spawn`]),
    /// and the given `[worker]` lines.
    pub fn write_config(&self, worker: &str) -> PathBuf {
        let text = format!(
            r##"
[[sources]]
name = "acme"
deployment = {{ kind = "cloud", base_url = "{base}", organization = "{DEMO_ORG}", tenant = "{DEMO_TENANT}" }}
auth = {{ method = "client-credentials", client_id = "{DEMO_CLIENT_ID}", client_secret = "{DEMO_CLIENT_SECRET}", scopes = {scopes:?} }}
timeout_secs = 10

[broker]
prefix = "{prefix}"
[[broker.output_queues]]
name = "{LAKE}"
patterns = ["#"]

[redis]
url = "{redis}"
prefix = "{prefix}"
{LIMITS_TOML}
[worker]
listen = "127.0.0.1:0"
{worker}
"##,
            base = self.sim.base_url(),
            scopes = OR_READ_SCOPES,
            prefix = self.prefix,
            redis = self.redis_url,
        );
        let path = self.dir.join("fleet.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts `uipath-fleet worker --id NAME` and waits for its "ready" line.
    pub async fn spawn(&self, config: &Path, name: &str) -> WorkerProcess {
        let mut command = worker_command(config, name);
        command.env("UIPATH_FLEET_AMQP_URL", &self.amqp_url);
        WorkerProcess::start(command, &self.dir, name).await
    }

    /// Submits a backfill of `datasets` × every folder from [`FROM`] to `to`.
    pub async fn backfill(&self, datasets: &[&str], to: &str, width: &str) -> String {
        let body = serde_json::json!({"sources": ["acme"], "datasets": datasets,
            "from": FROM, "to": to, "slice_width": width});
        let (record, _) = self
            .coordinator
            .submit_backfill(body.to_string().as_bytes())
            .await
            .expect("backfill accepted");
        record.id
    }

    /// Polls the ledger until `done` holds for the request's progress.
    pub async fn wait_progress(
        &self,
        request: &str,
        what: &str,
        deadline: Duration,
        done: impl Fn(&fleet_core::ledger::Progress) -> bool,
    ) -> fleet_core::ledger::Progress {
        let start = Instant::now();
        loop {
            let p = self.ledger.progress(request).await.unwrap();
            if done(&p) {
                return p;
            }
            assert!(
                start.elapsed() < deadline,
                "{what}: not reached after {deadline:?}: {p:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every slice of the request is terminal and the plan is complete.
    pub async fn wait_done(&self, request: &str, deadline: Duration) {
        let start = Instant::now();
        loop {
            let r = self.ledger.get_request(request).await.unwrap().unwrap();
            let p = self.ledger.progress(request).await.unwrap();
            if r.planned && p.total() > 0 && p.done() == p.total() {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "request {request} not done after {deadline:?}: planned={} {p:?}",
                r.planned
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every slice of the request.
    pub async fn slices(&self, request: &str) -> Vec<fleet_core::ledger::SliceRecord> {
        let mut all = Vec::new();
        loop {
            let after = all
                .last()
                .map(|s: &fleet_core::ledger::SliceRecord| s.id.clone());
            let page = self
                .ledger
                .list_slices(request, None, after.as_deref(), 500)
                .await
                .unwrap();
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// Slows every OData page by `ms` (the identity server stays fast).
    pub fn set_page_latency(&self, ms: u64) {
        self.sim.sim.faults.set_config(FaultConfig {
            latency_ms: ms,
            paths: vec!["odata/".into()],
            ..FaultConfig::default()
        });
    }

    /// Waits until no record has arrived for `quiet`, then returns what arrived.
    pub async fn received_after_quiet(&self, quiet: Duration) -> Received {
        let mut last = usize::MAX;
        loop {
            let now = self.received.lock().unwrap().messages;
            if now == last {
                break;
            }
            last = now;
            tokio::time::sleep(quiet).await;
        }
        self.received.lock().unwrap().clone()
    }

    /// Every record id the simulator serves for `datasets` × [`FOLDERS`] over
    /// `[FROM, to)`, read directly with a fault-free client, one keyset pass each.
    pub async fn reference_ids(&self, datasets: &[&str], to: &str) -> HashSet<String> {
        let folders = self.sources.folders("acme").await.expect("folders");
        let mut ids = HashSet::new();
        for ds in datasets {
            let dataset = DatasetRef::parse(ds).expect("known dataset");
            for path in FOLDERS {
                let folder = folders.iter().find(|f| f.path == path).cloned();
                assert!(folder.is_some(), "folder {path}");
                let read = SliceRead {
                    source: "acme".into(),
                    dataset: dataset.clone(),
                    folder,
                    from: Some(FROM.parse().unwrap()),
                    to: Some(to.parse().unwrap()),
                    select: vec![],
                    page_size: None,
                    mode: Default::default(),
                };
                let mut cursor = SliceCursor::start(&dataset);
                loop {
                    let (records, next) = self
                        .sources
                        .read_page(&read, &cursor, fleet_core::Priority::Sync)
                        .await
                        .expect("reference read");
                    for r in &records {
                        let (key, version) = key_and_version(r);
                        ids.insert(fleet_core::wire::record_id("acme", ds, &key, &version));
                    }
                    match next {
                        Some(c) => cursor = c,
                        None => break,
                    }
                }
            }
        }
        ids
    }

    /// Messages waiting in the processes' configured output queue.
    pub async fn lake_depth(&self) -> u64 {
        let name = self.amqp.names().output(LAKE);
        self.amqp.queue_depth(&name).await.expect("queue depth")
    }

    /// Stops the consumer and deletes the test's queues, keys and files.
    async fn cleanup(&self) {
        self.consumer.0.cancel();
        let task = self.consumer.1.lock().unwrap().take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let _ = self.amqp.delete_topology().await;
        let _ = self.ledger.delete_all().await;
        self.amqp.close().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `body` against a fresh [`Fleet`] and cleans up after it whether it passed or
/// panicked (then the panic is passed on). Worker processes a failed body leaves behind
/// are killed when their handles drop.
pub async fn with_fleet<F, Fut>(test: &str, sim: SimConfig, body: F)
where
    F: FnOnce(Arc<Fleet>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let fleet = Arc::new(Fleet::start(test, sim).await);
    let outcome = tokio::spawn(body(fleet.clone())).await;
    fleet.cleanup().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The demo tenant as source `acme`.
pub fn acme(sim: &RunningSim) -> SourceConfig {
    SourceConfig {
        name: "acme".into(),
        deployment: Deployment::Cloud {
            base_url: sim.base_url().parse().unwrap(),
            organization: DEMO_ORG.into(),
            tenant: DEMO_TENANT.into(),
        },
        auth: AuthConfig::ClientCredentials {
            client_id: DEMO_CLIENT_ID.into(),
            client_secret: Secret::new(DEMO_CLIENT_SECRET),
            scopes: OR_READ_SCOPES.iter().map(|s| s.to_string()).collect(),
        },
        token_url: None,
        timeout_secs: 10,
    }
}

/// What arrived on the records exchange: every record id with how often it came, what
/// its envelope said, and how often each slice published it.
#[derive(Debug, Default, Clone)]
pub struct Received {
    pub counts: HashMap<String, u32>,
    pub messages: usize,
    /// Per record id: its envelope's dataset, folder, op, key and order (the same in every
    /// copy of one id).
    pub records: HashMap<String, Arrival>,
    /// Per (record id, slice id): how often that slice published it. More than once is a
    /// re-read after a fault (a killed worker, a cut connection); the same id from two
    /// slices is a sync's lookback reading a version again, by design.
    pub by_slice: HashMap<(String, String), u32>,
}

/// What one record message said besides its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub dataset: String,
    /// The folder's path, for folder-scoped datasets.
    pub folder: Option<String>,
    pub op: fleet_core::wire::Op,
    pub key: Option<String>,
    pub order: Option<String>,
}

impl Received {
    fn add(&mut self, env: &RecordEnvelope) {
        self.messages += 1;
        *self.counts.entry(env.id.clone()).or_default() += 1;
        *self
            .by_slice
            .entry((env.id.clone(), env.provenance.slice_id.clone()))
            .or_default() += 1;
        self.records
            .entry(env.id.clone())
            .or_insert_with(|| Arrival {
                dataset: env.provenance.dataset.clone(),
                folder: env.provenance.folder.as_ref().map(|f| f.path.clone()),
                op: env.op,
                key: env.key.clone(),
                order: env.order.clone(),
            });
    }

    /// Copies of a record that the same slice published again: what faults repeated.
    pub fn repeated_within_slices(&self) -> u64 {
        self.by_slice.values().map(|&c| u64::from(c - 1)).sum()
    }

    pub fn duplicates(&self) -> u64 {
        self.counts.values().map(|&c| u64::from(c - 1)).sum()
    }

    /// Asserts that exactly `expected` arrived: none missing, none foreign.
    pub fn assert_complete(&self, expected: &HashSet<String>) {
        fleet_testkit::truth::assert_complete(&self.counts, expected);
    }
}

/// Asserts every slice of the request completed and returns how many were started more
/// than once (a worker died or handed it back mid-slice).
pub async fn assert_all_completed(fleet: &Fleet, request: &str, expected_records: usize) -> usize {
    let p = fleet.ledger.progress(request).await.unwrap();
    assert_eq!(p.completed, p.total(), "every slice completed: {p:?}");
    assert_eq!(
        p.records, expected_records as u64,
        "the ledger counts every record once"
    );
    let slices = fleet.slices(request).await;
    assert!(slices
        .iter()
        .all(|s| matches!(s.state, SliceState::Completed | SliceState::Split)));
    slices.iter().filter(|s| s.attempts > 1).count()
}

/// Runs `uipath-fleet dlq ARGS --config FILE` (RabbitMQ's URL from the environment,
/// nothing inherited) and returns its output, within a minute.
pub async fn dlq(fleet: &Fleet, config: &Path, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
    command.arg("dlq").args(args).arg("--config").arg(config);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("UIPATH_FLEET_") {
            command.env_remove(key);
        }
    }
    command
        .env("UIPATH_FLEET_AMQP_URL", &fleet.amqp_url)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("`dlq {args:?}` did not finish within a minute"))
        .expect("the binary runs")
}
