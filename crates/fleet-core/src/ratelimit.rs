//! The fleet-wide rate limiter contract: one budget per (tenant, endpoint family) for all
//! workers together, a shared pause after a 429, room kept for incremental syncs, and
//! long waits reported back instead of slept through.
//!
//! UiPath Automation Cloud limits `GET /odata/Jobs` and `GET /odata/QueueItems` to 100
//! requests per rolling minute per tenant, shared by every external caller
//! (../shared/reference/uipath-api.md §5); other endpoints are not rate limited by
//! Orchestrator. The defaults here follow that, and every number can be overridden per
//! family and per tenant.
//!
//! How budgets are enforced (both backends): every request takes a reservation in the
//! bucket `(tenant, family, "all")`, whose rate is `requests × headroom` per period. A
//! backfill request also takes one in `(tenant, family, "backfill")`, whose rate is that
//! times `backfill_share`; so when syncs need their share, backfills cannot have taken
//! it, and when no sync runs the backfill still leaves it unused (the price of never
//! making a sync wait behind history). See [`crate::gcra`] for the arithmetic.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::gcra::Gcra;

/// The groups of endpoints UiPath budgets separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointFamily {
    /// `GET /odata/Jobs` (list; keyed reads are not limited).
    Jobs,
    /// `GET /odata/QueueItems`.
    QueueItems,
    /// Everything else on Orchestrator and Data Service.
    Other,
}

impl EndpointFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointFamily::Jobs => "jobs",
            EndpointFamily::QueueItems => "queue-items",
            EndpointFamily::Other => "other",
        }
    }
}

impl fmt::Display for EndpointFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One budget: the fleet's view of what the API admits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Requests the API admits per period.
    pub requests: u32,
    /// The API's window, in milliseconds (UiPath: 60,000, rolling).
    pub period_ms: u64,
    /// Requests that may go out back to back before the sustained pace applies. Keep it
    /// small: a rolling window counts a burst in full.
    #[serde(default = "one")]
    pub burst: u32,
}

fn one() -> u32 {
    1
}

impl Budget {
    pub const fn per_minute(requests: u32) -> Budget {
        Budget {
            requests,
            period_ms: 60_000,
            burst: 1,
        }
    }
}

/// Request priority: what a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    /// Incremental sync: may use the whole budget.
    Sync,
    /// Historical backfill: leaves `1 - backfill_share` of the budget for syncs.
    Backfill,
}

/// Which budget a request draws from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketKey {
    /// The tenant as the API counts it, e.g. `cloud.uipath.com/acme/DefaultTenant`.
    pub tenant: String,
    pub family: EndpointFamily,
}

impl BucketKey {
    pub fn new(tenant: impl Into<String>, family: EndpointFamily) -> Self {
        BucketKey {
            tenant: tenant.into(),
            family,
        }
    }
}

impl fmt::Display for BucketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.tenant, self.family)
    }
}

/// Budgets for each family; `None` means the API does not limit it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FamilyBudgets {
    pub jobs: Option<Budget>,
    pub queue_items: Option<Budget>,
    pub other: Option<Budget>,
}

impl Default for FamilyBudgets {
    /// UiPath Automation Cloud's defaults for non-automation callers.
    fn default() -> Self {
        FamilyBudgets {
            jobs: Some(Budget::per_minute(100)),
            queue_items: Some(Budget::per_minute(100)),
            other: None,
        }
    }
}

impl FamilyBudgets {
    pub fn get(&self, family: EndpointFamily) -> Option<Budget> {
        match family {
            EndpointFamily::Jobs => self.jobs,
            EndpointFamily::QueueItems => self.queue_items,
            EndpointFamily::Other => self.other,
        }
    }
}

/// Limiter configuration shared by both backends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimiterConfig {
    /// Budgets for every tenant without an override.
    pub default: FamilyBudgets,
    /// Per-tenant budgets (key: the bucket's tenant string), replacing `default` whole.
    pub tenants: BTreeMap<String, FamilyBudgets>,
    /// Fraction of a budget the fleet plans to use, leaving a margin for clock skew and
    /// network jitter between the limiter and the API's own window (default 0.97).
    pub headroom: f64,
    /// Fraction of the budget backfills may use; the rest is kept for syncs (default 0.8).
    pub backfill_share: f64,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            default: FamilyBudgets::default(),
            tenants: BTreeMap::new(),
            headroom: 0.97,
            backfill_share: 0.8,
        }
    }
}

/// The buckets one request must reserve in, with their parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// `(bucket suffix, parameters)`: `"all"`, and `"backfill"` for backfills.
    pub buckets: Vec<(&'static str, Gcra)>,
}

