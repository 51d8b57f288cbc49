//! Planning throughput: slices planned, recorded and published (with confirms) per
//! second for a plan of 105,216 slices, next to RabbitMQ's raw confirmed-publish rate
//! for messages of the same size measured in the same run.
//!
//! Method: one backfill of `audit-logs` (tenant-level, so no folder listing) over three
//! years at a 15-minute width, given explicitly (so no `$count` probe): the time from
//! submission to the request being marked planned covers cutting the slices, adding them
//! to the ledger in batches, publishing their jobs and waiting for every confirm, and
//! marking them queued. The raw rate publishes the same number of messages of the same
//! size straight through lapin with a confirm window of 256. Both run against the local
//! RabbitMQ (quorum queues) and Redis; the embedded backends (in-process broker and
//! memory ledger) run the same plan for comparison. Compare ratios within one run: the
//! machine is shared and noisy.
//!
//! Run: `cargo bench -p fleet-coordinator --bench plan` (add `-- --quick` for 1 year).
//! Without `--bench` (`cargo test --benches`) it is a smoke pass over one month; `--list`
//! prints nothing (test runners enumerate bench binaries that way).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_amqp::{AmqpBroker, AmqpConfig};
use fleet_coordinator::{Coordinator, CoordinatorConfig};
use fleet_core::ledger::SliceRecord;
use fleet_core::plan::{self, PlanUnit, Width};
use fleet_core::wire::Lane;
use fleet_core::{Broker, Ledger, Sealer, Secret};
use fleet_memory::{FileLedger, MemoryBroker, MemoryRateLimiter, MemoryTokenCache};
use fleet_reader::Sources;
use fleet_redis::RedisLedger;
use uipath_client::client::ClientOptions;
use uipath_client::{AuthConfig, Deployment, SourceConfig, UipathClient};

fn sources() -> Sources {
    // Never called: a tenant-level dataset with a given width needs no source call.
    let source = SourceConfig {
        name: "acme".into(),
        deployment: Deployment::Cloud {
            base_url: url::Url::parse("http://127.0.0.1:9").unwrap(),
            organization: "org".into(),
            tenant: "tenant".into(),
        },
        auth: AuthConfig::ClientCredentials {
            client_id: "id".into(),
            client_secret: Secret::new("unused"),
            scopes: vec!["OR.Audit.Read".into()],
        },
        token_url: None,
        timeout_secs: 5,
    };
    let client = UipathClient::new(
        source,
        Arc::new(MemoryTokenCache::new(Sealer::plain())),
        Arc::new(MemoryRateLimiter::new(Default::default())),
        ClientOptions::default(),
    )
    .unwrap();
    Sources::new([Arc::new(client)])
}

async fn plan_rate(
    ledger: Arc<dyn Ledger>,
    broker: Arc<dyn Broker>,
    body: &str,
) -> (u64, Duration) {
    broker.declare().await.unwrap();
    let config = CoordinatorConfig {
        max_slices: 10_000_000,
        ..CoordinatorConfig::default()
    };
    let coordinator = Coordinator::new(config, ledger.clone(), broker, sources());
    let started = Instant::now();
    let (request, _) = coordinator.submit_backfill(body.as_bytes()).await.unwrap();
    loop {
        let r = ledger.get_request(&request.id).await.unwrap().unwrap();
        if r.planned {
            break;
        }
        assert!(r.note.is_none(), "planning failed: {:?}", r.note);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let total = ledger.progress(&request.id).await.unwrap().total();
    (total, elapsed)
}

fn job_size() -> usize {
    let unit = PlanUnit {
        source: "acme".into(),
        dataset: "audit-logs".into(),
        folder: None,
        width: Some(Width::Minutes(15)),
        select: vec![],
    };
    let now = chrono::Utc::now();
    let slice: SliceRecord = plan::unit_slices(
        "bf-0123456789abcdef0123",
        Lane::Backfill,
        &unit,
        "2023-01-01T00:00:00Z".parse().unwrap(),
        "2023-01-01T00:15:00Z".parse().unwrap(),
        None,
        now,
    )
    .next()
    .unwrap();
    plan::job_for(&slice).to_bytes().len()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let (from, to) = if !args.iter().any(|a| a == "--bench") {
        ("2024-12-01", "2025-01-01")
    } else if args.iter().any(|a| a == "--quick") {
        ("2024-01-01", "2025-01-01")
    } else {
        ("2022-01-01", "2025-01-01")
    };
    let body = format!(
        r#"{{"sources": ["acme"], "datasets": ["audit-logs"], "from": "{from}", "to": "{to}", "slice_width": "15m"}}"#
    );
    let amqp_url = fleet_testkit::require_rabbitmq().await;
    let redis_url = fleet_testkit::require_redis().await;
    let prefix = fleet_testkit::unique_prefix("bench_plan");
    let size = job_size();

    let amqp = AmqpBroker::connect(AmqpConfig::new(&amqp_url, &prefix))
        .await
        .unwrap();
    let redis = RedisLedger::connect(&redis_url, &prefix).await.unwrap();
    let (slices, fleet) = plan_rate(Arc::new(redis.clone()), Arc::new(amqp.clone()), &body).await;
    amqp.delete_topology().await.unwrap();
    redis.delete_all().await.unwrap();

    let raw = fleet_amqp::calibrate::confirmed_publish_rate(
        &amqp_url,
        &prefix,
        slices as usize,
        size,
        256,
    )
    .await
    .unwrap();

    let (embedded_slices, embedded) = plan_rate(
        Arc::new(FileLedger::memory()),
        Arc::new(MemoryBroker::default()),
        &body,
    )
    .await;
    assert_eq!(embedded_slices, slices);

    let rate = |d: Duration| slices as f64 / d.as_secs_f64();
    println!("plan of {slices} slices, job message {size} B, {from}..{to} at 15m");
    println!("| path | time | slices/s | vs raw publish |");
    println!("|---|---|---|---|");
    println!(
        "| raw lapin confirmed publish (window 256, quorum) | {:.1} s | {:.0} | 1.00 |",
        slices as f64 / raw,
        raw
    );
    println!(
        "| plan: Redis ledger + RabbitMQ (confirms) | {:.1} s | {:.0} | {:.2} |",
        fleet.as_secs_f64(),
        rate(fleet),
        rate(fleet) / raw
    );
    println!(
        "| plan: memory ledger + in-process broker | {:.1} s | {:.0} | {:.2} |",
        embedded.as_secs_f64(),
        rate(embedded),
        rate(embedded) / raw
    );
}
