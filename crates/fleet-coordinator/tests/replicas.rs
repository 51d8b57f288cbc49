//! Coordinators dying and multiplying: a coordinator killed mid-plan and restarted, a
//! sync schedule run by two replicas with the leader killed halfway, and the watermark
//! held back by a failed slice. Real RabbitMQ, Redis and simulator.
//!
//! A "replica" here is a coordinator with its own tokio runtime, its own connections and
//! its own threads; killing it drops the runtime on the spot (`shutdown_background`), so
//! every task stops wherever it was — mid-batch, between a confirm and the ledger update —
//! and nothing is released, as with `kill -9`.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use fleet_coordinator::{Clock, CoordinatorConfig};
use fleet_core::ledger::{SliceState, Transition};
use fleet_core::{Ledger, Secret};
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

struct Replica {
    runtime: Option<Runtime>,
    shutdown: CancellationToken,
    api: http::Api,
}

impl Replica {
    /// Start a coordinator on its own runtime (call from outside any runtime).
    fn start(prefix: &str, sim_url: &str, config: CoordinatorConfig) -> Replica {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shutdown = CancellationToken::new();
        let (prefix, sim_url) = (prefix.to_owned(), sim_url.to_owned());
        let api = runtime.block_on({
            let shutdown = shutdown.clone();
            async move {
                let backends = Backends::attach(&prefix).await;
                let sources = acme_at(&sim_url);
                let coordinator = backends.coordinator(sources, config);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let base = format!("http://{}", listener.local_addr().unwrap());
                tokio::spawn(async move {
                    coordinator
                        .run(listener, shutdown)
                        .await
                        .expect("coordinator runs");
                });
                http::Api::new(base, Some(API_TOKEN))
            }
        });
        Replica {
            runtime: Some(runtime),
            shutdown,
            api,
        }
    }

    /// `kill -9`: every task stops where it is; leases are not released.
    fn kill(mut self) {
        self.runtime.take().unwrap().shutdown_background();
    }

    /// A clean stop: the API drains, the leader releases its lease.
    fn stop(mut self) {
        self.shutdown.cancel();
        let rt = self.runtime.take().unwrap();
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(300)).await });
        rt.shutdown_timeout(Duration::from_secs(5));
    }
}

fn replica_config(clock: Clock) -> CoordinatorConfig {
    let mut c = test_config();
    c.api_token = Some(Secret::new(API_TOKEN));
    c.clock = clock;
    c.stale_planned = Duration::from_secs(1);
    c
}

/// The test's own runtime, for the simulator and the checks.
fn driver() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_coordinator_killed_mid_plan_is_resumed_by_the_next_without_duplicates() {
    let rt = driver();
    let sim = rt.block_on(start_sim(sim_config()));
    let backends = rt.block_on(Backends::connect("coord_kill_mid_plan"));
    let clock = Clock::system();
    // 6-hour slices over 2024 for 2 datasets × 3 folders: 8,784 slices, 18 batches.
    let body = r#"{"sources": ["acme"], "datasets": ["jobs", "queue-items"],
        "from": "2024-01-01", "to": "2025-01-01", "slice_width": "6h"}"#;
    let total = 2 * 3 * 366 * 4;
    let config = |clock: Clock| CoordinatorConfig {
        batch: 500,
        ..replica_config(clock)
    };

    let first = Replica::start(&backends.prefix, &sim.base_url(), config(clock.clone()));
    let (status, view) = rt.block_on(first.api.post("/v1/backfills", body));
    assert_eq!(status, 202, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    // Kill it once a few thousand slices are queued — in the middle of the plan.
    rt.block_on(fleet_testkit::wait_until(
        "a third of the plan to be queued",
        Duration::from_secs(60),
        Duration::from_millis(5),
        || async {
            let p = backends.ledger.progress(&id).await.unwrap();
            p.queued >= total / 3
        },
    ))
    .unwrap();
    first.kill();
    let at_kill = rt.block_on(backends.ledger.progress(&id)).unwrap();
    assert!(
        at_kill.total() < total,
        "killed before the plan finished: {at_kill:?}"
    );
    let request = rt
        .block_on(backends.ledger.get_request(&id))
        .unwrap()
        .unwrap();
    assert!(!request.planned);

    // A new coordinator takes over once the dead one's leases lapse, and finishes.
    let second = Replica::start(&backends.prefix, &sim.base_url(), config(clock));
    rt.block_on(fleet_testkit::wait_until(
        "the resumed plan to finish",
        Duration::from_secs(120),
        Duration::from_millis(50),
        || async {
            let (_, v) = second.api.get(&format!("/v1/requests/{id}")).await;
            v["planned"] == Value::Bool(true)
        },
    ))
    .unwrap();

    let slices = rt.block_on(all_slices(&backends.ledger, &id));
    assert_eq!(slices.len() as u64, total, "every slice once in the ledger");
    let counts = check_coverage(
        &slices,
        utc("2024-01-01T00:00:00Z"),
        utc("2025-01-01T00:00:00Z"),
    );
    assert!(counts.values().all(|&n| n == 366 * 4), "{counts:?}");
    assert!(slices.iter().all(|s| s.state == SliceState::Queued));

    // Every slice's job is on the queue. A job can be there twice only if the kill fell
    // between the broker's confirm and the ledger update: at most the batches in flight
    // (3 of 500).
    let jobs = rt.block_on(drain_jobs(&backends.amqp, Duration::from_secs(1)));
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for j in &jobs {
        *seen.entry(j.slice_id.as_str()).or_default() += 1;
    }
    let missing = slices
        .iter()
        .filter(|s| !seen.contains_key(s.id.as_str()))
        .count();
    let duplicates = jobs.len() - seen.len();
    println!(
        "jobs {} distinct {} duplicates {duplicates} missing {missing}",
        jobs.len(),
        seen.len()
    );
    assert_eq!(missing, 0, "jobs lost");
    assert_eq!(seen.len(), slices.len());
    // The planner keeps three batches in flight (`PIPELINE` in planner.rs); on a busy
    // machine the kill can find all three confirmed and none yet marked.
    assert!(
        duplicates <= 3 * 500,
        "{duplicates} duplicate jobs, more than the batches in flight"
    );

    second.stop();
    rt.block_on(backends.cleanup());
    rt.block_on(sim.stop());
}

