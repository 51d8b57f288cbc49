//! `[coordinator]`: where the coordinator's HTTP API listens and how it plans, and where
//! the client commands (`backfill`, `status`, ...) reach it.
//!
//! Defaults come from [`CoordinatorConfig::default`] so the library and the binary
//! cannot drift apart. The API token is a [`Secret`]: write it as
//! `api_token = { env = "UIPATH_FLEET_API_TOKEN" }` (or `{ file = "..." }`).

use std::net::SocketAddr;
use std::time::Duration;

use fleet_coordinator::CoordinatorConfig;
use fleet_core::Secret;
use serde::Deserialize;
use url::Url;

use super::{invalid, ConfigError};

/// The address the API listens on unless configured.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    8700,
);

/// The `[coordinator]` section; every field is optional.
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
    /// How often the leader looks at schedules, progress and stalled plans, in ms.
    pub tick_ms: u64,
    /// How long the schedule lease lasts without renewal, in seconds.
    pub lease_ttl_secs: u64,
    /// Refuse requests with more slices than this, at submit (default 650,000: one
    /// request's ledger under ~1 GiB of Redis).
    pub max_slices: u64,
    /// Automatic slice widths aim at no more than this many records per slice.
    pub target_records_per_slice: u64,
    /// How many `$count` probes run at once while planning one request.
    pub probe_concurrency: usize,
    /// How long to keep trying RabbitMQ and Redis at start before giving up, in seconds.
    pub connect_timeout_secs: u64,
    /// Completed sync slices whose window ended longer ago than this are dropped from the
    /// ledger (watermarks and counters stay), in seconds. Default one day.
    pub sync_retention_secs: u64,
}

impl Default for CoordinatorSection {
    fn default() -> Self {
        let lib = CoordinatorConfig::default();
        CoordinatorSection {
            listen: DEFAULT_LISTEN,
            url: None,
            api_token: None,
            replica: None,
            tick_ms: lib.tick.as_millis() as u64,
            lease_ttl_secs: lib.lease_ttl.as_secs(),
            max_slices: lib.max_slices,
            target_records_per_slice: lib.target_records_per_slice,
            probe_concurrency: lib.probe_concurrency,
            connect_timeout_secs: 30,
            sync_retention_secs: lib.sync_retention.as_secs(),
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

impl CoordinatorSection {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
        if self.tick_ms == 0 {
            invalid!("coordinator.tick_ms: must be at least 1");
        }
        if self.lease_ttl_secs < 3 {
            invalid!("coordinator.lease_ttl_secs: must be at least 3 (renewed every third)");
        }
        if self.max_slices == 0 {
            invalid!("coordinator.max_slices: must be at least 1");
        }
        if self.target_records_per_slice == 0 {
            invalid!("coordinator.target_records_per_slice: must be at least 1");
        }
        if self.sync_retention_secs < 60 {
            invalid!("coordinator.sync_retention_secs: must be at least 60");
        }
        if self.probe_concurrency == 0 {
            invalid!("coordinator.probe_concurrency: must be at least 1");
        }
        Ok(())
    }

    /// The library settings this section asks for, with the fleet's rate budgets.
    pub fn settings_with(&self, limits: &fleet_core::LimiterConfig) -> CoordinatorConfig {
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
            lease_ttl: Duration::from_secs(self.lease_ttl_secs),
            tick: Duration::from_millis(self.tick_ms),
            max_slices: self.max_slices,
            target_records_per_slice: self.target_records_per_slice,
            probe_concurrency: self.probe_concurrency,
            sync_retention: Duration::from_secs(self.sync_retention_secs),
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

    /// How long to keep trying the backends at start.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::weak_token;
    use crate::config::FleetConfig;

    #[test]
    fn defaults_follow_the_library_and_the_url_follows_listen() {
        let c = FleetConfig::parse("").unwrap();
        let lib = fleet_coordinator::CoordinatorConfig::default();
        let s = c.coordinator.settings();
        assert_eq!((s.tick, s.max_slices), (lib.tick, lib.max_slices));
        assert_eq!(
            c.coordinator.client_url().as_str(),
            "http://127.0.0.1:8700/"
        );
        let c = FleetConfig::parse(&format!(
            "[coordinator]\nlisten = \"0.0.0.0:9000\"\napi_token = \"{STRONG}\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.coordinator.client_url().as_str(),
            "http://127.0.0.1:9000/"
        );
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
            let text =
                format!("[coordinator]\nlisten = \"0.0.0.0:9000\"\napi_token = \"{weak}\"\n");
            let e = format!("{:#}", FleetConfig::parse(&text).unwrap_err());
            assert!(e.contains("coordinator.api_token"), "{weak}: {e}");
            assert!(e.contains("at least 32 characters"), "{weak}: {e}");
            assert!(!e.contains(weak), "the token is never quoted: {e}");
            // On loopback the same token is fine.
            let text = format!("[coordinator]\napi_token = \"{weak}\"\n");
            FleetConfig::parse(&text).unwrap();
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
            (
                "[coordinator]\nlisten = \"0.0.0.0:9000\"\n",
                "coordinator.api_token",
            ),
            ("[coordinator]\ntick_ms = 0\n", "coordinator.tick_ms"),
            ("[coordinator]\nurl = \"ftp://x\"\n", "coordinator.url"),
            ("[coordinator]\nlisen = \"x\"\n", "lisen"),
        ] {
            let e = FleetConfig::parse(text).unwrap_err();
            assert!(format!("{e:#}").contains(field), "{text}: {e:#}");
        }
    }
}