impl LimiterConfig {
    /// Checks the numbers; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.headroom > 0.0 && self.headroom <= 1.0) {
            return Err(format!("headroom must be in (0, 1], got {}", self.headroom));
        }
        if !(self.backfill_share > 0.0 && self.backfill_share <= 1.0) {
            return Err(format!(
                "backfill_share must be in (0, 1], got {}",
                self.backfill_share
            ));
        }
        let all = std::iter::once(("default".to_owned(), &self.default)).chain(
            self.tenants
                .iter()
                .map(|(t, b)| (format!("tenants.{t}"), b)),
        );
        for (name, fb) in all {
            for (fam, b) in [
                ("jobs", fb.jobs),
                ("queue_items", fb.queue_items),
                ("other", fb.other),
            ] {
                let Some(b) = b else { continue };
                if b.requests == 0 || b.period_ms == 0 || b.burst == 0 {
                    return Err(format!(
                        "{name}.{fam}: requests, period_ms and burst must be > 0 (omit the budget for no limit)"
                    ));
                }
                if f64::from(b.burst) > f64::from(b.requests) * self.headroom {
                    return Err(format!(
                        "{name}.{fam}: burst {} exceeds the budget of {} requests",
                        b.burst, b.requests
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn budget(&self, bucket: &BucketKey) -> Option<Budget> {
        self.tenants
            .get(&bucket.tenant)
            .unwrap_or(&self.default)
            .get(bucket.family)
    }

    /// The buckets a request of `priority` on `bucket` reserves in; empty when the family
    /// is unlimited (only a pause can then hold it).
    pub fn plan(&self, bucket: &BucketKey, priority: Priority) -> Plan {
        let Some(b) = self.budget(bucket) else {
            return Plan { buckets: vec![] };
        };
        let period_ns = b.period_ms * 1_000_000;
        // The burst comes out of the same window, so the sustained rate makes room for it.
        let sustained = (f64::from(b.requests) * self.headroom - f64::from(b.burst - 1)).max(1.0);
        let mut buckets = vec![("all", Gcra::new(sustained, period_ns, b.burst))];
        if priority == Priority::Backfill && self.backfill_share < 1.0 {
            buckets.push((
                "backfill",
                Gcra::new((sustained * self.backfill_share).max(1.0), period_ns, 1),
            ));
        }
        Plan { buckets }
    }
}

/// One request for a permit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermitRequest {
    pub bucket: BucketKey,
    pub priority: Priority,
    /// The longest the caller is willing to wait; beyond that it is told to come back.
    pub max_wait: Duration,
}

/// The limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A slot is reserved `wait` from now: sleep that long, then send. Not sending is
    /// harmless (the slot is simply lost).
    Proceed { wait: Duration },
    /// No slot within `max_wait`; the earliest is `retry_in` from now. Nothing was
    /// reserved. `paused` tells whether a 429 pause is the reason.
    Defer { retry_in: Duration, paused: bool },
}

/// A limiter backend failure.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    #[error("rate limiter backend: {0}")]
    Backend(String),
}

/// The fleet-wide limiter. Implementations are exact across all processes sharing the
/// backend: reservations are atomic, and their clock is the backend's, not the callers'.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Reserves a slot for one request (see [`Decision`]). Honours pauses.
    async fn acquire(&self, request: &PermitRequest) -> Result<Decision, LimiterError>;

    /// Pauses `bucket` for every caller for `duration` from now (a 429's `Retry-After`).
    /// A pause only ever extends: a shorter pause than the current one does nothing.
    async fn pause(&self, bucket: &BucketKey, duration: Duration) -> Result<(), LimiterError>;

    /// How long `bucket` stays paused from now, if it is.
    async fn paused_for(&self, bucket: &BucketKey) -> Result<Option<Duration>, LimiterError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_cloud() {
        let c = LimiterConfig::default();
        c.validate().unwrap();
        let jobs = BucketKey::new("t", EndpointFamily::Jobs);
        assert_eq!(c.budget(&jobs), Some(Budget::per_minute(100)));
        assert!(c
            .plan(&BucketKey::new("t", EndpointFamily::Other), Priority::Sync)
            .buckets
            .is_empty());
        let sync = c.plan(&jobs, Priority::Sync);
        assert_eq!(sync.buckets.len(), 1);
        // 97 per minute: one every 618.6 ms.
        assert_eq!(sync.buckets[0].1.emission_ns, 618_556_702);
        let backfill = c.plan(&jobs, Priority::Backfill);
        assert_eq!(backfill.buckets.len(), 2);
        assert_eq!(backfill.buckets[1].0, "backfill");
        assert!(backfill.buckets[1].1.emission_ns > backfill.buckets[0].1.emission_ns);
    }

    #[test]
    fn tenant_overrides_and_validation() {
        let mut c = LimiterConfig::default();
        c.tenants.insert(
            "slow".into(),
            FamilyBudgets {
                jobs: Some(Budget::per_minute(5)),
                queue_items: None,
                other: None,
            },
        );
        assert_eq!(
            c.budget(&BucketKey::new("slow", EndpointFamily::Jobs)),
            Some(Budget::per_minute(5))
        );
        assert_eq!(
            c.budget(&BucketKey::new("slow", EndpointFamily::QueueItems)),
            None
        );
        c.validate().unwrap();
        c.headroom = 1.5;
        assert!(c.validate().unwrap_err().contains("headroom"));
        c.headroom = 0.97;
        c.tenants.get_mut("slow").unwrap().jobs = Some(Budget {
            requests: 5,
            period_ms: 0,
            burst: 1,
        });
        assert!(c.validate().unwrap_err().contains("tenants.slow.jobs"));
    }
}
