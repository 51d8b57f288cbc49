//! One tenant with an empty rate budget must not starve the others.
//!
//! Four tenants of one organization on the simulator, each a source. In the fleet's
//! limiter one of them (`slow`) gets a trickle (about one backfill request every 4.3 s),
//! the other three a budget they never exhaust. The same backfill of the three fast
//! tenants runs twice, each time on fresh backends (own prefix, so the same request ids
//! and the same data): once alone, once queued *behind* a backfill of the slow tenant.
//! Workers must defer the slow tenant's jobs (park them, not sleep on them) and serve the
//! fast tenants meanwhile, so the second run takes about as long as the first. The bound is
//! generous (2x + 10 s): this catches starvation — workers sleeping on the slow tenant's
//! budget would queue 42 jobs behind one request per 4.3 s, minutes — not a slowdown of a
//! few percent. Deferred jobs come back through the 5 s delay queue, so they keep
//! returning (and being deferred again) while the fast tenants' work runs.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fleet_core::ledger::Progress;
use fleet_core::ratelimit::FamilyBudgets;
use fleet_core::{Budget, Ledger, LimiterConfig};
use fleet_worker::WorkerConfig;
use serde_json::json;
use uipath_client::SourceConfig;
use uipath_sim::config::{OrgConfig, SimConfig, TenantConfig, DEMO_ORG, DEMO_TENANT};

/// (source, tenant); the last one is throttled.
const TENANTS: [(&str, &str); 4] = [
    ("fast1", DEMO_TENANT),
    ("fast2", "Tenant2"),
    ("fast3", "Tenant3"),
    ("slow", "Tenant4"),
];
const FROM: &str = "2024-01-01T00:00:00Z";
const TO: &str = "2024-01-15T00:00:00Z";

fn config() -> SimConfig {
    let mut c = sim_config(14);
    c.data.jobs_per_day = 100.0;
    c.orgs = vec![OrgConfig {
        name: DEMO_ORG.into(),
        tenants: TENANTS
            .iter()
            .map(|(_, t)| TenantConfig {
                name: (*t).into(),
                data: None,
            })
            .collect(),
    }];
    c
}

/// Generous budgets for everyone but the slow tenant, whose Jobs and QueueItems calls get
/// 3 per 10 s (backfills: 80% of 97% of that, one every ~4.3 s). Folder listing stays
/// unlimited so planning is not what is measured.
fn limits(slow: &SourceConfig) -> LimiterConfig {
    let trickle = Some(Budget {
        requests: 3,
        period_ms: 10_000,
        burst: 1,
    });
    let mut l = generous_limits();
    l.tenants.insert(
        slow.tenant_key(),
        FamilyBudgets {
            jobs: trickle,
            queue_items: trickle,
            other: None,
        },
    );
    l.validate().expect("valid limits");
    l
}

/// What one phase measured.
#[derive(Debug)]
struct Phase {
    /// From submitting the fast tenants' backfill to its last slice completing.
    fast: Duration,
    fast_progress: Progress,
    /// Jobs the worker deferred (the slow tenant's budget had no near slot).
    deferred: u64,
    /// The slow tenant's backfill when the fast one finished.
    slow_progress: Option<Progress>,
    /// Records the worker published per source.
    records: Vec<(String, u64)>,
}

