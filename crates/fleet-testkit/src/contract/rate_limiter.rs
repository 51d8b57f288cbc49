//! The [`RateLimiter`] contract suite (see the module docs of [`crate::contract`]).
//!
//! A backend may answer `Proceed { wait }` at once (a reservation, as Redis does) or wait
//! inside `acquire` and answer `wait = 0` (as governor does): either way the request may
//! go out at *return time + wait*, and that instant — the "send time" — is what every
//! check measures. A `Defer { retry_in }` is likewise checked as the instant it names.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fleet_core::ratelimit::FamilyBudgets;
use fleet_core::{
    BucketKey, Budget, Decision, EndpointFamily, LimiterConfig, PermitRequest, Priority,
    RateLimiter,
};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{late, EARLY};

type Handle = Arc<dyn RateLimiter>;

/// The configuration every handle of the suite is built with. Per tenant:
///
/// - `jobs`: 10 per second, burst 1: one request every 100 ms;
/// - `queue-items`: 10 per second, burst 3: three at once, then one every 125 ms;
/// - `other`: unlimited.
///
/// Headroom is 1 (exact numbers) and backfills get half: one every 200 ms on `jobs`.
pub fn limiter_config() -> LimiterConfig {
    LimiterConfig {
        default: FamilyBudgets {
            jobs: Some(Budget {
                requests: 10,
                period_ms: 1000,
                burst: 1,
            }),
            queue_items: Some(Budget {
                requests: 10,
                period_ms: 1000,
                burst: 3,
            }),
            other: None,
        },
        tenants: Default::default(),
        headroom: 1.0,
        backfill_share: 0.5,
    }
}

/// Runs every check of the rate limiter contract against handles from `make`, always
/// called with [`limiter_config()`]; all handles must share one store. The checks run
/// concurrently, each on its own tenants, so the suite takes about a second.
pub async fn rate_limiter_contract<F, Fut>(make: F)
where
    F: Fn(LimiterConfig) -> Fut,
    Fut: Future<Output = Handle>,
{
    let config = limiter_config();
    config.validate().expect("the suite's own config is valid");
    let mut handles = Vec::new();
    for _ in 0..3 {
        handles.push(make(config.clone()).await);
    }
    let s = Suite {
        run: crate::unique_prefix("rate-limiter-contract"),
        a: Arc::clone(&handles[0]),
        b: Arc::clone(&handles[1]),
        handles,
        emission: emission(&config, EndpointFamily::Jobs, Priority::Sync),
        backfill_emission: emission(&config, EndpointFamily::Jobs, Priority::Backfill),
        burst_emission: emission(&config, EndpointFamily::QueueItems, Priority::Sync),
    };
    tokio::join!(
        s.sequential_requests_are_paced(),
        s.concurrent_requests_are_paced(),
        s.a_burst_goes_at_once(),
        s.a_deferral_reserves_nothing(),
        s.pauses_are_shared_and_only_extend(),
        s.an_unlimited_family_passes_but_honours_pauses(),
        s.backfills_are_held_to_their_share(),
    );
}

/// The longest emission interval of the plan: the pace of back-to-back requests.
fn emission(config: &LimiterConfig, family: EndpointFamily, priority: Priority) -> Duration {
    let plan = config.plan(&BucketKey::new("any", family), priority);
    let ns = plan
        .buckets
        .iter()
        .map(|(_, g)| g.emission_ns)
        .max()
        .expect("a limited family");
    Duration::from_nanos(ns)
}

const LONG: Duration = Duration::from_secs(10);

struct Suite {
    run: String,
    a: Handle,
    b: Handle,
    handles: Vec<Handle>,
    /// Jobs, sync: 100 ms.
    emission: Duration,
    /// Jobs, backfill: 200 ms.
    backfill_emission: Duration,
    /// Queue items, burst 3: 125 ms.
    burst_emission: Duration,
}

fn request(bucket: &BucketKey, priority: Priority, max_wait: Duration) -> PermitRequest {
    PermitRequest {
        bucket: bucket.clone(),
        priority,
        max_wait,
    }
}

/// Acquires and returns the send time; panics on a deferral or a wait beyond `max_wait`.
async fn send_time(h: &dyn RateLimiter, r: &PermitRequest) -> Instant {
    match h.acquire(r).await.unwrap() {
        Decision::Proceed { wait } => {
            assert!(
                wait <= r.max_wait,
                "acquire: wait {wait:?} beyond max_wait {:?}",
                r.max_wait
            );
            Instant::now() + wait
        }
        d => panic!(
            "acquire on {} ({:?}, max_wait {:?}): expected to proceed, got {d:?}",
            r.bucket, r.priority, r.max_wait
        ),
    }
}

