//! The worker tests' set-up: a simulator, the fleet's real backends under a prefix of the
//! test's own (RabbitMQ broker, Redis ledger, token cache and rate limiter), a coordinator
//! that plans backfills onto the job queues, workers, a consumer of the records exchange,
//! and the reference: every record the simulator holds for a request, read directly.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use fleet_amqp::{AmqpBroker, AmqpConfig};
use fleet_coordinator::{Coordinator, CoordinatorConfig};
use fleet_core::broker::{Feed, Subscriber, Subscription};
use fleet_core::ratelimit::FamilyBudgets;
use fleet_core::wire::{headers, RecordEnvelope, RecordPage};
use fleet_core::{Broker, Budget, Ledger, LimiterConfig, Sealer, Secret};
use fleet_reader::Sources;
use fleet_reader::{DatasetRef, SliceCursor, SliceRead};
use fleet_redis::{RedisLedger, RedisRateLimiter, RedisTokenCache};
use fleet_worker::output::key_and_version;
use fleet_worker::{Worker, WorkerConfig};
use tokio_util::sync::CancellationToken;
use uipath_client::client::ClientOptions;
use uipath_client::{AuthConfig, Deployment, SourceConfig, UipathClient};
use uipath_sim::config::{
    SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG, DEMO_TENANT, OR_READ_SCOPES,
};
use uipath_sim::server::RunningSim;
use url::Url;

pub const FOLDERS: [&str; 3] = ["Finance", "HR", "Operations"];

/// `days` of data from 2024-01-01 in three folders, no rate limit, no faults.
pub fn sim_config(days: u32) -> SimConfig {
    let mut c = SimConfig::default();
    c.rate_limit.requests = 0;
    c.data.span_start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    c.data.span_end = c.data.span_start + chrono::Days::new(u64::from(days));
    c.data.folders = FOLDERS.map(String::from).to_vec();
    c.data.extra_folders = 0;
    c
}

