//! The fleet end to end at a real size: a backfill of more than 200,000 records (three
//! datasets, three folders) planned by the coordinator and worked by four in-process
//! workers, each with its own broker connection and its own UiPath clients, as four
//! worker processes would be. Everything that reaches the output queue is checked against
//! the simulator's data read directly: every record exactly once, none missing, none
//! foreign; the ledger agrees (every slice completed, its record count the expected one),
//! and so do the `slice.completed` events (one per slice, record counts adding up).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::*;
use fleet_core::broker::{Feed, Subscriber, Subscription};
use fleet_core::wire::{headers, Event, EventBody, Provenance, WIRE_VERSION};
use fleet_core::{Broker, Ledger};
use fleet_worker::{OutputMode, WorkerConfig};
use serde::Deserialize;
use serde_json::json;

const FROM: &str = "2024-01-01T00:00:00Z";
const TO: &str = "2024-01-31T00:00:00Z";
const DATASETS: [&str; 3] = ["jobs", "queue-items", "queue-item-events"];
const WORKERS: usize = 4;
/// Every `jobs_total` outcome label a worker exports.
const OUTCOMES: [&str; 10] = [
    "completed",
    "split",
    "retried",
    "deferred",
    "failed",
    "rejected",
    "skipped",
    "cancelled",
    "released",
    "abandoned",
];

/// 30 days × 3 folders at ~2,300 records per folder and day: about 207,000 records.
fn big_sim() -> uipath_sim::config::SimConfig {
    let mut c = sim_config(30);
    c.data.jobs_per_day = 700.0;
    c.data.queue_items_per_day = 400.0;
    c.data.queue_item_events_per_day = 1_200.0;
    c
}

/// A record page with only what the check needs: decoding each record into a JSON
/// value (as `common::collect` does) costs most of a minute for 200,000 records in a
/// debug build; skipping over them costs seconds.
#[derive(Deserialize)]
struct PageIds {
    version: u32,
    #[serde(flatten)]
    provenance: Provenance,
    records: Vec<RecordId>,
}

/// The record itself is an unknown field to serde, skipped without being built.
#[derive(Deserialize)]
struct RecordId {
    id: String,
}

/// `common::collect` for page-mode output: every record id of every page, acking each
/// page, until nothing arrives for `quiet`.
async fn collect_pages(sub: &mut Box<dyn Subscriber>, into: &mut Received, quiet: Duration) {
    while let Some(d) = sub.next(quiet).await.expect("output queue") {
        into.messages += 1;
        assert_eq!(
            d.headers.get(headers::SHAPE).map(String::as_str),
            Some("page")
        );
        let page: PageIds = serde_json::from_slice(&d.body).expect("a record page");
        assert_eq!(page.version, WIRE_VERSION);
        assert_eq!(
            d.headers.get(headers::SLICE),
            Some(&page.provenance.slice_id)
        );
        let dataset = page.provenance.dataset;
        let folder = page.provenance.folder.map(|f| f.path).unwrap_or_default();
        let n = page.records.len() as u64;
        for r in page.records {
            *into.counts.entry(r.id).or_default() += 1;
        }
        *into.per_group.entry((dataset, folder)).or_default() += n;
        d.ack().await.expect("ack output");
    }
}