/// Acquires expecting a deferral; returns the window the backend's `retry_in` may have
/// been measured in, as the earliest and latest instant it can name.
async fn deferred(h: &dyn RateLimiter, r: &PermitRequest, paused: bool) -> (Instant, Instant) {
    let start = Instant::now();
    let d = h.acquire(r).await.unwrap();
    let end = Instant::now();
    match d {
        Decision::Defer {
            retry_in,
            paused: p,
        } => {
            assert_eq!(p, paused, "acquire on {}: Defer.paused", r.bucket);
            assert!(
                retry_in > r.max_wait,
                "acquire: deferred with retry_in {retry_in:?} within max_wait {:?}",
                r.max_wait
            );
            (start + retry_in, end + retry_in)
        }
        d => panic!(
            "acquire on {} (max_wait {:?}): expected a deferral, got {d:?}",
            r.bucket, r.max_wait
        ),
    }
}

/// `at` is the backend's answer for an event the test expects `expected` after `t0`.
fn assert_at(what: &str, t0: Instant, at: Instant, expected: Duration) {
    let offset = at.saturating_duration_since(t0);
    assert!(
        at + EARLY >= t0 + expected,
        "{what}: at {offset:?}, expected {expected:?} (never earlier)"
    );
    assert!(
        offset <= expected + late(expected),
        "{what}: at {offset:?}, expected {expected:?} (+{:?} at most)",
        late(expected)
    );
}

/// A deferral's window `(earliest, latest)` must contain `deadline`, give or take the
/// clocks' granularity.
fn assert_names(what: &str, window: (Instant, Instant), deadline: (Instant, Instant)) {
    assert!(
        window.0 <= deadline.1 + EARLY && window.1 + EARLY >= deadline.0,
        "{what}: retry_in names {:?}..{:?} after the deadline's window start, which spans {:?}",
        window.0.saturating_duration_since(deadline.0),
        window.1.saturating_duration_since(deadline.0),
        deadline.1 - deadline.0
    );
}

impl Suite {
    fn bucket(&self, check: &str, family: EndpointFamily) -> BucketKey {
        BucketKey::new(format!("{}/{check}", self.run), family)
    }

    async fn sequential_requests_are_paced(&self) {
        let bucket = self.bucket("sequential", EndpointFamily::Jobs);
        let t0 = Instant::now();
        for k in 0..4u32 {
            let h = if k % 2 == 0 { &self.a } else { &self.b };
            let at = send_time(&**h, &request(&bucket, Priority::Sync, LONG)).await;
            assert_at(
                &format!("sequential sync request {k}"),
                t0,
                at,
                self.emission * k,
            );
        }
    }

    /// Six callers on three handles at once: each gets its own slot.
    async fn concurrent_requests_are_paced(&self) {
        let bucket = self.bucket("concurrent", EndpointFamily::Jobs);
        let t0 = Instant::now();
        let mut callers = JoinSet::new();
        for i in 0..6 {
            let h = Arc::clone(&self.handles[i % self.handles.len()]);
            let r = request(&bucket, Priority::Sync, LONG);
            callers.spawn(async move { send_time(&*h, &r).await });
        }
        let mut at = callers.join_all().await;
        at.sort_unstable();
        for (k, at) in at.into_iter().enumerate() {
            assert_at(
                &format!("concurrent sync request {k}"),
                t0,
                at,
                self.emission * k as u32,
            );
        }
    }

    async fn a_burst_goes_at_once(&self) {
        let bucket = self.bucket("burst", EndpointFamily::QueueItems);
        let t0 = Instant::now();
        let e = self.burst_emission;
        for (k, expected) in [Duration::ZERO, Duration::ZERO, Duration::ZERO, e, 2 * e]
            .into_iter()
            .enumerate()
        {
            let h = if k % 2 == 0 { &self.a } else { &self.b };
            let at = send_time(&**h, &request(&bucket, Priority::Sync, LONG)).await;
            assert_at(&format!("burst-3 request {k}"), t0, at, expected);
        }
    }

