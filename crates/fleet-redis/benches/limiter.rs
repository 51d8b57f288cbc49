//! How much `RedisRateLimiter::acquire` costs: latency (p50, p99, p99.9) and throughput
//! of the reservation script against the local Redis, with 1 and 8 concurrent tasks.
//!
//! Method: one limiter (one multiplexed `ConnectionManager`, as in a worker) on a
//! fresh key prefix, with budgets so large that no call ever waits: this measures the
//! check itself, i.e. one `EVALSHA` round trip and the script's work, not the limit.
//! Three plans: an unlimited family (the script reads only the pause key), a sync
//! request (pause + one bucket) and a backfill (pause + two buckets). Each case runs a
//! short warm-up (which also loads the script), then `N` tasks call `acquire` in a loop
//! until the case's time is up; every call's latency is recorded and the percentiles
//! are taken over all of them. Throughput is calls / wall time.
//!
//! Runs: `cargo bench -p fleet-redis --bench limiter` (3 s per case); without `--bench`
//! (`cargo test --benches`) a ~1 s smoke pass; `--list` prints nothing (test runners
//! enumerate benches that way). Redis, the client and the tasks share the machine's
//! cores, so the numbers are for this box, not for Redis in general.

use std::time::{Duration, Instant};

use fleet_core::ratelimit::FamilyBudgets;
use fleet_core::{
    BucketKey, Budget, Decision, EndpointFamily, LimiterConfig, PermitRequest, Priority,
    RateLimiter,
};
use fleet_redis::RedisRateLimiter;
use tokio::task::JoinSet;

const TENANT: &str = "bench/tenant";
const TASKS: [usize; 2] = [1, 8];

struct Case {
    name: &'static str,
    family: EndpointFamily,
    priority: Priority,
}

const CASES: [Case; 3] = [
    Case {
        name: "unlimited (pause only)",
        family: EndpointFamily::Other,
        priority: Priority::Sync,
    },
    Case {
        name: "sync (1 bucket)",
        family: EndpointFamily::Jobs,
        priority: Priority::Sync,
    },
    Case {
        name: "backfill (2 buckets)",
        family: EndpointFamily::Jobs,
        priority: Priority::Backfill,
    },
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let per_case = if args.iter().any(|a| a == "--bench") {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(120)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(per_case));
}

async fn run(per_case: Duration) {
    let url = fleet_testkit::require_redis().await;
    let conn = fleet_redis::connect_manager(&url)
        .await
        .expect("connecting to redis");
    // A billion per second: the TAT never gets ahead of Redis's clock.
    let huge = Budget {
        requests: 1_000_000_000,
        period_ms: 1_000,
        burst: 1,
    };
    let config = LimiterConfig {
        default: FamilyBudgets {
            jobs: Some(huge),
            queue_items: Some(huge),
            other: None,
        },
        ..LimiterConfig::default()
    };
    config.validate().expect("bench config");
    let limiter =
        RedisRateLimiter::new(conn, fleet_testkit::unique_prefix("bench_limiter"), config);

    println!("acquire() on {url}, {per_case:?} per case");
    println!(
        "{:<24} {:>5} {:>9} {:>10} {:>9} {:>9} {:>9} {:>6}",
        "plan", "tasks", "calls", "calls/s", "p50", "p99", "p99.9", "waits"
    );
    for case in &CASES {
        let request = PermitRequest {
            bucket: BucketKey::new(TENANT, case.family),
            priority: case.priority,
            max_wait: Duration::from_secs(1),
        };
        for tasks in TASKS {
            measure(&limiter, &request, tasks, per_case / 10).await; // warm-up
            let r = measure(&limiter, &request, tasks, per_case).await;
            println!(
                "{:<24} {:>5} {:>9} {:>10.0} {:>9} {:>9} {:>9} {:>6}",
                case.name,
                tasks,
                r.latencies.len(),
                r.latencies.len() as f64 / r.elapsed.as_secs_f64(),
                us(r.percentile(0.50)),
                us(r.percentile(0.99)),
                us(r.percentile(0.999)),
                r.waited,
            );
        }
    }
}

struct Measured {
    /// Every call's latency, sorted.
    latencies: Vec<Duration>,
    elapsed: Duration,
    /// Calls that were told to wait (should be 0: the budget is meant to be out of reach).
    waited: usize,
}

impl Measured {
    fn percentile(&self, q: f64) -> Duration {
        let i = ((self.latencies.len() as f64 * q).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1]
    }
}

async fn measure(
    limiter: &RedisRateLimiter,
    request: &PermitRequest,
    tasks: usize,
    run_for: Duration,
) -> Measured {
    let start = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..tasks {
        let (limiter, request) = (limiter.clone(), request.clone());
        set.spawn(async move {
            let (mut latencies, mut waited) = (Vec::new(), 0);
            while start.elapsed() < run_for {
                let t = Instant::now();
                let decision = limiter.acquire(&request).await.expect("acquire");
                latencies.push(t.elapsed());
                if decision
                    != (Decision::Proceed {
                        wait: Duration::ZERO,
                    })
                {
                    waited += 1;
                }
            }
            (latencies, waited)
        });
    }
    let mut m = Measured {
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
        waited: 0,
    };
    for (latencies, waited) in set.join_all().await {
        m.latencies.extend(latencies);
        m.waited += waited;
    }
    m.elapsed = start.elapsed();
    m.latencies.sort_unstable();
    m
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}
