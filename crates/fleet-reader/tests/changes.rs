//! What a sync window reads, against a simulator whose tenant lives in real time: a
//! window of changes returns exactly the jobs modified in it (or, never modified, created
//! in it), and the queue-item feed returns the current state of exactly the items whose
//! events fall in the window — both compared with the simulator's own records.

// The simulator harness of uipath-client's paging tests, shared rather than copied.
#[path = "../../uipath-client/tests/paging_common/mod.rs"]
mod paging_common;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use fleet_core::wire::{FolderRef, ReadMode};
use fleet_core::Priority;
use fleet_reader::{DatasetRef, SliceCursor, SliceRead, Sources};
use paging_common::*;
use serde_json::Value;
use uipath_client::odata::{parse_datetime, Record};
use uipath_sim::config::SimConfig;

/// A live tenant busy enough that every minute has jobs and items moving.
fn live_config() -> SimConfig {
    let mut c = unlimited_config().live();
    c.data.span_start = Utc::now().date_naive() - chrono::Days::new(2);
    c.data.span_end = Utc::now().date_naive() + chrono::Days::new(1);
    c.data.folders = vec!["Finance".into()];
    c.data.extra_folders = 0;
    c.data.jobs_per_day = 20_000.0;
    c.data.queue_items_per_day = 20_000.0;
    c
}

async fn read_window(
    sources: &Sources,
    dataset: &str,
    folder: FolderRef,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    mode: ReadMode,
) -> Vec<Record> {
    let dataset = DatasetRef::parse(dataset).unwrap();
    let read = SliceRead {
        source: "demo".into(),
        dataset: dataset.clone(),
        folder: Some(folder),
        from: Some(from),
        to: Some(to),
        select: vec![],
        page_size: Some(40),
        mode,
    };
    let mut cursor = SliceCursor::start(&dataset);
    let mut out = Vec::new();
    loop {
        let (records, next) = sources
            .read_page(&read, &cursor, Priority::Sync)
            .await
            .unwrap();
        out.extend(records);
        match next {
            Some(n) => cursor = n,
            None => return out,
        }
    }
}

fn time(r: &Record, field: &str) -> Option<DateTime<Utc>> {
    r.get(field)
        .and_then(Value::as_str)
        .and_then(parse_datetime)
}

fn id(r: &Record) -> i64 {
    r.get("Id").and_then(Value::as_i64).unwrap()
}

/// Ids of the jobs that belong to `[from, to)` as a window of changes.
fn changed_in(records: &[Record], (from, to): (DateTime<Utc>, DateTime<Utc>)) -> BTreeSet<i64> {
    let inside = |t: DateTime<Utc>| from <= t && t < to;
    records
        .iter()
        .filter(|r| match time(r, "LastModificationTime") {
            Some(m) => inside(m),
            None => time(r, "CreationTime").is_some_and(inside),
        })
        .map(id)
        .collect()
}

fn sources_for(sim: &uipath_sim::server::RunningSim) -> (Sources, FolderRef) {
    let h = reader(sim);
    let (_, key) = folder(sim, "Finance");
    let f = FolderRef {
        id: 1,
        key,
        path: "Finance".into(),
    };
    (Sources::new([Arc::new(h.client)]), f)
}

