//! The one backoff policy of the fleet: how long to wait before trying again after a
//! failure that may pass (a backend away, a connection cut, a poll that found nothing).
//!
//! Every retry loop in the workspace — a worker slot that cannot take jobs, a backend
//! call inside a job, the coordinator's leader and planner, the AMQP poll and reconnect,
//! identity requests, start-up connections — is configured with a [`Backoff`] and reads
//! its delays from it, either as a stateful [`Delays`] (loops that sleep themselves) or as
//! a `backon` builder (`Retryable` closures). The schedule is exponential (factor 2) from
//! `min` to `max`, optionally with full jitter and a limit on the number of tries.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// An exponential backoff schedule: `min`, `2·min`, `4·min`, … capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub min: Duration,
    /// No delay is longer than this.
    pub max: Duration,
    /// Retries after the first attempt; `None` retries for ever (the caller stops).
    pub retries: Option<usize>,
    /// Each delay drawn uniformly from `[d, 2d)`, so processes that failed together do
    /// not retry together.
    pub jitter: bool,
}

impl Backoff {
    /// An unlimited schedule from `min` to `max`, without jitter.
    pub const fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            retries: None,
            jitter: false,
        }
    }

    /// The same schedule with jitter.
    pub const fn with_jitter(self) -> Self {
        Backoff {
            jitter: true,
            ..self
        }
    }

    /// The same schedule, giving up after `retries` retries.
    pub const fn with_retries(self, retries: usize) -> Self {
        Backoff {
            retries: Some(retries),
            ..self
        }
    }

    /// The schedule as a `backon` builder, for `Retryable::retry`.
    pub fn builder(&self) -> ExponentialBuilder {
        let b = ExponentialBuilder::new()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .with_factor(2.0);
        let b = match self.retries {
            Some(n) => b.with_max_times(n),
            None => b.without_max_times(),
        };
        if self.jitter {
            // backon runs without its `std` feature here, so an unseeded jitter would
            // draw the same sequence in every process: seed each schedule afresh.
            b.with_jitter().with_jitter_seed(fresh_seed())
        } else {
            b
        }
    }

    /// A fresh sequence of delays, for a loop that sleeps itself.
    pub fn delays(&self) -> Delays {
        Delays {
            policy: *self,
            inner: self.builder().build(),
        }
    }
}

/// A seed that differs between processes and between calls (std's per-map hash keys).
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// The delays of one run of a [`Backoff`]: [`next`](Delays::next) after each failure,
/// [`reset`](Delays::reset) after a success.
#[derive(Debug)]
pub struct Delays {
    policy: Backoff,
    inner: backon::ExponentialBackoff,
}

impl Delays {
    /// The delay before the next try; `None` once the policy's retries are spent. An
    /// unlimited policy always answers.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Duration> {
        // backon multiplies in floating point; whole microseconds keep 2 × 100 ms = 200 ms.
        let d = self.inner.next()?;
        Some(Duration::from_micros(d.as_micros() as u64))
    }

    /// The delay before the next try of an unlimited loop (the policy's `max` once a
    /// limited one is spent).
    pub fn next_or_max(&mut self) -> Duration {
        self.next().unwrap_or(self.policy.max)
    }

    /// Starts the schedule again from `min` (after a success).
    pub fn reset(&mut self) {
        self.inner = self.policy.builder().build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_from_min_to_max_and_resets() {
        let policy = Backoff::new(100 * MS, 500 * MS);
        let mut d = policy.delays();
        let seen: Vec<_> = (0..5).map(|_| d.next_or_max()).collect();
        assert_eq!(seen, [100 * MS, 200 * MS, 400 * MS, 500 * MS, 500 * MS]);
        d.reset();
        assert_eq!(d.next(), Some(100 * MS));
    }

    #[test]
    fn a_limited_schedule_ends() {
        let mut d = Backoff::new(10 * MS, 40 * MS).with_retries(2).delays();
        assert_eq!(d.next(), Some(10 * MS));
        assert_eq!(d.next(), Some(20 * MS));
        assert_eq!(d.next(), None);
        assert_eq!(d.next_or_max(), 40 * MS);
    }

    #[test]
    fn jitter_stays_within_twice_the_delay() {
        let mut d = Backoff::new(100 * MS, 100 * MS).with_jitter().delays();
        for _ in 0..50 {
            let x = d.next_or_max();
            assert!(x >= 100 * MS && x <= 200 * MS, "{x:?}");
        }
    }
}
