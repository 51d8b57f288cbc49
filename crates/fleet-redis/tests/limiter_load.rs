//! `RedisRateLimiter` under load: several limiter instances, each on its own Redis
//! connection (as separate workers would be), hammer one bucket for a couple of seconds.
//!
//! Each caller behaves like a worker: ask with a modest `max_wait`, note the admitted
//! arrival time (now + wait), sleep until it, ask again; when deferred, come back when
//! the slot is within reach. The checks are on the admitted arrivals:
//!
//! - **never over the bound**: no window of one period holds more than
//!   `burst + period / emission` of them (the GCRA guarantee, `fleet_core::gcra`);
//! - **the budget is used**: over the run, admissions reach ≥ 90% of the plan's rate.
//!
//! "Now" is the caller's clock at the midpoint of the call, which can be off from
//! Redis's by at most the call's round trip either way; the window is shortened by the
//! longest round trip seen, so that error cannot fail a correct limiter.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_core::{
    BucketKey, Budget, Decision, EndpointFamily, LimiterConfig, PermitRequest, Priority,
    RateLimiter,
};
use fleet_redis::RedisRateLimiter;
use fleet_testkit::unique_prefix;
use tokio::task::JoinSet;

use common::{limiter_config, manager};

const TENANT: &str = "cloud.example/acme/Load";

/// One admitted request.
#[derive(Debug, Clone, Copy)]
struct Admitted {
    /// When the caller may send, from the start of the run.
    at: Duration,
    priority: Priority,
}

/// What a run produced: the admissions, sorted, and the longest call.
struct Run {
    admitted: Vec<Admitted>,
    max_rtt: Duration,
}

/// `instances` limiters on their own connections, each driving one caller per entry of
/// `callers`, for `run_for`.
async fn hammer(
    config: LimiterConfig,
    instances: usize,
    callers: &[Priority],
    max_wait: Duration,
    run_for: Duration,
) -> Run {
    let prefix = unique_prefix("limiter_load");
    let mut limiters = Vec::with_capacity(instances);
    for _ in 0..instances {
        limiters.push(RedisRateLimiter::new(
            manager().await,
            prefix.clone(),
            config.clone(),
        ));
    }
    let start = Instant::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(instances * callers.len()));
    let mut tasks = JoinSet::new();
    for limiter in &limiters {
        for &priority in callers {
            let (limiter, barrier) = (limiter.clone(), barrier.clone());
            let request = PermitRequest {
                bucket: BucketKey::new(TENANT, EndpointFamily::Jobs),
                priority,
                max_wait,
            };
            tasks.spawn(async move {
                barrier.wait().await;
                let (mut admitted, mut max_rtt) = (Vec::new(), Duration::ZERO);
                while start.elapsed() < run_for {
                    let before = Instant::now();
                    let decision = limiter.acquire(&request).await.unwrap();
                    let rtt = before.elapsed();
                    max_rtt = max_rtt.max(rtt);
                    let mid = before + rtt / 2 - start;
                    // Sleeping is the caller's part of the protocol, not synchronisation.
                    match decision {
                        Decision::Proceed { wait } => {
                            admitted.push(Admitted {
                                at: mid + wait,
                                priority,
                            });
                            tokio::time::sleep(wait).await;
                        }
                        Decision::Defer { retry_in, .. } => {
                            tokio::time::sleep(retry_in.saturating_sub(max_wait)).await;
                        }
                    }
                }
                (admitted, max_rtt)
            });
        }
    }
    let mut run = Run {
        admitted: Vec::new(),
        max_rtt: Duration::ZERO,
    };
    for (admitted, max_rtt) in tasks.join_all().await {
        run.admitted.extend(admitted);
        run.max_rtt = run.max_rtt.max(max_rtt);
    }
    run.admitted.sort_by_key(|a| a.at);
    run
}

