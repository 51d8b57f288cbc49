//! What sharing the token cache and the rate limiter through Redis buys a fleet, measured
//! against the simulator and the local Redis, each configuration beside its naive twin in
//! the same run (the machine is shared and noisy; compare ratios, not absolute numbers).
//!
//! Method:
//! - **Token grants per lifetime.** The simulator issues 2-second tokens; workers refresh
//!   0.5 s ahead, so one token serves 1.5 s. N workers (each its own Redis connection,
//!   HTTP client and token provider, as separate processes would have) read a small page
//!   in a loop for 2.5 lifetimes; the simulator counts client-credentials grants. Shared:
//!   one `RedisTokenCache` prefix. Naive: a private in-memory cache per worker (what N
//!   copies of a script do). Ideal is 3 grants whatever N.
//! - **Budget use and 429s.** The simulator admits 40 GET Jobs per rolling second. Eight
//!   workers read Jobs pages as fast as their limiter allows for ten windows. Shared: one
//!   `RedisRateLimiter` bucket. Naive: each worker with a private in-memory limiter set to
//!   the whole budget (every worker believes it is alone). Reported: requests admitted as
//!   a % of the budget over the elapsed time, 429s the simulator sent, and errors that
//!   reached callers.
//! - Limiter check latency is measured by `fleet-redis`'s `limiter` bench.
//!
//! Runs: `cargo bench -p uipath-client --bench fleet`; without `--bench` a short smoke pass
//! (fewer workers and windows); `--list` prints nothing.

#[path = "../tests/auth_common/mod.rs"]
mod auth_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_common::{client_credentials, cloud_source};
use fleet_core::{dataset, Budget, LimiterConfig, Priority, RateLimiter, Sealer, TokenCache};
use fleet_memory::{MemoryRateLimiter, MemoryTokenCache};
use fleet_redis::{RedisRateLimiter, RedisTokenCache};
use uipath_client::auth::TokenOptions;
use uipath_client::client::ClientOptions;
use uipath_client::odata::{Cursor, SliceSpec};
use uipath_client::{SourceConfig, UipathClient};
use uipath_sim::config::SimConfig;
use uipath_sim::ratelimit::RateLimitConfig;
use uipath_sim::server::RunningSim;

const TTL_SECS: u64 = 2;
const AHEAD: Duration = Duration::from_millis(500);
const BUDGET: u32 = 40;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(full));
}

async fn run(full: bool) {
    let redis = fleet_testkit::require_redis().await;
    let workers: &[usize] = if full { &[1, 4, 16, 64] } else { &[4] };
    println!(
        "token grants over 2.5 lifetimes of {:.1} s (ideal: 3)",
        lifetime().as_secs_f64()
    );
    println!("| workers | shared (Redis) | naive (per worker) |");
    println!("|---|---|---|");
    for &n in workers {
        let shared = grants(&redis, n, true).await;
        let naive = grants(&redis, n, false).await;
        println!("| {n} | {shared} | {naive} |");
    }
    let windows = if full { 10 } else { 2 };
    println!();
    println!("8 workers, budget {BUDGET} GET Jobs per rolling second, {windows} windows");
    println!("| limiter | budget used | 429s | errors to callers |");
    println!("|---|---|---|---|");
    for shared in [true, false] {
        let (used, throttled, errors) = budget(&redis, windows, shared).await;
        let name = if shared {
            "shared (Redis GCRA)"
        } else {
            "naive (per worker)"
        };
        println!("| {name} | {:.1}% | {throttled} | {errors} |", used * 100.0);
    }
}

fn lifetime() -> Duration {
    Duration::from_secs(TTL_SECS) - AHEAD
}

fn source(sim: &RunningSim, scopes: &[&str]) -> SourceConfig {
    cloud_source(sim, client_credentials(scopes))
}

fn options() -> ClientOptions {
    ClientOptions {
        tokens: TokenOptions {
            refresh_ahead: AHEAD,
            poll_interval: Duration::from_millis(20),
            lock_ttl: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
        },
        ..ClientOptions::default()
    }
}

async fn sim(rate: RateLimitConfig) -> RunningSim {
    let mut config = SimConfig::default();
    config.identity.access_token_ttl_secs = TTL_SECS;
    config.rate_limit = rate;
    RunningSim::start(config).await.expect("simulator")
}

