//! One small backfill through the whole path: coordinator → job queue → two workers →
//! records exchange → a consumer, checked against the simulator's data.

mod common;

use std::time::Duration;

use common::*;
use fleet_core::Ledger;
use fleet_worker::{OutputMode, WorkerConfig};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_backfill_arrives_complete_in_both_output_modes() {
    for mode in [OutputMode::Record, OutputMode::Page] {
        let sim = start_sim(sim_config(31)).await;
        let b = Backends::connect(&format!("worker-smoke-{}", mode.as_str())).await;
        let sources = b.acme_sources(&sim).await;
        let mut out = b.output().await;
        let coordinator = b.coordinator(sources.clone());
        let config = WorkerConfig {
            output: mode,
            concurrency: 2,
            ..WorkerConfig::default()
        };
        let workers = [
            Running::start(b.worker(config.clone(), sources.clone()).await),
            Running::start(b.worker(config, sources.clone()).await),
        ];
        let datasets = ["jobs", "queue-items"];
        let id = submit(
            &coordinator,
            json!({"sources": ["acme"], "datasets": datasets, "from": "2024-01-01T00:00:00Z",
                   "to": "2024-02-01T00:00:00Z", "slice_width": "7d"}),
        )
        .await;
        wait_done(&b.ledger, &id, Duration::from_secs(120)).await;
        let mut received = Received::default();
        collect(&mut out, &mut received, Duration::from_secs(2)).await;
        let expected = reference_ids(
            &sources,
            "acme",
            &datasets,
            &FOLDERS,
            "2024-01-01T00:00:00Z",
            "2024-02-01T00:00:00Z",
        )
        .await;
        assert!(expected.len() > 1000, "{}", expected.len());
        assert_complete(&received, &expected);
        assert_eq!(received.duplicates(), 0, "no faults, no duplicates");
        let p = b.ledger.progress(&id).await.unwrap();
        assert_eq!(p.completed, p.total(), "{p:?}");
        assert_eq!(
            p.records,
            expected.len() as u64,
            "ledger counts every record once"
        );
        for w in workers {
            w.stop().await;
        }
        b.cleanup().await;
        sim.stop().await;
    }
}