#[test]
fn two_replicas_plan_each_sync_window_once_and_survive_the_leader_dying() {
    let rt = driver();
    let sim = rt.block_on(start_sim(sim_config()));
    let backends = rt.block_on(Backends::connect("coord_sync_replicas"));
    // Schedule time runs 60× faster: a 1-minute schedule ticks every second.
    let start = Utc::now();
    let clock = Clock::warped(start, 60);
    let first = Replica::start(
        &backends.prefix,
        &sim.base_url(),
        replica_config(clock.clone()),
    );
    let sync_start = (clock.now() - chrono::Duration::minutes(3)).to_rfc3339();
    let body = format!(
        r#"{{"sources": ["acme"], "datasets": ["jobs", "audit-logs"], "every": "1m",
            "lookback": "0s", "settle": "0s", "start": "{sync_start}"}}"#
    );
    let (status, view) = rt.block_on(first.api.post("/v1/syncs", &body));
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    let windows = |min: u64| {
        let (ledger, id) = (backends.ledger.clone(), id.clone());
        move || {
            let (ledger, id) = (ledger.clone(), id.clone());
            async move { ledger.progress(&id).await.unwrap().total() >= min }
        }
    };
    // 4 streams (jobs × 3 folders, audit-logs): the first window, then one per tick.
    rt.block_on(fleet_testkit::wait_until(
        "windows from the first replica",
        Duration::from_secs(30),
        Duration::from_millis(50),
        windows(4 * 3),
    ))
    .unwrap();
    let second = Replica::start(
        &backends.prefix,
        &sim.base_url(),
        replica_config(clock.clone()),
    );
    rt.block_on(async { tokio::time::sleep(Duration::from_secs(2)).await });
    first.kill();
    let before = rt.block_on(backends.ledger.progress(&id)).unwrap().total();
    rt.block_on(fleet_testkit::wait_until(
        "windows from the second replica",
        Duration::from_secs(60),
        Duration::from_millis(50),
        windows(before + 4 * 4),
    ))
    .unwrap();
    second.stop();

    // The ledger: per stream, windows follow each other without gap or overlap from the
    // sync's start, each planned once.
    let slices = rt.block_on(all_slices(&backends.ledger, &id));
    let mut streams: BTreeMap<String, Vec<Range>> = BTreeMap::new();
    for s in &slices {
        streams
            .entry(s.stream.clone().unwrap())
            .or_default()
            .push((s.from.unwrap(), s.to.unwrap()));
    }
    assert_eq!(streams.len(), 4, "{:?}", streams.keys());
    let sync_start: DateTime<Utc> = sync_start.parse().unwrap();
    for (stream, mut w) in streams.clone() {
        w.sort();
        assert_eq!(w[0].0, sync_start, "{stream} starts at the sync's start");
        for pair in w.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "{stream}: gap or overlap: {pair:?}");
        }
        assert!(w.len() >= 5, "{stream}: {} windows", w.len());
    }

    // The queue: every window's job, duplicated at most once per stream (a kill between
    // a confirm and the ledger update).
    let jobs = rt.block_on(drain_jobs(&backends.amqp, Duration::from_secs(1)));
    let ids: HashSet<&str> = jobs.iter().map(|j| j.slice_id.as_str()).collect();
    assert!(
        slices.iter().all(|s| ids.contains(s.id.as_str())),
        "a window's job is missing"
    );
    assert!(jobs
        .iter()
        .all(|j| j.lane == fleet_core::broker::Lane::Sync));
    let duplicates = jobs.len() - ids.len();
    assert!(duplicates <= streams.len(), "{duplicates} duplicate jobs");

    rt.block_on(backends.cleanup());
    rt.block_on(sim.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watermark_stops_at_a_failed_slice_and_moves_on_once_it_is_replayed() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_watermark").await;
    // A hand-turned clock: each step is one schedule tick.
    let t0: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
    let now_ms = Arc::new(AtomicI64::new(t0.timestamp_millis()));
    let clock = {
        let now_ms = now_ms.clone();
        Clock::new(move || DateTime::from_timestamp_millis(now_ms.load(Ordering::SeqCst)).unwrap())
    };
    let mut config = test_config();
    config.clock = clock;
    let coordinator = backends.coordinator(acme(&sim), config);
    let body = format!(
        r#"{{"sources": ["acme"], "datasets": ["audit-logs"], "every": "1m", "lookback": "0s", "settle": "0s", "start": "{}"}}"#,
        t0.to_rfc3339()
    );
    let (sync, created) = coordinator.submit_sync(body.as_bytes()).await.unwrap();
    assert!(created);
    let id = sync.id;
    let minute = |n: i64| t0 + chrono::Duration::minutes(n);
    for n in 1..=6 {
        now_ms.store(minute(n).timestamp_millis(), Ordering::SeqCst);
        coordinator.leader_tick().await.unwrap();
    }
    let mut windows = all_slices(&backends.ledger, &id).await;
    windows.sort_by_key(|s| s.from);
    assert_eq!(windows.len(), 6);
    for (n, w) in windows.iter().enumerate() {
        assert_eq!(
            (w.from.unwrap(), w.to.unwrap()),
            (minute(n as i64), minute(n as i64 + 1))
        );
    }
    let stream = windows[0].stream.clone().unwrap();
    let watermark = || async {
        backends
            .ledger
            .stream(&id, &stream)
            .await
            .unwrap()
            .watermark
    };

    // Workers: windows 0, 1, 3, 4 complete; 2 fails; 5 is still queued.
    let finish = |i: usize| {
        let ledger = backends.ledger.clone();
        let sid = windows[i].id.clone();
        async move {
            ledger.transition(&sid, Transition::Start).await.unwrap();
            ledger
                .transition(
                    &sid,
                    Transition::Complete {
                        records: 1,
                        pages: 1,
                        claim: None,
                    },
                )
                .await
                .unwrap();
        }
    };
    for i in [0, 1, 3, 4] {
        finish(i).await;
    }
    backends
        .ledger
        .transition(&windows[2].id, Transition::Start)
        .await
        .unwrap();
    backends
        .ledger
        .transition(
            &windows[2].id,
            Transition::Fail {
                error: "forbidden".into(),
            },
        )
        .await
        .unwrap();
    coordinator.leader_tick().await.unwrap();
    assert_eq!(
        watermark().await,
        Some(minute(2)),
        "held back by the failed window"
    );
    // More ticks and more windows do not skip it.
    for n in 7..=8 {
        now_ms.store(minute(n).timestamp_millis(), Ordering::SeqCst);
        coordinator.leader_tick().await.unwrap();
    }
    assert_eq!(watermark().await, Some(minute(2)));
    let view = coordinator.request(&id).await.unwrap();
    let shown = serde_json::to_value(&view).unwrap();
    assert_eq!(
        shown["streams"][0]["watermark"],
        serde_json::json!(minute(2)),
        "{shown}"
    );
    assert_eq!(
        shown["streams"][0]["planned_to"],
        serde_json::json!(minute(8)),
        "{shown}"
    );

    // Replayed from the dead letters, window 2 completes: the watermark jumps over the
    // completed windows 3 and 4 and stops at the queued window 5.
    backends
        .ledger
        .transition(&windows[2].id, Transition::Requeue)
        .await
        .unwrap();
    finish(2).await;
    coordinator.leader_tick().await.unwrap();
    assert_eq!(watermark().await, Some(minute(5)));
    // A running window holds it as well.
    backends
        .ledger
        .transition(&windows[5].id, Transition::Start)
        .await
        .unwrap();
    coordinator.leader_tick().await.unwrap();
    assert_eq!(watermark().await, Some(minute(5)));
    backends
        .ledger
        .transition(
            &windows[5].id,
            Transition::Complete {
                records: 0,
                pages: 1,
                claim: None,
            },
        )
        .await
        .unwrap();
    coordinator.leader_tick().await.unwrap();
    assert_eq!(watermark().await, Some(minute(6)));

    backends.cleanup().await;
    sim.stop().await;
}