fn prefix(what: &str) -> String {
    fleet_testkit::unique_prefix(what)
}

/// Runs `clients` reading `spec` in a loop until `until`; returns (ok, errors).
async fn hammer(
    clients: Vec<UipathClient>,
    spec: SliceSpec,
    until: Instant,
    pace: Duration,
) -> (u64, u64) {
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        let spec = spec.clone();
        tasks.spawn(async move {
            let (mut ok, mut errors) = (0, 0);
            while Instant::now() < until {
                match client
                    .fetch_page(&spec, &Cursor::Start, Priority::Sync)
                    .await
                {
                    Ok(_) => ok += 1,
                    Err(_) => errors += 1,
                }
                tokio::time::sleep(pace).await;
            }
            (ok, errors)
        });
    }
    let (mut ok, mut errors) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (o, e) = r.expect("worker");
        ok += o;
        errors += e;
    }
    (ok, errors)
}

async fn grants(redis: &str, workers: usize, shared: bool) -> u64 {
    let sim = sim(RateLimitConfig {
        requests: 0,
        window_ms: 60_000,
    })
    .await;
    let source = source(&sim, &["OR.Machines.Read"]);
    let prefix = prefix("bench_grants");
    let mut clients = Vec::new();
    for _ in 0..workers {
        let cache: Arc<dyn TokenCache> = if shared {
            Arc::new(
                RedisTokenCache::connect(redis, &prefix, Sealer::plain())
                    .await
                    .unwrap(),
            )
        } else {
            Arc::new(MemoryTokenCache::new(Sealer::plain()))
        };
        let limiter: Arc<dyn RateLimiter> =
            Arc::new(MemoryRateLimiter::new(LimiterConfig::default()));
        clients.push(UipathClient::new(source.clone(), cache, limiter, options()).unwrap());
    }
    let spec = SliceSpec::new(dataset::by_name("machines").unwrap()).page_size(5);
    let until = Instant::now() + lifetime() * 5 / 2;
    hammer(clients, spec, until, Duration::from_millis(20)).await;
    let grants = sim
        .sim
        .stats
        .snapshot()
        .token_grants
        .get("client_credentials")
        .copied()
        .unwrap_or(0);
    sim.stop().await;
    grants
}

async fn budget(redis: &str, windows: u64, shared: bool) -> (f64, u64, u64) {
    let sim = sim(RateLimitConfig {
        requests: BUDGET,
        window_ms: 1000,
    })
    .await;
    let source = source(&sim, &["OR.Jobs.Read", "OR.Folders.Read"]);
    let prefix = prefix("bench_budget");
    let mut limits = LimiterConfig::default();
    limits.default.jobs = Some(Budget {
        requests: BUDGET,
        period_ms: 1000,
        burst: 1,
    });
    let cache: Arc<dyn TokenCache> = Arc::new(MemoryTokenCache::new(Sealer::plain()));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let limiter: Arc<dyn RateLimiter> = if shared {
            Arc::new(
                RedisRateLimiter::connect(redis, &prefix, limits.clone())
                    .await
                    .unwrap(),
            )
        } else {
            Arc::new(MemoryRateLimiter::new(limits.clone()))
        };
        clients.push(UipathClient::new(source.clone(), cache.clone(), limiter, options()).unwrap());
    }
    let folder = clients[0].folders().await.expect("folders")[0].key.clone();
    let spec = SliceSpec::new(dataset::by_name("jobs").unwrap())
        .folder(folder)
        .page_size(1);
    let before = jobs_ok(&sim);
    let start = Instant::now();
    let (_, errors) = hammer(
        clients,
        spec,
        start + Duration::from_secs(windows),
        Duration::ZERO,
    )
    .await;
    let elapsed = start.elapsed().as_secs_f64();
    let admitted = jobs_ok(&sim) - before;
    let stats = sim.sim.stats.snapshot();
    sim.stop().await;
    (
        admitted as f64 / (f64::from(BUDGET) * elapsed),
        stats.throttled,
        errors,
    )
}

fn jobs_ok(sim: &RunningSim) -> u64 {
    sim.sim
        .stats
        .snapshot()
        .requests
        .get("odata/Jobs")
        .and_then(|by| by.get(&200))
        .copied()
        .unwrap_or(0)
}
