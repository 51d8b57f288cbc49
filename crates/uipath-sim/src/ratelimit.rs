//! The Automation Cloud request budget for `GET /odata/Jobs` and `GET /odata/QueueItems`:
//! one rolling window per tenant **and endpoint** (each of the two has its own 100
//! requests per minute, uipath-api.md §5), shared by every caller that is not an
//! automation. Over budget the cloud answers 429 with
//! `Retry-After` in seconds; `X-RateLimit-Remaining` says what is left.
//!
//! A sliding log is exact, which is what tests need: "8 clients used ≥ 95% of the budget
//! with zero 429s" must be judged against the same arithmetic the cloud applies. Rejected
//! requests are not counted against the budget.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Budget configuration (per tenant).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Requests admitted per window; 0 disables the limit (standalone Orchestrator).
    pub requests: u32,
    /// Window length in milliseconds (the cloud's is 60,000, rolling, not clock-aligned).
    pub window_ms: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            requests: 100,
            window_ms: 60_000,
        }
    }
}

impl RateLimitConfig {
    /// A budget needs a window unless it is disabled (`requests = 0`).
    pub fn validate(&self) -> Result<(), String> {
        if self.requests > 0 && self.window_ms == 0 {
            return Err("window_ms must be > 0 when requests > 0".into());
        }
        Ok(())
    }
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Admitted; this many requests remain in the current window.
    Allowed { remaining: u32 },
    /// Over budget; retry after this long.
    Throttled { retry_after: Duration },
}

/// Per-tenant sliding logs.
#[derive(Debug)]
pub struct RateLimiter {
    config: Mutex<RateLimitConfig>,
    /// Per-tenant budgets that replace the default (keys lowercase `org/tenant`), e.g. one
    /// tenant throttled to a trickle in a fairness test.
    overrides: Mutex<HashMap<String, RateLimitConfig>>,
    logs: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> Self {
        RateLimiter {
            config: Mutex::new(config),
            overrides: Mutex::new(HashMap::new()),
            logs: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> RateLimitConfig {
        *self.config.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the budget and forgets the windows so far.
    pub fn set_config(&self, config: RateLimitConfig) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Gives `tenant` (`org/tenant`) its own budget.
    pub fn set_override(&self, tenant: &str, config: RateLimitConfig) {
        let key = tenant.to_ascii_lowercase();
        self.overrides
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), config);
        self.logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    /// The budget that applies to `tenant`.
    pub fn config_for(&self, tenant: &str) -> RateLimitConfig {
        let overrides = self.overrides.lock().unwrap_or_else(|p| p.into_inner());
        overrides
            .get(&tenant.to_ascii_lowercase())
            .copied()
            .unwrap_or_else(|| self.config())
    }

    /// Admits or throttles one request of `tenant` (`org/tenant`) to `endpoint` (the
    /// entity set) at `now`; each endpoint of a tenant has its own window.
    pub fn admit(&self, tenant: &str, endpoint: &str, now: Instant) -> Admission {
        let config = self.config_for(tenant);
        if config.requests == 0 {
            return Admission::Allowed {
                remaining: u32::MAX,
            };
        }
        let window = Duration::from_millis(config.window_ms);
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let log = logs
            .entry(format!("{tenant}|{endpoint}").to_ascii_lowercase())
            .or_default();
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            log.pop_front();
        }
        if log.len() >= config.requests as usize {
            let oldest = *log.front().expect("log is full, so not empty");
            return Admission::Throttled {
                retry_after: (oldest + window).saturating_duration_since(now),
            };
        }
        log.push_back(now);
        Admission::Allowed {
            remaining: config.requests - log.len() as u32,
        }
    }
}

/// `Retry-After` is whole seconds; round up so a client that honours it is never early.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_the_budget_then_throttles_until_the_oldest_request_leaves_the_window() {
        let rl = RateLimiter::new(RateLimitConfig {
            requests: 3,
            window_ms: 1_000,
        });
        let t0 = Instant::now();
        for k in 0..3u32 {
            let at = t0 + Duration::from_millis(100 * u64::from(k));
            assert_eq!(
                rl.admit("t", "Jobs", at),
                Admission::Allowed { remaining: 2 - k }
            );
        }
        let at = t0 + Duration::from_millis(500);
        assert_eq!(
            rl.admit("t", "Jobs", at),
            Admission::Throttled {
                retry_after: Duration::from_millis(500)
            }
        );
        // the first request leaves the window at t0 + 1000
        assert!(matches!(
            rl.admit("t", "Jobs", t0 + Duration::from_millis(1_000)),
            Admission::Allowed { .. }
        ));
        // other tenants have their own budget
        assert!(matches!(
            rl.admit("u", "Jobs", at),
            Admission::Allowed { remaining: 2 }
        ));
    }

    #[test]
    fn zero_requests_disables_the_limit() {
        let rl = RateLimiter::new(RateLimitConfig {
            requests: 0,
            window_ms: 1_000,
        });
        let now = Instant::now();
        for _ in 0..1_000 {
            assert!(matches!(
                rl.admit("t", "Jobs", now),
                Admission::Allowed { .. }
            ));
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_001)), 2);
    }
}