/// Like `common::wait_done`, but a ledger read that fails (Redis answering late on a
/// loaded 2-core box) is asked again instead of failing the test; only the deadline does.
async fn wait_settled(ledger: &dyn Ledger, request: &str, deadline: Duration) {
    let start = Instant::now();
    loop {
        let state = async {
            let r = ledger.get_request(request).await?;
            let p = ledger.progress(request).await?;
            Ok::<_, fleet_core::LedgerError>((r.is_some_and(|r| r.planned), p))
        };
        let last = match state.await {
            Ok((planned, p)) if planned && p.total() > 0 && p.done() == p.total() => return,
            Ok((planned, p)) => format!("planned={planned} {p:?}"),
            Err(e) => format!("ledger: {e}"),
        };
        assert!(
            start.elapsed() < deadline,
            "request {request} not done after {deadline:?}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Page mode: one message per API page. Per-record output of 200,000 records is mostly
/// the cost of 200,000 messages in a debug build; record mode runs in `smoke.rs` and, at
/// ~30,000 records under faults, in `faults.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200k_record_backfill_arrives_complete_in_page_mode() {
    let mode = OutputMode::Page;
    let started = Instant::now();
    let sim = start_sim(big_sim()).await;
    let b = Backends::connect(&format!("worker-e2e-{}", mode.as_str())).await;
    let _guard = OnPanic(b.clone());
    let options = client_options(Duration::from_secs(5));
    let reference = b
        .sources(&[acme(&sim)], generous_limits(), options.clone())
        .await;
    let mut out = b.output().await;
    let mut events = b
        .amqp
        .subscribe(Subscription {
            queue: "test-events".into(),
            feed: Feed::Events {
                patterns: vec!["slice.*".into()],
            },
            prefetch: 500,
        })
        .await
        .expect("subscribe to events");
    let coordinator = b.coordinator(reference.clone());

    let config = WorkerConfig {
        output: mode,
        concurrency: 3,
        ..WorkerConfig::default()
    };
    let mut workers = Vec::new();
    for n in 0..WORKERS {
        // Own clients per worker (own connection pool and counters); the token cache and
        // the rate limiter are shared through Redis, as in a fleet.
        let sources = b
            .sources(&[acme(&sim)], generous_limits(), options.clone())
            .await;
        let config = WorkerConfig {
            id: format!("e2e-{n}"),
            ..config.clone()
        };
        workers.push(Running::start(b.worker(config, sources).await));
    }

    let id = submit(
        &coordinator,
        json!({"sources": ["acme"], "datasets": DATASETS, "from": FROM, "to": TO,
               "slice_width": "1d"}),
    )
    .await;
    // A deadline that only catches a hang.
    wait_settled(&b.ledger, &id, Duration::from_secs(900)).await;
    let worked = started.elapsed();
    let mut received = Received::default();
    collect_pages(&mut out, &mut received, Duration::from_secs(3)).await;
    let collected = started.elapsed();

    let expected = reference_ids(&reference, "acme", &DATASETS, &FOLDERS, FROM, TO).await;
    assert!(
        expected.len() >= 200_000,
        "the simulator holds {} records; the test wants at least 200,000",
        expected.len()
    );
    assert_complete(&received, &expected);
    assert_eq!(received.duplicates(), 0, "no faults, so no duplicates");
    // Every dataset in every folder arrived.
    for ds in DATASETS {
        for folder in FOLDERS {
            let n = received
                .per_group
                .get(&(ds.to_owned(), folder.to_owned()))
                .copied()
                .unwrap_or(0);
            assert!(n > 0, "nothing arrived for {ds} in {folder}");
        }
    }

    let p = b.ledger.progress(&id).await.expect("progress");
    assert_eq!(
        (p.completed, p.failed, p.cancelled),
        (p.total(), 0, 0),
        "{p:?}"
    );
    assert_eq!(
        p.records,
        expected.len() as u64,
        "the ledger counts every record once"
    );

    // Jobs by outcome, all workers: the context of any failure below.
    let outcomes: BTreeMap<&str, u64> = OUTCOMES
        .into_iter()
        .map(|o| {
            let n = workers
                .iter()
                .map(|w| w.worker.metrics().jobs.with_label_values(&[o]).get())
                .sum();
            (o, n)
        })
        .filter(|(_, n)| *n > 0)
        .collect();

    // One slice.completed per slice, with the slice's record count.
    let mut completed_events = HashMap::new();
    while let Some(d) = events
        .next(Duration::from_secs(1))
        .await
        .expect("events queue")
    {
        match Event::from_bytes(&d.body).expect("an event").body {
            EventBody::SliceCompleted {
                slice_id, records, ..
            } => {
                let before = completed_events.insert(slice_id.clone(), records);
                assert!(before.is_none(), "slice.completed twice for {slice_id}");
            }
            other => panic!("unexpected event {other:?}"),
        }
        d.ack().await.expect("ack event");
    }
    if completed_events.len() as u64 != p.completed {
        let slices = b
            .ledger
            .list_slices(&id, None, None, 10_000)
            .await
            .expect("slices");
        let missing: Vec<_> = slices
            .iter()
            .filter(|s| !completed_events.contains_key(&s.id))
            .map(|s| (&s.id, s.state, s.attempts, s.records))
            .collect();
        panic!(
            "{} slice.completed events for {} completed slices; without one: {missing:?}; \
             jobs by outcome {outcomes:?}",
            completed_events.len(),
            p.completed
        );
    }
    assert_eq!(
        completed_events.values().sum::<u64>(),
        expected.len() as u64,
        "the events' record counts add up"
    );

    // The work was shared, and the workers' own counters agree with the output.
    let mut published = 0;
    let mut completed_per_worker = Vec::new();
    for w in &workers {
        let m = w.worker.metrics();
        let completed = m.jobs.with_label_values(&["completed"]).get();
        completed_per_worker.push(completed);
        for ds in DATASETS {
            published += m.records.with_label_values(&["acme", ds]).get();
        }
    }
    assert_eq!(published, expected.len() as u64, "records published");
    assert_eq!(
        completed_per_worker.iter().sum::<u64>(),
        p.completed,
        "one completion per slice; jobs by outcome {outcomes:?}"
    );
    assert!(
        completed_per_worker.iter().all(|&c| c > 0),
        "every worker took part: {completed_per_worker:?}"
    );

    for w in workers {
        let summary = w.stop().await;
        assert_eq!(summary.abandoned, 0, "{summary:?}");
    }
    b.cleanup().await;
    sim.stop().await;
    eprintln!(
        "e2e {}: {} records in {} slices ({} messages); worked in {:.1}s, collected by {:.1}s, \
         total {:.1}s; completions per worker {completed_per_worker:?}, jobs {outcomes:?}",
        mode.as_str(),
        expected.len(),
        p.completed,
        received.messages,
        worked.as_secs_f64(),
        collected.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
