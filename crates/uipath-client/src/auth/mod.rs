//! Auth flows behind a fleet-wide token cache.
//!
//! - [`TokenProvider`] (`provider`): bearer tokens for one source, shared by every worker
//!   through a [`fleet_core::TokenCache`] with single-flight refresh.
//! - `flow`: client credentials, rotating refresh tokens, standalone ROPC, personal
//!   access tokens and the legacy User Key — what each sends and what the identity
//!   server's refusals mean (including robot scopes granted to a machine's credentials).
//! - `identity`: the HTTP exchanges with the identity server and their classification.
//! - [`login()`] (`login`, `callback`, `pkce`): the one-time authorization code + PKCE
//!   login that stores a refresh token for the refresh-token flow.
//! - [`Clock`]: where "now" comes from, so tests can move time.

mod callback;
mod clock;
mod flow;
mod identity;
mod login;
mod pkce;
mod provider;
mod shared;

use std::time::Duration;

pub use clock::{unix_now_ms, Clock, ManualClock, SystemClock};
pub use flow::family_key;
pub use login::{login, LoginOptions, LoginOutcome};
pub use provider::TokenProvider;

/// The application scopes an external application needs to read `datasets` (slugs such
/// as `jobs`; none = every Orchestrator dataset), `.Read` variants plus `OR.Folders.Read`
/// (folder-scoped datasets are read per folder), space-separated and sorted.
pub fn scopes_for(datasets: &[&str]) -> String {
    let defs: Vec<&fleet_core::dataset::DatasetDef> = if datasets.is_empty() {
        fleet_core::dataset::all().iter().collect()
    } else {
        datasets
            .iter()
            .filter_map(|d| fleet_core::dataset::by_name(d))
            .collect()
    };
    let mut scopes: std::collections::BTreeSet<String> =
        defs.iter().map(|d| format!("{}.Read", d.scope)).collect();
    scopes.insert("OR.Folders.Read".into());
    scopes.into_iter().collect::<Vec<_>>().join(" ")
}

/// Tuning of the token protocol.
#[derive(Debug, Clone)]
pub struct TokenOptions {
    /// Refresh this long before expiry (default 5 minutes; at most half a lifetime).
    pub refresh_ahead: Duration,
    /// How long the refresh lock is held at most; longer than the token request timeout.
    pub lock_ttl: Duration,
    /// How often a worker waiting for another's refresh polls the cache.
    pub poll_interval: Duration,
    /// Timeout of one request to the identity server.
    pub request_timeout: Duration,
}

impl Default for TokenOptions {
    fn default() -> Self {
        TokenOptions {
            refresh_ahead: Duration::from_secs(300),
            lock_ttl: Duration::from_secs(45),
            poll_interval: Duration::from_millis(75),
            request_timeout: Duration::from_secs(30),
        }
    }
}
