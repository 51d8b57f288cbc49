//! Keyset paging of Orchestrator datasets against the in-process simulator: every slice
//! comes back exactly as the simulator's generators define it, in (time, Id) order, with
//! no record lost or repeated — across pages, across a checkpoint and while data changes.

mod paging_common;

use fleet_core::dataset::by_name;
use fleet_core::Priority;
use paging_common::*;
use serde_json::json;
use uipath_client::odata::{Cursor, SliceSpec};
use uipath_client::{ClientError, Disposition};
use uipath_sim::config::{SimConfig, DEMO_ORG, DEMO_TENANT};

#[tokio::test]
async fn a_jobs_slice_over_many_pages_is_exactly_the_folders_range() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    let (part, key) = folder(&sim, "Finance");
    let (from, to) = (Some(day(2025, 3, 1)), Some(day(2025, 5, 1)));
    let spec = SliceSpec::new(by_name("jobs").unwrap())
        .folder(key)
        .range(from, to)
        .page_size(50);
    let (records, pages) = read_all(&h.client, &spec).await.unwrap();
    let expected = truth(&sim, "Jobs", part, from, to);
    assert!(
        expected.len() > 200,
        "a slice worth paging: {}",
        expected.len()
    );
    assert_eq!(pages, expected.len() / 50 + 1);
    assert_eq!(ids(&records), ids(&expected));
    assert_eq!(records, expected, "records are served whole and unchanged");
    assert_unique(&records);
    assert_keyset_order(&records, "CreationTime");
    assert_eq!(served(&sim, "odata/Jobs"), pages as u64);
    assert_eq!(
        h.client.count(&spec, Priority::Sync).await.unwrap(),
        expected.len() as u64
    );
    let stats = h.client.stats();
    assert_eq!((stats.retries, stats.refreshes, stats.deferred), (0, 0, 0));
}

#[tokio::test]
async fn queue_items_never_ask_for_more_than_100() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    let (part, key) = folder(&sim, "Operations");
    let (from, to) = (Some(day(2025, 2, 1)), Some(day(2025, 4, 1)));
    // Asking for 1000 must still send $top=100: the cloud answers 400 above it.
    let spec = SliceSpec::new(by_name("queue-items").unwrap())
        .folder(key)
        .range(from, to)
        .page_size(1000);
    let (records, pages) = read_all(&h.client, &spec).await.unwrap();
    let expected = truth(&sim, "QueueItems", part, from, to);
    assert!(expected.len() > 300, "{}", expected.len());
    assert_eq!(pages, expected.len() / 100 + 1);
    assert_eq!(records, expected);
    assert_keyset_order(&records, "CreationTime");
}

#[tokio::test]
async fn tenant_level_audit_logs_and_untimed_machines_and_folders() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    let (from, to) = (Some(day(2025, 4, 1)), Some(day(2025, 5, 1)));
    let audit = SliceSpec::new(by_name("audit-logs").unwrap())
        .range(from, to)
        .page_size(120);
    let (records, pages) = read_all(&h.client, &audit).await.unwrap();
    let expected = truth(&sim, "AuditLogs", 0, from, to);
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(records, expected);
    assert_keyset_order(&records, "ExecutionTime");

    let machines = SliceSpec::new(by_name("machines").unwrap()).page_size(2);
    let (records, pages) = read_all(&h.client, &machines).await.unwrap();
    let expected = truth(&sim, "Machines", 0, None, None);
    assert_eq!(expected.len(), 6);
    assert_eq!(pages, 4, "three full pages of two, then an empty one");
    assert_eq!(records, expected);

    let folders = h.client.folders().await.unwrap();
    let t = sim.sim.tenant(DEMO_ORG, DEMO_TENANT).unwrap();
    assert_eq!(folders.len(), t.data.folders.len());
    for (got, want) in folders.iter().zip(&t.data.folders) {
        assert_eq!(
            (got.id, got.key.as_str(), got.path.as_str()),
            (
                want.id,
                want.key.to_string().as_str(),
                want.fully_qualified_name.as_str()
            )
        );
    }
}

#[tokio::test]
async fn select_keeps_the_cursor_fields() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    let (part, key) = folder(&sim, "HR");
    let (from, to) = (Some(day(2025, 1, 1)), Some(day(2025, 3, 1)));
    let spec = SliceSpec::new(by_name("jobs").unwrap())
        .folder(key)
        .range(from, to)
        .select(["State"])
        .page_size(40);
    let (records, _) = read_all(&h.client, &spec).await.unwrap();
    let expected = truth(&sim, "Jobs", part, from, to);
    assert_eq!(ids(&records), ids(&expected));
    let mut fields: Vec<&String> = records[0].keys().collect();
    fields.sort();
    assert_eq!(fields, ["CreationTime", "Id", "State"]);
}

