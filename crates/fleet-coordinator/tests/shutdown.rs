//! What a coordinator's shutdown leaves behind: planning runs are dropped where they are
//! (the process does not wait for a plan to finish), and the next start resumes the plan
//! to the very same slices. And `/readyz`'s answer names each backend.
//!
//! The broker here is the in-process one behind a gate: it confirms the first messages,
//! then never again (a broker that stopped confirming), which holds a plan mid-way.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use fleet_coordinator::{Coordinator, CoordinatorConfig};
use fleet_core::broker::{Depths, Subscriber, Subscription};
use fleet_core::{Broker, BrokerError, Delivery, Ledger, Outgoing, Readiness};
use fleet_memory::{FileLedger, MemoryBroker};
use tokio_util::sync::CancellationToken;

/// A [`MemoryBroker`] that confirms `allow` messages, then holds every later publish
/// forever; `ready` answers what the test sets.
struct Gated {
    inner: MemoryBroker,
    allow: usize,
    published: AtomicUsize,
    ready: AtomicBool,
}

impl Gated {
    fn new(inner: MemoryBroker, allow: usize) -> Gated {
        Gated {
            inner,
            allow,
            published: AtomicUsize::new(0),
            ready: AtomicBool::new(true),
        }
    }
}

#[async_trait]
impl Broker for Gated {
    async fn declare(&self) -> Result<(), BrokerError> {
        self.inner.declare().await
    }
    async fn publish(&self, batch: Vec<Outgoing>) -> Result<(), BrokerError> {
        if self.published.fetch_add(batch.len(), Ordering::SeqCst) >= self.allow {
            std::future::pending::<()>().await;
        }
        self.inner.publish(batch).await
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
        self.ready.load(Ordering::SeqCst)
    }
}

fn config(replica: &str) -> CoordinatorConfig {
    CoordinatorConfig {
        // Small batches, so the plan of 104 slices is many batches long.
        batch: 10,
        replica: replica.to_owned(),
        ..test_config()
    }
}

fn temp_ledger_path() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fleet-coord-shutdown-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("ledger.jsonl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_mid_plan_returns_without_the_plan_and_the_next_start_finishes_it() {
    let sim = start_sim(sim_config()).await;
    let path = temp_ledger_path();
    let memory = MemoryBroker::default();
    let gated = Arc::new(Gated::new(memory.clone(), 20));
    let ledger = FileLedger::open(&path).await.unwrap();
    let first = Coordinator::new(
        config("first"),
        Arc::new(ledger.clone()),
        gated.clone(),
        acme(&sim),
    );
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = tokio::spawn(first.clone().run(listener, shutdown.clone()));

    // jobs per folder (3) and audit logs once, 26 weeks each: 104 slices.
    let body = br#"{"sources": ["acme"], "datasets": ["jobs", "audit-logs"], "from": "2024-01-01", "to": "2024-07-01", "slice_width": "7d"}"#;
    let (request, created) = first.submit_backfill(body).await.unwrap();
    assert!(created);
    fleet_testkit::wait_until(
        "the plan to reach the stuck broker",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async { gated.published.load(Ordering::SeqCst) > gated.allow },
    )
    .await
    .unwrap();
    let stored = ledger.get_request(&request.id).await.unwrap().unwrap();
    assert!(!stored.planned, "the plan must still be under way");

    // Shut down: the process returns although its plan can never finish.
    shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(20), running).await;
    let ended = ended.expect("the coordinator returns on shutdown without waiting for its plan");
    ended.expect("run task").expect("run ends cleanly");
    drop(first);
    assert!(
        !ledger
            .get_request(&request.id)
            .await
            .unwrap()
            .unwrap()
            .planned
    );

    // The next start (another replica, a broker that confirms) resumes the plan.
    drop(ledger);
    let reopened = FileLedger::open(&path).await.unwrap();
    let second = Coordinator::new(
        config("second"),
        Arc::new(reopened.clone()),
        Arc::new(memory.clone()),
        acme(&sim),
    );
    fleet_testkit::wait_until(
        "the resumed plan to finish",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            second.leader_tick().await.unwrap();
            reopened
                .get_request(&request.id)
                .await
                .unwrap()
                .unwrap()
                .planned
        },
    )
    .await
    .unwrap();
    let slices = all_slices(&reopened, &request.id).await;
    let counts = check_coverage(
        &slices,
        utc("2024-01-01T00:00:00Z"),
        utc("2024-07-01T00:00:00Z"),
    );
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(counts.values().all(|&n| n == 26), "{counts:?}");
    // Every slice has a job on the broker: the ones confirmed before the shutdown and
    // the rest published by the resumed plan.
    let jobs = drain_jobs(&memory, Duration::from_millis(200)).await;
    let job_ids: BTreeSet<String> = jobs.into_iter().map(|j| j.slice_id).collect();
    let slice_ids: BTreeSet<String> = slices.into_iter().map(|s| s.id).collect();
    assert_eq!(job_ids, slice_ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_the_backend_that_is_down() {
    let sim = start_sim(sim_config()).await;
    let gated = Arc::new(Gated::new(MemoryBroker::default(), usize::MAX));
    let ledger = FileLedger::open(&temp_ledger_path()).await.unwrap();
    let coordinator = Coordinator::new(test_config(), Arc::new(ledger), gated.clone(), acme(&sim));
    assert_eq!(
        coordinator.readiness().await,
        Readiness {
            broker: true,
            ledger: true
        }
    );
    gated.ready.store(false, Ordering::SeqCst);
    assert_eq!(
        coordinator.readiness().await,
        Readiness {
            broker: false,
            ledger: true
        }
    );
}
