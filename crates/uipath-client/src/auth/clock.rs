//! The wall clock the token protocol reads, behind a trait so tests can move time.
//!
//! Token expiry is wall-clock time shared by every worker (Unix milliseconds in the
//! cache), so this is `SystemTime`, not a monotonic `Instant`. [`ManualClock`] lets a test
//! step into the refresh-ahead window of an hour-long token without waiting an hour.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where "now" comes from.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        unix_now_ms()
    }
}

/// Milliseconds since the Unix epoch by the system clock (0 if it is set before 1970).
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A clock that moves only when told to. Starts at the system time of its creation, so
/// tokens it stamps are also judged sensibly by a cache that reads the real clock.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    pub fn new() -> Self {
        ManualClock {
            now_ms: AtomicU64::new(unix_now_ms()),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    /// Sets the clock to `ms` since the Unix epoch.
    pub fn set_ms(&self, ms: u64) {
        self.now_ms.store(ms, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new();
        let t0 = c.now_ms();
        assert!(t0 > 1_600_000_000_000, "starts at the real time");
        c.advance(Duration::from_secs(90));
        assert_eq!(c.now_ms(), t0 + 90_000);
        c.set_ms(5);
        assert_eq!(c.now_ms(), 5);
    }
}
