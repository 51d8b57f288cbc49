//! The fleet-wide guarantees of issue 3, against the simulator and the real Redis: many
//! workers, each with its own Redis connections and no in-process state shared with the
//! others (as if each were a separate process), behave like one polite client.
//!
//! - one token grant per token lifetime, whatever the number of workers, and no 401 ever
//!   reaching a caller;
//! - rotating refresh tokens spent by one worker at a time: no `invalid_grant`, ever;
//! - one rate budget: ≥ 95% of it used with zero 429s, and a 429 pausing everyone.

#[path = "auth_common/mod.rs"]
mod auth_common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_common::{
    browser_login, client_credentials, cloud_source, grants, refresh_token_auth, stats,
};
use fleet_core::dataset;
use fleet_core::{Budget, LimiterConfig, Priority, RateLimiter, Sealer, TokenCache};
use fleet_redis::{RedisRateLimiter, RedisTokenCache};
use fleet_testkit::{require_redis, unique_prefix, wait_until};
use uipath_client::auth::TokenOptions;
use uipath_client::client::ClientOptions;
use uipath_client::dataservice::{DataServiceSlice, DsCursor};
use uipath_client::odata::{Cursor, SliceSpec};
use uipath_client::{AuthConfig, ClientError, SourceConfig, UipathClient};
use uipath_sim::config::SimConfig;
use uipath_sim::ratelimit::RateLimitConfig;
use uipath_sim::server::RunningSim;

const WORKERS: usize = 16;
/// Token lifetime on the simulator, and how long before expiry the fleet refreshes: a
/// token is used for TTL - AHEAD = 3 s.
const TTL_SECS: u64 = 4;
const AHEAD: Duration = Duration::from_secs(1);

fn token_options() -> TokenOptions {
    TokenOptions {
        refresh_ahead: AHEAD,
        poll_interval: Duration::from_millis(20),
        lock_ttl: Duration::from_secs(10),
        request_timeout: Duration::from_secs(5),
    }
}

/// One worker as a separate process would have it: its own Redis connections for the
/// token cache and the limiter, its own HTTP client and token provider.
async fn worker(
    redis: &str,
    prefix: &str,
    source: &SourceConfig,
    limits: LimiterConfig,
) -> UipathClient {
    let cache: Arc<dyn TokenCache> = Arc::new(
        RedisTokenCache::connect(redis, prefix, Sealer::plain())
            .await
            .expect("redis"),
    );
    let limiter: Arc<dyn RateLimiter> = Arc::new(
        RedisRateLimiter::connect(redis, prefix, limits)
            .await
            .expect("redis"),
    );
    let options = ClientOptions {
        tokens: token_options(),
        ..ClientOptions::default()
    };
    UipathClient::new(source.clone(), cache, limiter, options).expect("client")
}

/// A simulator and `n` workers reading it, all sharing one Redis prefix.
struct Fleet {
    sim: RunningSim,
    source: SourceConfig,
    redis: String,
    prefix: String,
    workers: Vec<UipathClient>,
}

async fn fleet(
    test: &str,
    rate: RateLimitConfig,
    auth: AuthConfig,
    n: usize,
    limits: LimiterConfig,
) -> Fleet {
    let redis = require_redis().await;
    let prefix = unique_prefix(test);
    let sim = RunningSim::start(sim_config(rate)).await.unwrap();
    let source = cloud_source(&sim, auth);
    let mut workers = Vec::new();
    for _ in 0..n {
        workers.push(worker(&redis, &prefix, &source, limits.clone()).await);
    }
    Fleet {
        sim,
        source,
        redis,
        prefix,
        workers,
    }
}

type Call = Pin<Box<dyn Future<Output = Result<(), ClientError>> + Send>>;

/// One worker's unit of work for [`hammer`]: read the first page of `spec`.
fn read_first_page(spec: SliceSpec) -> impl Fn(UipathClient) -> Call + Clone + Send + 'static {
    move |client| {
        let spec = spec.clone();
        Box::pin(async move {
            client
                .fetch_page(&spec, &Cursor::Start, Priority::Sync)
                .await
                .map(drop)
        })
    }
}

fn sim_config(rate: RateLimitConfig) -> SimConfig {
    let mut config = SimConfig::default();
    config.identity.access_token_ttl_secs = TTL_SECS;
    config.rate_limit = rate;
    config
}

fn unlimited() -> RateLimitConfig {
    RateLimitConfig {
        requests: 0,
        window_ms: 60_000,
    }
}

fn count_status(sim: &RunningSim, status: u16) -> u64 {
    stats(sim)
        .requests
        .values()
        .filter_map(|by| by.get(&status))
        .sum()
}

/// 429s the storm answered (the fault middleware counts them apart from the budget's).
fn storm_429s(sim: &RunningSim) -> u64 {
    stats(sim).faults.get("storm").copied().unwrap_or_default()
}

fn endpoint_count(sim: &RunningSim, endpoint: &str, status: u16) -> u64 {
    stats(sim)
        .requests
        .get(endpoint)
        .and_then(|by| by.get(&status))
        .copied()
        .unwrap_or_default()
}