pub async fn start_sim(config: SimConfig) -> RunningSim {
    RunningSim::start(config).await.expect("simulator starts")
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

pub fn source_at(sim_url: &str, name: &str, org: &str, tenant: &str) -> SourceConfig {
    SourceConfig {
        name: name.into(),
        deployment: Deployment::Cloud {
            base_url: Url::parse(sim_url).unwrap(),
            organization: org.into(),
            tenant: tenant.into(),
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

/// The demo tenant as source `acme`.
pub fn acme(sim: &RunningSim) -> SourceConfig {
    source_at(&sim.base_url(), "acme", DEMO_ORG, DEMO_TENANT)
}

/// Client options for tests: quick backoff; `max_wait` is the fairness threshold.
pub fn client_options(max_wait: Duration) -> ClientOptions {
    ClientOptions {
        max_wait,
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(500),
        ..ClientOptions::default()
    }
}

/// The fleet's shared backends under one prefix.
#[derive(Clone)]
pub struct Backends {
    pub prefix: String,
    pub amqp_url: String,
    pub redis_url: String,
    pub amqp: AmqpBroker,
    pub ledger: RedisLedger,
}

/// Deletes the test's queues and keys if it panics (a passing test calls
/// `Backends::cleanup` itself), so a failure leaves nothing behind on the shared services.
pub struct OnPanic(pub Backends);

impl Drop for OnPanic {
    fn drop(&mut self) {
        let amqp = self.0.amqp.clone();
        let (redis_url, prefix) = (self.0.redis_url.clone(), self.0.prefix.clone());
        fleet_testkit::after_panic(move || async move {
            if let Ok(broker) = amqp.sibling().await {
                let _ = broker.delete_topology().await;
                broker.close().await;
            }
            if let Ok(ledger) = RedisLedger::connect(&redis_url, &prefix).await {
                let _ = ledger.delete_all().await;
            }
        });
    }
}

/// The output queue every test binds to all records (`#`).
pub const OUT_QUEUE: &str = "test-out";

impl Backends {
    pub async fn connect(test: &str) -> Backends {
        let amqp_url = fleet_testkit::require_rabbitmq().await;
        let redis_url = fleet_testkit::require_redis().await;
        let prefix = fleet_testkit::unique_prefix(test);
        let amqp = Backends::broker_at(&amqp_url, &prefix).await;
        let ledger = RedisLedger::connect(&redis_url, &prefix)
            .await
            .expect("redis connects");
        Backends {
            prefix,
            amqp_url,
            redis_url,
            amqp,
            ledger,
        }
    }

    /// A new connection to this fleet's broker (one per worker, as separate processes
    /// would have), topology declared.
    pub async fn broker(&self) -> AmqpBroker {
        Backends::broker_at(&self.amqp_url, &self.prefix).await
    }

    async fn broker_at(url: &str, prefix: &str) -> AmqpBroker {
        let mut config = AmqpConfig::new(url, prefix);
        config.output_queues = vec![fleet_amqp::OutputQueue {
            name: OUT_QUEUE.into(),
            patterns: vec!["#".into()],
        }];
        let amqp = AmqpBroker::connect(config)
            .await
            .expect("rabbitmq connects");
        amqp.declare().await.expect("topology declared");
        amqp
    }

    /// Clients for `sources` sharing this fleet's Redis token cache and rate limiter.
    pub async fn sources(
        &self,
        sources: &[SourceConfig],
        limits: LimiterConfig,
        options: ClientOptions,
    ) -> Sources {
        let tokens = Arc::new(
            RedisTokenCache::connect(&self.redis_url, &self.prefix, Sealer::plain())
                .await
                .expect("token cache connects"),
        );
        let limiter = Arc::new(
            RedisRateLimiter::connect(&self.redis_url, &self.prefix, limits)
                .await
                .expect("limiter connects"),
        );
        Sources::new(sources.iter().map(|s| {
            Arc::new(
                UipathClient::new(s.clone(), tokens.clone(), limiter.clone(), options.clone())
                    .expect("client builds"),
            )
        }))
    }

    /// Clients for the simulator's `acme` source: generous budgets, 2 s `max_wait`.
    pub async fn acme_sources(&self, sim: &RunningSim) -> Sources {
        self.sources(
            &[acme(sim)],
            generous_limits(),
            client_options(Duration::from_secs(2)),
        )
        .await
    }

    pub fn coordinator(&self, sources: Sources) -> Coordinator {
        let config = CoordinatorConfig {
            lease_ttl: Duration::from_secs(2),
            plan_lease_ttl: Duration::from_secs(2),
            tick: Duration::from_millis(200),
            ..CoordinatorConfig::default()
        };
        Coordinator::new(
            config,
            Arc::new(self.ledger.clone()),
            Arc::new(self.amqp.clone()),
            sources,
        )
    }

    /// A worker with its own broker connection.
    pub async fn worker(&self, config: WorkerConfig, sources: Sources) -> Worker {
        Worker::new(
            config,
            Arc::new(self.ledger.clone()),
            Arc::new(self.broker().await),
            sources,
        )
        .expect("worker builds")
    }

    /// A subscriber on the output queue.
    pub async fn output(&self) -> Box<dyn Subscriber> {
        self.amqp
            .subscribe(Subscription {
                queue: OUT_QUEUE.into(),
                feed: Feed::Records {
                    patterns: vec!["#".into()],
                },
                prefetch: 1000,
            })
            .await
            .expect("subscribe to the output queue")
    }

    pub async fn cleanup(&self) {
        let _ = self.amqp.delete_topology().await;
        let _ = self.ledger.delete_all().await;
    }
}

/// A worker running on this runtime until stopped.
pub struct Running {
    pub worker: Worker,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<fleet_worker::RunSummary>,
}

impl Running {
    pub fn start(worker: Worker) -> Running {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (w, s) = (worker.clone(), shutdown.clone());
            async move { w.run(s).await }
        });
        Running {
            worker,
            shutdown,
            task,
        }
    }

    pub async fn stop(self) -> fleet_worker::RunSummary {
        self.shutdown.cancel();
        self.task.await.expect("worker task")
    }
}

/// Submit a backfill (JSON body) and return its id.
pub async fn submit(coordinator: &Coordinator, body: serde_json::Value) -> String {
    let (record, _) = coordinator
        .submit_backfill(body.to_string().as_bytes())
        .await
        .expect("backfill accepted");
    record.id
}

/// Wait until every slice of the request is terminal and the request is planned.
pub async fn wait_done(ledger: &dyn Ledger, request: &str, deadline: Duration) {
    let start = Instant::now();
    loop {
        // A Redis reply can time out on a loaded machine; ask again rather than fail.
        let (r, p) = match (
            ledger.get_request(request).await,
            ledger.progress(request).await,
        ) {
            (Ok(r), Ok(p)) => (r.expect("the request exists"), p),
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if r.planned && p.total() > 0 && p.done() == p.total() {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "request {request} not done after {deadline:?}: planned={} {p:?}",
            r.planned
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What arrived on the output queue: every record id with how often it came, and the
/// per-message checks done on the way (ids match bodies, headers match provenance).
#[derive(Debug, Default)]
pub struct Received {
    pub counts: HashMap<String, u32>,
    pub messages: u64,
    /// Records per (dataset, folder path).
    pub per_group: BTreeMap<(String, String), u64>,
}

impl Received {
    pub fn unique(&self) -> usize {
        self.counts.len()
    }
    pub fn duplicates(&self) -> u64 {
        self.counts.values().map(|&c| u64::from(c - 1)).sum()
    }
    fn add(&mut self, id: String, dataset: &str, folder: &str) {
        *self.counts.entry(id).or_default() += 1;
        *self
            .per_group
            .entry((dataset.to_owned(), folder.to_owned()))
            .or_default() += 1;
    }
}

/// Consume the output queue until nothing arrives for `quiet`, acking everything.
pub async fn collect(sub: &mut Box<dyn Subscriber>, into: &mut Received, quiet: Duration) {
    while let Some(d) = sub.next(quiet).await.expect("output queue") {
        into.messages += 1;
        let shape = d.headers.get(headers::SHAPE).cloned().unwrap_or_default();
        if shape == "page" {
            let page = RecordPage::from_bytes(&d.body).expect("a record page");
            let folder = page
                .provenance
                .folder
                .as_ref()
                .map(|f| f.path.clone())
                .unwrap_or_default();
            for r in page.records {
                into.add(r.id, &page.provenance.dataset, &folder);
            }
        } else {
            let env = RecordEnvelope::from_bytes(&d.body).expect("a record envelope");
            assert_eq!(
                d.message_id.as_deref(),
                Some(env.id.as_str()),
                "message id = record id"
            );
            assert_eq!(
                d.headers.get(headers::SLICE),
                Some(&env.provenance.slice_id)
            );
            assert_eq!(
                d.headers.get(headers::DATASET),
                Some(&env.provenance.dataset)
            );
            let folder = env
                .provenance
                .folder
                .as_ref()
                .map(|f| f.path.clone())
                .unwrap_or_default();
            into.add(env.id, &env.provenance.dataset, &folder);
        }
        d.ack().await.expect("ack output");
    }
}

/// Every record id the simulator serves for `datasets` × `folders` over `[from, to)`,
/// read directly (one keyset pass per dataset and folder, outside the fleet) with a
/// fault-free client. Call it while no faults are configured.
pub async fn reference_ids(
    sources: &Sources,
    source: &str,
    datasets: &[&str],
    folders: &[&str],
    from: &str,
    to: &str,
) -> HashSet<String> {
    let all_folders = sources.folders(source).await.expect("folders");
    let mut ids = HashSet::new();
    for ds in datasets {
        let dataset = DatasetRef::parse(ds).expect("known dataset");
        let targets: Vec<_> = if dataset.folder_scoped() {
            folders
                .iter()
                .map(|p| {
                    Some(
                        all_folders
                            .iter()
                            .find(|f| f.path == *p)
                            .unwrap_or_else(|| panic!("folder {p}"))
                            .clone(),
                    )
                })
                .collect()
        } else {
            vec![None]
        };
        for folder in targets {
            let read = SliceRead {
                source: source.into(),
                dataset: dataset.clone(),
                folder,
                from: Some(from.parse().unwrap()),
                to: Some(to.parse().unwrap()),
                select: vec![],
                page_size: None,
                mode: Default::default(),
            };
            let mut cursor = SliceCursor::start(&dataset);
            loop {
                let (records, next) = sources
                    .read_page(&read, &cursor, fleet_core::Priority::Sync)
                    .await
                    .expect("reference read");
                for r in &records {
                    let (key, version) = key_and_version(r);
                    ids.insert(fleet_core::wire::record_id(source, ds, &key, &version));
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

/// Assert that `received` holds exactly `expected` (no record missing, none foreign).
pub fn assert_complete(received: &Received, expected: &HashSet<String>) {
    fleet_testkit::truth::assert_complete(&received.counts, expected);
}
