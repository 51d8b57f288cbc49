//! The coordinator tests' set-up: a simulator with one year of data in three folders, a
//! source pointing at it, the real ledger (Redis) and broker (RabbitMQ) under a prefix of
//! the test's own, and helpers to drain the job queues and check slice sets.

#![allow(dead_code)]

pub mod http;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use fleet_amqp::{AmqpBroker, AmqpConfig};
use fleet_coordinator::{Coordinator, CoordinatorConfig};
use fleet_core::broker::Lane;
use fleet_core::ledger::{SliceRecord, SliceState};
use fleet_core::ratelimit::FamilyBudgets;
use fleet_core::wire::SliceJob;
use fleet_core::{Broker, Budget, Ledger, LimiterConfig, Sealer, Secret};
use fleet_memory::{MemoryRateLimiter, MemoryTokenCache};
use fleet_reader::Sources;
use fleet_redis::RedisLedger;
use uipath_client::client::ClientOptions;
use uipath_client::{AuthConfig, Deployment, SourceConfig, UipathClient};
use uipath_sim::config::{
    SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG, DEMO_TENANT, OR_READ_SCOPES,
};
use uipath_sim::server::RunningSim;
use url::Url;

pub const FOLDERS: [&str; 3] = ["Finance", "HR", "Operations"];

/// One year (2024) of data in three top-level folders, no rate limit.
pub fn sim_config() -> SimConfig {
    let mut c = SimConfig::default();
    c.rate_limit.requests = 0;
    c.data.span_start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    c.data.span_end = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    c.data.folders = FOLDERS.map(String::from).to_vec();
    c.data.extra_folders = 0;
    c
}

pub async fn start_sim(config: SimConfig) -> RunningSim {
    RunningSim::start(config).await.expect("simulator starts")
}

pub fn source_config(sim: &RunningSim, name: &str, scopes: &[&str]) -> SourceConfig {
    source_at(&sim.base_url(), name, scopes)
}

fn generous_limits() -> LimiterConfig {
    let b = Some(Budget {
        requests: 100_000,
        period_ms: 60_000,
        burst: 100,
    });
    LimiterConfig {
        default: FamilyBudgets {
            jobs: b,
            queue_items: b,
            other: None,
        },
        ..LimiterConfig::default()
    }
}

pub fn client(source: SourceConfig) -> Arc<UipathClient> {
    Arc::new(
        UipathClient::new(
            source,
            Arc::new(MemoryTokenCache::new(Sealer::plain())),
            Arc::new(MemoryRateLimiter::new(generous_limits())),
            ClientOptions::default(),
        )
        .expect("client builds"),
    )
}

/// The source `acme` on the simulator with every Orchestrator read scope.
pub fn acme(sim: &RunningSim) -> Sources {
    acme_at(&sim.base_url())
}

/// The same, by the simulator's URL (for replicas on other runtimes).
pub fn acme_at(sim_url: &str) -> Sources {
    Sources::new([client(source_at(sim_url, "acme", OR_READ_SCOPES))])
}

pub fn source_at(sim_url: &str, name: &str, scopes: &[&str]) -> SourceConfig {
    SourceConfig {
        name: name.into(),
        deployment: Deployment::Cloud {
            base_url: Url::parse(sim_url).unwrap(),
            organization: DEMO_ORG.into(),
            tenant: DEMO_TENANT.into(),
        },
        auth: AuthConfig::ClientCredentials {
            client_id: DEMO_CLIENT_ID.into(),
            client_secret: Secret::new(DEMO_CLIENT_SECRET),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        },
        token_url: None,
        timeout_secs: 10,
    }
}

/// The fleet's shared backends under one prefix: RabbitMQ and Redis.
#[derive(Clone)]
pub struct Backends {
    pub prefix: String,
    pub amqp: AmqpBroker,
    pub ledger: RedisLedger,
}

impl Backends {
    pub async fn connect(test: &str) -> Backends {
        let amqp_url = fleet_testkit::require_rabbitmq().await;
        let redis_url = fleet_testkit::require_redis().await;
        let prefix = fleet_testkit::unique_prefix(test);
        Backends::connect_to(&amqp_url, &redis_url, &prefix).await
    }

    /// New connections to an existing prefix (another replica's).
    pub async fn attach(prefix: &str) -> Backends {
        let amqp_url = fleet_testkit::require_rabbitmq().await;
        let redis_url = fleet_testkit::require_redis().await;
        Backends::connect_to(&amqp_url, &redis_url, prefix).await
    }

    async fn connect_to(amqp_url: &str, redis_url: &str, prefix: &str) -> Backends {
        let amqp = AmqpBroker::connect(AmqpConfig::new(amqp_url, prefix))
            .await
            .expect("rabbitmq connects");
        amqp.declare().await.expect("topology declared");
        let ledger = RedisLedger::connect(redis_url, prefix)
            .await
            .expect("redis connects");
        Backends {
            prefix: prefix.to_owned(),
            amqp,
            ledger,
        }
    }

