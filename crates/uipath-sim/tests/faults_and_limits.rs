//! The cloud's Jobs/QueueItems budget and every injected fault, observed over HTTP, with
//! the `/_sim/stats` counters that tests of the fleet will assert on.

mod common;

use std::time::{Duration, Instant};

use common::{values, Client};
use serde_json::{json, Value};
use uipath_sim::config::SimConfig;
use uipath_sim::ratelimit::RateLimitConfig;

async fn first_folder(c: &Client) -> String {
    c.folders().await.remove(0)
}

#[tokio::test]
async fn jobs_and_queue_items_share_a_rolling_budget_with_retry_after() {
    let config = SimConfig {
        rate_limit: RateLimitConfig {
            requests: 5,
            window_ms: 1_500,
        },
        ..SimConfig::default()
    };
    let c = Client::start(config).await;
    let token = c.all_scopes().await;
    let folder = first_folder(&c).await;
    let t0 = Instant::now();
    let remaining = |resp: &reqwest::Response| -> u32 {
        resp.headers()["x-ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    // Jobs and QueueItems each have their own window.
    let mut seen = Vec::new();
    for entity in ["Jobs", "QueueItems", "Jobs", "QueueItems", "Jobs"] {
        let resp = c.get(entity, &token, Some(&folder), &[("$top", "1")]).await;
        assert_eq!(resp.status(), 200);
        seen.push(remaining(&resp));
    }
    assert_eq!(seen, vec![4, 4, 3, 3, 2]);
    // unlimited entities are not counted
    c.get_ok("Releases", &token, Some(&folder), &[("$top", "1")])
        .await;
    for left in [2, 1, 0] {
        let resp = c
            .get("QueueItems", &token, Some(&folder), &[("$top", "1")])
            .await;
        assert_eq!(remaining(&resp), left);
    }
    let resp = c
        .get("QueueItems", &token, Some(&folder), &[("$top", "1")])
        .await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "retry-after {retry}");
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    // Jobs still has budget while QueueItems waits.
    let resp = c.get("Jobs", &token, Some(&folder), &[("$top", "1")]).await;
    assert_eq!((resp.status().as_u16(), remaining(&resp)), (200, 1));

    // honouring Retry-After gets through again
    let wait =
        Duration::from_millis(1_500).saturating_sub(t0.elapsed()) + Duration::from_millis(50);
    tokio::time::sleep(wait).await;
    assert_eq!(
        c.get("QueueItems", &token, Some(&folder), &[("$top", "1")])
            .await
            .status(),
        200
    );
    let stats = c.stats().await;
    assert_eq!(stats["throttled"], 1);
    assert_eq!(stats["requests"]["odata/QueueItems"]["429"], 1);
    assert_eq!(stats["requests"]["odata/Jobs"]["200"], 4);
}

#[tokio::test]
async fn budgets_can_differ_per_tenant_and_change_at_run_time() {
    let c = Client::demo().await;
    let token = c.all_scopes().await;
    let folder = first_folder(&c).await;
    c.control(
        reqwest::Method::PUT,
        "/_sim/rate-limit/demo-org/DefaultTenant",
        json!({ "requests": 1, "window_ms": 60_000 }),
    )
    .await;
    assert_eq!(
        c.get("Jobs", &token, Some(&folder), &[]).await.status(),
        200
    );
    assert_eq!(
        c.get("Jobs", &token, Some(&folder), &[]).await.status(),
        429
    );
    c.control(
        reqwest::Method::PUT,
        "/_sim/rate-limit/demo-org/DefaultTenant",
        json!({ "requests": 0, "window_ms": 60_000 }),
    )
    .await;
    assert_eq!(
        c.get("Jobs", &token, Some(&folder), &[]).await.status(),
        200
    );
}

#[tokio::test]
async fn server_errors_latency_and_their_counters() {
    let c = Client::demo().await;
    let token = c.all_scopes().await;
    let folder = first_folder(&c).await;
    c.control(
        reqwest::Method::PUT,
        "/_sim/faults",
        json!({ "error_rate": 1.0, "error_statuses": [503], "paths": ["odata/Jobs"] }),
    )
    .await;
    assert_eq!(
        c.get("Jobs", &token, Some(&folder), &[]).await.status(),
        503
    );
    // other paths are untouched
    c.get_ok("Releases", &token, Some(&folder), &[("$top", "1")])
        .await;

    c.control(
        reqwest::Method::PUT,
        "/_sim/faults",
        json!({ "latency_ms": 300 }),
    )
    .await;
    let t = Instant::now();
    c.get_ok("Releases", &token, Some(&folder), &[("$top", "1")])
        .await;
    assert!(t.elapsed() >= Duration::from_millis(300));

    // a 5% error rate injects about 5% errors
    c.control(
        reqwest::Method::PUT,
        "/_sim/faults",
        json!({ "error_rate": 0.05, "paths": ["odata/Releases"] }),
    )
    .await;
    let mut errors = 0;
    for _ in 0..400 {
        if c.get("Releases", &token, Some(&folder), &[("$top", "1")])
            .await
            .status()
            .is_server_error()
        {
            errors += 1;
        }
    }
    assert!((5..=40).contains(&errors), "{errors} errors in 400 at 5%");
    let stats = c.stats().await;
    assert_eq!(stats["faults"]["error"], errors + 1);
    assert!(stats["faults"]["latency"].as_u64().unwrap() >= 1);

    // a bad fault config is refused with the field named
    let resp = c
        .http
        .put(format!("{}/_sim/faults", c.sim.base_url()))
        .json(&json!({ "drop_rate": 2.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("drop_rate"));
}

#[tokio::test]
async fn truncated_malformed_and_dropped_bodies() {
    let c = Client::demo().await;
    let token = c.all_scopes().await;
    let folder = first_folder(&c).await;

    c.control(
        reqwest::Method::PUT,
        "/_sim/faults",
        json!({ "truncate_rate": 1.0 }),
    )
    .await;
    let resp = c
        .get("Jobs", &token, Some(&folder), &[("$top", "20")])
        .await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "truncated body parsed"
    );

    c.control(
        reqwest::Method::PUT,
        "/_sim/faults",
        json!({ "malformed_rate": 1.0 }),
    )
    .await;
    let body = c
        .get_ok("Jobs", &token, Some(&folder), &[("$top", "20")])
        .await;
    assert!(
        values(&body)[0]["Id"].is_string(),
        "Id should be broken: {}",
        values(&body)[0]
    );

    c.control(
        reqwest::Method::PUT,
        "/_sim/faults",
        json!({ "drop_rate": 1.0 }),
    )
    .await;
    // the cut may surface while reading headers or the body, depending on timing
    let result = c
        .http
        .get(c.odata_url("Jobs"))
        .bearer_auth(&token)
        .header("X-UIPATH-FolderPath", &folder)
        .query(&[("$top", "200")])
        .send()
        .await;
    let failed = match result {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "a dropped connection must fail the read");

    c.control(reqwest::Method::DELETE, "/_sim/faults", Value::Null)
        .await;
    let body = c
        .get_ok("Jobs", &token, Some(&folder), &[("$top", "20")])
        .await;
    assert_eq!(values(&body).len(), 20);
    let stats = c.stats().await;
    for kind in ["truncate", "malformed", "drop"] {
        assert_eq!(stats["faults"][kind], 1, "{kind}");
    }
}

#[tokio::test]
async fn a_429_storm_throttles_every_request_until_it_ends() {
    let c = Client::demo().await;
    let token = c.all_scopes().await;
    let folder = first_folder(&c).await;
    c.control(
        reqwest::Method::POST,
        "/_sim/faults/storm",
        json!({ "seconds": 1.0, "retry_after_secs": 1 }),
    )
    .await;
    for entity in ["Jobs", "Releases", "QueueItems"] {
        let resp = c.get(entity, &token, Some(&folder), &[]).await;
        assert_eq!(resp.status(), 429, "{entity}");
        assert_eq!(resp.headers()["retry-after"], "1");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.get("Releases", &token, Some(&folder), &[]).await.status() == 429 {
        assert!(Instant::now() < deadline, "the storm never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(c.stats().await["faults"]["storm"].as_u64().unwrap() >= 3);
}

#[tokio::test]
async fn stats_count_grants_and_can_be_reset() {
    let c = Client::demo().await;
    for _ in 0..3 {
        c.all_scopes().await;
    }
    let stats = c.stats().await;
    assert_eq!(stats["token_grants"]["client_credentials"], 3);
    c.control(reqwest::Method::POST, "/_sim/stats/reset", Value::Null)
        .await;
    let stats = c.stats().await;
    assert!(stats["token_grants"].as_object().unwrap().is_empty());
}

#[tokio::test]
async fn faults_configured_at_start_apply_and_can_reach_the_token_endpoint() {
    let mut config = SimConfig::default();
    config.faults.error_rate = 1.0;
    config.faults.error_statuses = vec![502];
    config.faults.paths = vec!["odata/Jobs".into(), "connect/token".into()];
    let c = Client::start(config).await;
    // identity is spared by default, so a token is still granted
    let token = c.all_scopes().await;
    let folder = first_folder(&c).await;
    assert_eq!(
        c.get("Jobs", &token, Some(&folder), &[]).await.status(),
        502
    );

    let mut faults: Value = c
        .control(reqwest::Method::GET, "/_sim/faults", Value::Null)
        .await;
    faults["include_identity"] = json!(true);
    c.control(reqwest::Method::PUT, "/_sim/faults", faults)
        .await;
    let resp = c
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "fleet-demo"),
            ("client_secret", "fleet-demo-secret"),
            ("scope", "OR.Jobs.Read"),
        ])
        .await;
    assert_eq!(resp.status(), 502);
    // the control API itself is never faulted
    assert_eq!(c.stats().await["faults"]["error"], 2);
}
