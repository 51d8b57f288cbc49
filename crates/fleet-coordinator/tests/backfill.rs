//! Backfill planning against the real RabbitMQ and Redis and the simulator: the slice set
//! of a one-year backfill, resubmission, widths from `$count` probes, cancellation.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::*;
use fleet_core::ledger::SliceState;
use fleet_core::plan::{Plan, Width};
use fleet_core::Ledger;

const YEAR: &str = r#"{"sources": ["acme"], "datasets": ["jobs", "queue-items"],
    "from": "2024-01-01", "to": "2025-01-01", "slice_width": "1d"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_year_backfill_is_cut_into_exact_daily_slices_and_resubmitting_duplicates_nothing() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_one_year").await;
    let served = Served::start(backends.coordinator(acme(&sim), with_token(test_config()))).await;

    let (id, view) = served.backfill_planned(YEAR).await;
    assert!(id.starts_with("bf-"), "{id}");
    assert_eq!(view["state"], "running", "{view}");
    assert_eq!(view["progress"]["total"], 2 * 3 * 366, "{view}");

    // The slice set: 2 datasets × 3 folders, each covering 2024 in 366 days exactly.
    let slices = all_slices(&backends.ledger, &id).await;
    let counts = check_coverage(
        &slices,
        utc("2024-01-01T00:00:00Z"),
        utc("2025-01-01T00:00:00Z"),
    );
    assert_eq!(counts.len(), 6, "{counts:?}");
    assert!(counts.values().all(|&n| n == 366), "{counts:?}");
    for s in &slices {
        assert_eq!(s.state, SliceState::Queued, "{s:?}");
        let (from, to) = (s.from.unwrap(), s.to.unwrap());
        assert_eq!(to - from, chrono::Duration::days(1), "{s:?}");
        assert_eq!(from.time(), chrono::NaiveTime::MIN, "UTC-aligned: {s:?}");
    }

    // The queue holds exactly one job per slice.
    let jobs = drain_jobs(&backends.amqp, Duration::from_secs(1)).await;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for j in &jobs {
        *seen.entry(j.slice_id.as_str()).or_default() += 1;
        assert_eq!(j.request_id, id);
        assert_eq!(j.lane, fleet_core::broker::Lane::Backfill);
    }
    assert_eq!(jobs.len(), slices.len(), "one job per slice");
    assert!(slices.iter().all(|s| seen.get(s.id.as_str()) == Some(&1)));

    // Resubmitting the same request (fields reordered, a dataset named by its entity set)
    // answers with the existing request and publishes nothing.
    let same = r#"{"datasets": ["QueueItems", "jobs"], "to": "2025-01-01T00:00:00Z",
        "from": "2024-01-01", "sources": ["acme"], "slice_width": "24h"}"#;
    let (status, again) = served.api.post("/v1/backfills", same).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(
        drain_jobs(&backends.amqp, Duration::from_secs(1))
            .await
            .len(),
        0
    );
    assert_eq!(all_slices(&backends.ledger, &id).await.len(), slices.len());
    let (_, listed) = served.api.get("/v1/requests").await;
    assert_eq!(listed["requests"].as_array().unwrap().len(), 1, "{listed}");

    served.stop().await;
    backends.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widths_come_from_count_probes_and_stay_fixed() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_auto_width").await;
    // The simulator averages 6 jobs and 10 queue items per folder and day: with at most 50
    // records per slice, jobs fit a week (≈42) and queue items a day (≈10, a week ≈70).
    let mut config = test_config();
    config.target_records_per_slice = 50;
    let coordinator = backends.coordinator(acme(&sim), config);
    let served = Served::start(coordinator.clone()).await;
    let body = r#"{"sources": ["acme"], "datasets": ["jobs", "queue-items", "machines"],
        "from": "2024-01-01", "to": "2025-01-01"}"#;
    let (id, _) = served.backfill_planned(body).await;

    let request = backends.ledger.get_request(&id).await.unwrap().unwrap();
    let plan: Plan = serde_json::from_value(request.plan.unwrap()).unwrap();
    let mut widths: BTreeMap<&str, Vec<Option<Width>>> = BTreeMap::new();
    for u in &plan.units {
        widths.entry(u.dataset.as_str()).or_default().push(u.width);
    }
    assert_eq!(widths["jobs"], vec![Some(Width::Days(7)); 3], "{widths:?}");
    assert_eq!(
        widths["queue-items"],
        vec![Some(Width::Days(1)); 3],
        "{widths:?}"
    );
    // Machines have no time field: one slice, read whole, tenant-level.
    assert_eq!(widths["machines"], vec![None], "{widths:?}");

    let slices = all_slices(&backends.ledger, &id).await;
    let timed: Vec<_> = slices
        .iter()
        .filter(|s| s.dataset != "machines")
        .cloned()
        .collect();
    let counts = check_coverage(
        &timed,
        utc("2024-01-01T00:00:00Z"),
        utc("2025-01-01T00:00:00Z"),
    );
    // 2024-01-01 is a Monday, so 52 whole weeks and a 2-day tail.
    assert_eq!(counts[&("jobs".to_owned(), "Finance".to_owned())], 53);
    assert_eq!(counts[&("queue-items".to_owned(), "HR".to_owned())], 366);
    assert_eq!(slices.iter().filter(|s| s.dataset == "machines").count(), 1);
    drain_jobs(&backends.amqp, Duration::from_millis(500)).await;

    // Planning again (as a restarted coordinator would) reads the fixed widths back, even
    // though a new probe with another target would choose differently.
    let mut config = test_config();
    config.target_records_per_slice = 1_000_000;
    let second = backends.coordinator(acme(&sim), config);
    backends
        .ledger
        .update_request(&id, fleet_core::ledger::RequestState::Planning, false, None)
        .await
        .unwrap();
    second.planner().plan_backfill(&id).await.unwrap();
    assert_eq!(all_slices(&backends.ledger, &id).await.len(), slices.len());
    assert_eq!(
        drain_jobs(&backends.amqp, Duration::from_millis(500))
            .await
            .len(),
        0
    );

    served.stop().await;
    backends.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_drops_queued_slices_and_the_request_finishes_as_cancelled() {
    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_cancel").await;
    let served = Served::start(backends.coordinator(acme(&sim), test_config())).await;
    let (id, _) = served.backfill_planned(YEAR).await;

    // A worker has one slice running and finished another.
    let slices = all_slices(&backends.ledger, &id).await;
    use fleet_core::ledger::Transition;
    backends
        .ledger
        .transition(&slices[0].id, Transition::Start)
        .await
        .unwrap();
    backends
        .ledger
        .transition(&slices[1].id, Transition::Start)
        .await
        .unwrap();
    backends
        .ledger
        .transition(
            &slices[1].id,
            Transition::Complete {
                records: 7,
                pages: 1,
                claim: None,
            },
        )
        .await
        .unwrap();

    let (status, body) = served.api.delete(&format!("/v1/requests/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["cancelled_slices"],
        (slices.len() - 1) as u64,
        "{body}"
    );
    assert_eq!(body["request"]["state"], "cancelled");
    let p = backends.ledger.progress(&id).await.unwrap();
    assert_eq!(
        (p.completed, p.cancelled, p.queued, p.running),
        (1, slices.len() as u64 - 1, 0, 0)
    );
    // The running slice is cancelled too: its worker stops at its next checkpoint.
    let running = backends
        .ledger
        .get_slice(&slices[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.state, SliceState::Cancelled);

    // Unknown ids are 404, and a cancelled request stays cancelled.
    let (status, _) = served.api.delete("/v1/requests/bf-nope").await;
    assert_eq!(status, 404);
    served.coordinator.leader_tick().await.unwrap();
    let (_, view) = served.api.get(&format!("/v1/requests/{id}")).await;
    assert_eq!(view["state"], "cancelled", "{view}");

    served.stop().await;
    backends.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_whose_slices_all_finish_completes_and_says_so_on_the_events_exchange() {
    use fleet_core::broker::{Feed, Subscription};
    use fleet_core::ledger::Transition;
    use fleet_core::wire::{Event, EventBody};
    use fleet_core::Broker;

    let sim = start_sim(sim_config()).await;
    let backends = Backends::connect("coord_complete").await;
    let mut events = backends
        .amqp
        .subscribe(Subscription {
            queue: "test-events".into(),
            feed: Feed::Events {
                patterns: vec!["request.*".into()],
            },
            prefetch: 10,
        })
        .await
        .unwrap();
    let served = Served::start(backends.coordinator(acme(&sim), test_config())).await;
    let body = r#"{"sources": ["acme"], "datasets": ["audit-logs"], "from": "2024-03-01", "to": "2024-03-04", "slice_width": "1d"}"#;
    let (id, _) = served.backfill_planned(body).await;
    let slices = all_slices(&backends.ledger, &id).await;
    assert_eq!(slices.len(), 3);
    for (n, s) in slices.iter().enumerate() {
        backends
            .ledger
            .transition(&s.id, Transition::Start)
            .await
            .unwrap();
        backends
            .ledger
            .transition(
                &s.id,
                Transition::Complete {
                    records: 10 + n as u64,
                    pages: 1,
                    claim: None,
                },
            )
            .await
            .unwrap();
    }
    let view = served
        .wait_request(&id, "completion", |v| v["state"] == "completed")
        .await;
    assert_eq!(view["progress"]["records"], 33, "{view}");
    assert_eq!(view["progress"]["percent"], 100.0, "{view}");
    let delivery = events
        .next(Duration::from_secs(10))
        .await
        .unwrap()
        .expect("request.completed event");
    let event = Event::from_bytes(&delivery.body).unwrap();
    assert_eq!(
        event.body,
        EventBody::RequestCompleted {
            request_id: id.clone(),
            slices: 3,
            failed: 0,
            records: 33
        }
    );
    delivery.ack().await.unwrap();
    served.stop().await;
    backends.cleanup().await;
    sim.stop().await;
}
