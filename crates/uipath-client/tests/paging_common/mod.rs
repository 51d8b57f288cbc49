//! Helpers of the paging and pipeline tests: an in-process simulator, clients pointing at
//! it, the ground truth computed straight from the simulator's generators, and the
//! simulator's control API.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use fleet_core::ratelimit::FamilyBudgets;
use fleet_core::{Budget, LimiterConfig, Priority, Sealer, Secret, TokenCache};
use fleet_memory::{MemoryRateLimiter, MemoryTokenCache};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uipath_client::auth::TokenOptions;
use uipath_client::client::ClientOptions;
use uipath_client::odata::{Cursor, Record, SliceSpec};
use uipath_client::{AuthConfig, ClientError, Deployment, SourceConfig, UipathClient};
use uipath_sim::config::{
    SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LOGIN_CLIENT_ID, DEMO_ORG, DEMO_TENANT,
    OR_READ_SCOPES,
};
use uipath_sim::data::entities;
use uipath_sim::server::RunningSim;
use url::Url;

/// The demo data with the simulator's Jobs/QueueItems budget off, so tests that are not
/// about rate limits run at full speed.
pub fn unlimited_config() -> SimConfig {
    let mut c = SimConfig::default();
    c.rate_limit.requests = 0;
    c
}

pub async fn start(config: SimConfig) -> RunningSim {
    RunningSim::start(config).await.expect("simulator starts")
}

pub fn source(sim: &RunningSim, auth: AuthConfig) -> SourceConfig {
    SourceConfig {
        name: "demo".into(),
        deployment: Deployment::Cloud {
            base_url: Url::parse(&sim.base_url()).unwrap(),
            organization: DEMO_ORG.into(),
            tenant: DEMO_TENANT.into(),
        },
        auth,
        token_url: None,
        timeout_secs: 10,
    }
}

