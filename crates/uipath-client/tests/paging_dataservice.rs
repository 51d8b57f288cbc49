//! Data Service paging with a refresh-token source: the entity list, and an entity read
//! completely by keyset on (UpdateTime, Id), checked against a full `read` of the
//! simulator — also while records are updated under the reader.

mod paging_common;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use fleet_core::{Priority, Secret};
use paging_common::*;
use serde_json::{json, Value};
use uipath_client::dataservice::{DataServiceSlice, DsCursor, DsTimeField};
use uipath_client::odata::{parse_datetime, Record};
use uipath_client::{ClientError, Disposition, UipathClient};
use uipath_sim::config::{SimConfig, DEMO_ORG, DEMO_TENANT};
use uipath_sim::server::RunningSim;

const SCOPES: &[&str] = &["DataService.Schema.Read", "DataService.Data.Read"];

/// Every record of `entity`, read with `read` (Id order) and a token of its own login.
async fn all_records(sim: &RunningSim, token: &Secret, entity: &str) -> Vec<Record> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    loop {
        let url = format!(
            "{}/{DEMO_ORG}/{DEMO_TENANT}/dataservice_/api/EntityService/{entity}/read?start={}&limit=1000&expansionLevel=1",
            sim.base_url(),
            out.len()
        );
        let body: Value = http
            .get(url)
            .bearer_auth(token.expose())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = body["Value"].as_array().unwrap();
        out.extend(page.iter().map(|v| v.as_object().unwrap().clone()));
        if page.len() < 1000 {
            return out;
        }
    }
}

fn time(r: &Record, field: &str) -> DateTime<Utc> {
    parse_datetime(r[field].as_str().unwrap()).unwrap()
}

fn key(r: &Record) -> (DateTime<Utc>, String) {
    (time(r, "UpdateTime"), r["Id"].as_str().unwrap().to_owned())
}

async fn read_slice(client: &UipathClient, slice: &DataServiceSlice) -> (Vec<Record>, usize) {
    let (mut out, mut pages, mut cursor) = (Vec::new(), 0, Some(DsCursor::Start));
    while let Some(c) = cursor {
        let page = client
            .fetch_dataservice_page(slice, &c, Priority::Backfill)
            .await
            .unwrap();
        out.extend(page.records);
        cursor = page.next;
        pages += 1;
    }
    (out, pages)
}

#[tokio::test]
async fn an_entity_is_paged_completely_with_a_refresh_token_source() {
    let sim = start(SimConfig::default()).await;
    let h = user_reader(&sim, SCOPES).await;

    let entities = h.client.dataservice_entities().await.unwrap();
    let names: Vec<&str> = entities.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Customer", "Invoice", "SupportTicket"]);
    let invoice = &entities[1];
    assert_eq!(invoice.record_count, Some(5000));
    for system in ["Id", "CreateTime", "UpdateTime", "CreatedBy", "UpdatedBy"] {
        let f = invoice
            .fields
            .iter()
            .find(|f| f.name == system)
            .unwrap_or_else(|| panic!("no {system}"));
        assert!(f.is_system, "{system}");
    }
    assert!(invoice.fields.iter().any(|f| f.is_foreign_key));

    let (token, _) = user_login(&sim, &SCOPES.join(" ")).await;
    let all = all_records(&sim, &token, "Invoice").await;
    assert_eq!(all.len(), 5000);
    let (from, to) = (day(2023, 7, 1), day(2024, 7, 1));
    let mut expected: Vec<Record> = all
        .iter()
        .filter(|r| (from..to).contains(&time(r, "UpdateTime")))
        .cloned()
        .collect();
    expected.sort_by_key(key);
    assert!(expected.len() > 1500, "{}", expected.len());

    let slice = DataServiceSlice::new("Invoice")
        .range(Some(from), Some(to))
        .page_size(700);
    let (records, pages) = read_slice(&h.client, &slice).await;
    assert_eq!(pages, expected.len() / 700 + 1);
    assert_eq!(
        records, expected,
        "every record once, whole, in (UpdateTime, Id) order"
    );

    // The whole entity by creation time, in the largest pages the API serves.
    let whole = DataServiceSlice::new("Invoice").time_field(DsTimeField::CreateTime);
    let (records, pages) = read_slice(&h.client, &whole).await;
    assert_eq!(pages, 6);
    let got: HashSet<&str> = records.iter().map(|r| r["Id"].as_str().unwrap()).collect();
    assert_eq!(got.len(), 5000);
    assert!(all.iter().all(|r| got.contains(r["Id"].as_str().unwrap())));

    let stats = h.client.stats();
    assert_eq!((stats.retries, stats.unauthorized), (0, 0));
    assert_eq!(
        sim_stats(&sim).token_grants.get("refresh_token"),
        Some(&1),
        "one refresh served every page"
    );
}