    async fn a_deferral_reserves_nothing(&self) {
        let bucket = self.bucket("defer", EndpointFamily::Jobs);
        let t0 = Instant::now();
        let d = self
            .a
            .acquire(&request(&bucket, Priority::Sync, Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(
            d,
            Decision::Proceed {
                wait: Duration::ZERO
            },
            "acquire: a fresh bucket admits at once"
        );
        // The next slot is one interval after the admission, which happened in between.
        let slot = (t0 + self.emission, Instant::now() + self.emission);
        for (i, h) in [&self.a, &self.b, &self.b].into_iter().enumerate() {
            let window = deferred(
                &**h,
                &request(&bucket, Priority::Sync, self.emission / 2),
                false,
            )
            .await;
            assert_names(&format!("deferral {i}: retry_in"), window, slot);
        }
        // Had the deferrals reserved anything, this would be three intervals later.
        let at = send_time(&*self.a, &request(&bucket, Priority::Sync, LONG)).await;
        assert_at("the request after three deferrals", t0, at, self.emission);
    }

    async fn pauses_are_shared_and_only_extend(&self) {
        let bucket = self.bucket("pause", EndpointFamily::Jobs);
        let pause = Duration::from_millis(400);
        let set = Instant::now();
        self.a.pause(&bucket, pause).await.unwrap();
        let until = (set + pause, Instant::now() + pause);
        self.check_paused_until("after pause", &*self.b, &bucket, until)
            .await;
        self.b
            .pause(&bucket, Duration::from_millis(50))
            .await
            .unwrap();
        self.check_paused_until("after a shorter pause", &*self.a, &bucket, until)
            .await;
        let other = self.bucket("pause", EndpointFamily::QueueItems);
        assert_eq!(
            self.a.paused_for(&other).await.unwrap(),
            None,
            "pause: another family is not paused"
        );

        let window = deferred(&*self.b, &request(&bucket, Priority::Sync, pause / 2), true).await;
        assert_names("a paused deferral: retry_in", window, until);
        let at = send_time(&*self.a, &request(&bucket, Priority::Sync, LONG)).await;
        assert_at("the first request after a pause", set, at, pause);
        // Send when told to, as a caller does; by then the pause is over.
        tokio::time::sleep_until(at + EARLY).await;
        assert_eq!(
            self.b.paused_for(&bucket).await.unwrap(),
            None,
            "paused_for: a pause ends"
        );

        self.a
            .pause(&bucket, Duration::from_millis(100))
            .await
            .unwrap();
        let set = Instant::now();
        self.b.pause(&bucket, pause).await.unwrap();
        let until = (set + pause, Instant::now() + pause);
        self.check_paused_until("after a longer pause", &*self.a, &bucket, until)
            .await;
    }

    async fn check_paused_until(
        &self,
        what: &str,
        h: &dyn RateLimiter,
        bucket: &BucketKey,
        until: (Instant, Instant),
    ) {
        let start = Instant::now();
        let left = h.paused_for(bucket).await.unwrap();
        let end = Instant::now();
        let left = left.unwrap_or_else(|| panic!("paused_for {what}: not paused"));
        assert_names(
            &format!("paused_for {what}"),
            (start + left, end + left),
            until,
        );
    }

    async fn an_unlimited_family_passes_but_honours_pauses(&self) {
        let bucket = self.bucket("unlimited", EndpointFamily::Other);
        for i in 0..30 {
            let h = if i % 2 == 0 { &self.a } else { &self.b };
            let priority = if i % 3 == 0 {
                Priority::Backfill
            } else {
                Priority::Sync
            };
            let d = h
                .acquire(&request(&bucket, priority, Duration::ZERO))
                .await
                .unwrap();
            assert_eq!(
                d,
                Decision::Proceed {
                    wait: Duration::ZERO
                },
                "acquire {i} on an unlimited family"
            );
        }
        let pause = Duration::from_millis(300);
        let set = Instant::now();
        self.a.pause(&bucket, pause).await.unwrap();
        let until = (set + pause, Instant::now() + pause);
        let window = deferred(
            &*self.b,
            &request(&bucket, Priority::Sync, Duration::ZERO),
            true,
        )
        .await;
        assert_names(
            "an unlimited family's paused deferral: retry_in",
            window,
            until,
        );
        let at = send_time(&*self.b, &request(&bucket, Priority::Sync, LONG)).await;
        assert_at("an unlimited family after its pause", set, at, pause);
    }

    async fn backfills_are_held_to_their_share(&self) {
        // Alone, backfills go at their own, slower pace.
        let bucket = self.bucket("backfill", EndpointFamily::Jobs);
        let t0 = Instant::now();
        for k in 0..3u32 {
            let h = if k % 2 == 0 { &self.a } else { &self.b };
            let at = send_time(&**h, &request(&bucket, Priority::Backfill, LONG)).await;
            assert_at(
                &format!("backfill request {k}"),
                t0,
                at,
                self.backfill_emission * k,
            );
        }
        // Mixed: a sync takes the next slot of the whole budget, not the backfills' next.
        let bucket = self.bucket("mixed", EndpointFamily::Jobs);
        let (e, eb) = (self.emission, self.backfill_emission);
        let t0 = Instant::now();
        let at = send_time(&*self.a, &request(&bucket, Priority::Backfill, LONG)).await;
        assert_at("mixed: first backfill", t0, at, Duration::ZERO);
        let at = send_time(&*self.b, &request(&bucket, Priority::Sync, LONG)).await;
        assert_at("mixed: a sync after a backfill", t0, at, e);
        let window = deferred(
            &*self.a,
            &request(&bucket, Priority::Backfill, Duration::ZERO),
            false,
        )
        .await;
        assert_names(
            "mixed: a backfill's deferral: retry_in",
            window,
            (t0 + eb, t0 + eb + late(eb)),
        );
        let at = send_time(&*self.b, &request(&bucket, Priority::Backfill, LONG)).await;
        assert_at("mixed: the second backfill", t0, at, eb);
        let at = send_time(&*self.a, &request(&bucket, Priority::Sync, LONG)).await;
        assert_at("mixed: a sync after two backfills", t0, at, eb + e);
    }
}
