//! The coordinator on the embedded backends (in-process broker, file ledger), as
//! `uipath-fleet run` uses it on a laptop: the same plan, the same guarantees, and the
//! state survives a restart.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use fleet_coordinator::Coordinator;
use fleet_core::{Broker, Ledger};
use fleet_memory::{FileLedger, MemoryBroker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_backends_plan_the_same_slices_and_keep_them_across_a_restart() {
    let sim = start_sim(sim_config()).await;
    let dir = std::env::temp_dir().join(format!(
        "fleet-coord-embedded-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.jsonl");
    let broker = MemoryBroker::default();
    let ledger = FileLedger::open(&path).await.unwrap();
    let coordinator = Coordinator::new(
        test_config(),
        Arc::new(ledger.clone()),
        Arc::new(broker.clone()),
        acme(&sim),
    );
    broker.declare().await.unwrap();
    let body = br#"{"sources": ["acme"], "datasets": ["jobs", "audit-logs"], "from": "2024-01-01", "to": "2024-07-01", "slice_width": "7d"}"#;
    let (request, created) = coordinator.submit_backfill(body).await.unwrap();
    assert!(created);
    fleet_testkit::wait_until(
        "the plan to finish",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async {
            ledger
                .get_request(&request.id)
                .await
                .unwrap()
                .unwrap()
                .planned
        },
    )
    .await
    .unwrap();
    let slices = all_slices(&ledger, &request.id).await;
    let counts = check_coverage(
        &slices,
        utc("2024-01-01T00:00:00Z"),
        utc("2024-07-01T00:00:00Z"),
    );
    // 182 days from Monday 2024-01-01: exactly 26 weeks; jobs per folder, audit logs
    // once per tenant.
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(counts.values().all(|&n| n == 26), "{counts:?}");
    let jobs = drain_jobs(&broker, Duration::from_millis(200)).await;
    assert_eq!(jobs.len(), slices.len());

    // Restart: the file holds the request, its plan and its slices.
    drop(coordinator);
    drop(ledger);
    let reopened = FileLedger::open(&path).await.unwrap();
    let again = all_slices(&reopened, &request.id).await;
    assert_eq!(again.len(), slices.len());
    let coordinator = Coordinator::new(
        test_config(),
        Arc::new(reopened.clone()),
        Arc::new(broker.clone()),
        acme(&sim),
    );
    let (same, created) = coordinator.submit_backfill(body).await.unwrap();
    assert!(!created);
    assert_eq!(same.id, request.id);
    assert_eq!(
        drain_jobs(&broker, Duration::from_millis(200)).await.len(),
        0
    );

    std::fs::remove_dir_all(&dir).unwrap();
    sim.stop().await;
}
