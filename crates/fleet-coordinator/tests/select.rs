//! `select` checked at submit against the field catalog: a name the dataset lacks is a
//! 422 naming dataset and field before anything is stored or planned; a huge select is
//! refused cheaply (422 over the per-dataset cap, 413 over the body limit) while the API
//! keeps answering; an unreadable `$metadata` falls back to the built-in list and says so.
//! On the embedded backends (in-process broker, in-memory ledger): the check is the
//! coordinator's, whatever the backends.

mod common;

use std::sync::Arc;

use common::*;
use fleet_coordinator::Coordinator;
use fleet_core::{Broker, Ledger};
use fleet_memory::{FileLedger, MemoryBroker};
use serde_json::{json, Value};
use uipath_sim::faults::FaultConfig;

async fn served(sim: &uipath_sim::server::RunningSim) -> (Served, FileLedger, MemoryBroker) {
    let broker = MemoryBroker::default();
    let ledger = FileLedger::memory();
    broker.declare().await.unwrap();
    let coordinator = Coordinator::new(
        test_config(),
        Arc::new(ledger.clone()),
        Arc::new(broker.clone()),
        acme(sim),
    );
    (Served::start(coordinator).await, ledger, broker)
}

fn backfill(select: Value) -> String {
    json!({"sources": ["acme"], "datasets": ["jobs", "audit-logs"], "from": "2024-01-01",
           "to": "2024-02-01", "slice_width": "7d", "select": select})
    .to_string()
}

fn messages(body: &Value) -> Vec<(String, String)> {
    body["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no field errors in {body}"))
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().into(),
                f["message"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_select_naming_a_field_the_dataset_lacks_is_refused_before_anything_is_planned() {
    let sim = start_sim(sim_config()).await;
    let (served, ledger, broker) = served(&sim).await;

    let (status, body) = served
        .api
        .post(
            "/v1/backfills",
            &backfill(json!({"jobs": ["NoSuchField", "state"]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let errors = messages(&body);
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(errors[0].0, "select.jobs");
    assert!(
        errors[0]
            .1
            .contains("`NoSuchField` is not a field of jobs on source acme"),
        "{body}"
    );
    assert!(errors[1].1.contains("did you mean `State`?"), "{body}");

    let sync = json!({"source": "acme", "datasets": ["audit-logs"], "every": "15m",
                      "select": {"audit-logs": ["ExecutionTme"]}});
    let (status, body) = served.api.post("/v1/syncs", &sync.to_string()).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        messages(&body)[0]
            .1
            .contains("did you mean `ExecutionTime`?"),
        "{body}"
    );

    // A preview reads now, so its select is checked the same way before any read.
    let preview = json!({"source": "acme", "dataset": "jobs", "select": ["Stat"], "limit": 1});
    let (status, body) = served.api.post("/v1/preview", &preview.to_string()).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        messages(&body)[0].1.contains("did you mean `State`?"),
        "{body}"
    );
    let preview = json!({"source": "acme", "dataset": "jobs", "select": ["State"], "limit": 1});
    let (status, body) = served.api.post("/v1/preview", &preview.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["records"][0]["State"].is_string(), "{body}");

    // Nothing was stored, nothing was published.
    assert!(ledger.list_requests(10).await.unwrap().is_empty());
    assert_eq!(broker.depths().await.unwrap().backfill, 0);

    // Real fields pass; the tenant was asked once (its metadata is cached).
    let (status, body) = served
        .api
        .post(
            "/v1/backfills",
            &backfill(json!({"jobs": ["State", "Id"], "audit-logs": ["Action"]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(body["note"].is_null(), "{body}");
    assert_eq!(
        sim.sim.stats.snapshot().requests["odata/$metadata"][&200],
        1
    );

    // The catalog is in the API for people to look at.
    let (_, datasets) = served.api.get("/v1/datasets").await;
    let jobs = datasets["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "jobs")
        .unwrap();
    assert!(jobs["fields"].as_array().unwrap().contains(
        &json!({"name": "State", "type": "Enum", "collection": false, "nullable": true})
    ));
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_select_is_refused_cheaply_and_the_api_keeps_answering() {
    let sim = start_sim(sim_config()).await;
    let (served, ledger, _broker) = served(&sim).await;

    // Over the per-dataset cap: one 422, not one error per name.
    let many: Vec<String> = (0..600).map(|i| format!("F{i}")).collect();
    let (status, body) = served
        .api
        .post("/v1/backfills", &backfill(json!({"jobs": many})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(messages(&body).len(), 1, "{body}");
    assert!(messages(&body)[0].1.contains("more than the 500"), "{body}");

    // 100,000 names (a 1.3 MB body): 413 as it arrives, while a GET is answered.
    let huge: Vec<String> = (0..100_000).map(|i| format!("Field{i:06}")).collect();
    let body = backfill(json!({"jobs": huge}));
    assert!(body.len() > 1_000_000);
    let post = served.api.post("/v1/backfills", &body);
    let get = served.api.get("/v1/requests");
    let ((status, answer), (get_status, list)) = tokio::join!(post, get);
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("larger than 256 KiB"),
        "{answer}"
    );
    assert_eq!(get_status, 200, "{list}");
    assert!(ledger.list_requests(10).await.unwrap().is_empty());
    assert_eq!(served.api.text("/healthz").await.0, 200);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_tenants_metadata_the_built_in_list_decides_and_the_answer_says_so() {
    let sim = start_sim(sim_config()).await;
    sim.sim.faults.set_config(FaultConfig {
        error_rate: 1.0,
        error_statuses: vec![403],
        paths: vec!["$metadata".into()],
        ..FaultConfig::default()
    });
    let (served, _ledger, _broker) = served(&sim).await;
    let (status, body) = served
        .api
        .post("/v1/backfills", &backfill(json!({"jobs": ["NoSuchField"]})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        messages(&body)[0].1.contains("per the built-in field list"),
        "{body}"
    );

    let (status, body) = served
        .api
        .post(
            "/v1/backfills",
            &backfill(json!({"audit-logs": ["Action", "UserName"]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let note = body["note"]
        .as_str()
        .unwrap_or_else(|| panic!("no note in {body}"));
    assert!(
        note.contains("checked against the built-in field list"),
        "{note}"
    );
    assert!(note.contains("could not be read"), "{note}");
    served.stop().await;
}