async fn phase(sim: &uipath_sim::server::RunningSim, name: &str, with_slow: bool) -> Phase {
    let configs: Vec<SourceConfig> = TENANTS
        .iter()
        .map(|(s, t)| source_at(&sim.base_url(), s, DEMO_ORG, t))
        .collect();
    let limits = limits(&configs[3]);
    let b = Backends::connect(name).await;
    // A job may wait 1 s for a permit; longer, and it is deferred.
    let options = client_options(Duration::from_secs(1));
    let sources = b.sources(&configs, limits.clone(), options.clone()).await;
    let coordinator = b.coordinator(b.sources(&configs, limits, options).await);
    let worker = Running::start(
        b.worker(
            WorkerConfig {
                concurrency: 4,
                ..WorkerConfig::default()
            },
            sources,
        )
        .await,
    );
    let slow = if with_slow {
        let id = submit(
            &coordinator,
            json!({"sources": ["slow"], "datasets": ["jobs"], "from": FROM, "to": TO,
                   "slice_width": "1d"}),
        )
        .await;
        // All of its jobs are on the queue before the fast tenants'.
        let start = Instant::now();
        while !b.ledger.get_request(&id).await.unwrap().unwrap().planned {
            assert!(start.elapsed() < Duration::from_secs(30), "slow plan");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(id)
    } else {
        None
    };
    let started = Instant::now();
    let fast_id = submit(
        &coordinator,
        json!({"sources": ["fast1", "fast2", "fast3"], "datasets": ["jobs"], "from": FROM,
               "to": TO, "slice_width": "1d"}),
    )
    .await;
    wait_done(&b.ledger, &fast_id, Duration::from_secs(300)).await;
    let fast = started.elapsed();
    let fast_progress = b.ledger.progress(&fast_id).await.unwrap();
    let slow_progress = match &slow {
        Some(id) => Some(b.ledger.progress(id).await.unwrap()),
        None => None,
    };
    let metrics = worker.worker.metrics();
    let deferred = metrics.jobs.with_label_values(&["deferred"]).get();
    let records = TENANTS
        .iter()
        .map(|(s, _)| {
            let n = metrics.records.with_label_values(&[s, "jobs"]).get();
            (s.to_string(), n)
        })
        .collect();
    let summary = worker.stop().await;
    assert_eq!(summary.abandoned, 0, "{summary:?}");
    b.cleanup().await;
    Phase {
        fast,
        fast_progress,
        deferred,
        slow_progress,
        records,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_tenant_does_not_starve_the_others() {
    let sim = start_sim(config()).await;
    let without = phase(&sim, "worker-fair-without", false).await;
    let with = phase(&sim, "worker-fair-with", true).await;
    println!("without the slow tenant: {without:?}");
    println!("with the slow tenant queued first: {with:?}");

    for p in [&without, &with] {
        assert_eq!(p.fast_progress.completed, p.fast_progress.total(), "{p:?}");
        assert_eq!(p.fast_progress.failed, 0);
        assert!(p.fast_progress.records > 1_000, "{p:?}");
    }
    assert_eq!(
        without.fast_progress.records, with.fast_progress.records,
        "both phases did the same work"
    );
    assert_eq!(
        without.deferred, 0,
        "nobody is deferred without the slow tenant"
    );

    // The slow tenant was served by deferral, not by sleeping on its budget...
    assert!(with.deferred > 0, "{with:?}");
    let slow = with.slow_progress.expect("slow progress");
    assert_eq!(slow.total(), 42, "14 days x 3 folders: {slow:?}");
    assert!(
        slow.completed < slow.total(),
        "the trickle cannot have finished 42 slices: {slow:?}"
    );
    // ...and the fast tenants did not wait for it.
    let bound = without.fast * 2 + Duration::from_secs(10);
    assert!(
        with.fast <= bound,
        "fast tenants took {:?} with the slow tenant queued vs {:?} without (bound {bound:?})",
        with.fast,
        without.fast
    );
    let published = |source: &str| {
        with.records
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, n)| *n)
            .unwrap_or_default()
    };
    println!(
        "fast tenants: {:.1} s alone, {:.1} s behind the slow tenant ({:.2}x); slow tenant: {} deferrals, {}/{} slices completed, {} records published",
        without.fast.as_secs_f64(),
        with.fast.as_secs_f64(),
        with.fast.as_secs_f64() / without.fast.as_secs_f64(),
        with.deferred,
        slow.completed,
        slow.total(),
        published("slow"),
    );
    sim.stop().await;
}
