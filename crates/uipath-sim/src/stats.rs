//! Counters a test reads back through `/_sim/stats`: token grants by type, requests by
//! endpoint and status, 429s. "Exactly one token grant per lifetime" and "zero 429s" are
//! asserted on these numbers, so every grant and every response must pass through here.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// A snapshot of the counters, as served by `GET /_sim/stats`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Successful token grants by grant type (`client_credentials`, `authorization_code`,
    /// `refresh_token`, `password` for ROPC `Account/Authenticate`).
    pub token_grants: BTreeMap<String, u64>,
    /// Failed token requests by OAuth error code (`invalid_client`, `invalid_grant`, ...).
    pub token_errors: BTreeMap<String, u64>,
    /// Requests by endpoint (e.g. `odata/Jobs`, `identity/token`) and then status code.
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Responses with status 429, all endpoints.
    pub throttled: u64,
    /// Responses with status 401, all endpoints.
    pub unauthorized: u64,
    /// Faults injected, by kind (`error`, `latency`, `drop`, `truncate`, `malformed`, `storm`).
    pub faults: BTreeMap<String, u64>,
    /// Records served in OData and Data Service pages.
    pub records_served: u64,
}

/// Shared counters. A `std` mutex is right here: every update is a few map operations and
/// is never held across an `.await`.
#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<StatsSnapshot>,
}

impl Stats {
    fn with<R>(&self, f: impl FnOnce(&mut StatsSnapshot) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub fn token_grant(&self, grant_type: &str) {
        self.with(|s| *s.token_grants.entry(grant_type.to_owned()).or_default() += 1);
    }

    pub fn token_error(&self, error: &str) {
        self.with(|s| *s.token_errors.entry(error.to_owned()).or_default() += 1);
    }

    pub fn request(&self, endpoint: &str, status: u16) {
        self.with(|s| {
            *s.requests
                .entry(endpoint.to_owned())
                .or_default()
                .entry(status)
                .or_default() += 1;
            match status {
                429 => s.throttled += 1,
                401 => s.unauthorized += 1,
                _ => {}
            }
        });
    }

    pub fn fault(&self, kind: &str) {
        self.with(|s| *s.faults.entry(kind.to_owned()).or_default() += 1);
    }

    pub fn records(&self, n: u64) {
        self.with(|s| s.records_served += n);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        self.with(|s| s.clone())
    }

    pub fn reset(&self) {
        self.with(|s| *s = StatsSnapshot::default());
    }
}