pub fn app_auth(scopes: &[&str]) -> AuthConfig {
    AuthConfig::ClientCredentials {
        client_id: DEMO_CLIENT_ID.into(),
        client_secret: Secret::new(DEMO_CLIENT_SECRET),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

pub fn all_scopes() -> AuthConfig {
    app_auth(OR_READ_SCOPES)
}

/// A limiter whose budgets never hold a test back.
pub fn generous_limits() -> LimiterConfig {
    let b = Some(Budget {
        requests: 100_000,
        period_ms: 60_000,
        burst: 100,
    });
    LimiterConfig {
        default: FamilyBudgets {
            jobs: b,
            queue_items: b,
            other: None,
        },
        ..LimiterConfig::default()
    }
}

/// Quick backoff so fault tests take milliseconds, not seconds.
pub fn fast_options() -> ClientOptions {
    ClientOptions {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        tokens: TokenOptions {
            poll_interval: Duration::from_millis(10),
            lock_ttl: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
            ..TokenOptions::default()
        },
        ..ClientOptions::default()
    }
}

/// A client with its own cache and limiter.
pub struct Harness {
    pub client: UipathClient,
    pub cache: Arc<MemoryTokenCache>,
    pub limiter: Arc<MemoryRateLimiter>,
}

pub fn harness(
    sim: &RunningSim,
    auth: AuthConfig,
    limits: LimiterConfig,
    options: ClientOptions,
) -> Harness {
    let cache = Arc::new(MemoryTokenCache::new(Sealer::plain()));
    let limiter = Arc::new(MemoryRateLimiter::new(limits));
    let client = UipathClient::new(source(sim, auth), cache.clone(), limiter.clone(), options)
        .expect("client");
    Harness {
        client,
        cache,
        limiter,
    }
}

/// A client with every Orchestrator read scope, generous limits and fast backoff.
pub fn reader(sim: &RunningSim) -> Harness {
    harness(sim, all_scopes(), generous_limits(), fast_options())
}

pub fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

/// (folder index, Key) of the demo tenant's folder `path`.
pub fn folder(sim: &RunningSim, path: &str) -> (usize, String) {
    let t = sim.sim.tenant(DEMO_ORG, DEMO_TENANT).unwrap();
    let part = t.data.folder_by_path(path).expect("folder exists");
    (part, t.data.folders[part].key.to_string())
}

/// Every generated record of `entity` in partition `part` whose primary time lies in
/// `[from, to)`, in the generator's (time, Id) order, as the JSON the API serves.
pub fn truth(
    sim: &RunningSim,
    entity: &str,
    part: usize,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Vec<Record> {
    let t = sim.sim.tenant(DEMO_ORG, DEMO_TENANT).unwrap();
    let view = t.view();
    let gen = entities::by_name(entity).expect("entity");
    let (lo, hi) = (
        from.map_or(i64::MIN, |f| f.timestamp_millis()),
        to.map_or(i64::MAX, |t| t.timestamp_millis()),
    );
    // The fleet's time field of the set (QueueItemEvents' `Timestamp` trails its items'
    // creation in the simulator, so it is read from the record, not the index).
    let time_field = fleet_core::dataset::by_name(entity).and_then(|d| d.time_field);
    let mut records: Vec<(i64, Record)> = (0..gen.len(&view, part))
        .map(|i| {
            let mut out = Vec::new();
            uipath_sim::value::write_row(
                &mut out,
                gen.def().schema,
                &gen.row(&view, part, i),
                None,
            );
            let record = match serde_json::from_slice(&out).unwrap() {
                Value::Object(map) => map,
                _ => unreachable!(),
            };
            let at = time_field
                .and_then(|f| record.get(f))
                .and_then(Value::as_str)
                .and_then(uipath_client::odata::parse_datetime)
                .map_or(0, |t| t.timestamp_millis());
            (at, record)
        })
        .filter(|(at, _)| time_field.is_none() || (lo <= *at && *at < hi))
        .collect();
    if time_field.is_some() {
        let id = |r: &Record| r.get("Id").and_then(Value::as_i64).unwrap_or(0);
        records.sort_by(|a, b| a.0.cmp(&b.0).then(id(&a.1).cmp(&id(&b.1))));
    }
    records.into_iter().map(|(_, r)| r).collect()
}

/// Reads a slice to its end; returns the records and the number of pages.
pub async fn read_all(
    client: &UipathClient,
    spec: &SliceSpec,
) -> Result<(Vec<Record>, usize), ClientError> {
    read_from(client, spec, Cursor::Start).await
}

pub async fn read_from(
    client: &UipathClient,
    spec: &SliceSpec,
    cursor: Cursor,
) -> Result<(Vec<Record>, usize), ClientError> {
    let mut pages = client.pages(spec.clone(), cursor, Priority::Backfill);
    let mut out = Vec::new();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        out.extend(page?.records);
        n += 1;
        assert!(n < 10_000, "paging does not end");
    }
    Ok((out, n))
}

pub fn ids(records: &[Record]) -> Vec<i64> {
    records
        .iter()
        .map(|r| r["Id"].as_i64().expect("integer Id"))
        .collect()
}

/// Asserts no Id repeats.
pub fn assert_unique(records: &[Record]) {
    let ids = ids(records);
    let set: HashSet<_> = ids.iter().collect();
    assert_eq!(set.len(), ids.len(), "duplicate records");
}

/// Asserts (time, Id) strictly increases.
pub fn assert_keyset_order(records: &[Record], time: &str) {
    let key = |r: &Record| {
        (
            uipath_client::odata::parse_datetime(r[time].as_str().unwrap()).unwrap(),
            r["Id"].as_i64().unwrap(),
        )
    };
    for w in records.windows(2) {
        assert!(
            key(&w[0]) < key(&w[1]),
            "out of order: {:?} then {:?}",
            key(&w[0]),
            key(&w[1])
        );
    }
}

/// Calls the simulator's control API; panics unless it succeeds.
pub async fn control(sim: &RunningSim, method: reqwest::Method, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

pub fn sim_stats(sim: &RunningSim) -> uipath_sim::stats::StatsSnapshot {
    sim.sim.stats.snapshot()
}

/// Requests the simulator answered on `endpoint` (e.g. `odata/Jobs`) with any status.
pub fn served(sim: &RunningSim, endpoint: &str) -> u64 {
    sim_stats(sim)
        .requests
        .get(endpoint)
        .map(|m| m.values().sum())
        .unwrap_or_default()
}

pub fn faults(sim: &RunningSim, kind: &str) -> u64 {
    sim_stats(sim).faults.get(kind).copied().unwrap_or_default()
}

/// Runs the authorization-code + PKCE flow against the simulator without a browser (its
/// authorize endpoint approves at once) and returns (access token, refresh token).
pub async fn user_login(sim: &RunningSim, scopes: &str) -> (Secret, Secret) {
    const VERIFIER: &str = "paging-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
    const REDIRECT: &str = "http://127.0.0.1:8765/callback";
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut url = Url::parse(&format!("{}/identity_/connect/authorize", sim.base_url())).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", DEMO_LOGIN_CLIENT_ID)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", &format!("{scopes} offline_access"))
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let resp = http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 302, "authorize: {:?}", resp.text().await);
    let location = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {location}"));
    let resp = http
        .post(sim.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", DEMO_LOGIN_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    (
        Secret::new(body["access_token"].as_str().unwrap()),
        Secret::new(body["refresh_token"].as_str().expect("a refresh token")),
    )
}

/// A client of the demo login app with user scopes, its refresh token stored in its cache
/// as `uipath-fleet login` would store it.
pub async fn user_reader(sim: &RunningSim, scopes: &[&str]) -> Harness {
    let auth = AuthConfig::RefreshToken {
        client_id: DEMO_LOGIN_CLIENT_ID.into(),
        client_secret: None,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        redirect_uri: Url::parse("http://127.0.0.1:8765/callback").unwrap(),
    };
    let h = harness(sim, auth, generous_limits(), fast_options());
    let (_, refresh) = user_login(sim, &scopes.join(" ")).await;
    let stored = h
        .cache
        .store_refresh_token(h.client.token_key(), &refresh, true)
        .await
        .unwrap();
    assert!(stored);
    h
}