#[tokio::test]
async fn a_window_of_changes_holds_exactly_the_jobs_modified_or_created_in_it() {
    let sim = start(live_config()).await;
    let (sources, folder) = sources_for(&sim);
    let (part, _) = folder_index(&sim);
    let now = Utc::now();
    let window = (now - Duration::minutes(20), now - Duration::minutes(1));

    let before = truth(&sim, "Jobs", part, None, None);
    let read = read_window(&sources, "jobs", folder, window, ReadMode::Modified).await;
    let after = truth(&sim, "Jobs", part, None, None);

    let got: BTreeSet<i64> = read.iter().map(id).collect();
    assert_eq!(got.len(), read.len(), "each job once");
    // A window of changes reads every change since its start (up to the read, so a job
    // that changed again after the window's end comes in its newer state at once). Jobs
    // only enter that set while it is read (a change is stamped now), never leave it: what
    // was read lies between the two truths.
    let since = (window.0, DateTime::<Utc>::MAX_UTC);
    let (at_start, at_end) = (changed_in(&before, since), changed_in(&after, since));
    assert!(
        at_start.is_subset(&got),
        "missing: {:?}",
        at_start.difference(&got).collect::<Vec<_>>()
    );
    assert!(
        got.is_subset(&at_end),
        "foreign: {:?}",
        got.difference(&at_end).collect::<Vec<_>>()
    );
    // Every job whose state at the window's end changed in the window was read in that
    // state or a later one.
    assert!(changed_in(&before, window).is_subset(&got));
    // Both kinds are there: jobs that changed (finished, started) long after they were
    // created, and pending ones never modified.
    let modified_old = read
        .iter()
        .filter(|r| time(r, "CreationTime").is_some_and(|c| c < window.0))
        .count();
    let never_modified = read
        .iter()
        .filter(|r| r.get("LastModificationTime") == Some(&Value::Null))
        .count();
    assert!(
        modified_old > 0,
        "jobs created before the window and changed in it"
    );
    assert!(got.len() > 50, "a busy window: {}", got.len());
    let _ = never_modified; // pending jobs wait seconds: often none in a past window
}

#[tokio::test]
async fn the_queue_item_feed_reads_every_item_its_events_name_in_their_current_state() {
    let sim = start(live_config()).await;
    let (sources, folder) = sources_for(&sim);
    let (part, _) = folder_index(&sim);
    let now = Utc::now();
    let window = (now - Duration::minutes(10), now - Duration::minutes(1));

    let events = truth(
        &sim,
        "QueueItemEvents",
        part,
        Some(window.0),
        Some(window.1),
    );
    let named: BTreeSet<i64> = events
        .iter()
        .map(|e| e.get("QueueItemId").and_then(Value::as_i64).unwrap())
        .collect();
    assert!(named.len() > 30, "a busy window: {} items", named.len());
    let read = read_window(&sources, "queue-items", folder, window, ReadMode::Feed).await;
    let got: BTreeSet<i64> = read.iter().map(id).collect();
    assert_eq!(got, named, "exactly the items the window's events name");
    // Each in its state now, at least as far along as its last event in the window.
    let items = truth(&sim, "QueueItems", part, None, None);
    for r in &read {
        let now_state = items.iter().find(|i| id(i) == id(r)).unwrap();
        let rank = |s: &Value| match s.as_str() {
            Some("New") => 0,
            Some("InProgress") => 1,
            _ => 2,
        };
        let got_status = r.get("Status").unwrap();
        assert!(rank(got_status) <= rank(now_state.get("Status").unwrap()));
        let last_event = events
            .iter()
            .filter(|e| e.get("QueueItemId").and_then(Value::as_i64) == Some(id(r)))
            .filter_map(|e| e.get("Status"))
            .map(rank)
            .max()
            .unwrap();
        assert!(
            rank(got_status) >= last_event,
            "item {} read older than its event",
            id(r)
        );
    }
    // Requests: event pages plus one read per 50 items.
    let item_reads = served(&sim, "odata/QueueItems");
    assert!(
        item_reads >= named.len().div_ceil(50) as u64,
        "{item_reads}"
    );
}

fn folder_index(sim: &uipath_sim::server::RunningSim) -> (usize, String) {
    folder(sim, "Finance")
}

#[tokio::test]
async fn a_tenant_without_modification_stamps_is_named_by_the_check() {
    let mut config: SimConfig = live_config();
    let (sim_ok, sim_bad) = (start(config.clone()).await, {
        config.data.stamp_modifications = false;
        start(config).await
    });
    for (sim, misses) in [(&sim_ok, false), (&sim_bad, true)] {
        let (sources, folder) = sources_for(sim);
        let check = sources
            .modification_stamps("demo", Some(&folder))
            .await
            .unwrap();
        assert!(check.finished > 0, "{check:?}");
        assert_eq!(check.misses_changes(), misses, "{check:?}");
    }
}
