//! The worker's HTTP surface on a loopback listener: `/healthz` answers, `/readyz` reports
//! the broker and the ledger up, and `/metrics` exports every worker metric after a small
//! backfill, with counts that match the ledger and without any secret (the client secret,
//! the access token the fleet holds) in the text.

mod common;

use std::time::Duration;

use common::*;
use fleet_core::{Ledger, Sealer, TokenCache};
use fleet_redis::RedisTokenCache;
use fleet_worker::WorkerConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uipath_sim::config::DEMO_CLIENT_SECRET;

const METRICS: [&str; 9] = [
    "uipath_fleet_worker_jobs_total",
    "uipath_fleet_worker_records_published_total",
    "uipath_fleet_worker_pages_total",
    "uipath_fleet_worker_api_responses_total",
    "uipath_fleet_worker_throttled_total",
    "uipath_fleet_worker_token_refreshes_total",
    "uipath_fleet_worker_limiter_wait_seconds_total",
    "uipath_fleet_worker_slice_duration_seconds",
    "uipath_fleet_worker_jobs_in_flight",
];

/// The value of the sample whose line starts with `series` (name and labels, as exported).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The sum of every sample of metric `name` (all label sets).
fn total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.trim().parse::<f64>().ok()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_and_metrics_name_everything_and_reveal_no_secret() {
    let sim = start_sim(sim_config(3)).await;
    let b = Backends::connect("worker-probes").await;
    let sources = b.acme_sources(&sim).await;
    // The coordinator gets clients of its own, so the worker's API counters hold only the
    // worker's calls.
    let planning = b.acme_sources(&sim).await;
    let coordinator = b.coordinator(planning);
    let worker = b
        .worker(
            WorkerConfig {
                concurrency: 2,
                ..WorkerConfig::default()
            },
            sources.clone(),
        )
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop_http = CancellationToken::new();
    let http = tokio::spawn({
        let (router, stop) = (
            fleet_worker::http::router(worker.clone()),
            stop_http.clone(),
        );
        async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        }
    });
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move {
            let r = reqwest::get(&url).await.expect("probe answers");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };

    let (status, body) = get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, body) = get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready, json!({"broker": true, "ledger": true}));

    let running = Running::start(worker);
    let id = submit(
        &coordinator,
        json!({"sources": ["acme"], "datasets": ["jobs", "queue-items"],
               "from": "2024-01-01T00:00:00Z", "to": "2024-01-04T00:00:00Z", "slice_width": "1d"}),
    )
    .await;
    wait_done(&b.ledger, &id, Duration::from_secs(60)).await;
    let p = b.ledger.progress(&id).await.unwrap();
    assert_eq!(p.completed, p.total(), "{p:?}");

    let (status, text) = get("/metrics").await;
    assert_eq!(status, 200);
    for name in METRICS {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing from /metrics:\n{text}"
        );
    }
    // The numbers agree with the ledger.
    assert_eq!(
        sample(
            &text,
            r#"uipath_fleet_worker_jobs_total{outcome="completed"}"#
        ),
        Some(p.completed as f64),
        "{text}"
    );
    assert_eq!(
        total(&text, "uipath_fleet_worker_records_published_total"),
        p.records as f64
    );
    assert!(total(&text, "uipath_fleet_worker_pages_total") >= p.completed as f64);
    assert_eq!(
        sample(
            &text,
            r#"uipath_fleet_worker_api_responses_total{source="acme",status="ok"}"#
        ),
        Some(total(&text, "uipath_fleet_worker_pages_total")),
        "one API response per page"
    );
    assert_eq!(
        sample(&text, "uipath_fleet_worker_jobs_in_flight"),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"uipath_fleet_worker_backend_up{backend="broker"}"#),
        Some(1.0)
    );

    // No secret: neither the client secret nor the access token the fleet holds now.
    let tokens = RedisTokenCache::connect(&b.redis_url, &b.prefix, Sealer::plain())
        .await
        .unwrap();
    let client = sources.get("acme").expect("acme");
    let token = tokens
        .get(client.token_key())
        .await
        .unwrap()
        .expect("the fleet holds a token");
    assert!(token.token.expose().len() >= 16);
    for (what, secret) in [
        ("client secret", DEMO_CLIENT_SECRET),
        ("access token", token.token.expose()),
    ] {
        assert!(!text.contains(secret), "{what} in /metrics");
        let (_, ready) = get("/readyz").await;
        assert!(!ready.contains(secret), "{what} in /readyz");
    }

    let summary = running.stop().await;
    assert_eq!(summary.abandoned, 0);
    stop_http.cancel();
    http.await.unwrap().unwrap();
    b.cleanup().await;
    sim.stop().await;
}
