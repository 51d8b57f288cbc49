//! [`RedisRateLimiter`]: the fleet-wide [`RateLimiter`] on Redis, a GCRA with
//! reservations run as one Lua script.
//!
//! Layout, for a bucket `(tenant, family)`:
//!
//! | key | content | expiry |
//! |---|---|---|
//! | `{prefix}:rl:{tenant}:{family}:{suffix}` | the TAT of one of the plan's buckets (`all`, `backfill`), µs | a second after the TAT |
//! | `{prefix}:rl:{tenant}:{family}:pause` | paused-until, µs | a second after the pause ends |
//!
//! Times are microseconds of Redis `TIME`: every worker shares Redis's clock, whatever its
//! own says. An idle bucket leaves no keys behind.
//!
//! **What it guarantees.** [`RateLimiter::acquire`] runs `fleet_core::gcra::reserve` over
//! the pause and every bucket of [`LimiterConfig::plan`] as one script, so the check and
//! the reservation are a single step for all workers together: admitted arrival times
//! (now + wait) never exceed `burst + L / emission` in any interval `L`, fleet-wide. The
//! conversion to µs rounds the emission interval up and the tolerance down, so rounding
//! can only make the limiter stricter. A family without a budget (empty plan) still waits
//! for a pause.
//!
//! A `Decision::Defer` reserves nothing; its `paused` is true when the pause alone is
//! longer than the caller's `max_wait` (with a short pause and a full bucket, the bucket
//! is the reason, and `paused` is false).
//!
//! **Failure is one-sided.** A reply lost after Redis ran the script (a timeout) leaves
//! a reservation nobody uses, which is conservative; nothing is retried here for the same
//! reason. A Redis restart without persistence forgets the TATs, which admits at most one
//! extra burst.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fleet_core::{BucketKey, Decision, LimiterConfig, LimiterError, PermitRequest, RateLimiter};
use redis::aio::ConnectionManager;
use redis::RedisError;

use crate::conn::{connect_manager, describe};
use crate::scripts::{GCRA_RESERVE, PAUSE};

/// Longest wait or pause handed to Redis, in µs (about 30 years): keeps every number in
/// the scripts far below 2^53, where Lua's doubles stop being exact.
const MAX_US: u64 = 1 << 50;

/// The shared rate limiter. Cheap to clone (one multiplexed connection underneath).
#[derive(Clone)]
pub struct RedisRateLimiter {
    conn: ConnectionManager,
    prefix: Arc<str>,
    config: Arc<LimiterConfig>,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// A limiter over `conn` whose keys all start with `prefix`. `config` should have
    /// passed [`LimiterConfig::validate`]; every worker sharing the prefix must use the
    /// same budgets, or each enforces its own view of them on the shared TATs.
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>, config: LimiterConfig) -> Self {
        RedisRateLimiter {
            conn,
            prefix: prefix.into().into(),
            config: Arc::new(config),
        }
    }

    /// Connects with [`connect_manager`] and builds the limiter.
    pub async fn connect(
        url: &str,
        prefix: impl Into<String>,
        config: LimiterConfig,
    ) -> Result<Self, LimiterError> {
        let conn = connect_manager(url)
            .await
            .map_err(|e| backend("connecting to redis", e))?;
        Ok(Self::new(conn, prefix, config))
    }

    fn key(&self, bucket: &BucketKey, suffix: &str) -> String {
        format!(
            "{}:rl:{}:{}:{suffix}",
            self.prefix, bucket.tenant, bucket.family
        )
    }

    /// Runs the pause script: extends the pause by `extend_us` (0 = read only) and
    /// returns what remains of it.
    async fn pause_script(
        &self,
        op: &str,
        bucket: &BucketKey,
        extend_us: u64,
    ) -> Result<Duration, LimiterError> {
        let remaining: u64 = PAUSE
            .key(self.key(bucket, "pause"))
            .arg(extend_us)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend(op, e))?;
        Ok(Duration::from_micros(remaining))
    }
}

fn backend(op: &str, e: RedisError) -> LimiterError {
    LimiterError::Backend(describe(op, &e))
}

/// Whole microseconds in `d`, rounded up, capped at [`MAX_US`].
fn micros_ceil(d: Duration) -> u64 {
    let us = d.as_nanos().div_ceil(1_000);
    u64::try_from(us).unwrap_or(u64::MAX).min(MAX_US)
}

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(&self, request: &PermitRequest) -> Result<Decision, LimiterError> {
        let plan = self.config.plan(&request.bucket, request.priority);
        let mut call = GCRA_RESERVE.key(self.key(&request.bucket, "pause"));
        // Rounded down: the granted wait must never exceed what the caller accepted.
        let max_wait = u64::try_from(request.max_wait.as_micros())
            .unwrap_or(u64::MAX)
            .min(MAX_US);
        call.arg(max_wait);
        for (suffix, gcra) in &plan.buckets {
            // Emission rounded up and tolerance down: rounding only ever makes it stricter.
            call.key(self.key(&request.bucket, suffix))
                .arg(gcra.emission_ns.div_ceil(1_000))
                .arg(gcra.tolerance_ns / 1_000);
        }
        let (granted, micros, paused): (i64, u64, i64) = call
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend("reserving a rate-limit slot", e))?;
        let after = Duration::from_micros(micros);
        Ok(if granted == 1 {
            Decision::Proceed { wait: after }
        } else {
            Decision::Defer {
                retry_in: after,
                paused: paused == 1,
            }
        })
    }

    async fn pause(&self, bucket: &BucketKey, duration: Duration) -> Result<(), LimiterError> {
        let extend = micros_ceil(duration);
        if extend == 0 {
            return Ok(());
        }
        let remaining = self.pause_script("pausing", bucket, extend).await?;
        tracing::debug!(%bucket, ?duration, ?remaining, "rate limit paused");
        Ok(())
    }

    async fn paused_for(&self, bucket: &BucketKey) -> Result<Option<Duration>, LimiterError> {
        let remaining = self.pause_script("reading the pause", bucket, 0).await?;
        Ok((!remaining.is_zero()).then_some(remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_up_and_cap() {
        assert_eq!(micros_ceil(Duration::from_nanos(1)), 1);
        assert_eq!(micros_ceil(Duration::from_micros(7)), 7);
        assert_eq!(micros_ceil(Duration::ZERO), 0);
        assert_eq!(micros_ceil(Duration::MAX), MAX_US);
    }
}