/// The most arrivals in any window `[t, t + window)`.
fn busiest_window(arrivals: &[Duration], window: Duration) -> usize {
    (0..arrivals.len())
        .map(|i| {
            arrivals[i..]
                .iter()
                .take_while(|&&a| a < arrivals[i] + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn arrivals(run: &Run, only: Option<Priority>) -> Vec<Duration> {
    run.admitted
        .iter()
        .filter(|a| only.is_none_or(|p| a.priority == p))
        .map(|a| a.at)
        .collect()
}

/// The GCRA bound for one period of `budget` in the plan's bucket `index`.
fn bound(
    config: &LimiterConfig,
    priority: Priority,
    index: usize,
    period: Duration,
) -> (usize, Duration) {
    let plan = config.plan(&BucketKey::new(TENANT, EndpointFamily::Jobs), priority);
    let g = plan.buckets[index].1;
    let burst = (g.tolerance_ns / g.emission_ns + 1) as usize;
    let per_period = (period.as_nanos() / u128::from(g.emission_ns)) as usize;
    (burst + per_period, Duration::from_nanos(g.emission_ns))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_instances_never_exceed_the_budget_and_use_it() {
    let period = Duration::from_millis(500);
    let budget = Budget {
        requests: 20,
        period_ms: 500,
        burst: 1,
    };
    let config = limiter_config(TENANT, budget, 0.97, 0.8);
    let run_for = Duration::from_secs(2);
    let run = hammer(
        config.clone(),
        4,
        &[Priority::Sync; 4],
        Duration::from_millis(100),
        run_for,
    )
    .await;

    let (max, emission) = bound(&config, Priority::Sync, 0, period);
    let all = arrivals(&run, None);
    let busiest = busiest_window(&all, period - run.max_rtt);
    assert!(
        busiest <= max,
        "{busiest} admitted in one period, bound {max} (max rtt {:?})",
        run.max_rtt
    );

    let within = all.iter().filter(|&&a| a < run_for).count();
    let planned = run_for.as_secs_f64() / emission.as_secs_f64();
    assert!(
        within as f64 >= 0.9 * planned,
        "{within} admitted in {run_for:?}, plan allows {planned:.1}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backfills_keep_to_their_share_when_syncs_compete() {
    let period = Duration::from_millis(1000);
    // 40 per second for everyone, 20 of them for backfills.
    let budget = Budget {
        requests: 40,
        period_ms: 1_000,
        burst: 1,
    };
    let config = limiter_config(TENANT, budget, 1.0, 0.5);
    let run_for = Duration::from_millis(1500);
    let callers = [
        Priority::Sync,
        Priority::Sync,
        Priority::Backfill,
        Priority::Backfill,
    ];
    let run = hammer(
        config.clone(),
        2,
        &callers,
        Duration::from_millis(25),
        run_for,
    )
    .await;
    let shrunk = period - run.max_rtt;

    let (max_all, all_emission) = bound(&config, Priority::Sync, 0, period);
    let (max_backfill, backfill_emission) = bound(&config, Priority::Backfill, 1, period);
    let busiest = busiest_window(&arrivals(&run, None), shrunk);
    assert!(
        busiest <= max_all,
        "{busiest} admitted in one period, bound {max_all}"
    );
    let backfills = arrivals(&run, Some(Priority::Backfill));
    let busiest = busiest_window(&backfills, shrunk);
    assert!(
        busiest <= max_backfill,
        "{busiest} backfills in one period, bound {max_backfill}"
    );

    // Syncs are never squeezed below what backfills leave them. (Backfills have no
    // minimum: they take what syncs leave, up to their share.)
    let count = |xs: &[Duration]| xs.iter().filter(|&&a| a < run_for).count() as f64;
    let syncs = count(&arrivals(&run, Some(Priority::Sync)));
    let total = run_for.as_secs_f64() / all_emission.as_secs_f64();
    let left_to_syncs = total - run_for.as_secs_f64() / backfill_emission.as_secs_f64();
    assert!(
        syncs >= 0.9 * left_to_syncs,
        "{syncs} syncs and {} backfills admitted; syncs are owed {left_to_syncs:.1}",
        count(&backfills)
    );
}