/// The leader drops a sync's completed windows once the watermark has passed them and
/// they are older than the retention; counters and the watermark stay, and no window is
/// ever planned again. Windows younger than the retention are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_compacts_completed_windows_behind_the_watermark_after_the_retention() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_compact").await;
    let t0: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
    let now_ms = Arc::new(AtomicI64::new(t0.timestamp_millis()));
    let clock = {
        let now_ms = now_ms.clone();
        Clock::new(move || DateTime::from_timestamp_millis(now_ms.load(Ordering::SeqCst)).unwrap())
    };
    let mut config = test_config();
    config.clock = clock;
    config.sync_retention = Duration::from_secs(150);
    config.compact_every = Duration::ZERO;
    let coordinator = backends.coordinator(acme(&sim), config);
    let body = format!(
        r#"{{"sources": ["acme"], "datasets": ["audit-logs"], "every": "1m", "lookback": "0s", "settle": "0s", "start": "{}"}}"#,
        t0.to_rfc3339()
    );
    let (sync, _) = coordinator.submit_sync(body.as_bytes()).await.unwrap();
    let id = sync.id;
    let minute = |n: i64| t0 + chrono::Duration::minutes(n);
    for n in 1..=4 {
        now_ms.store(minute(n).timestamp_millis(), Ordering::SeqCst);
        coordinator.leader_tick().await.unwrap();
    }
    let windows = all_slices(&backends.ledger, &id).await;
    assert_eq!(windows.len(), 4);
    for w in &windows {
        backends
            .ledger
            .transition(&w.id, Transition::Start)
            .await
            .unwrap();
        let done = Transition::Complete {
            records: 1,
            pages: 1,
            claim: None,
        };
        backends.ledger.transition(&w.id, done).await.unwrap();
    }
    // At minute 4 with 2.5 minutes of retention: windows ending at or before 1:30 go.
    coordinator.leader_tick().await.unwrap();
    let stream = windows[0].stream.clone().unwrap();
    let state = backends.ledger.stream(&id, &stream).await.unwrap();
    assert_eq!(state.watermark, Some(minute(4)));
    let mut kept: Vec<DateTime<Utc>> = all_slices(&backends.ledger, &id)
        .await
        .iter()
        .map(|s| s.from.unwrap())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [minute(1), minute(2), minute(3)],
        "only [0, 1) is old enough"
    );
    // Later: the rest goes, counters stay, nothing is planned twice.
    for n in 5..=8 {
        now_ms.store(minute(n).timestamp_millis(), Ordering::SeqCst);
        coordinator.leader_tick().await.unwrap();
    }
    let mut left: Vec<DateTime<Utc>> = all_slices(&backends.ledger, &id)
        .await
        .iter()
        .map(|s| s.from.unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [minute(4), minute(5), minute(6), minute(7)],
        "{left:?}"
    );
    let progress = backends.ledger.progress(&id).await.unwrap();
    assert_eq!(
        (progress.total(), progress.count(SliceState::Completed)),
        (8, 4)
    );
    assert_eq!(progress.records, 4);
    assert_eq!(
        backends
            .ledger
            .stream(&id, &stream)
            .await
            .unwrap()
            .watermark,
        Some(minute(4)),
        "the watermark waits for the open windows"
    );
    backends.cleanup().await;
    sim.stop().await;
}
