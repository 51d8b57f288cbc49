//! How the worker settles jobs that cannot simply run to completion, against the real
//! RabbitMQ and Redis and the simulator:
//!
//! - a slice past RobotLogs' 10,000-row paging window, or over the worker's record budget,
//!   splits into children that cover it exactly, and every record still arrives once;
//! - a permanent API failure (a missing scope), a malformed or wrong-version job, and a
//!   job for a source the worker does not have are dead-lettered with a reason and a
//!   readable error (slices also get a `slice.failed` event and a Failed ledger entry),
//!   and the worker carries on;
//! - a request cancelled while its slices run stops them at a page boundary and every
//!   slice ends terminal;
//! - a worker whose slice was claimed by another worker meanwhile (its delivery handed
//!   over) does not put that slice back to Queued when its own read fails.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::*;
use fleet_core::broker::{Destination, Feed, Headers, Outgoing, Subscriber, Subscription};
use fleet_core::ledger::{RequestState, SliceRecord, SliceState, Transition};
use fleet_core::wire::record_id;
use fleet_core::wire::{headers, Event, EventBody, Lane, RecordPage, SliceJob, WIRE_VERSION};
use fleet_core::{Broker, Ledger, Priority};
use fleet_reader::{DatasetRef, SliceCursor, SliceRead};
use fleet_worker::output::key_and_version;
use fleet_worker::{OutputMode, WorkerConfig};
use serde_json::json;
use uipath_client::{AuthConfig, ClientError};
use uipath_sim::config::{SimConfig, DEMO_CLIENT_SECRET, DEMO_ORG, DEMO_TENANT};

/// `days` of data from 2024-01-01 (a Monday) in the one folder `Finance`.
fn one_folder(days: u32) -> SimConfig {
    let mut c = sim_config(days);
    c.data.folders = vec!["Finance".into()];
    c
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("a timestamp")
}

/// Every slice of a request, split parents included.
async fn slices_of(ledger: &dyn Ledger, request: &str) -> Vec<SliceRecord> {
    let mut out: Vec<SliceRecord> = Vec::new();
    loop {
        let after = out.last().map(|s| s.id.clone());
        let page = ledger
            .list_slices(request, None, after.as_deref(), 1000)
            .await
            .expect("list slices");
        let n = page.len();
        out.extend(page);
        if n < 1000 {
            return out;
        }
    }
}

/// Checks the split tree of a request over `[from, to)`: every Split parent has exactly two
/// children that tile its range, every child's parent is a Split slice of the same request,
/// dataset and folder, and the leaves of each (dataset, folder) tile `[from, to)` without a
/// gap or an overlap. Returns the number of split parents.
fn assert_split_tree(slices: &[SliceRecord], from: DateTime<Utc>, to: DateTime<Utc>) -> usize {
    let by_id: HashMap<&str, &SliceRecord> = slices.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut kids: HashMap<&str, Vec<&SliceRecord>> = HashMap::new();
    for s in slices {
        if let Some(p) = &s.parent {
            let parent = by_id
                .get(p.as_str())
                .unwrap_or_else(|| panic!("child {} names unknown parent {p}", s.id));
            assert_eq!(parent.state, SliceState::Split, "parent of {}", s.id);
            assert_eq!(
                (&parent.request_id, &parent.dataset, &parent.folder),
                (&s.request_id, &s.dataset, &s.folder),
                "child {} belongs to its parent's request, dataset and folder",
                s.id
            );
            kids.entry(p.as_str()).or_default().push(s);
        }
    }
    let mut parents = 0;
    for p in slices.iter().filter(|s| s.state == SliceState::Split) {
        parents += 1;
        let mut k = kids.remove(p.id.as_str()).unwrap_or_default();
        k.sort_by_key(|s| s.from);
        assert_eq!(k.len(), 2, "split slice {} has {} children", p.id, k.len());
        assert_eq!(k[0].from, p.from, "first child starts with its parent");
        assert_eq!(k[0].to, k[1].from, "children meet at the cut");
        assert_eq!(k[1].to, p.to, "second child ends with its parent");
        assert!(
            k[0].from < k[0].to && k[1].from < k[1].to,
            "children are not empty"
        );
    }
    let mut leaves: BTreeMap<(String, String), Vec<&SliceRecord>> = BTreeMap::new();
    for s in slices.iter().filter(|s| s.state != SliceState::Split) {
        let folder = s
            .folder
            .as_ref()
            .map(|f| f.path.clone())
            .unwrap_or_default();
        leaves
            .entry((s.dataset.clone(), folder))
            .or_default()
            .push(s);
    }
    for (group, mut list) in leaves {
        list.sort_by_key(|s| s.from);
        assert_eq!(
            list[0].from,
            Some(from),
            "{group:?} starts at the range's start"
        );
        for pair in list.windows(2) {
            assert_eq!(pair[0].to, pair[1].from, "{group:?}: leaves tile the range");
        }
        assert_eq!(
            list.last().unwrap().to,
            Some(to),
            "{group:?} ends at the range's end"
        );
    }
    parents
}

