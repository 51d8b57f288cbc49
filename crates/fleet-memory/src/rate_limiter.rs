//! `MemoryRateLimiter`: the fleet's rate limiter for one process, on `governor`.
//!
//! Every `(bucket, suffix)` of [`LimiterConfig::plan`] gets its own governor limiter (a
//! GCRA cell with the plan's emission interval and burst), created on first use; pauses
//! are a map of deadlines. Clones share all of it.
//!
//! # How `acquire` answers
//!
//! The Redis backend *reserves* a future slot and returns `Proceed { wait }` at once.
//! Governor only admits requests *now*, so this limiter waits inside `acquire` instead:
//! it checks each bucket, sleeps until governor says the bucket will conform, and checks
//! again. It returns `Proceed { wait: 0 }` once every bucket has admitted the request,
//! which is when the caller may send. As soon as it sees that the next admission would
//! fall beyond `max_wait` from the call, it returns `Defer { retry_in, .. }` with the
//! wait it would have needed from that moment. Callers treat both backends alike: sleep
//! `wait`, then send.
//!
//! Where this differs from the Redis reservation script, and why each difference is safe:
//!
//! - **A cell can be spent in one bucket when the other refuses.** A backfill must pass
//!   the `"backfill"` and the `"all"` bucket, and governor cannot look without taking.
//!   The stricter bucket (the longer emission interval, i.e. `"backfill"`) is taken
//!   first and then held while `acquire` waits for `"all"`; if `"all"` cannot admit the
//!   request within `max_wait`, the backfill cell is lost. That only slows later
//!   backfills: no request ever goes out that either bucket did not admit, so the API's
//!   budget and the syncs' share are never exceeded. (Taking `"all"` first would waste
//!   *sync* capacity every time the backfill bucket refuses, which is the common case.)
//!   While held, a backfill cell is stamped earlier than the request really goes out, so
//!   backfills may run ahead of their share by at most one request per concurrent
//!   waiter; the `"all"` bucket still bounds the total.
//! - **Waiters are not queued.** Redis orders callers by reservation; here, when several
//!   wait for the same bucket, whichever checks first at the slot wins and the others
//!   wait for the next slot. A caller overtaken until its `max_wait` runs out is
//!   deferred. The rate is exact either way.
//! - **Slots drift late by the timer's lateness.** A waiter wakes a little after its
//!   slot (tokio timers have millisecond resolution), and GCRA counts from when it
//!   actually checks, so under real time the pace is a little slower than configured;
//!   never faster.
//! - **A pause is honoured while waiting.** A pause set while a caller sleeps holds it
//!   too (a Redis reservation, once made, does not see later pauses).
//!
//! # Time
//!
//! The governor limiters run on tokio's clock ([`TokioClock`]), and pauses and waits use
//! `tokio::time` too. Under `tokio::time::pause()` the whole limiter is on virtual time:
//! tests assert exact waits without spending real seconds. With real time it behaves as
//! in production.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fleet_core::gcra::Gcra;
use fleet_core::{BucketKey, Decision, LimiterConfig, LimiterError, PermitRequest, RateLimiter};
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::Quota;
use tokio::time::Instant;

/// A governor clock reading tokio's time, so `tokio::time::pause()` drives the limiter.
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        // Saturating: a limiter built before a test paused (or re-based) the clock must
        // not panic on a reading earlier than its origin.
        Nanos::from(Instant::now().saturating_duration_since(self.origin))
    }
}

type Cell = governor::RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// The fleet's rate limiter for a single process (embedded mode, tests).
///
/// `Clone` shares the buckets and pauses. See the module docs for how `acquire` waits
/// and where it differs from the Redis backend.
#[derive(Clone)]
pub struct MemoryRateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    config: LimiterConfig,
    clock: TokioClock,
    /// One governor limiter per `(bucket, plan suffix)`. A limiter is itself atomic, so
    /// this lock is held only to find or create one, never while waiting.
    cells: Mutex<HashMap<(BucketKey, &'static str), Arc<Cell>>>,
    /// Pause deadlines. An entry only ever moves later; lapsed ones are dropped lazily.
    pauses: Mutex<HashMap<BucketKey, Instant>>,
}

