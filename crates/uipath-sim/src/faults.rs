//! Fault injection for the resource APIs (Orchestrator OData and Data Service): server
//! errors, latency, connections cut mid-response, truncated or malformed JSON, and 429
//! storms. Configured at start ([`FaultConfig`] in the simulator config) and changed at run
//! time through `/_sim/faults`.
//!
//! Decisions are drawn from a counter-based hash of the configured seed, so a run with the
//! same request sequence meets the same faults. Every injected fault is counted in
//! [`crate::stats`] so a test can assert that its faults really happened.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::stats::Stats;

/// What to inject. Rates are fractions of matching requests in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Fraction of requests answered with a server error from `error_statuses`.
    pub error_rate: f64,
    /// Statuses drawn for injected errors (default 500, 502, 503).
    pub error_statuses: Vec<u16>,
    /// Added latency before every matching request is handled.
    pub latency_ms: u64,
    /// Fraction of responses whose connection is cut half way through the body.
    pub drop_rate: f64,
    /// Fraction of 200 responses whose JSON body is cut in half (the HTTP exchange itself
    /// completes normally).
    pub truncate_rate: f64,
    /// Fraction of 200 responses whose JSON stays well-formed but breaks the schema (the
    /// first record's `Id` becomes a string).
    pub malformed_rate: f64,
    /// Only requests whose path contains one of these substrings (e.g. `odata/Jobs`);
    /// empty means every resource request.
    pub paths: Vec<String>,
    /// Only requests to these tenants (`org/tenant`, case-insensitive); empty means all.
    pub tenants: Vec<String>,
    /// Also inject into the identity server's endpoints (token, authorize, ROPC); off by
    /// default so a fault test of the resource APIs does not also starve token requests.
    pub include_identity: bool,
    /// Seed of the decision sequence.
    pub seed: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            error_rate: 0.0,
            error_statuses: vec![500, 502, 503],
            latency_ms: 0,
            drop_rate: 0.0,
            truncate_rate: 0.0,
            malformed_rate: 0.0,
            paths: Vec::new(),
            tenants: Vec::new(),
            include_identity: false,
            seed: 7,
        }
    }
}

impl FaultConfig {
    /// Checks that the rates are fractions and the statuses are errors.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
            ("truncate_rate", self.truncate_rate),
            ("malformed_rate", self.malformed_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        if let Some(s) = self
            .error_statuses
            .iter()
            .find(|s| !(400..=599).contains(*s))
        {
            return Err(format!("error_statuses must be 4xx or 5xx, got {s}"));
        }
        if self.error_rate > 0.0 && self.error_statuses.is_empty() {
            return Err("error_statuses must not be empty when error_rate > 0".into());
        }
        Ok(())
    }

    fn applies(&self, path: &str) -> bool {
        if is_identity(path) && !self.include_identity {
            return false;
        }
        let path_ok = self.paths.is_empty() || self.paths.iter().any(|p| path.contains(p.as_str()));
        path_ok && in_tenants(path, &self.tenants)
    }
}

/// True when `path` addresses one of `tenants` (`org/tenant`, case-insensitive) or the list
/// is empty (every tenant).
fn in_tenants(path: &str, tenants: &[String]) -> bool {
    let lower = path.to_ascii_lowercase();
    tenants.is_empty()
        || tenants
            .iter()
            .any(|t| lower.starts_with(&format!("/{}/", t.to_ascii_lowercase())))
}

/// True for the identity server's paths (cloud, organization-scoped and standalone forms).
fn is_identity(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains("/identity_/")
        || lower.starts_with("/identity/")
        || lower.contains("/api/account/")
}

/// A 429 storm: every matching request is throttled until `until`.
#[derive(Debug, Clone)]
struct Storm {
    until: Instant,
    retry_after_secs: u64,
    tenants: Vec<String>,
}

/// The live fault state shared by the middleware and the control API.
#[derive(Debug)]
pub struct Faults {
    config: Mutex<FaultConfig>,
    storm: Mutex<Option<Storm>>,
    counter: AtomicU64,
    stats: Arc<Stats>,
}

impl Faults {
    pub fn new(config: FaultConfig, stats: Arc<Stats>) -> Self {
        Faults {
            config: Mutex::new(config),
            storm: Mutex::new(None),
            counter: AtomicU64::new(0),
            stats,
        }
    }

    pub fn config(&self) -> FaultConfig {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_config(&self, config: FaultConfig) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }

    /// Starts a 429 storm for `duration` (all tenants when `tenants` is empty).
    pub fn start_storm(&self, duration: Duration, retry_after_secs: u64, tenants: Vec<String>) {
        *self.storm.lock().unwrap_or_else(|p| p.into_inner()) = Some(Storm {
            until: Instant::now() + duration,
            retry_after_secs: retry_after_secs.max(1),
            tenants,
        });
    }

    pub fn stop_storm(&self) {
        *self.storm.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn storm_for(&self, path: &str) -> Option<u64> {
        let storm = self
            .storm
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        if Instant::now() >= storm.until {
            return None;
        }
        in_tenants(path, &storm.tenants).then_some(storm.retry_after_secs)
    }

    /// The next uniform draw in `[0, 1)` from the seeded sequence.
    fn draw(&self, seed: u64) -> f64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        (crate::data::hash::mix(seed ^ n.wrapping_mul(crate::data::hash::GOLDEN)) >> 11) as f64
            / (1u64 << 53) as f64
    }
}

