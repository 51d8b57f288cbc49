//! Counters of what one [`crate::UipathClient`] did: responses by status class, 429s,
//! refreshes after a 401, retries, deferrals and time spent waiting for permits.
//!
//! Plain relaxed atomics: each counter is independent and only ever grows, so a snapshot
//! may be a few increments behind but never inconsistent with itself in a way that
//! matters to a metrics scrape. The worker's metrics module reads [`ClientStats::snapshot`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Live counters; shared by every clone of the client.
#[derive(Debug, Default)]
pub struct ClientStats {
    sent: AtomicU64,
    ok: AtomicU64,
    unauthorized: AtomicU64,
    forbidden: AtomicU64,
    not_found: AtomicU64,
    bad_request: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
    malformed: AtomicU64,
    retries: AtomicU64,
    refreshes: AtomicU64,
    deferred: AtomicU64,
    permit_wait_ms: AtomicU64,
}

/// A point-in-time copy of [`ClientStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Requests put on the wire (each retry counts).
    pub sent: u64,
    /// 2xx responses (whether or not their body then decoded).
    pub ok: u64,
    /// 401 responses.
    pub unauthorized: u64,
    /// 403 responses.
    pub forbidden: u64,
    /// 404 responses.
    pub not_found: u64,
    /// Other 4xx responses (400 with or without an errorCode, 405, 409, ...).
    pub bad_request: u64,
    /// 429 responses.
    pub throttled: u64,
    /// 5xx and 408 responses.
    pub server_errors: u64,
    /// Requests that got no complete response (connect error, timeout, body cut).
    pub transport_errors: u64,
    /// 2xx responses whose body was not the JSON expected.
    pub malformed: u64,
    /// Attempts repeated after a transient failure (backoff).
    pub retries: u64,
    /// Tokens invalidated after a 401 and replaced.
    pub refreshes: u64,
    /// Calls that returned `Deferred` because no permit was near enough.
    pub deferred: u64,
    /// Total time spent obtaining permits (inside the limiter or sleeping for a
    /// reserved slot), in milliseconds.
    pub permit_wait_ms: u64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl ClientStats {
    pub(crate) fn sent(&self) {
        inc(&self.sent);
    }

    /// Counts one response by status.
    pub(crate) fn status(&self, status: u16) {
        inc(match status {
            200..=299 => &self.ok,
            401 => &self.unauthorized,
            403 => &self.forbidden,
            404 => &self.not_found,
            429 => &self.throttled,
            408 | 500..=599 => &self.server_errors,
            _ => &self.bad_request,
        });
    }

    pub(crate) fn transport_error(&self) {
        inc(&self.transport_errors);
    }

    pub(crate) fn malformed(&self) {
        inc(&self.malformed);
    }

    pub(crate) fn retry(&self) {
        inc(&self.retries);
    }

    pub(crate) fn refresh(&self) {
        inc(&self.refreshes);
    }

    pub(crate) fn deferred(&self) {
        inc(&self.deferred);
    }

    pub(crate) fn waited(&self, wait: Duration) {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.permit_wait_ms.fetch_add(ms, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            sent: get(&self.sent),
            ok: get(&self.ok),
            unauthorized: get(&self.unauthorized),
            forbidden: get(&self.forbidden),
            not_found: get(&self.not_found),
            bad_request: get(&self.bad_request),
            throttled: get(&self.throttled),
            server_errors: get(&self.server_errors),
            transport_errors: get(&self.transport_errors),
            malformed: get(&self.malformed),
            retries: get(&self.retries),
            refreshes: get(&self.refreshes),
            deferred: get(&self.deferred),
            permit_wait_ms: get(&self.permit_wait_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_land_in_their_class() {
        let s = ClientStats::default();
        for status in [200, 204, 401, 403, 404, 400, 409, 429, 408, 503] {
            s.status(status);
        }
        s.waited(Duration::from_millis(1500));
        let snap = s.snapshot();
        assert_eq!(
            (
                snap.ok,
                snap.unauthorized,
                snap.forbidden,
                snap.not_found,
                snap.bad_request,
                snap.throttled,
                snap.server_errors
            ),
            (2, 1, 1, 1, 2, 1, 2)
        );
        assert_eq!(snap.permit_wait_ms, 1500);
    }
}
