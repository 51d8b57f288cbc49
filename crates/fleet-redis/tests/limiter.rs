//! `RedisRateLimiter` against the real Redis: deferring, pauses, priorities and
//! unlimited families, checked on the waits the limiter hands out.
//!
//! Reservations are made far ahead (large `max_wait`) and nobody sleeps through them, so
//! each test sees the schedule the limiter built without spending the real time. The
//! only slack in the assertions is the time the calls themselves take.

mod common;

use std::time::{Duration, Instant};

use fleet_core::{
    BucketKey, Budget, Decision, EndpointFamily, PermitRequest, Priority, RateLimiter,
};
use fleet_redis::RedisRateLimiter;
use fleet_testkit::{unique_prefix, wait_until};

use common::{keys, limiter_config, manager, pttl};

const TENANT: &str = "cloud.example/acme/DefaultTenant";
const MS: Duration = Duration::from_millis(1);

fn request(family: EndpointFamily, priority: Priority, max_wait: Duration) -> PermitRequest {
    PermitRequest {
        bucket: BucketKey::new(TENANT, family),
        priority,
        max_wait,
    }
}

fn jobs(max_wait: Duration) -> PermitRequest {
    request(EndpointFamily::Jobs, Priority::Sync, max_wait)
}

fn wait_of(d: Decision) -> Duration {
    match d {
        Decision::Proceed { wait } => wait,
        other => panic!("expected Proceed, got {other:?}"),
    }
}

/// Asserts `lo < d <= hi`.
#[track_caller]
fn assert_within(d: Duration, lo: Duration, hi: Duration) {
    assert!(lo < d && d <= hi, "{d:?} not in ({lo:?}, {hi:?}]");
}

#[tokio::test]
async fn a_deferred_caller_reserves_nothing() {
    // One request per 10 s.
    let budget = Budget {
        requests: 1,
        period_ms: 10_000,
        burst: 1,
    };
    let config = limiter_config(TENANT, budget, 1.0, 0.8);
    let limiter = RedisRateLimiter::new(manager().await, unique_prefix("defer"), config);
    let s = Duration::from_secs(1);

    assert_eq!(
        limiter.acquire(&jobs(Duration::ZERO)).await.unwrap(),
        Decision::Proceed {
            wait: Duration::ZERO
        }
    );
    let retry_in = match limiter.acquire(&jobs(s)).await.unwrap() {
        Decision::Defer {
            retry_in,
            paused: false,
        } => retry_in,
        other => panic!("expected Defer, got {other:?}"),
    };
    assert_within(retry_in, 9 * s, 10 * s);
    // The deferred call took nothing: the next patient caller gets that very slot, not
    // the one after.
    let wait = wait_of(limiter.acquire(&jobs(60 * s)).await.unwrap());
    assert!(
        wait <= retry_in && retry_in - wait < s,
        "{wait:?} vs {retry_in:?}"
    );
    assert_within(
        wait_of(limiter.acquire(&jobs(60 * s)).await.unwrap()),
        19 * s,
        20 * s,
    );

    // A short pause is not the reason for this deferral; the bucket is.
    limiter.pause(&jobs(s).bucket, 500 * MS).await.unwrap();
    match limiter.acquire(&jobs(s)).await.unwrap() {
        Decision::Defer { retry_in, paused } => {
            assert!(!paused);
            assert_within(retry_in, 29 * s, 30 * s);
        }
        other => panic!("expected Defer, got {other:?}"),
    }
}

#[tokio::test]
async fn a_pause_is_seen_by_every_instance_and_only_extends() {
    let prefix = unique_prefix("pause_shared");
    let config = limiter_config(TENANT, Budget::per_minute(100), 0.97, 0.8);
    let a = RedisRateLimiter::new(manager().await, prefix.clone(), config.clone());
    let b = RedisRateLimiter::new(manager().await, prefix, config);
    let bucket = BucketKey::new(TENANT, EndpointFamily::Jobs);
    let s = Duration::from_secs(1);

    assert_eq!(a.paused_for(&bucket).await.unwrap(), None);
    a.pause(&bucket, 10 * s).await.unwrap();
    assert_within(b.paused_for(&bucket).await.unwrap().unwrap(), 9 * s, 10 * s);
    match b.acquire(&jobs(s)).await.unwrap() {
        Decision::Defer {
            retry_in,
            paused: true,
        } => assert_within(retry_in, 9 * s, 10 * s),
        other => panic!("expected a paused Defer, got {other:?}"),
    }

    // Shorter: no effect. Longer: extends, for everyone.
    b.pause(&bucket, 2 * s).await.unwrap();
    assert_within(a.paused_for(&bucket).await.unwrap().unwrap(), 9 * s, 10 * s);
    b.pause(&bucket, 20 * s).await.unwrap();
    assert_within(
        a.paused_for(&bucket).await.unwrap().unwrap(),
        19 * s,
        20 * s,
    );
    assert_within(
        wait_of(a.acquire(&jobs(30 * s)).await.unwrap()),
        19 * s,
        20 * s,
    );

    // Only this bucket: another family, another tenant, go ahead.
    let queues = request(EndpointFamily::QueueItems, Priority::Sync, Duration::ZERO);
    assert_eq!(wait_of(b.acquire(&queues).await.unwrap()), Duration::ZERO);
    let mut elsewhere = jobs(Duration::ZERO);
    elsewhere.bucket.tenant = "cloud.example/acme/Other".into();
    assert_eq!(
        wait_of(b.acquire(&elsewhere).await.unwrap()),
        Duration::ZERO
    );
}