/// What the middleware decided to do with one response.
enum Mangle {
    None,
    Drop,
    Truncate,
    Malformed,
}

/// Axum middleware applying the configured faults to the resource routes it wraps.
pub async fn middleware(State(faults): State<Arc<Faults>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_sim/") {
        return next.run(req).await;
    }
    let storm = faults.storm_for(&path).filter(|_| !is_identity(&path));
    if let Some(retry_after) = storm {
        faults.stats.fault("storm");
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"message":"Too many requests. Simulated storm.","errorCode":0}"#,
        )
            .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        resp.headers_mut()
            .insert("x-ratelimit-remaining", HeaderValue::from(0));
        return resp;
    }
    let config = faults.config();
    if !config.applies(&path) {
        return next.run(req).await;
    }
    if config.latency_ms > 0 {
        faults.stats.fault("latency");
        tokio::time::sleep(Duration::from_millis(config.latency_ms)).await;
    }
    if config.error_rate > 0.0 && faults.draw(config.seed) < config.error_rate {
        faults.stats.fault("error");
        let pick = (faults.draw(config.seed) * config.error_statuses.len() as f64) as usize;
        let status = config.error_statuses[pick.min(config.error_statuses.len() - 1)];
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"message":"An error has occurred. Simulated failure.","errorCode":0}"#,
        )
            .into_response();
    }
    let mangle = if config.drop_rate > 0.0 && faults.draw(config.seed) < config.drop_rate {
        Mangle::Drop
    } else if config.truncate_rate > 0.0 && faults.draw(config.seed) < config.truncate_rate {
        Mangle::Truncate
    } else if config.malformed_rate > 0.0 && faults.draw(config.seed) < config.malformed_rate {
        Mangle::Malformed
    } else {
        Mangle::None
    };
    let resp = next.run(req).await;
    if matches!(mangle, Mangle::None) || resp.status() != StatusCode::OK {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = match mangle {
        Mangle::Drop => {
            faults.stats.fault("drop");
            // Send half the body, then fail the stream: hyper aborts the connection, so
            // the client sees a response cut off mid-body.
            let half = bytes.slice(..bytes.len() / 2);
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "simulated connection drop",
                )),
            ];
            Body::from_stream(futures::stream::iter(chunks))
        }
        Mangle::Truncate => {
            faults.stats.fault("truncate");
            Body::from(bytes.slice(..bytes.len() / 2))
        }
        Mangle::Malformed => {
            faults.stats.fault("malformed");
            Body::from(malform(&bytes))
        }
        Mangle::None => Body::from(bytes),
    };
    Response::from_parts(parts, body)
}

/// Keeps the JSON well-formed but breaks the schema: the first integer `"Id"` becomes a
/// string; a body without one gets its `value` replaced by an object.
fn malform(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    if let Some(at) = text.find("\"Id\":") {
        let start = at + 5;
        let digits = text[start..]
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'-')
            .count();
        if digits > 0 {
            let mut out = String::with_capacity(text.len() + 8);
            out.push_str(&text[..start]);
            out.push_str("\"not-a-number-");
            out.push_str(&text[start..start + digits]);
            out.push('"');
            out.push_str(&text[start + digits..]);
            return out.into_bytes();
        }
    }
    br#"{"value":{"unexpected":"object where an array belongs"}}"#.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malform_turns_the_first_id_into_a_string_and_stays_valid_json() {
        let out = malform(br#"{"value":[{"Id":42,"X":1},{"Id":43}]}"#);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["value"][0]["Id"], "not-a-number-42");
        assert_eq!(v["value"][1]["Id"], 43);
        let out = malform(br#"{"value":[]}"#);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v["value"].is_object());
    }

    #[test]
    fn validation_names_the_bad_field() {
        let bad = FaultConfig {
            drop_rate: 1.5,
            ..FaultConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("drop_rate"));
        assert!(FaultConfig::default().validate().is_ok());
    }

    #[test]
    fn draws_are_uniform_enough_and_deterministic() {
        let a = Faults::new(FaultConfig::default(), Arc::new(Stats::default()));
        let b = Faults::new(FaultConfig::default(), Arc::new(Stats::default()));
        let xs: Vec<f64> = (0..10_000).map(|_| a.draw(7)).collect();
        let ys: Vec<f64> = (0..10_000).map(|_| b.draw(7)).collect();
        assert_eq!(xs, ys);
        let below = xs.iter().filter(|x| **x < 0.05).count();
        assert!((350..650).contains(&below), "5% of 10k draws, got {below}");
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
    }

    #[test]
    fn scope_filters_match_paths_and_tenants() {
        let c = FaultConfig {
            paths: vec!["odata/Jobs".into()],
            tenants: vec!["acme/prod".into()],
            ..FaultConfig::default()
        };
        assert!(c.applies("/acme/Prod/orchestrator_/odata/Jobs"));
        assert!(!c.applies("/acme/dev/orchestrator_/odata/Jobs"));
        assert!(!c.applies("/acme/prod/orchestrator_/odata/QueueItems"));
    }

    #[test]
    fn identity_paths_are_spared_unless_included() {
        let mut c = FaultConfig::default();
        for p in [
            "/identity_/connect/token",
            "/acme/identity_/connect/token",
            "/api/Account/Authenticate",
        ] {
            assert!(!c.applies(p), "{p}");
        }
        assert!(c.applies("/acme/prod/orchestrator_/odata/Jobs"));
        c.include_identity = true;
        assert!(c.applies("/identity_/connect/token"));
    }
}