impl MemoryRateLimiter {
    /// A limiter with no buckets touched and nothing paused. The config is taken as it
    /// is; callers validate it ([`LimiterConfig::validate`]) when they load it.
    pub fn new(config: LimiterConfig) -> Self {
        MemoryRateLimiter {
            inner: Arc::new(Inner {
                config,
                clock: TokioClock {
                    origin: Instant::now(),
                },
                cells: Mutex::new(HashMap::new()),
                pauses: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl fmt::Debug for MemoryRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRateLimiter")
            .field("config", &self.inner.config)
            .field("buckets", &lock(&self.inner.cells).len())
            .field("pauses", &lock(&self.inner.pauses).len())
            .finish()
    }
}

/// A poisoned lock only means another thread panicked mid-update of a map whose every
/// state is valid (entries are inserted or replaced whole), so carry on with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    fn cell(&self, bucket: &BucketKey, suffix: &'static str, gcra: Gcra) -> Arc<Cell> {
        let mut cells = lock(&self.cells);
        let cell = cells.entry((bucket.clone(), suffix)).or_insert_with(|| {
            let burst = gcra.tolerance_ns / gcra.emission_ns.max(1) + 1;
            let burst = NonZeroU32::new(u32::try_from(burst).unwrap_or(u32::MAX))
                .unwrap_or(NonZeroU32::MIN);
            // `Gcra::new` keeps the emission interval at 1 ns or more, which is all
            // `with_period` asks.
            let quota = Quota::with_period(Duration::from_nanos(gcra.emission_ns.max(1)))
                .expect("emission interval is at least 1 ns")
                .allow_burst(burst);
            Arc::new(Cell::direct_with_clock(quota, self.clock))
        });
        Arc::clone(cell)
    }

    /// The end of `bucket`'s pause if it is still paused at `now`.
    fn paused_until(&self, bucket: &BucketKey, now: Instant) -> Option<Instant> {
        let mut pauses = lock(&self.pauses);
        match pauses.get(bucket) {
            Some(&until) if until > now => Some(until),
            Some(_) => {
                pauses.remove(bucket);
                None
            }
            None => None,
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for MemoryRateLimiter {
    /// Waits inside the call and returns `Proceed { wait: 0 }` when the request may go
    /// out, or `Defer` as soon as that would be later than `max_wait` from the call (see
    /// the module docs).
    async fn acquire(&self, request: &PermitRequest) -> Result<Decision, LimiterError> {
        let inner = &self.inner;
        let mut plan = inner.config.plan(&request.bucket, request.priority).buckets;
        // Stricter bucket first: a cell lost to the other bucket's refusal is then a
        // backfill cell, never a sync's (see the module docs).
        plan.sort_by_key(|(_, g)| std::cmp::Reverse(g.emission_ns));
        let cells: Vec<Arc<Cell>> = plan
            .iter()
            .map(|&(suffix, gcra)| inner.cell(&request.bucket, suffix, gcra))
            .collect();
        // `None`: a wait so long it cannot be represented, i.e. no limit.
        let deadline = Instant::now().checked_add(request.max_wait);
        let too_late = |at: Instant| deadline.is_some_and(|d| at > d);
        let mut admitted = 0;
        loop {
            let now = Instant::now();
            // Checked before every bucket and after every sleep, so a paused bucket
            // spends no cells and a pause that starts while we wait holds us too.
            if let Some(until) = inner.paused_until(&request.bucket, now) {
                if too_late(until) {
                    return Ok(Decision::Defer {
                        retry_in: until - now,
                        paused: true,
                    });
                }
                tokio::time::sleep_until(until).await;
                continue;
            }
            let Some(cell) = cells.get(admitted) else {
                return Ok(Decision::Proceed {
                    wait: Duration::ZERO,
                });
            };
            match cell.check() {
                Ok(()) => admitted += 1,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(inner.clock.now());
                    if too_late(now + wait) {
                        return Ok(Decision::Defer {
                            retry_in: wait,
                            paused: false,
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn pause(&self, bucket: &BucketKey, duration: Duration) -> Result<(), LimiterError> {
        let now = Instant::now();
        // A `Retry-After` too large to add is as good as forever; a year will do.
        let until = now
            .checked_add(duration)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        let mut pauses = lock(&self.inner.pauses);
        let entry = pauses.entry(bucket.clone()).or_insert(until);
        *entry = (*entry).max(until);
        Ok(())
    }

    async fn paused_for(&self, bucket: &BucketKey) -> Result<Option<Duration>, LimiterError> {
        let now = Instant::now();
        Ok(self
            .inner
            .paused_until(bucket, now)
            .map(|until| until - now))
    }
}

#[cfg(test)]
mod tests;
