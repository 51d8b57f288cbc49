//! The limiter on virtual time: every wait below is exact, because `start_paused` makes
//! tokio's clock (which the governor cells read) jump straight to the next timer.

use std::time::Duration;

use fleet_core::{BucketKey, Decision, EndpointFamily, PermitRequest, Priority, RateLimiter};
// Jobs: one every 100 ms (burst 1); queue items: burst 3, then one every 125 ms; other:
// unlimited; backfills get half (one every 200 ms on jobs).
use fleet_testkit::contract::limiter_config;
use tokio::time::Instant;

use super::MemoryRateLimiter;

const MS: Duration = Duration::from_millis(1);

fn req(
    tenant: &str,
    family: EndpointFamily,
    priority: Priority,
    max_wait: Duration,
) -> PermitRequest {
    PermitRequest {
        bucket: BucketKey::new(tenant, family),
        priority,
        max_wait,
    }
}

fn jobs(tenant: &str, priority: Priority, max_wait: Duration) -> PermitRequest {
    req(tenant, EndpointFamily::Jobs, priority, max_wait)
}

/// Acquires and returns when the request may go out, in whole ms after `t0`.
async fn send_at(l: &MemoryRateLimiter, r: &PermitRequest, t0: Instant) -> u64 {
    match l.acquire(r).await.unwrap() {
        Decision::Proceed { wait } => {
            assert_eq!(
                wait,
                Duration::ZERO,
                "the memory limiter waits inside acquire"
            );
            ((Instant::now() - t0).as_micros() as u64).div_ceil(1000)
        }
        other => panic!("expected to proceed, got {other:?}"),
    }
}

const LONG: Duration = Duration::from_secs(10);

#[tokio::test(start_paused = true)]
async fn sync_requests_are_spaced_by_the_emission_interval() {
    let l = MemoryRateLimiter::new(limiter_config());
    let t0 = Instant::now();
    let mut at = vec![];
    for _ in 0..4 {
        at.push(send_at(&l, &jobs("t", Priority::Sync, LONG), t0).await);
    }
    assert_eq!(at, [0, 100, 200, 300]);
}

#[tokio::test(start_paused = true)]
async fn concurrent_clones_share_one_schedule() {
    let l = MemoryRateLimiter::new(limiter_config());
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let l = l.clone();
        set.spawn(async move { send_at(&l, &jobs("t", Priority::Sync, LONG), t0).await });
    }
    let mut at = set.join_all().await;
    at.sort_unstable();
    assert_eq!(at, [0, 100, 200, 300, 400]);
}

#[tokio::test(start_paused = true)]
async fn a_burst_goes_out_at_once_then_the_sustained_pace_applies() {
    let l = MemoryRateLimiter::new(limiter_config());
    let t0 = Instant::now();
    let mut at = vec![];
    for _ in 0..5 {
        let r = req("t", EndpointFamily::QueueItems, Priority::Sync, LONG);
        at.push(send_at(&l, &r, t0).await);
    }
    assert_eq!(at, [0, 0, 0, 125, 250]);
}

#[tokio::test(start_paused = true)]
async fn a_deferred_caller_reserves_nothing() {
    let l = MemoryRateLimiter::new(limiter_config());
    let t0 = Instant::now();
    assert_eq!(send_at(&l, &jobs("t", Priority::Sync, LONG), t0).await, 0);
    for _ in 0..3 {
        let d = l
            .acquire(&jobs("t", Priority::Sync, 99 * MS))
            .await
            .unwrap();
        assert_eq!(
            d,
            Decision::Defer {
                retry_in: 100 * MS,
                paused: false
            }
        );
    }
    assert_eq!(Instant::now(), t0, "a deferral answers at once");
    // Had the deferrals reserved anything, this would be 400.
    assert_eq!(
        send_at(&l, &jobs("t", Priority::Sync, 100 * MS), t0).await,
        100
    );
}

