//! The coordinator's settings, with defaults that suit a laptop and a fleet alike; and
//! [`CoordinatorSection`], the `[coordinator]` section of the fleet's configuration file,
//! which this crate reads and checks itself (errors name `coordinator.<field>`).
//!
//! The API token is a [`Secret`]: write it as `api_token = { env =
//! "UIPATH_FLEET_API_TOKEN" }` (or `{ file = "..." }`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fleet_core::settings::{millis, secs};
use fleet_core::{LimiterConfig, Secret};
use serde::Deserialize;
use url::Url;

use crate::CoordinatorError;

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

/// The address the API listens on unless configured.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    8700,
);

/// `[coordinator]`: where the HTTP API listens and how the coordinator plans, and where
/// the client commands (`backfill`, `status`, ...) reach it. Every field is optional; the
/// defaults are [`CoordinatorConfig::default`]'s.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoordinatorSection {
    /// The address of the HTTP API and of `/healthz`, `/readyz`, `/metrics`. Default
    /// `127.0.0.1:8700`; `0.0.0.0:8700` in a container (then `api_token` is required).
    pub listen: SocketAddr,
    /// Where the client commands reach the coordinator. Default `http://<listen>` (with
    /// `0.0.0.0` read as `127.0.0.1`).
    pub url: Option<Url>,
    /// The bearer token the API requires (`Authorization: Bearer ...`); the client
    /// commands send it. Without one the API only listens on a loopback address.
    pub api_token: Option<Secret>,
    /// This replica's name in leases. Default: `$HOSTNAME`, else a random id.
    pub replica: Option<String>,
    /// `tick_ms`: how often the leader looks at schedules, progress and stalled plans.
    #[serde(rename = "tick_ms", deserialize_with = "millis")]
    pub tick: Duration,
    /// `lease_ttl_secs`: how long the schedule lease lasts without renewal.
    #[serde(rename = "lease_ttl_secs", deserialize_with = "secs")]
    pub lease_ttl: Duration,
    /// Refuse requests with more slices than this, at submit (default 650,000: one
    /// request's ledger under ~1 GiB of Redis).
    pub max_slices: u64,
    /// Automatic slice widths aim at no more than this many records per slice.
    pub target_records_per_slice: u64,
    /// How many `$count` probes run at once while planning one request.
    pub probe_concurrency: usize,
    /// `connect_timeout_secs`: how long to keep trying RabbitMQ and Redis at start before
    /// giving up.
    #[serde(rename = "connect_timeout_secs", deserialize_with = "secs")]
    pub connect_timeout: Duration,
    /// `sync_retention_secs`: completed sync slices whose window ended longer ago than
    /// this are dropped from the ledger (watermarks and counters stay). Default one day.
    #[serde(rename = "sync_retention_secs", deserialize_with = "secs")]
    pub sync_retention: Duration,
}

impl Default for CoordinatorSection {
    fn default() -> Self {
        let lib = CoordinatorConfig::default();
        CoordinatorSection {
            listen: DEFAULT_LISTEN,
            url: None,
            api_token: None,
            replica: None,
            tick: lib.tick,
            lease_ttl: lib.lease_ttl,
            max_slices: lib.max_slices,
            target_records_per_slice: lib.target_records_per_slice,
            probe_concurrency: lib.probe_concurrency,
            connect_timeout: Duration::from_secs(30),
            sync_retention: lib.sync_retention,
        }
    }
}

/// The shortest API token a coordinator listening beyond loopback accepts.
pub const MIN_PUBLIC_TOKEN: usize = 32;

/// Why `token` is too weak to guard an API reachable from other machines, if it is: under
/// [`MIN_PUBLIC_TOKEN`] characters, fewer than 10 distinct characters, or a single kind
/// of character (only letters, only digits). What a generator gives passes:
/// `openssl rand -hex 32`, `head -c32 /dev/urandom | base64`, a UUID. The reason never
/// quotes the token.
pub fn weak_token(token: &str) -> Option<String> {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() < MIN_PUBLIC_TOKEN {
        return Some(format!("is {} characters long", chars.len()));
    }
    let distinct: std::collections::BTreeSet<char> = chars.iter().copied().collect();
    if distinct.len() < 10 {
        return Some(format!("uses only {} different characters", distinct.len()));
    }
    let kinds = [
        chars.iter().any(char::is_ascii_lowercase),
        chars.iter().any(char::is_ascii_uppercase),
        chars.iter().any(char::is_ascii_digit),
        chars.iter().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if kinds.iter().filter(|k| **k).count() < 2 {
        return Some("uses a single kind of character".into());
    }
    None
}

/// Fails with a [`CoordinatorError::Config`] built like `format!`.
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err(CoordinatorError::Config(format!($($arg)*)))
    };
}

