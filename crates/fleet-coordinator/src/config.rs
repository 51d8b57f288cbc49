//! The coordinator's settings, with defaults that suit a laptop and a fleet alike.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fleet_core::{LimiterConfig, Secret};

/// Where the coordinator reads the time: the system clock, or in tests a clock that runs
/// faster so that schedule ticks minutes apart happen seconds apart.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(Utc::now))
    }
    pub fn new(f: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }
    /// A clock that starts at `start` and runs `speed` times faster than real time.
    pub fn warped(start: DateTime<Utc>, speed: u32) -> Clock {
        let origin = std::time::Instant::now();
        Clock::new(move || {
            let elapsed = origin.elapsed() * speed;
            start + chrono::Duration::from_std(elapsed).unwrap_or_default()
        })
    }
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

/// Coordinator settings. Built by the binary from the config file, environment and flags.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Bearer token the HTTP API requires. `None` leaves the API open, which
    /// [`crate::service::Coordinator::serve`] allows only on a loopback address.
    pub api_token: Option<Secret>,
    /// This replica's name in leases (defaults to a random id).
    pub replica: String,
    /// How long the schedule lease lasts without renewal; the leader renews it every third
    /// of that. A dead leader's lease lapses after at most this long.
    pub lease_ttl: Duration,
    /// How often the leader looks at schedules, progress and stalled plans.
    pub tick: Duration,
    /// Refuse requests with more slices than this (422 at submit, before anything is
    /// planned). The default keeps one request's ledger under ~1 GiB of Redis
    /// (`fleet_core::plan::capacity`).
    pub max_slices: u64,
    /// Auto width aims at no more than this many records per slice.
    pub target_records_per_slice: u64,
    /// Slices added to the ledger and published per batch.
    pub batch: usize,
    /// How many `$count` probes run at once while planning one request.
    pub probe_concurrency: usize,
    /// How long folder lists are reused (sync scheduler, estimates, planning) before
    /// being read again.
    pub folder_ttl: Duration,
    /// How long a `$count` probe's answer is reused: a dry run's probes serve the real
    /// submission that follows instead of spending the tenant's budget twice.
    pub probe_ttl: Duration,
    /// A sync slice left `Planned` (its job never confirmed) this long is published again.
    pub stale_planned: Duration,
    /// How long a planning run's per-request lease lasts without renewal (renewed every
    /// few batches). After a crash, another replica resumes the plan once it lapses.
    pub plan_lease_ttl: Duration,
    /// The time source for schedules and validation.
    pub clock: Clock,
    /// The rate budgets the fleet's limiter enforces (`[limits]`): a sync whose windows
    /// need more requests per minute than a tenant's budget is refused at submit.
    pub limits: LimiterConfig,
    /// Completed sync slices whose window ended longer ago than this (and lies behind the
    /// stream's watermark) are dropped from the ledger; watermarks and counters stay.
    pub sync_retention: Duration,
    /// How often the leader compacts a sync's streams (see `sync_retention`).
    pub compact_every: Duration,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            api_token: None,
            replica: format!("coordinator-{}", uuid::Uuid::new_v4().simple()),
            lease_ttl: Duration::from_secs(15),
            tick: Duration::from_secs(1),
            max_slices: fleet_core::plan::capacity::DEFAULT_MAX_SLICES,
            target_records_per_slice: 5_000,
            batch: 1_000,
            probe_concurrency: 4,
            folder_ttl: Duration::from_secs(600),
            probe_ttl: Duration::from_secs(900),
            stale_planned: Duration::from_secs(30),
            plan_lease_ttl: Duration::from_secs(30),
            clock: Clock::system(),
            limits: LimiterConfig::default(),
            sync_retention: Duration::from_secs(86_400),
            compact_every: Duration::from_secs(300),
        }
    }
}