/// Runs `workers` loops of `one_request` until `until`; every error reaching a caller
/// fails the test. Returns the number of successful calls.
async fn hammer<F, Fut>(workers: Vec<UipathClient>, until: Instant, one_request: F) -> u64
where
    F: Fn(UipathClient) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), ClientError>> + Send,
{
    let mut tasks = tokio::task::JoinSet::new();
    for (i, client) in workers.into_iter().enumerate() {
        let one_request = one_request.clone();
        tasks.spawn(async move {
            let mut ok = 0u64;
            while Instant::now() < until {
                if let Err(e) = one_request(client.clone()).await {
                    panic!("worker {i}: an error reached the caller: {e}");
                }
                ok += 1;
                // Pacing, not synchronisation: a worker between pages.
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            ok
        });
    }
    let mut total = 0;
    while let Some(r) = tasks.join_next().await {
        total += r.expect("worker task");
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_workers_get_one_token_grant_per_lifetime_and_never_a_401() {
    let Fleet { sim, workers, .. } = fleet(
        "fleet_one_grant_per_lifetime",
        unlimited(),
        client_credentials(&["OR.Folders.Read", "OR.Machines.Read"]),
        WORKERS,
        LimiterConfig::default(),
    )
    .await;
    // Three lifetimes of use (grants at ~0 s, ~3 s, ~6 s), stopping half a lifetime
    // before a fourth would be due.
    let lifetime = Duration::from_secs(TTL_SECS) - AHEAD;
    let until = Instant::now() + lifetime * 3 - lifetime / 2;
    let spec = SliceSpec::new(dataset::by_name("machines").unwrap()).page_size(5);
    let calls = hammer(workers, until, read_first_page(spec)).await;
    assert!(calls > 500, "the workers kept busy ({calls} calls)");
    assert_eq!(
        grants(&sim, "client_credentials"),
        3,
        "{:?}",
        stats(&sim).token_grants
    );
    assert_eq!(
        count_status(&sim, 401),
        0,
        "no request was sent with an expired token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_replaced_once_for_the_whole_fleet() {
    let Fleet { sim, workers, .. } = fleet(
        "fleet_revoked_token",
        unlimited(),
        client_credentials(&["OR.Machines.Read"]),
        WORKERS,
        LimiterConfig::default(),
    )
    .await;
    let spec = SliceSpec::new(dataset::by_name("machines").unwrap()).page_size(5);
    let until = Instant::now() + Duration::from_millis(2500);
    let run = tokio::spawn(hammer(workers, until, read_first_page(spec)));
    wait_until(
        "the first grant",
        Duration::from_secs(5),
        Duration::from_millis(10),
        || grants(&sim, "client_credentials") == 1,
    )
    .await
    .unwrap();
    reqwest::Client::new()
        .post(format!("{}/_sim/tokens/revoke", sim.base_url()))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    run.await.expect("no error reached a caller");
    // The 401s after the revocation invalidated exactly the revoked token (compare-and-
    // delete), so the fleet fetched one new token, not one per worker.
    assert_eq!(
        grants(&sim, "client_credentials"),
        2,
        "{:?}",
        stats(&sim).token_grants
    );
    assert!(count_status(&sim, 401) >= 1, "the revocation was noticed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_workers_rotate_one_refresh_token_without_ever_reusing_it() {
    let Fleet {
        sim,
        source,
        redis,
        prefix,
        workers,
    } = fleet(
        "fleet_refresh_rotation",
        unlimited(),
        refresh_token_auth(&["DataService.Data.Read", "DataService.Schema.Read"]),
        WORKERS,
        LimiterConfig::default(),
    )
    .await;
    // The one-time login, storing the refresh token where the fleet reads it (building
    // the workers sent nothing, so they first see it on their first call).
    let seed: Arc<dyn TokenCache> = Arc::new(
        RedisTokenCache::connect(&redis, &prefix, Sealer::plain())
            .await
            .unwrap(),
    );
    browser_login(&source, seed).await.expect("login");
    assert_eq!(grants(&sim, "authorization_code"), 1);
    let lifetime = Duration::from_secs(TTL_SECS) - AHEAD;
    let until = Instant::now() + lifetime * 3 - lifetime / 2;
    let slice = DataServiceSlice::new("Customer").page_size(20);
    let calls = hammer(workers, until, move |client| {
        let slice = slice.clone();
        async move {
            client
                .fetch_dataservice_page(&slice, &DsCursor::Start, Priority::Sync)
                .await
                .map(drop)
        }
    })
    .await;
    assert!(calls > 300, "the workers kept busy ({calls} calls)");
    let s = stats(&sim);
    // The login's token served the first lifetime; two rotations served the next two.
    assert_eq!(grants(&sim, "refresh_token"), 2, "{:?}", s.token_grants);
    assert!(
        s.token_errors.is_empty(),
        "no invalid_grant, no family revoked: {:?}",
        s.token_errors
    );
    assert_eq!(count_status(&sim, 401), 0);
    // Refresh tokens have no expiry: leave none behind.
    let conn = fleet_redis::connect_manager(&redis).await.unwrap();
    fleet_redis::delete_prefix(&conn, &prefix).await.unwrap();
}

/// The simulator's budget for this test: N requests per rolling window.
const BUDGET: u32 = 40;
const WINDOW_MS: u64 = 1000;

/// The simulator's rolling budget matching [`fleet_limits`].
fn budgeted() -> RateLimitConfig {
    RateLimitConfig {
        requests: BUDGET,
        window_ms: WINDOW_MS,
    }
}

fn fleet_limits() -> LimiterConfig {
    let mut limits = LimiterConfig::default();
    limits.default.jobs = Some(Budget {
        requests: BUDGET,
        period_ms: WINDOW_MS,
        burst: 1,
    });
    limits
}

async fn jobs_spec(client: &UipathClient) -> SliceSpec {
    let folders = client.folders().await.expect("folders");
    SliceSpec::new(dataset::by_name("jobs").unwrap())
        .folder(folders[0].key.clone())
        .page_size(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_workers_use_the_budget_without_a_single_429() {
    let Fleet { sim, workers, .. } = fleet(
        "fleet_budget_use",
        budgeted(),
        client_credentials(&["OR.Jobs.Read", "OR.Folders.Read"]),
        8,
        fleet_limits(),
    )
    .await;
    let spec = jobs_spec(&workers[0]).await;
    let windows = 12;
    let start = Instant::now();
    let until = start + Duration::from_millis(WINDOW_MS * windows);
    let calls = hammer(workers, until, read_first_page(spec)).await;
    let elapsed = start.elapsed().as_secs_f64();
    let budget = f64::from(BUDGET) * elapsed / (WINDOW_MS as f64 / 1000.0);
    let admitted = endpoint_count(&sim, "odata/Jobs", 200);
    assert_eq!(admitted, calls);
    assert_eq!(stats(&sim).throttled, 0, "zero 429s");
    let used = admitted as f64 / budget;
    assert!(
        used >= 0.95,
        "used {admitted} of a budget of {budget:.0} over {elapsed:.1} s ({:.1}%)",
        used * 100.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_429_pauses_all_eight_workers() {
    let Fleet {
        sim,
        source,
        redis,
        prefix,
        workers,
    } = fleet(
        "fleet_forced_429",
        budgeted(),
        client_credentials(&["OR.Jobs.Read", "OR.Folders.Read"]),
        8,
        fleet_limits(),
    )
    .await;
    let spec = jobs_spec(&workers[0]).await;
    let observer = RedisRateLimiter::connect(&redis, &prefix, fleet_limits())
        .await
        .unwrap();
    let bucket = fleet_core::BucketKey::new(source.tenant_key(), fleet_core::EndpointFamily::Jobs);
    let until = Instant::now() + Duration::from_secs(7);
    let run = tokio::spawn(hammer(workers, until, read_first_page(spec)));
    wait_until(
        "the workers to be busy",
        Duration::from_secs(10),
        Duration::from_millis(10),
        || endpoint_count(&sim, "odata/Jobs", 200) >= 40,
    )
    .await
    .unwrap();
    // Every Jobs request is refused for 2 s, with Retry-After: 3.
    reqwest::Client::new()
        .post(format!("{}/_sim/faults/storm", sim.base_url()))
        .json(&serde_json::json!({"seconds": 2.0, "retry_after_secs": 3}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    wait_until(
        "the first 429",
        Duration::from_secs(5),
        Duration::from_millis(5),
        || storm_429s(&sim) >= 1,
    )
    .await
    .unwrap();
    let first_429 = Instant::now();
    // The worker that met it sets the shared pause as soon as the answer reaches it.
    wait_until(
        "the shared pause",
        Duration::from_secs(1),
        Duration::from_millis(5),
        || async { observer.paused_for(&bucket).await.map(|p| p.is_some()) },
    )
    .await
    .unwrap();
    let paused = observer.paused_for(&bucket).await.unwrap();
    assert!(
        paused.is_some_and(|p| p > Duration::from_secs(2)),
        "the 429 paused the tenant's Jobs budget for every worker: {paused:?}"
    );
    // Requests already on the wire when the first 429 came back may be refused too;
    // after that nobody sends until the pause ends.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent_early = endpoint_count(&sim, "odata/Jobs", 200) + storm_429s(&sim);
    tokio::time::sleep(Duration::from_millis(2400).saturating_sub(first_429.elapsed())).await;
    let sent_late = endpoint_count(&sim, "odata/Jobs", 200) + storm_429s(&sim);
    assert_eq!(
        sent_late, sent_early,
        "no worker sent a Jobs request during the pause"
    );
    run.await
        .expect("no error reached a caller; everyone resumed");
    let storm = storm_429s(&sim);
    eprintln!("429s met by the fleet during the storm: {storm}");
    assert!(
        storm <= 8,
        "at most the requests in flight met the storm: {storm} 429s"
    );
    assert_eq!(
        stats(&sim).throttled,
        0,
        "and the budget itself never refused one"
    );
    assert!(
        endpoint_count(&sim, "odata/Jobs", 200) > sent_late,
        "the workers resumed"
    );
}
