//! The HTTP API as a client sees it: auth, validation errors naming the field, sources,
//! datasets, previews (with the messages for an empty range and a missing permission),
//! health, readiness and metrics.

mod common;

use common::*;
use fleet_coordinator::CoordinatorConfig;
use serde_json::Value;

fn field_errors(body: &Value) -> Vec<(String, String)> {
    body["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no field errors in {body}"))
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_needs_its_token_and_names_every_bad_field() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_api_validation").await;
    let served = Served::start(backends.coordinator(acme(&sim), with_token(test_config()))).await;

    // No token, a wrong token: 401 on every /v1 route; probes stay open.
    let anonymous = http::Api::new(served.api.base.clone(), None);
    let wrong = http::Api::new(served.api.base.clone(), Some("nope"));
    for api in [&anonymous, &wrong] {
        let (status, body) = api.get("/v1/requests").await;
        assert_eq!(status, 401, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("bearer token"),
            "{body}"
        );
        let (status, _) = api.post("/v1/backfills", "{}").await;
        assert_eq!(status, 401);
    }
    // The scheme is case-insensitive (RFC 9110): `bearer` and `BEARER` are `Bearer`.
    let token = served.api.token.clone().expect("a token is configured");
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = reqwest::Client::new()
            .get(format!("{}/v1/requests", served.api.base))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "scheme `{scheme}`");
    }
    assert_eq!(anonymous.text("/healthz").await.0, 200);
    let (status, ready) = anonymous.get("/readyz").await;
    assert_eq!(
        (status, &ready),
        (200, &serde_json::json!({"ledger": true, "broker": true}))
    );

    // Not JSON: 400.
    let (status, body) = served.api.post("/v1/backfills", "{not json").await;
    assert_eq!(status, 400, "{body}");

    // Well-formed but wrong: 422 with each field named.
    let (status, body) = served
        .api
        .post(
            "/v1/backfills",
            r#"{"sources": ["nope"], "datasets": ["jobs", "assets"], "from": "2024-13-01", "to": "2024-01-01", "colour": "red"}"#,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<String> = field_errors(&body).into_iter().map(|(f, _)| f).collect();
    for expected in ["sources[0]", "datasets[1]", "from", "colour"] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected} not named in {body}"
        );
    }
    let (status, body) = served
        .api
        .post("/v1/backfills", r#"{"sources": ["acme"], "datasets": ["jobs"], "from": "2024-02-01", "to": "2024-01-01"}"#)
        .await;
    assert_eq!(status, 422);
    assert_eq!(field_errors(&body)[0].0, "to", "{body}");
    let (status, body) = served
        .api
        .post("/v1/backfills", r#"{"sources": ["acme"], "datasets": ["jobs"], "from": "2024-01-01", "to": "2999-01-01"}"#)
        .await;
    assert_eq!(status, 422);
    assert!(field_errors(&body)[0].1.contains("future"), "{body}");
    let (status, body) = served
        .api
        .post("/v1/backfills", r#"{"sources": ["acme"], "datasets": ["jobs"], "from": "2024-01-01", "to": "2024-02-01", "slice_width": "5m"}"#)
        .await;
    assert_eq!(status, 422);
    assert_eq!(field_errors(&body)[0].0, "slice_width", "{body}");
    let (status, body) = served
        .api
        .post(
            "/v1/syncs",
            r#"{"sources": ["acme"], "datasets": ["jobs"], "every": "1m", "cron": "*/5 * * * *"}"#,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = served.api.get("/v1/requests/bf-unknown").await;
    assert_eq!(status, 404, "{body}");
    // Nothing was accepted.
    let (_, listed) = served.api.get("/v1/requests").await;
    assert_eq!(listed["requests"], serde_json::json!([]), "{listed}");

    // The rejections are counted by route and status.
    let (_, metrics) = anonymous.text("/metrics").await;
    assert!(
        metrics.contains(
            r#"uipath_fleet_coordinator_api_requests_total{route="/v1/backfills",status="422"} 4"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"uipath_fleet_coordinator_requests_submitted_total{kind="backfill",outcome="rejected"}"#
    ));
    assert!(metrics.contains("uipath_fleet_coordinator_queue_depth_messages"));
    assert!(
        metrics.contains("uipath_fleet_coordinator_leader 1"),
        "{metrics}"
    );

    served.stop().await;
    backends.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_and_datasets_describe_the_fleet_without_secrets() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_api_catalog").await;
    let served = Served::start(backends.coordinator(acme(&sim), with_token(test_config()))).await;
    let (status, body) = served.api.get("/v1/sources").await;
    assert_eq!(status, 200);
    assert_eq!(body["sources"][0]["name"], "acme");
    assert_eq!(body["sources"][0]["auth"], "client-credentials");
    let text = body.to_string();
    assert!(
        !text.contains(uipath_sim::config::DEMO_CLIENT_SECRET),
        "secret leaked: {text}"
    );

    let (status, body) = served.api.get("/v1/datasets").await;
    assert_eq!(status, 200);
    let list = body["datasets"].as_array().unwrap();
    assert_eq!(list.len(), 13);
    let qi = list.iter().find(|d| d["name"] == "queue-items").unwrap();
    assert_eq!(qi["max_page"], 100);
    assert_eq!(qi["scope"], "OR.Queues.Read");
    let (status, body) = served.api.get("/v1/datasets?source=nope").await;
    assert_eq!(status, 422, "{body}");
    // Data Service refuses client credentials: the Orchestrator datasets are still
    // listed, and Data Service is marked unreachable with the reason and the fix.
    let (status, body) = served.api.get("/v1/datasets?source=acme").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["datasets"].as_array().map(Vec::len),
        Some(13),
        "{body}"
    );
    assert!(body.get("dataservice").is_none(), "{body}");
    let problem = &body["dataservice_error"];
    assert!(
        problem["error"]
            .as_str()
            .is_some_and(|e| e.contains("Data Service accepts only user tokens")),
        "{body}"
    );
    assert!(
        problem["hint"]
            .as_str()
            .is_some_and(|h| h.contains("uipath-fleet login")),
        "{body}"
    );

    served.stop().await;
    backends.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_records_and_explains_empty_ranges_and_missing_permissions() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_api_preview").await;
    // A second source whose application lacks the Jobs scope.
    let sources = fleet_reader::Sources::new([
        client(source_config(
            &sim,
            "acme",
            uipath_sim::config::OR_READ_SCOPES,
        )),
        client(source_config(
            &sim,
            "narrow",
            &["OR.Folders.Read", "OR.Queues.Read"],
        )),
    ]);
    let served = Served::start(backends.coordinator(sources, with_token(test_config()))).await;

    let (status, body) = served
        .api
        .post("/v1/preview", r#"{"source": "acme", "dataset": "jobs", "folder": "HR", "from": "2024-03-01T00:00:00Z", "to": "2024-04-01T00:00:00Z", "limit": 5}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    let records = body["records"].as_array().unwrap();
    assert_eq!(records.len(), 5, "{body}");
    for r in records {
        let t = r["CreationTime"].as_str().unwrap();
        assert!(("2024-03-01".."2024-04-01").contains(&t), "{t}");
    }
    assert_eq!(body["folders"], serde_json::json!(["HR"]));

    // Tenant-level, empty range: no records and a message saying so.
    let (status, body) = served
        .api
        .post("/v1/preview", r#"{"source": "acme", "dataset": "audit-logs", "from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["records"], serde_json::json!([]));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no audit-logs records in this range"),
        "{body}"
    );

    // Missing permission: a 502 naming the scope to grant.
    let (status, body) = served
        .api
        .post(
            "/v1/preview",
            r#"{"source": "narrow", "dataset": "jobs", "folder": "HR"}"#,
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["hint"].as_str().unwrap().contains("OR.Jobs.Read"),
        "{body}"
    );

    // Bad fields are named.
    let (status, body) = served
        .api
        .post(
            "/v1/preview",
            r#"{"source": "acme", "dataset": "jobs", "limit": 1000, "folder": "Nowhere"}"#,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(field_errors(&body)[0].0, "limit");
    let (status, body) = served
        .api
        .post("/v1/preview", r#"{"source": "acme", "datasett": "jobs"}"#)
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(field_errors(&body)[0].0, "datasett", "{body}");
    let (status, body) = served
        .api
        .post(
            "/v1/preview",
            r#"{"source": "acme", "dataset": "jobs", "folder": "Nowhere"}"#,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(field_errors(&body)[0].0, "folder");

    served.stop().await;
    backends.cleanup().await;
    sim.stop().await;
}

#[tokio::test]
async fn an_open_api_is_refused_on_a_non_loopback_address() {
    let backends = Backends::connect("coord_api_open").await;
    let coordinator = backends.coordinator(fleet_reader::Sources::default(), test_config());
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = coordinator
        .run(listener, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("without a bearer token"), "{err}");
    backends.cleanup().await;
}

/// A sync whose windows need more requests a minute than the tenant's budget is refused
/// with the numbers; one above 80% of it is accepted with a note; the estimate counts
/// the source's other syncs too (three folders here: one Jobs read per folder and window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_the_tenants_budget_cannot_feed_are_refused_with_the_numbers() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_api_sync_budget").await;
    // The cloud's default: 100 Jobs and 100 QueueItems requests a minute.
    let config = CoordinatorConfig {
        limits: fleet_core::LimiterConfig::default(),
        ..test_config()
    };
    let served = Served::start(backends.coordinator(acme(&sim), config)).await;
    let sync = |every: &str, datasets: &str| {
        format!(r#"{{"sources": ["acme"], "datasets": {datasets}, "every": "{every}"}}"#)
    };

    // 3 folders every 10 s: 18 Jobs reads a minute. Fits.
    let (status, body) = served
        .api
        .post("/v1/syncs", &sync("10s", r#"["jobs"]"#))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["note"].is_null(), "{body}");

    // Every 2 s is below the 10 s floor: a field error, not a budget one.
    let (status, body) = served
        .api
        .post("/v1/syncs", &sync("2s", r#"["jobs"]"#))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        field_errors(&body)[0].1.contains("between 10s and 7d"),
        "{body}"
    );

    // Four more syncs of jobs every 10 s, each 18 a minute: the fourth makes 90 (> 80%).
    for n in 1..=4 {
        let body = format!(
            r#"{{"sources": ["acme"], "datasets": ["jobs"], "every": "10s", "run": "extra-{n}"}}"#
        );
        let (status, body) = served.api.post("/v1/syncs", &body).await;
        assert_eq!(status, 201, "{body}");
        let expect_note = n == 4;
        assert_eq!(body["note"].is_string(), expect_note, "sync {n}: {body}");
        if expect_note {
            let note = body["note"].as_str().unwrap();
            assert!(note.contains("need at least 90 jobs"), "{note}");
            assert!(note.contains("jobs requests a minute"), "{note}");
        }
    }
    // A fifth would need 108 of 100: refused, naming the sync, the family and the numbers.
    let (status, body) = served
        .api
        .post(
            "/v1/syncs",
            r#"{"sources": ["acme"], "datasets": ["jobs"], "every": "10s", "run": "one-too-many"}"#,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (field, message) = field_errors(&body).remove(0);
    assert_eq!(field, "every");
    assert!(message.starts_with("sync sy-"), "{message}");
    assert!(message.contains("108 jobs requests a minute"), "{message}");
    assert!(message.contains("budget of 100"), "{message}");
    // Nothing was stored for it.
    let (_, list) = served.api.get("/v1/requests").await;
    assert_eq!(list["requests"].as_array().unwrap().len(), 5, "{list}");

    served.stop().await;
    backends.cleanup().await;
}