#[tokio::test(start_paused = true)]
async fn backfills_take_half_and_leave_syncs_their_slots() {
    let l = MemoryRateLimiter::new(limiter_config());
    let t0 = Instant::now();
    let mut at = vec![];
    for _ in 0..3 {
        at.push(send_at(&l, &jobs("history", Priority::Backfill, LONG), t0).await);
    }
    assert_eq!(at, [0, 200, 400]);

    // Mixed on a fresh tenant: the sync goes at the next "all" slot, not the next
    // backfill slot.
    let t0 = Instant::now();
    assert_eq!(
        send_at(&l, &jobs("mixed", Priority::Backfill, LONG), t0).await,
        0
    );
    assert_eq!(
        send_at(&l, &jobs("mixed", Priority::Sync, LONG), t0).await,
        100
    );
    let d = l
        .acquire(&jobs("mixed", Priority::Backfill, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(
        d,
        Decision::Defer {
            retry_in: 100 * MS,
            paused: false
        }
    );
    assert_eq!(
        send_at(&l, &jobs("mixed", Priority::Backfill, LONG), t0).await,
        200
    );
    assert_eq!(
        send_at(&l, &jobs("mixed", Priority::Sync, LONG), t0).await,
        300
    );
}

/// The documented cost of governor's check-and-take: a backfill refused by "all" has
/// spent its backfill cell, so the next backfill waits for the following one.
#[tokio::test(start_paused = true)]
async fn a_backfill_refused_by_the_all_bucket_loses_its_backfill_cell() {
    let l = MemoryRateLimiter::new(limiter_config());
    let t0 = Instant::now();
    assert_eq!(send_at(&l, &jobs("t", Priority::Sync, LONG), t0).await, 0);
    let d = l
        .acquire(&jobs("t", Priority::Backfill, 50 * MS))
        .await
        .unwrap();
    assert_eq!(
        d,
        Decision::Defer {
            retry_in: 100 * MS,
            paused: false
        }
    );
    // "all" admits at 100, but the backfill bucket's next cell is at 200.
    assert_eq!(
        send_at(&l, &jobs("t", Priority::Backfill, LONG), t0).await,
        200
    );
}

#[tokio::test(start_paused = true)]
async fn a_pause_holds_everyone_and_only_extends() {
    let l = MemoryRateLimiter::new(limiter_config());
    let other = l.clone();
    let bucket = BucketKey::new("t", EndpointFamily::Jobs);
    let t0 = Instant::now();
    l.pause(&bucket, 500 * MS).await.unwrap();
    assert_eq!(other.paused_for(&bucket).await.unwrap(), Some(500 * MS));
    other.pause(&bucket, 100 * MS).await.unwrap();
    assert_eq!(
        l.paused_for(&bucket).await.unwrap(),
        Some(500 * MS),
        "a shorter pause does nothing"
    );
    assert_eq!(
        l.paused_for(&BucketKey::new("t", EndpointFamily::QueueItems))
            .await
            .unwrap(),
        None
    );

    let d = other
        .acquire(&jobs("t", Priority::Sync, 499 * MS))
        .await
        .unwrap();
    assert_eq!(
        d,
        Decision::Defer {
            retry_in: 500 * MS,
            paused: true
        }
    );
    assert_eq!(
        send_at(&other, &jobs("t", Priority::Sync, LONG), t0).await,
        500
    );
    assert_eq!(l.paused_for(&bucket).await.unwrap(), None);
    // The pause spent no cells: the next slot is one interval after the first send.
    assert_eq!(send_at(&l, &jobs("t", Priority::Sync, LONG), t0).await, 600);

    l.pause(&bucket, 300 * MS).await.unwrap();
    l.pause(&bucket, 800 * MS).await.unwrap();
    assert_eq!(
        other.paused_for(&bucket).await.unwrap(),
        Some(800 * MS),
        "a longer pause extends"
    );
}

#[tokio::test(start_paused = true)]
async fn a_pause_that_starts_while_waiting_holds_the_waiter() {
    let l = MemoryRateLimiter::new(limiter_config());
    let t0 = Instant::now();
    assert_eq!(send_at(&l, &jobs("t", Priority::Sync, LONG), t0).await, 0);
    let waiter = {
        let l = l.clone();
        tokio::spawn(async move { send_at(&l, &jobs("t", Priority::Sync, LONG), t0).await })
    };
    // Virtual time: the waiter is asleep until its slot at 100 when the 429 arrives.
    tokio::time::sleep(50 * MS).await;
    l.pause(&BucketKey::new("t", EndpointFamily::Jobs), 400 * MS)
        .await
        .unwrap();
    assert_eq!(waiter.await.unwrap(), 450);
}

#[tokio::test(start_paused = true)]
async fn an_unlimited_family_passes_at_once_but_honours_pauses() {
    let l = MemoryRateLimiter::new(limiter_config());
    let t0 = Instant::now();
    for _ in 0..100 {
        let d = l
            .acquire(&req(
                "t",
                EndpointFamily::Other,
                Priority::Backfill,
                Duration::ZERO,
            ))
            .await
            .unwrap();
        assert_eq!(
            d,
            Decision::Proceed {
                wait: Duration::ZERO
            }
        );
    }
    assert_eq!(Instant::now(), t0);
    l.pause(&BucketKey::new("t", EndpointFamily::Other), 300 * MS)
        .await
        .unwrap();
    let d = l
        .acquire(&req(
            "t",
            EndpointFamily::Other,
            Priority::Sync,
            Duration::ZERO,
        ))
        .await
        .unwrap();
    assert_eq!(
        d,
        Decision::Defer {
            retry_in: 300 * MS,
            paused: true
        }
    );
    assert_eq!(
        send_at(
            &l,
            &req("t", EndpointFamily::Other, Priority::Sync, LONG),
            t0
        )
        .await,
        300
    );
}

#[tokio::test(start_paused = true)]
async fn tenants_and_families_are_separate_buckets() {
    let l = MemoryRateLimiter::new(limiter_config());
    let t0 = Instant::now();
    assert_eq!(send_at(&l, &jobs("a", Priority::Sync, LONG), t0).await, 0);
    assert_eq!(send_at(&l, &jobs("b", Priority::Sync, LONG), t0).await, 0);
    let qi = req("a", EndpointFamily::QueueItems, Priority::Sync, LONG);
    assert_eq!(send_at(&l, &qi, t0).await, 0);
    assert_eq!(send_at(&l, &jobs("a", Priority::Sync, LONG), t0).await, 100);
    // A separate limiter is a separate store.
    let fresh = MemoryRateLimiter::new(limiter_config());
    assert_eq!(
        send_at(&fresh, &jobs("a", Priority::Sync, LONG), t0).await,
        100
    );
}

#[tokio::test(start_paused = true)]
async fn extreme_durations_do_not_panic() {
    let l = MemoryRateLimiter::new(limiter_config());
    let t0 = Instant::now();
    assert_eq!(
        send_at(&l, &jobs("t", Priority::Sync, Duration::MAX), t0).await,
        0
    );
    assert_eq!(
        send_at(&l, &jobs("t", Priority::Sync, Duration::MAX), t0).await,
        100
    );
    let bucket = BucketKey::new("t", EndpointFamily::Jobs);
    l.pause(&bucket, Duration::MAX).await.unwrap();
    let paused = l.paused_for(&bucket).await.unwrap().unwrap();
    assert!(paused > Duration::from_secs(300 * 24 * 3600), "{paused:?}");
    let d = l.acquire(&jobs("t", Priority::Sync, LONG)).await.unwrap();
    assert!(matches!(d, Decision::Defer { paused: true, .. }), "{d:?}");
    assert!(format!("{l:?}").contains("MemoryRateLimiter"));
}