/// Every RobotLogs record id of `folder` over `[from, to)`, read directly: the range is
/// halved wherever it holds more than the paging window, as the worker does.
async fn reference_robot_logs(
    sources: &fleet_reader::Sources,
    folder: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> HashSet<String> {
    let dataset = DatasetRef::parse("robot-logs").unwrap();
    let folder = sources
        .folders("acme")
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.path == folder)
        .expect("folder");
    let mut ids = HashSet::new();
    let mut ranges = vec![(from, to)];
    'ranges: while let Some((from, to)) = ranges.pop() {
        let read = SliceRead {
            source: "acme".into(),
            dataset: dataset.clone(),
            folder: Some(folder.clone()),
            from: Some(from),
            to: Some(to),
            select: vec![],
            page_size: None,
            mode: Default::default(),
        };
        let mut cursor = SliceCursor::start(&dataset);
        let mut found = Vec::new();
        loop {
            match sources.read_page(&read, &cursor, Priority::Sync).await {
                Ok((records, next)) => {
                    found.extend(records.iter().map(|r| {
                        let (key, version) = key_and_version(r);
                        record_id("acme", "robot-logs", &key, &version)
                    }));
                    match next {
                        Some(c) => cursor = c,
                        None => break,
                    }
                }
                Err(ClientError::WindowExceeded { .. }) => {
                    let mid = from + (to - from) / 2;
                    ranges.extend([(from, mid), (mid, to)]);
                    continue 'ranges;
                }
                Err(e) => panic!("reference read: {e}"),
            }
        }
        ids.extend(found);
    }
    ids
}

/// A message taken from a subscription (and acked).
#[derive(Debug)]
struct Taken {
    id: Option<String>,
    headers: Headers,
    body: Vec<u8>,
}

/// The dead-letter queue itself.
async fn dead_letters(b: &Backends) -> Box<dyn Subscriber> {
    b.amqp
        .subscribe(Subscription {
            queue: "dead".into(),
            feed: Feed::DeadLetters,
            prefetch: 100,
        })
        .await
        .expect("subscribe to dead letters")
}

/// A queue of the test's own on the events exchange (bind before the events happen).
async fn events(b: &Backends) -> Box<dyn Subscriber> {
    b.amqp
        .subscribe(Subscription {
            queue: "test-events".into(),
            feed: Feed::Events {
                patterns: vec!["slice.*".into(), "request.*".into()],
            },
            prefetch: 1000,
        })
        .await
        .expect("subscribe to events")
}

/// Takes messages until `want` arrived, failing after `deadline`, then listens `quiet`
/// longer so that an unexpected extra message is caught too. Acks everything.
async fn take(
    sub: &mut Box<dyn Subscriber>,
    want: usize,
    deadline: Duration,
    quiet: Duration,
) -> Vec<Taken> {
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < want {
        assert!(
            start.elapsed() < deadline,
            "only {} of {want} messages after {deadline:?}: {out:?}",
            out.len()
        );
        if let Some(d) = sub.next(Duration::from_millis(500)).await.expect("next") {
            out.push(Taken {
                id: d.message_id.clone(),
                headers: d.headers.clone(),
                body: d.body.clone(),
            });
            d.ack().await.expect("ack");
        }
    }
    while let Some(d) = sub.next(quiet).await.expect("next") {
        out.push(Taken {
            id: d.message_id.clone(),
            headers: d.headers.clone(),
            body: d.body.clone(),
        });
        d.ack().await.expect("ack");
    }
    out
}