#[tokio::test]
async fn updates_under_the_reader_skip_nothing_else() {
    let sim = start(SimConfig::default()).await;
    let h = user_reader(&sim, SCOPES).await;
    let (token, _) = user_login(&sim, "DataService.Data.Read DataService.Data.Write").await;
    let mut expected: Vec<Record> = all_records(&sim, &token, "Customer").await;
    expected.sort_by_key(key);
    let slice = DataServiceSlice::new("Customer")
        .range(None, Some(day(2025, 1, 1)))
        .select(["Name"])
        .page_size(100);

    let first = h
        .client
        .fetch_dataservice_page(&slice, &DsCursor::Start, Priority::Sync)
        .await
        .unwrap();
    assert_eq!(first.records.len(), 100);
    assert_eq!(
        first.records[0].keys().collect::<Vec<_>>().len(),
        3,
        "Id, Name and UpdateTime"
    );
    // An update moves a record's UpdateTime to now, out of this slice: one behind the
    // cursor (already read), one ahead of it (it will be read by the next slice).
    let (behind, ahead) = (
        expected[10]["Id"].as_str().unwrap(),
        expected[300]["Id"].as_str().unwrap(),
    );
    for id in [behind, ahead] {
        let url = format!(
            "{}/{DEMO_ORG}/{DEMO_TENANT}/dataservice_/api/EntityService/Customer/update/{id}",
            sim.base_url()
        );
        let resp = reqwest::Client::new()
            .post(url)
            .bearer_auth(token.expose())
            .json(&json!({"Name": "Globex"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let mut ids: Vec<String> = first
        .records
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = first.next;
    while let Some(c) = cursor {
        let page = h
            .client
            .fetch_dataservice_page(&slice, &c, Priority::Sync)
            .await
            .unwrap();
        ids.extend(
            page.records
                .iter()
                .map(|r| r["Id"].as_str().unwrap().to_owned()),
        );
        cursor = page.next;
    }
    let want: Vec<String> = expected
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .filter(|id| id != ahead)
        .collect();
    assert_eq!(ids, want, "only the record that left the slice is missing");
}

#[tokio::test]
async fn application_tokens_are_refused_by_data_service() {
    let sim = start(SimConfig::default()).await;
    let h = reader(&sim);
    let err = h.client.dataservice_entities().await.unwrap_err();
    assert!(matches!(err, ClientError::Forbidden { .. }), "{err}");
    assert_eq!(err.disposition(), Disposition::GiveUp);
    let err = h
        .client
        .fetch_dataservice_page(
            &DataServiceSlice::new("NoSuchEntity"),
            &DsCursor::Start,
            Priority::Sync,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Forbidden { .. }), "{err}");
}

#[tokio::test]
async fn an_unknown_entity_is_not_found() {
    let sim = start(SimConfig::default()).await;
    let h = user_reader(&sim, SCOPES).await;
    let err = h
        .client
        .fetch_dataservice_page(
            &DataServiceSlice::new("NoSuchEntity"),
            &DsCursor::Start,
            Priority::Sync,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NotFound { .. }), "{err}");
}