    pub fn coordinator(&self, sources: Sources, config: CoordinatorConfig) -> Coordinator {
        Coordinator::new(
            config,
            Arc::new(self.ledger.clone()),
            Arc::new(self.amqp.clone()),
            sources,
        )
    }

    pub async fn cleanup(&self) {
        let _ = self.amqp.delete_topology().await;
        let _ = self.ledger.delete_all().await;
    }
}

/// Test timings: short leases so a dead replica's lapse quickly.
pub fn test_config() -> CoordinatorConfig {
    CoordinatorConfig {
        lease_ttl: Duration::from_secs(2),
        plan_lease_ttl: Duration::from_secs(2),
        tick: Duration::from_millis(100),
        ..CoordinatorConfig::default()
    }
}

/// Take every job off the queues until none arrives for `quiet`, acking each, with 8
/// takers at once (one `next_job` is a round trip). Returns the jobs in no particular
/// order.
pub async fn drain_jobs(broker: &(dyn Broker + Sync), quiet: Duration) -> Vec<SliceJob> {
    let takers = (0..8).map(|_| async move {
        let mut out = Vec::new();
        while let Some(d) = broker.next_job(quiet).await.expect("next_job") {
            let job = SliceJob::from_bytes(&d.body).expect("a valid job");
            assert_eq!(
                d.message_id.as_deref(),
                Some(job.slice_id.as_str()),
                "message id = slice id"
            );
            out.push(job);
            d.ack().await.expect("ack");
        }
        out
    });
    futures::future::join_all(takers)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Every slice of a request, from the ledger.
pub async fn all_slices(ledger: &dyn Ledger, request: &str) -> Vec<SliceRecord> {
    let mut out: Vec<SliceRecord> = Vec::new();
    loop {
        let after = out.last().map(|s| s.id.clone());
        let page = ledger
            .list_slices(request, None, after.as_deref(), 1_000)
            .await
            .expect("list_slices");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// A slice's range.
pub type Range = (DateTime<Utc>, DateTime<Utc>);

/// Group slices by (dataset, folder key) and check each group covers `[from, to)` exactly:
/// sorted by start, the first starts at `from`, each starts where the previous ended, the
/// last ends at `to`. Returns the groups' slice counts.
pub fn check_coverage(
    slices: &[SliceRecord],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeMap<(String, String), usize> {
    let mut groups: BTreeMap<(String, String), Vec<Range>> = BTreeMap::new();
    for s in slices.iter().filter(|s| s.state != SliceState::Split) {
        let key = (
            s.dataset.clone(),
            s.folder
                .as_ref()
                .map(|f| f.path.clone())
                .unwrap_or_default(),
        );
        groups
            .entry(key)
            .or_default()
            .push((s.from.expect("timed slice"), s.to.expect("timed slice")));
    }
    let mut counts = BTreeMap::new();
    for (key, mut ranges) in groups {
        ranges.sort();
        assert_eq!(ranges.first().unwrap().0, from, "{key:?} starts at `from`");
        assert_eq!(ranges.last().unwrap().1, to, "{key:?} ends at `to`");
        for pair in ranges.windows(2) {
            assert_eq!(
                pair[0].1, pair[1].0,
                "{key:?}: gap or overlap between {:?} and {:?}",
                pair[0], pair[1]
            );
        }
        for r in &ranges {
            assert!(r.0 < r.1, "{key:?}: empty slice {r:?}");
        }
        counts.insert(key, ranges.len());
    }
    counts
}

pub fn lane_of(job: &SliceJob) -> Lane {
    job.lane
}

pub fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// A coordinator serving its API on a loopback port in this runtime, until `stop`.
pub struct Served {
    pub api: http::Api,
    pub coordinator: Coordinator,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

pub const API_TOKEN: &str = "test-api-token";

impl Served {
    pub async fn start(coordinator: Coordinator) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn({
            let (c, s) = (coordinator.clone(), shutdown.clone());
            async move { c.run(listener, s).await.expect("coordinator runs") }
        });
        let token = coordinator.config().api_token.as_ref().map(|_| API_TOKEN);
        Served {
            api: http::Api::new(base, token),
            coordinator,
            shutdown,
            task,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }

    /// Submit a new backfill (202 expected) and wait until it is fully planned. Returns
    /// its id and its view at that point.
    pub async fn backfill_planned(&self, body: &str) -> (String, serde_json::Value) {
        let (status, view) = self.api.post("/v1/backfills", body).await;
        assert_eq!(status, 202, "{view}");
        let id = view["id"].as_str().unwrap().to_owned();
        let view = self
            .wait_request(&id, "the plan to finish", |v| v["planned"] == true)
            .await;
        (id, view)
    }

    /// Poll the request until `check` holds, returning the last view.
    pub async fn wait_request(
        &self,
        id: &str,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (status, view) = self.api.get(&format!("/v1/requests/{id}")).await;
            assert_eq!(status, 200, "{view}");
            if check(&view) {
                return view;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}: {view}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn with_token(mut config: CoordinatorConfig) -> CoordinatorConfig {
    config.api_token = Some(Secret::new(API_TOKEN));
    config
}