/// Runs the coordinator's leader work until the request is terminal.
async fn finish(coordinator: &fleet_coordinator::Coordinator, request: &str) -> RequestState {
    let start = Instant::now();
    loop {
        coordinator.leader_tick().await.expect("leader tick");
        let r = coordinator
            .ledger()
            .get_request(request)
            .await
            .unwrap()
            .unwrap();
        if r.state.is_terminal() {
            return r.state;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "request {request} still {:?}",
            r.state
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn job(source: &str, slice: &str, version: u32) -> SliceJob {
    SliceJob {
        version,
        slice_id: slice.into(),
        request_id: "hand-made-request".into(),
        lane: Lane::Backfill,
        source: source.into(),
        dataset: "jobs".into(),
        folder: None,
        from: Some(at("2024-01-01T00:00:00Z")),
        to: Some(at("2024-01-02T00:00:00Z")),
        select: vec![],
        read: Default::default(),
        attempt: 0,
        parent: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robot_logs_past_the_paging_window_split_and_arrive_complete() {
    // Two weekdays of ~18,000 log lines each in one folder: every one-day slice holds more
    // than the 10,000 rows RobotLogs serve per query.
    let mut c = one_folder(2);
    c.data.robot_logs_per_day = 14_000.0;
    let sim = start_sim(c).await;
    let b = Backends::connect("worker-disp-robotlogs").await;
    let sources = b.acme_sources(&sim).await;
    let mut out = b.output().await;
    let coordinator = b.coordinator(sources.clone());
    let config = WorkerConfig {
        output: OutputMode::Page,
        concurrency: 2,
        ..WorkerConfig::default()
    };
    let worker = Running::start(b.worker(config, sources.clone()).await);
    let (from, to) = ("2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z");
    let id = submit(
        &coordinator,
        json!({"sources": ["acme"], "datasets": ["robot-logs"], "from": from, "to": to,
               "slice_width": "1d"}),
    )
    .await;
    let started = Instant::now();
    wait_done(&b.ledger, &id, Duration::from_secs(240)).await;
    let took = started.elapsed();
    let mut received = Received::default();
    collect(&mut out, &mut received, Duration::from_secs(2)).await;
    let expected = reference_robot_logs(&sources, "Finance", at(from), at(to)).await;

    let slices = slices_of(&b.ledger, &id).await;
    let parents = assert_split_tree(&slices, at(from), at(to));
    let days: Vec<_> = slices.iter().filter(|s| s.parent.is_none()).collect();
    assert_eq!(days.len(), 2, "two one-day slices planned");
    for d in &days {
        assert_eq!(
            d.state,
            SliceState::Split,
            "dense day {:?} was split",
            d.from
        );
    }
    for s in slices.iter().filter(|s| s.state != SliceState::Split) {
        assert_eq!(s.state, SliceState::Completed, "leaf {s:?}");
    }
    assert!(expected.len() > 25_000, "{} reference rows", expected.len());
    assert_complete(&received, &expected);
    assert_eq!(received.duplicates(), 0, "no faults, no duplicates");
    let p = b.ledger.progress(&id).await.unwrap();
    assert_eq!(p.records, expected.len() as u64, "{p:?}");
    println!(
        "robot-logs: {} rows in {took:?}, {} slices ({} split), {} leaves, {} page messages",
        expected.len(),
        slices.len(),
        parents,
        slices.len() - parents,
        received.messages
    );
    let summary = worker.stop().await;
    assert_eq!(summary.abandoned, 0, "{summary:?}");
    b.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_over_its_record_budget_splits_its_remainder_without_repeating_records() {
    let mut c = one_folder(1);
    c.data.jobs_per_day = 3_000.0;
    let sim = start_sim(c).await;
    let b = Backends::connect("worker-disp-budget").await;
    let sources = b.acme_sources(&sim).await;
    let mut out = b.output().await;
    let coordinator = b.coordinator(sources.clone());
    // Four pages per job before the budget cuts the rest of the slice in two.
    let config = WorkerConfig {
        concurrency: 2,
        page_size: Some(250),
        record_budget: 1_000,
        ..WorkerConfig::default()
    };
    let worker = Running::start(b.worker(config, sources.clone()).await);
    let (from, to) = ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z");
    let id = submit(
        &coordinator,
        json!({"sources": ["acme"], "datasets": ["jobs"], "from": from, "to": to,
               "slice_width": "1d"}),
    )
    .await;
    wait_done(&b.ledger, &id, Duration::from_secs(180)).await;
    let mut received = Received::default();
    collect(&mut out, &mut received, Duration::from_secs(2)).await;
    let expected = reference_ids(&sources, "acme", &["jobs"], &["Finance"], from, to).await;

    let slices = slices_of(&b.ledger, &id).await;
    let parents = assert_split_tree(&slices, at(from), at(to));
    assert!(parents >= 1, "the {}-record day was split", expected.len());
    let children = slices.iter().filter(|s| s.parent.is_some()).count();
    assert_eq!(children, 2 * parents);
    for s in slices.iter().filter(|s| s.state != SliceState::Split) {
        assert_eq!(s.state, SliceState::Completed, "leaf {s:?}");
    }
    // A split parent keeps what it read: its checkpointed records stay counted.
    let read_by_parents: u64 = slices
        .iter()
        .filter(|s| s.state == SliceState::Split)
        .map(|s| s.records)
        .sum();
    assert!(read_by_parents > 0, "parents read before they split");
    assert!(expected.len() > 2_000, "{}", expected.len());
    assert_complete(&received, &expected);
    // The first child resumes at its parent's cursor, so nothing is read twice.
    assert_eq!(received.duplicates(), 0, "duplicates after budget splits");
    let p = b.ledger.progress(&id).await.unwrap();
    assert_eq!(p.records, expected.len() as u64, "{p:?}");
    println!(
        "record budget: {} records, {} split parents ({} records read by them), {} leaves, {} duplicates",
        expected.len(),
        parents,
        read_by_parents,
        slices.len() - parents,
        received.duplicates()
    );
    let summary = worker.stop().await;
    assert_eq!(summary.abandoned, 0, "{summary:?}");
    b.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_scope_dead_letters_the_slice_with_its_reason_and_fails_the_request() {
    let sim = start_sim(one_folder(2)).await;
    let b = Backends::connect("worker-disp-forbidden").await;
    // Every read scope but the one queue items need.
    let mut noq = source_at(&sim.base_url(), "noq", DEMO_ORG, DEMO_TENANT);
    if let AuthConfig::ClientCredentials { scopes, .. } = &mut noq.auth {
        scopes.retain(|s| s != "OR.Queues.Read");
    }
    let sources = b
        .sources(
            &[noq],
            generous_limits(),
            client_options(Duration::from_secs(2)),
        )
        .await;
    let mut dead = dead_letters(&b).await;
    let mut ev = events(&b).await;
    let coordinator = b.coordinator(sources.clone());
    let worker = Running::start(
        b.worker(
            WorkerConfig {
                concurrency: 2,
                ..WorkerConfig::default()
            },
            sources.clone(),
        )
        .await,
    );
    let id = submit(
        &coordinator,
        json!({"sources": ["noq"], "datasets": ["queue-items"], "from": "2024-01-01T00:00:00Z",
               "to": "2024-01-03T00:00:00Z", "slice_width": "1d"}),
    )
    .await;
    wait_done(&b.ledger, &id, Duration::from_secs(60)).await;
    assert_eq!(finish(&coordinator, &id).await, RequestState::Failed);

    let slices = slices_of(&b.ledger, &id).await;
    assert_eq!(slices.len(), 2);
    for s in &slices {
        assert_eq!(s.state, SliceState::Failed, "{s:?}");
        let e = s.last_error.as_deref().unwrap_or_default();
        assert!(e.starts_with("forbidden: ") && e.contains("403"), "{e}");
    }
    let letters = take(
        &mut dead,
        2,
        Duration::from_secs(30),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(letters.len(), 2, "one dead letter per slice: {letters:?}");
    for l in &letters {
        let slice = l.headers.get(headers::SLICE).expect("slice header");
        assert!(slices.iter().any(|s| &s.id == slice), "{slice}");
        assert_eq!(
            l.headers.get(headers::REASON).map(String::as_str),
            Some("forbidden")
        );
        let e = l.headers.get(headers::ERROR).expect("error header");
        assert!(e.contains("403") && e.contains("scope"), "readable: {e}");
        assert!(!e.contains(DEMO_CLIENT_SECRET), "no secret in {e}");
        assert_eq!(l.headers.get(headers::REQUEST), Some(&id));
        assert_eq!(
            l.headers.get(headers::SOURCE).map(String::as_str),
            Some("noq")
        );
        // The job as it came, so an operator can replay it.
        let job = SliceJob::from_bytes(&l.body).expect("the job itself");
        assert_eq!(&job.slice_id, slice);
        assert_eq!(l.id.as_deref(), Some(slice.as_str()));
    }
    let got = take(&mut ev, 3, Duration::from_secs(30), Duration::from_secs(1)).await;
    let mut failed = Vec::new();
    let mut completed = Vec::new();
    for m in &got {
        match Event::from_bytes(&m.body).expect("an event").body {
            EventBody::SliceFailed {
                slice_id,
                reason,
                error,
                request_id,
                ..
            } => {
                assert_eq!((reason.as_str(), &request_id), ("forbidden", &id));
                assert!(error.contains("403"), "{error}");
                failed.push(slice_id);
            }
            EventBody::RequestCompleted {
                request_id,
                slices,
                failed,
                ..
            } => completed.push((request_id, slices, failed)),
            other => panic!("unexpected event {other:?}"),
        }
    }
    failed.sort();
    let mut ids: Vec<_> = slices.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    assert_eq!(failed, ids, "one slice.failed per slice");
    assert_eq!(completed, vec![(id.clone(), 2, 2)], "request.completed");
    let summary = worker.stop().await;
    assert_eq!(summary.outcomes.get("failed"), Some(&2), "{summary:?}");
    assert_eq!(summary.abandoned, 0);
    b.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_wrong_version_jobs_are_dead_lettered_and_the_worker_carries_on() {
    let sim = start_sim(one_folder(2)).await;
    let b = Backends::connect("worker-disp-malformed").await;
    let sources = b.acme_sources(&sim).await;
    let mut dead = dead_letters(&b).await;
    let coordinator = b.coordinator(sources.clone());
    let worker = Running::start(
        b.worker(
            WorkerConfig {
                concurrency: 2,
                ..WorkerConfig::default()
            },
            sources.clone(),
        )
        .await,
    );
    let garbage = b"\x00\xffnot a job {".to_vec();
    let future = job("acme", "from-the-future", WIRE_VERSION + 98).to_bytes();
    b.amqp
        .publish(vec![
            Outgoing::new(
                Destination::Jobs(Lane::Backfill),
                "garbage",
                garbage.clone(),
            ),
            Outgoing::new(Destination::Jobs(Lane::Backfill), "v99", future.clone()),
        ])
        .await
        .expect("published");
    let letters = take(
        &mut dead,
        2,
        Duration::from_secs(30),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    let by_id: HashMap<_, _> = letters
        .iter()
        .map(|l| (l.id.clone().unwrap_or_default(), l))
        .collect();
    let g = by_id["garbage"];
    assert_eq!(
        g.headers.get(headers::REASON).map(String::as_str),
        Some("malformed_job")
    );
    let e = &g.headers[headers::ERROR];
    assert!(e.contains("not valid JSON"), "{e}");
    assert_eq!(g.body, garbage, "dead-lettered as it came");
    let v = by_id["v99"];
    assert_eq!(
        v.headers.get(headers::REASON).map(String::as_str),
        Some("version")
    );
    let e = &v.headers[headers::ERROR];
    assert!(e.contains(&format!("version {}", WIRE_VERSION + 98)), "{e}");
    assert_eq!(v.body, future);

    // The same worker still does real work.
    let id = submit(
        &coordinator,
        json!({"sources": ["acme"], "datasets": ["jobs"], "from": "2024-01-01T00:00:00Z",
               "to": "2024-01-03T00:00:00Z", "slice_width": "1d"}),
    )
    .await;
    wait_done(&b.ledger, &id, Duration::from_secs(60)).await;
    let p = b.ledger.progress(&id).await.unwrap();
    assert_eq!((p.completed, p.total()), (2, 2), "{p:?}");
    let summary = worker.stop().await;
    assert_eq!(summary.outcomes.get("rejected"), Some(&2), "{summary:?}");
    assert_eq!(summary.outcomes.get("completed"), Some(&2), "{summary:?}");
    assert_eq!(summary.abandoned, 0);
    b.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_for_a_source_the_worker_lacks_is_dead_lettered_as_unknown_source() {
    let sim = start_sim(one_folder(1)).await;
    let b = Backends::connect("worker-disp-unknown").await;
    let sources = b.acme_sources(&sim).await;
    let mut dead = dead_letters(&b).await;
    let mut ev = events(&b).await;
    let worker = Running::start(b.worker(WorkerConfig::default(), sources.clone()).await);
    let ghost = job("ghost", "ghost-slice", WIRE_VERSION);
    b.amqp
        .publish(vec![Outgoing::new(
            Destination::Jobs(Lane::Backfill),
            "ghost-slice",
            ghost.to_bytes(),
        )])
        .await
        .expect("published");
    let letters = take(
        &mut dead,
        1,
        Duration::from_secs(30),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let l = &letters[0];
    assert_eq!(
        l.headers.get(headers::REASON).map(String::as_str),
        Some("unknown_source")
    );
    let e = &l.headers[headers::ERROR];
    assert!(e.contains("`ghost`"), "names the source: {e}");
    assert_eq!(
        l.headers.get(headers::SOURCE).map(String::as_str),
        Some("ghost")
    );
    assert_eq!(
        l.headers.get(headers::SLICE).map(String::as_str),
        Some("ghost-slice")
    );
    assert_eq!(SliceJob::from_bytes(&l.body).unwrap(), ghost);
    let got = take(&mut ev, 1, Duration::from_secs(30), Duration::from_secs(1)).await;
    assert_eq!(got.len(), 1);
    match Event::from_bytes(&got[0].body).unwrap().body {
        EventBody::SliceFailed {
            slice_id, reason, ..
        } => assert_eq!(
            (slice_id.as_str(), reason.as_str()),
            ("ghost-slice", "unknown_source")
        ),
        other => panic!("unexpected event {other:?}"),
    }
    let summary = worker.stop().await;
    assert_eq!(summary.outcomes.get("failed"), Some(&1), "{summary:?}");
    assert_eq!(summary.abandoned, 0);
    b.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_stops_its_running_slices_at_a_page_boundary() {
    const PAGE: u64 = 50;
    // Eight days of ~1,000 jobs: ~20 pages of 50 per slice, each page 100 ms late, so a
    // slice runs for seconds and the cancel lands in the middle of one.
    let mut c = one_folder(8);
    c.data.jobs_per_day = 1_000.0;
    c.data.weekend_factor = 1.0;
    c.faults.latency_ms = 100;
    c.faults.paths = vec!["odata/Jobs".into()];
    let sim = start_sim(c).await;
    let b = Backends::connect("worker-disp-cancel").await;
    let sources = b.acme_sources(&sim).await;
    let mut out = b.output().await;
    let coordinator = b.coordinator(sources.clone());
    let config = WorkerConfig {
        concurrency: 2,
        output: OutputMode::Page,
        page_size: Some(PAGE as u32),
        ..WorkerConfig::default()
    };
    let worker = Running::start(b.worker(config, sources.clone()).await);
    let id = submit(
        &coordinator,
        json!({"sources": ["acme"], "datasets": ["jobs"], "from": "2024-01-01T00:00:00Z",
               "to": "2024-01-09T00:00:00Z", "slice_width": "1d"}),
    )
    .await;

    // Cancel once a slice has checkpointed a page and has many left.
    let start = Instant::now();
    loop {
        let running = b
            .ledger
            .list_slices(&id, Some(SliceState::Running), None, 100)
            .await
            .unwrap();
        if running.iter().any(|s| s.pages >= 1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no slice got going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, cancelled) = coordinator.cancel(&id).await.expect("cancel");
    assert!(cancelled > 0, "something was left to cancel");

    let start = Instant::now();
    loop {
        let p = b.ledger.progress(&id).await.unwrap();
        let depth = b.amqp.depths().await.unwrap();
        let busy = worker.worker.metrics().in_flight.get();
        if p.done() == p.total() && depth.backfill == 0 && depth.retrying == 0 && busy == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not settled: {p:?} {depth:?} in flight {busy}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = b.ledger.get_request(&id).await.unwrap().unwrap();
    assert_eq!(r.state, RequestState::Cancelled);
    let slices = slices_of(&b.ledger, &id).await;
    assert!(slices.iter().all(|s| s.state.is_terminal()), "{slices:?}");

    // Records per slice as they arrived.
    let mut per_slice: HashMap<String, u64> = HashMap::new();
    while let Some(d) = out.next(Duration::from_secs(2)).await.unwrap() {
        let page = RecordPage::from_bytes(&d.body).expect("a page");
        *per_slice.entry(page.provenance.slice_id).or_default() += page.records.len() as u64;
        d.ack().await.unwrap();
    }
    let mut stopped = 0;
    for s in slices.iter().filter(|s| s.state == SliceState::Cancelled) {
        let got = per_slice.get(&s.id).copied().unwrap_or_default();
        // Checkpointed whole pages only; at most the page in hand when the cancel came
        // was published past the last checkpoint.
        assert_eq!(s.records % PAGE, 0, "{s:?}");
        assert!(
            got >= s.records,
            "checkpointed records were published: {s:?}"
        );
        assert!(got <= s.records + PAGE, "{got} published for {s:?}");
        if s.records > 0 {
            stopped += 1;
        }
    }
    assert!(stopped >= 1, "a slice was stopped mid-run");
    let summary = worker.stop().await;
    assert!(
        summary.outcomes.get("cancelled").copied().unwrap_or(0) >= 1,
        "{summary:?}"
    );
    assert_eq!(summary.abandoned, 0, "{summary:?}");
    let p = b.ledger.progress(&id).await.unwrap();
    println!(
        "cancel: {p:?}; {stopped} slice(s) stopped mid-run; outcomes {:?}",
        summary.outcomes
    );
    b.cleanup().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_worker_does_not_put_back_a_slice_another_worker_holds() {
    // Every Jobs page fails (503) after a second, so the worker's read ends in a transient
    // error well after the test has claimed the slice over its head.
    let mut c = one_folder(1);
    c.faults.error_rate = 1.0;
    c.faults.error_statuses = vec![503];
    c.faults.latency_ms = 1_000;
    c.faults.paths = vec!["odata/Jobs".into()];
    let sim = start_sim(c).await;
    let b = Backends::connect("worker-disp-stale-retry").await;
    let sources = b.acme_sources(&sim).await;
    let coordinator = b.coordinator(sources.clone());
    let config = WorkerConfig {
        concurrency: 1,
        ..WorkerConfig::default()
    };
    let worker = Running::start(b.worker(config, sources.clone()).await);
    let id = submit(
        &coordinator,
        json!({"sources": ["acme"], "datasets": ["jobs"], "from": "2024-01-01T00:00:00Z",
               "to": "2024-01-02T00:00:00Z", "slice_width": "1d"}),
    )
    .await;

    // The worker claims the slice; then "another worker" claims it too, as the broker
    // does when the first worker's connection is cut and its delivery handed over.
    let start = Instant::now();
    let slice = loop {
        let running = b
            .ledger
            .list_slices(&id, Some(SliceState::Running), None, 10)
            .await
            .unwrap();
        if let Some(s) = running.into_iter().next() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no slice started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(slice.attempts, 1, "{slice:?}");
    let holder = b
        .ledger
        .transition(&slice.id, Transition::Start)
        .await
        .unwrap();
    assert!(holder.applied);

    // The first worker's read fails; it settles its delivery without touching the slice.
    let start = Instant::now();
    while worker.worker.metrics().in_flight.get() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the stale worker never settled its job"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A retry copy would be in a delay queue now (and back within a second).
    let depth = b.amqp.depths().await.unwrap();
    assert_eq!(
        (depth.backfill, depth.retrying),
        (0, 0),
        "no copy of the job went out: {depth:?}"
    );
    let after = b.ledger.get_slice(&slice.id).await.unwrap().unwrap();
    assert_eq!(
        (after.state, after.attempts, after.last_error.as_deref()),
        (SliceState::Running, 2, None),
        "the holder's slice is as the holder left it"
    );
    let summary = worker.stop().await;
    assert_eq!(summary.outcomes.get("cancelled"), Some(&1), "{summary:?}");
    assert_eq!(summary.outcomes.get("retried"), None, "{summary:?}");
    b.cleanup().await;
    sim.stop().await;
}