impl CoordinatorSection {
    pub fn validate(&self) -> Result<(), CoordinatorError> {
        if let Some(url) = &self.url {
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                invalid!("coordinator.url: `{url}` must be an http(s) URL");
            }
        }
        if self.api_token.as_ref().is_some_and(Secret::is_empty) {
            invalid!("coordinator.api_token: is empty; remove it or give a token");
        }
        if !self.listen.ip().is_loopback() {
            match &self.api_token {
                None => invalid!(
                    "coordinator.api_token: required when coordinator.listen ({}) is not a loopback address; \
                     {MIN_PUBLIC_TOKEN} or more random characters, e.g. `openssl rand -hex 32`",
                    self.listen
                ),
                Some(token) => {
                    if let Some(why) = weak_token(token.expose()) {
                        invalid!(
                            "coordinator.api_token: {why}; with coordinator.listen ({}) reachable from other machines \
                             the token must be at least {MIN_PUBLIC_TOKEN} characters of a varied alphabet \
                             (letters and digits at least), e.g. `openssl rand -hex 32`",
                            self.listen
                        );
                    }
                }
            }
        }
        if self.tick.is_zero() {
            invalid!("coordinator.tick_ms: must be at least 1");
        }
        if self.lease_ttl < Duration::from_secs(3) {
            invalid!("coordinator.lease_ttl_secs: must be at least 3 (renewed every third)");
        }
        if self.max_slices == 0 {
            invalid!("coordinator.max_slices: must be at least 1");
        }
        if self.target_records_per_slice == 0 {
            invalid!("coordinator.target_records_per_slice: must be at least 1");
        }
        if self.sync_retention < Duration::from_secs(60) {
            invalid!("coordinator.sync_retention_secs: must be at least 60");
        }
        if self.probe_concurrency == 0 {
            invalid!("coordinator.probe_concurrency: must be at least 1");
        }
        Ok(())
    }

    /// The library settings this section asks for, with the fleet's rate budgets.
    pub fn settings_with(&self, limits: &LimiterConfig) -> CoordinatorConfig {
        CoordinatorConfig {
            limits: limits.clone(),
            ..self.settings()
        }
    }

    /// The library settings this section asks for.
    pub fn settings(&self) -> CoordinatorConfig {
        let defaults = CoordinatorConfig::default();
        CoordinatorConfig {
            api_token: self.api_token.clone(),
            replica: self
                .replica
                .clone()
                .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
                .unwrap_or(defaults.replica.clone()),
            lease_ttl: self.lease_ttl,
            tick: self.tick,
            max_slices: self.max_slices,
            target_records_per_slice: self.target_records_per_slice,
            probe_concurrency: self.probe_concurrency,
            sync_retention: self.sync_retention,
            ..defaults
        }
    }

    /// Where the client commands reach the coordinator.
    pub fn client_url(&self) -> Url {
        if let Some(url) = &self.url {
            return url.clone();
        }
        let mut addr = self.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Url::parse(&format!("http://{addr}/")).expect("an address makes a URL")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Result<CoordinatorSection, String> {
        let s: CoordinatorSection = toml::from_str(text).map_err(|e| e.to_string())?;
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn defaults_follow_the_library_and_the_url_follows_listen() {
        let c = section("").unwrap();
        let lib = CoordinatorConfig::default();
        let s = c.settings();
        assert_eq!((s.tick, s.max_slices), (lib.tick, lib.max_slices));
        assert_eq!(c.client_url().as_str(), "http://127.0.0.1:8700/");
        let c = section(&format!(
            "listen = \"0.0.0.0:9000\"\napi_token = \"{STRONG}\"\n"
        ))
        .unwrap();
        assert_eq!(c.client_url().as_str(), "http://127.0.0.1:9000/");
        assert!(!format!("{c:?}").contains(STRONG));
    }

    const STRONG: &str = "9f2c4e1ab7d3e8f05c6a1b2d3e4f5a6b";

    /// A public API takes only a token a guesser cannot find; loopback takes any.
    #[test]
    fn a_public_api_needs_a_strong_token() {
        for weak in [
            "short",
            "t0ken",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "abababababababababababababababab12",
            "passwordpasswordpasswordpassword",
            "12345678901234567890123456789012",
        ] {
            let text = format!("listen = \"0.0.0.0:9000\"\napi_token = \"{weak}\"\n");
            let e = section(&text).unwrap_err();
            assert!(e.contains("coordinator.api_token"), "{weak}: {e}");
            assert!(e.contains("at least 32 characters"), "{weak}: {e}");
            assert!(!e.contains(weak), "the token is never quoted: {e}");
            // On loopback the same token is fine.
            section(&format!("api_token = \"{weak}\"\n")).unwrap();
        }
        for strong in [
            STRONG,
            "3b241101-e2bb-4255-8caf-4136c566a962",
            "q0Zb8r3m1X9yPp2aK7vJcL4wN6sT5uHd",
        ] {
            assert_eq!(weak_token(strong), None, "{strong}");
        }
    }

    #[test]
    fn mistakes_name_the_field() {
        for (text, field) in [
            ("listen = \"0.0.0.0:9000\"\n", "coordinator.api_token"),
            ("tick_ms = 0\n", "coordinator.tick_ms"),
            ("lease_ttl_secs = 2\n", "coordinator.lease_ttl_secs"),
            (
                "sync_retention_secs = 59\n",
                "coordinator.sync_retention_secs",
            ),
            ("url = \"ftp://x\"\n", "coordinator.url"),
            ("lisen = \"x\"\n", "lisen"),
        ] {
            let e = section(text).unwrap_err();
            assert!(e.contains(field), "{text}: {e}");
        }
    }
}
