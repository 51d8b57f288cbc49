//! Golden capture of a replayed dead letter: what `uipath-fleet dlq replay` publishes back
//! onto the job lanes, against the real RabbitMQ and Redis.
//!
//! A worker without the source `acme` dead-letters every job of a backfill
//! (`unknown_source`), exactly as a worker does; `dlq replay --all` then puts the jobs
//! back. The replayed messages (id, headers, body) are compared with
//! `tests/golden/replayed_job.json` (`UPDATE_GOLDEN=1` rewrites it). The worker-side
//! messages themselves are captured in `fleet-worker/tests/golden.rs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use fleet_core::broker::{Destination, Outgoing};
use fleet_core::{Broker as _, Ledger as _, Sealer};
use fleet_memory::{MemoryRateLimiter, MemoryTokenCache};
use fleet_reader::Sources;
use fleet_testkit::golden::assert_golden;
use fleet_worker::{Worker, WorkerConfig};
use tokio_util::sync::CancellationToken;
use uipath_client::client::ClientOptions;
use uipath_client::UipathClient;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_replayed_dead_letters() {
    with_fleet(
        "fleet-golden-replay",
        sim_config(1, 10.0),
        |fleet| async move {
            let request = fleet.backfill(&["jobs"], &to_after(1), "1d").await;
            fleet
                .wait_progress(&request, "the plan", Duration::from_secs(20), |p| {
                    p.total() > 0
                })
                .await;
            let slices = fleet.slices(&request).await.len() as u64;

            // A worker whose only source is `other`: every job is given up as
            // `unknown_source`.
            let mut other = acme(&fleet.sim);
            other.name = "other".into();
            let client = UipathClient::new(
                other,
                Arc::new(MemoryTokenCache::new(Sealer::plain())),
                Arc::new(MemoryRateLimiter::new(generous_limits())),
                ClientOptions::default(),
            )
            .expect("client builds");
            let worker = Worker::new(
                WorkerConfig {
                    concurrency: 2,
                    poll: Duration::from_millis(50),
                    ..WorkerConfig::default()
                },
                Arc::new(fleet.ledger.clone()),
                Arc::new(fleet.amqp.clone()),
                Sources::new([Arc::new(client)]),
            )
            .expect("worker builds");
            let stop = CancellationToken::new();
            let task = tokio::spawn({
                let stop = stop.clone();
                async move { worker.run(stop).await }
            });
            let dead = fleet.amqp.names().dead();
            fleet_testkit::wait_until(
                "every job dead-lettered",
                Duration::from_secs(30),
                Duration::from_millis(50),
                || async { fleet.amqp.queue_depth(&dead).await.unwrap_or(0) == slices },
            )
            .await
            .unwrap();
            stop.cancel();
            task.await.expect("worker task");

            let config = fleet.write_config("concurrency = 1");
            let out = dlq(&fleet, &config, &["replay", "--all"]).await;
            assert!(
                out.status.success(),
                "`dlq replay --all` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );

            let mut replayed = Vec::new();
            while let Some(d) = fleet
                .amqp
                .next_job(Duration::from_millis(500))
                .await
                .expect("next job")
            {
                let mut headers = d.headers.clone();
                // Set by RabbitMQ's quorum queues, not by the fleet.
                headers.remove("x-delivery-count");
                replayed.push(Outgoing {
                    destination: Destination::Jobs(d.lane.expect("a job lane")),
                    message_id: d.message_id.clone().unwrap_or_default(),
                    headers,
                    body: d.body.clone(),
                });
                d.ack().await.expect("ack");
            }
            assert_eq!(replayed.len() as u64, slices, "every letter replayed");
            assert_golden(GOLDEN, "replayed_job", &replayed);
            let r = fleet.ledger.get_request(&request).await.unwrap().unwrap();
            assert!(r.planned);
        },
    )
    .await;
}