#[tokio::test]
async fn a_pause_lapses_by_itself() {
    let config = limiter_config(TENANT, Budget::per_minute(100), 0.97, 0.8);
    let limiter = RedisRateLimiter::new(manager().await, unique_prefix("pause_lapse"), config);
    let bucket = BucketKey::new(TENANT, EndpointFamily::Jobs);
    limiter.pause(&bucket, 300 * MS).await.unwrap();
    assert!(limiter.paused_for(&bucket).await.unwrap().is_some());
    wait_until(
        "the pause to end",
        Duration::from_secs(5),
        20 * MS,
        || async { limiter.paused_for(&bucket).await.map(|p| p.is_none()) },
    )
    .await
    .unwrap();
    assert_eq!(
        wait_of(limiter.acquire(&jobs(Duration::ZERO)).await.unwrap()),
        Duration::ZERO
    );
}

/// Reserves `n` back to back with a large `max_wait`; returns the waits and how long
/// the calls took (the slack between the limiter's clock and the waits).
async fn reserve_ahead(
    limiter: &RedisRateLimiter,
    req: &PermitRequest,
    n: usize,
) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let mut waits = Vec::with_capacity(n);
    for _ in 0..n {
        waits.push(wait_of(limiter.acquire(req).await.unwrap()));
    }
    (waits, start.elapsed())
}

#[tokio::test]
async fn backfill_uses_its_share_and_sync_uses_all() {
    // 20 per second: one every 50 ms for syncs; backfills get half, one every 100 ms.
    let budget = Budget {
        requests: 20,
        period_ms: 1_000,
        burst: 1,
    };
    let config = limiter_config(TENANT, budget, 1.0, 0.5);
    let prefix = unique_prefix("priorities");
    let limiter = RedisRateLimiter::new(manager().await, prefix, config);
    let n = 10;

    let backfill = request(
        EndpointFamily::Jobs,
        Priority::Backfill,
        Duration::from_secs(60),
    );
    let (waits, slack) = reserve_ahead(&limiter, &backfill, n).await;
    for (k, wait) in waits.iter().enumerate() {
        let slot = 100 * MS * k as u32;
        assert!(
            *wait <= slot && slot <= *wait + slack,
            "backfill #{k}: {wait:?}, slot {slot:?}"
        );
    }

    // Syncs on a fresh tenant use the whole budget.
    let mut sync = request(
        EndpointFamily::Jobs,
        Priority::Sync,
        Duration::from_secs(60),
    );
    sync.bucket.tenant = "cloud.example/acme/Syncs".into();
    let config = limiter_config(&sync.bucket.tenant, budget, 1.0, 0.5);
    let limiter = RedisRateLimiter::new(manager().await, unique_prefix("priorities"), config);
    let (waits, slack) = reserve_ahead(&limiter, &sync, n).await;
    for (k, wait) in waits.iter().enumerate() {
        let slot = 50 * MS * k as u32;
        assert!(
            *wait <= slot && slot <= *wait + slack,
            "sync #{k}: {wait:?}, slot {slot:?}"
        );
    }
}

#[tokio::test]
async fn an_unlimited_family_only_honours_pauses() {
    let prefix = unique_prefix("unlimited");
    let conn = manager().await;
    let config = limiter_config(TENANT, Budget::per_minute(100), 0.97, 0.8);
    let limiter = RedisRateLimiter::new(conn.clone(), prefix.clone(), config);
    let other = request(EndpointFamily::Other, Priority::Backfill, Duration::ZERO);
    for _ in 0..200 {
        assert_eq!(
            limiter.acquire(&other).await.unwrap(),
            Decision::Proceed {
                wait: Duration::ZERO
            }
        );
    }
    assert!(
        keys(&conn, &prefix).await.is_empty(),
        "no bucket state for an unlimited family"
    );

    let s = Duration::from_secs(1);
    limiter.pause(&other.bucket, 5 * s).await.unwrap();
    match limiter.acquire(&other).await.unwrap() {
        Decision::Defer {
            retry_in,
            paused: true,
        } => assert_within(retry_in, 4 * s, 5 * s),
        d => panic!("expected a paused Defer, got {d:?}"),
    }
    let patient = PermitRequest {
        max_wait: 10 * s,
        ..other
    };
    assert_within(
        wait_of(limiter.acquire(&patient).await.unwrap()),
        4 * s,
        5 * s,
    );
}

#[tokio::test]
async fn every_key_expires_by_itself() {
    let prefix = unique_prefix("key_expiry");
    let conn = manager().await;
    // 60 per minute: one a second.
    let config = limiter_config(TENANT, Budget::per_minute(60), 1.0, 0.5);
    let limiter = RedisRateLimiter::new(conn.clone(), prefix.clone(), config);
    let backfill = request(
        EndpointFamily::Jobs,
        Priority::Backfill,
        Duration::from_secs(60),
    );
    reserve_ahead(&limiter, &backfill, 3).await;
    limiter
        .pause(&backfill.bucket, Duration::from_secs(2))
        .await
        .unwrap();

    let base = format!("{prefix}:rl:{TENANT}:jobs");
    assert_eq!(
        keys(&conn, &prefix).await,
        [
            format!("{base}:all"),
            format!("{base}:backfill"),
            format!("{base}:pause")
        ]
    );
    // Backfill TAT: 3 slots 2 s apart, so 6 s ahead; `all` is 1 s behind it; the pause
    // 2 s. Each key lives a second beyond.
    let ttl = |key: &str| {
        let (conn, key) = (conn.clone(), format!("{base}:{key}"));
        async move { pttl(&conn, &key).await }
    };
    assert!((6_000..=7_000).contains(&ttl("backfill").await));
    assert!((5_000..=6_000).contains(&ttl("all").await));
    assert!((2_000..=3_000).contains(&ttl("pause").await));
}
