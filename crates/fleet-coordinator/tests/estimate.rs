//! How big a backfill is, told before it runs, against the real RabbitMQ and Redis and
//! the simulator: a request over `max_slices` refused at submit with nothing planned; a
//! dry run that stores nothing and whose `$count` probes the real submission reuses; the
//! estimate on the 202; and a probe that fails at planning ending the request failed
//! with the reason.

mod common;

use std::collections::BTreeMap;

use common::*;
use fleet_core::Ledger;
use fleet_reader::Sources;
use serde_json::Value;
use uipath_sim::config::OR_READ_SCOPES;
use uipath_sim::faults::FaultConfig;
use uipath_sim::server::RunningSim;

/// OData requests the simulator answered, by endpoint (token requests left out).
fn odata_requests(sim: &RunningSim) -> BTreeMap<String, u64> {
    sim.sim
        .stats
        .snapshot()
        .requests
        .into_iter()
        .filter(|(endpoint, _)| endpoint.starts_with("odata/"))
        .map(|(endpoint, by_status)| (endpoint, by_status.values().sum()))
        .collect()
}

/// `acme` and `beta`: two sources (tenants) on the simulator.
fn two_sources(sim: &RunningSim) -> Sources {
    Sources::new([
        client(source_config(sim, "acme", OR_READ_SCOPES)),
        client(source_config(sim, "beta", OR_READ_SCOPES)),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifteen_minute_year_over_the_cap_is_refused_before_anything_is_planned() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_cap_refused").await;
    let served =
        Served::start(backends.coordinator(two_sources(&sim), with_token(test_config()))).await;

    // Every timed dataset of two tenants, a year at 15 minutes: 35,136 slices per stream.
    let body = r#"{"sources": ["acme", "beta"], "datasets": ["jobs", "queue-items",
        "queue-item-events", "robot-logs", "releases", "process-schedules", "robots",
        "queue-definitions", "audit-logs", "users"],
        "from": "2024-01-01", "to": "2025-01-01", "slice_width": "15m"}"#;
    let (status, answer) = served.api.post("/v1/backfills", body).await;
    assert_eq!(status, 422, "{answer}");
    let field = &answer["fields"][0];
    assert_eq!(field["field"], "slice_width", "{answer}");
    let message = field["message"].as_str().unwrap();
    for part in [
        "slices",
        "max_slices = 650,000",
        "one request per source (tenant) or per year",
        "1 GiB",
    ] {
        assert!(message.contains(part), "`{part}` not in: {message}");
    }
    // Nothing was probed or stored, and the API keeps answering.
    let asked = odata_requests(&sim);
    assert!(
        asked.keys().all(|e| e == "odata/Folders"),
        "only folder lists may be read: {asked:?}"
    );
    assert!(backends.ledger.list_requests(10).await.unwrap().is_empty());
    let (status, listed) = served.api.get("/v1/requests").await;
    assert_eq!((status, &listed["requests"]), (200, &serde_json::json!([])));

    // At a width the message proposes, the same request is accepted.
    let wider = body.replace(r#""15m""#, r#""7d""#);
    let (status, answer) = served.api.post("/v1/backfills", &wider).await;
    assert_eq!(status, 202, "{answer}");

    served.stop().await;
    backends.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_stores_nothing_and_the_real_submission_reuses_its_probes() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_dry_run").await;
    let served = Served::start(backends.coordinator(acme(&sim), with_token(test_config()))).await;
    let body = r#"{"sources": ["acme"], "datasets": ["jobs", "queue-items", "machines"],
        "from": "2024-01-01", "to": "2025-01-01"}"#;

    let (status, dry) = served.api.post("/v1/backfills?dry_run=true", body).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], true, "{dry}");
    let estimate = dry["estimate"].clone();
    let source = &estimate["sources"][0];
    assert_eq!(source["source"], "acme", "{dry}");
    let datasets: BTreeMap<&str, &Value> = source["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["dataset"].as_str().unwrap(), d))
        .collect();
    assert_eq!(datasets["jobs"]["streams"], 3, "one per folder: {dry}");
    assert_eq!(datasets["machines"]["slices"], 1, "read whole: {dry}");
    let records = estimate["records"].as_u64().unwrap();
    let slices = estimate["slices"].as_u64().unwrap();
    let requests = estimate["requests"].as_u64().unwrap();
    assert!(records > 1_000, "{dry}");
    assert!(requests >= slices, "{dry}");
    assert!(estimate["minutes"].as_f64().unwrap() > 0.0, "{dry}");
    assert_eq!(
        records,
        datasets
            .values()
            .map(|d| d["records"].as_u64().unwrap())
            .sum::<u64>()
    );

    // Nothing stored.
    assert!(backends.ledger.list_requests(10).await.unwrap().is_empty());
    let (_, listed) = served.api.get("/v1/requests").await;
    assert_eq!(listed["requests"], serde_json::json!([]), "{listed}");
    let probes_after_dry_run = odata_requests(&sim);
    let counted = |m: &BTreeMap<String, u64>| {
        m.get("odata/Jobs").copied().unwrap_or(0) + m.get("odata/QueueItems").copied().unwrap_or(0)
    };
    assert_eq!(
        counted(&probes_after_dry_run),
        6,
        "3 folders × 2 datasets: {probes_after_dry_run:?}"
    );

    // The real submission: the same estimate on its 202, and not one probe more.
    let (status, view) = served.api.post("/v1/backfills", body).await;
    assert_eq!(status, 202, "{view}");
    assert_eq!(view["id"], dry["id"], "{view}");
    assert_eq!(view["estimate"], estimate, "{view}");
    let id = view["id"].as_str().unwrap();
    let view = served
        .wait_request(id, "the plan to finish", |v| v["planned"] == true)
        .await;
    assert_eq!(view["progress"]["total"].as_u64(), Some(slices), "{view}");
    let after = odata_requests(&sim);
    assert_eq!(
        counted(&after),
        6,
        "the plan reused the dry run's probes: {after:?}"
    );
    assert_eq!(
        after.get("odata/Folders"),
        probes_after_dry_run.get("odata/Folders"),
        "and its folder list"
    );

    served.stop().await;
    backends.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_failing_at_planning_fails_the_request_with_where_and_why() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_probe_fails").await;
    let served = Served::start(backends.coordinator(acme(&sim), with_token(test_config()))).await;
    // Every Jobs call answers 503, so the `$count` probes fail after the client's retries.
    sim.sim.faults.set_config(FaultConfig {
        error_rate: 1.0,
        error_statuses: vec![503],
        paths: vec!["odata/Jobs".into()],
        ..FaultConfig::default()
    });
    let body = r#"{"sources": ["acme"], "datasets": ["jobs"],
        "from": "2024-01-01", "to": "2025-01-01"}"#;
    let (status, view) = served.api.post("/v1/backfills", body).await;
    assert_eq!(status, 202, "{view}");
    assert!(
        view["estimate_error"]
            .as_str()
            .unwrap_or("")
            .contains("503"),
        "{view}"
    );
    let id = view["id"].as_str().unwrap();
    let view = served
        .wait_request(id, "the request to fail", |v| v["state"] == "failed")
        .await;
    let note = view["note"]
        .as_str()
        .unwrap_or_else(|| panic!("no note: {view}"));
    for part in [
        "source acme",
        "$count probe of jobs in folder",
        "HTTP 503",
        "--rerun",
    ] {
        assert!(note.contains(part), "`{part}` not in: {note}");
    }
    assert_eq!(view["progress"]["total"], 0, "{view}");

    // A dry run says the same at once, as a 502 with the hint.
    let (status, answer) = served.api.post("/v1/backfills?dry_run=true", body).await;
    assert_eq!(status, 502, "{answer}");
    assert!(
        answer["hint"].as_str().unwrap().contains("jobs in folder"),
        "{answer}"
    );

    served.stop().await;
    backends.cleanup().await;
    sim.stop().await;
}