#[tokio::test]
async fn robot_logs_page_inside_their_window_and_refuse_beyond_it() {
    let mut config = unlimited_config();
    config.data.robot_logs_per_day = 80.0; // ~14k lines per folder over the span
    let sim = start(config).await;
    let h = reader(&sim);
    let (part, key) = folder(&sim, "Shared");
    let logs = by_name("robot-logs").unwrap();

    let (from, to) = (Some(day(2025, 3, 1)), Some(day(2025, 3, 22)));
    let month = SliceSpec::new(logs).folder(key.clone()).range(from, to);
    let (records, pages) = read_all(&h.client, &month).await.unwrap();
    let expected = truth(&sim, "RobotLogs", part, from, to);
    assert!(
        (1_000..10_000).contains(&expected.len()),
        "{}",
        expected.len()
    );
    assert_eq!(pages, expected.len() / 1000 + 1);
    assert_eq!(records, expected, "every line once, in time order");

    let all = truth(&sim, "RobotLogs", part, None, None);
    assert!(all.len() > 10_000, "{}", all.len());
    let whole = SliceSpec::new(logs).folder(key);
    let before = served(&sim, "odata/RobotLogs");
    let err = h
        .client
        .fetch_page(&whole, &Cursor::Start, Priority::Backfill)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::WindowExceeded { window: 10_000, .. }),
        "{err}"
    );
    assert_eq!(err.disposition(), Disposition::Split);
    assert_eq!(
        served(&sim, "odata/RobotLogs"),
        before + 1,
        "known from the first page's count"
    );
    let err = h
        .client
        .fetch_page(&whole, &Cursor::Skip { skip: 10_000 }, Priority::Backfill)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::WindowExceeded { .. }));
    assert_eq!(
        served(&sim, "odata/RobotLogs"),
        before + 1,
        "refused without a request"
    );
}

#[tokio::test]
async fn a_checkpointed_cursor_resumes_with_exactly_the_rest() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    let (part, key) = folder(&sim, "Finance/Invoices");
    let (from, to) = (Some(day(2025, 2, 1)), Some(day(2025, 6, 1)));
    let spec = SliceSpec::new(by_name("jobs").unwrap())
        .folder(key)
        .range(from, to)
        .page_size(60);
    let expected = truth(&sim, "Jobs", part, from, to);

    let first = h
        .client
        .fetch_page(&spec, &Cursor::Start, Priority::Backfill)
        .await
        .unwrap();
    let second = h
        .client
        .fetch_page(&spec, first.next.as_ref().unwrap(), Priority::Backfill)
        .await
        .unwrap();
    let checkpoint = serde_json::to_string(second.next.as_ref().unwrap()).unwrap();
    assert!(checkpoint.contains("\"kind\":\"after\""), "{checkpoint}");

    // Another worker, with its own cache and limiter, resumes from the ledger.
    let other = reader(&sim);
    let cursor: Cursor = serde_json::from_str(&checkpoint).unwrap();
    let (rest, _) = read_from(&other.client, &spec, cursor).await.unwrap();
    let mut all = first.records;
    all.extend(second.records);
    assert_eq!(all.len(), 120);
    all.extend(rest);
    assert_eq!(all, expected);
}

#[tokio::test]
async fn inserts_while_paging_shift_nothing() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    let (part, key) = folder(&sim, "Finance");
    let (from, to) = (Some(day(2025, 3, 1)), Some(day(2025, 4, 1)));
    let spec = SliceSpec::new(by_name("jobs").unwrap())
        .folder(key)
        .range(from, to)
        .page_size(25);
    let original = truth(&sim, "Jobs", part, from, to);
    assert!(original.len() > 75);

    let first = h
        .client
        .fetch_page(&spec, &Cursor::Start, Priority::Backfill)
        .await
        .unwrap();
    let Some(Cursor::After { time: cut, .. }) = first.next.clone() else {
        panic!("a full first page");
    };
    // Behind the cursor (an offset reader would now repeat a record), exactly at the
    // cursor's time (a tie the keyset must break by Id), and ahead of it.
    let behind = original[3]["CreationTime"].clone();
    let ahead = original[60]["CreationTime"].clone();
    let mut inserted = Vec::new();
    for t in [behind.clone(), behind, json!(cut), json!(cut), ahead] {
        let row = control(
            &sim,
            reqwest::Method::POST,
            &format!("/_sim/data/{DEMO_ORG}/{DEMO_TENANT}/Jobs/insert"),
            json!({"folder": "Finance", "fields": {"CreationTime": t}}),
        )
        .await;
        inserted.push(row);
    }
    let mut got = first.records.clone();
    let mut cursor = first.next.clone();
    while let Some(c) = cursor {
        let page = h
            .client
            .fetch_page(&spec, &c, Priority::Backfill)
            .await
            .unwrap();
        got.extend(page.records);
        cursor = page.next;
    }
    assert_unique(&got);
    assert_keyset_order(&got, "CreationTime");
    let new_ids: Vec<i64> = inserted.iter().map(|r| r["Id"].as_i64().unwrap()).collect();
    let original_ids = ids(&original);
    let got_original: Vec<i64> = ids(&got)
        .into_iter()
        .filter(|id| !new_ids.contains(id))
        .collect();
    assert_eq!(
        got_original, original_ids,
        "every original record exactly once"
    );
    // New ids are above every generated one, so the tied inserts sort after the cursor.
    let got_new: Vec<i64> = ids(&got)
        .into_iter()
        .filter(|id| new_ids.contains(id))
        .collect();
    assert_eq!(
        got_new,
        new_ids[2..].to_vec(),
        "inserts at or ahead of the cursor are read; those behind are not"
    );
}

#[tokio::test]
async fn a_cursor_of_another_dataset_is_a_config_error() {
    let sim = start(SimConfig::default()).await;
    let h = reader(&sim);
    let spec = SliceSpec::new(by_name("machines").unwrap());
    let err = h
        .client
        .fetch_page(
            &spec,
            &Cursor::After {
                time: "2025-01-01T00:00:00.000Z".into(),
                id: 1,
            },
            Priority::Sync,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Config(_)), "{err}");
    assert_eq!(err.disposition(), Disposition::GiveUp);
    assert_eq!(h.client.stats().sent, 0);
}
