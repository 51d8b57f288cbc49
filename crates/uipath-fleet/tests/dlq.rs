//! `uipath-fleet dlq` as an operator runs it, against a real fleet: a worker process, the
//! simulator with a permanent fault on one dataset, RabbitMQ and Redis under the test's
//! prefix, and the coordinator's leader driven from the test.
//!
//! Done when: `dlq replay` re-runs the dead-lettered slices after the simulator's fault is
//! cleared — every record arrives, the request is finished again as Completed, and only
//! the letter that can never be replayed (a malformed body) stays in the queue.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use fleet_core::broker::{Feed, Subscription};
use fleet_core::ledger::{RequestState, SliceState};
use fleet_core::wire::{headers, Event, EventBody};
use fleet_core::{Broker as _, Destination, Ledger as _, Outgoing};
use serde_json::Value;
use uipath_sim::faults::FaultConfig;

const DAYS: u32 = 4;
const DATASETS: [&str; 2] = ["jobs", "queue-items"];
/// The letter no replay can fix: not JSON at all.
const JUNK_ID: &str = "junk-letter-1";

/// Runs `dlq ARGS`, insists it succeeded, and returns its stdout.
async fn dlq_ok(fleet: &Fleet, config: &Path, args: &[&str]) -> String {
    let out = dlq(fleet, config, args).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "`dlq {args:?}` failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn dead_depth(fleet: &Fleet) -> u64 {
    let queue = fleet.amqp.names().dead();
    fleet.amqp.queue_depth(&queue).await.expect("dead depth")
}

/// Drives the leader until the request reaches `state`.
async fn wait_request(fleet: &Fleet, id: &str, state: RequestState, deadline: Duration) {
    let start = Instant::now();
    loop {
        fleet.coordinator.leader_tick().await.expect("leader tick");
        let r = fleet.ledger.get_request(id).await.unwrap().unwrap();
        if r.state == state {
            return;
        }
        let p = fleet.ledger.progress(id).await.unwrap();
        assert!(
            start.elapsed() < deadline,
            "request {id} not {state:?} after {deadline:?}: {:?} {p:?}",
            r.state
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls until the dead-letter queue holds `n` ready letters.
async fn wait_dead(fleet: &Fleet, n: u64, deadline: Duration) {
    let start = Instant::now();
    loop {
        let depth = dead_depth(fleet).await;
        if depth == n {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "dead-letter queue holds {depth}, not {n}, after {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The message ids `dlq list --json` shows, in order, and the parsed output.
async fn listed(fleet: &Fleet, config: &Path) -> (Vec<String>, Value) {
    let text = dlq_ok(fleet, config, &["list", "--json"]).await;
    let v: Value = serde_json::from_str(&text).expect("list --json prints JSON");
    let ids = v["letters"]
        .as_array()
        .expect("letters")
        .iter()
        .map(|l| l["message_id"].as_str().unwrap_or("-").to_owned())
        .collect();
    (ids, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reruns_dead_lettered_slices_after_the_fault_is_cleared() {
    with_fleet("fleet-dlq", sim_config(DAYS, 40.0), |fleet| async move {
        replay_after_fault(&fleet).await
    })
    .await;
}

async fn replay_after_fault(fleet: &Fleet) {
    let to = to_after(DAYS);
    // Read before the fault: the reference comes from the simulator itself.
    let expected = fleet.reference_ids(&DATASETS, &to).await;
    assert!(expected.len() > 500, "{} records", expected.len());
    let mut events = fleet
        .amqp
        .subscribe(Subscription {
            queue: "dlq-test-events".into(),
            feed: Feed::Events {
                patterns: vec!["request.*".into()],
            },
            prefetch: 50,
        })
        .await
        .expect("subscribe to the events");

    // The oldest letter: a body no build can read.
    fleet
        .amqp
        .publish(vec![Outgoing::new(
            Destination::DeadLetter,
            JUNK_ID,
            b"{not a job".to_vec(),
        )
        .header(headers::REASON, "malformed_job")
        .header(headers::ERROR, "message is not valid JSON")])
        .await
        .expect("publish the junk letter");

    // Every Jobs page answers 404 (permanent: in Automation Cloud a collection is missing only
    // when the URL names no such organization or tenant): each jobs slice is given up at once.
    fleet.sim.sim.faults.set_config(FaultConfig {
        error_rate: 1.0,
        error_statuses: vec![404],
        paths: vec!["odata/Jobs".into()],
        ..FaultConfig::default()
    });
    let config = fleet.write_config("concurrency = 2\npage_size = 100");
    let worker = fleet.spawn(&config, "w0").await;
    let id = fleet.backfill(&DATASETS, &to, "1d").await;
    fleet.wait_done(&id, Duration::from_secs(120)).await;
    wait_request(fleet, &id, RequestState::Failed, Duration::from_secs(30)).await;

    let slices = fleet.slices(&id).await;
    let failed: HashSet<String> = slices
        .iter()
        .filter(|s| s.state == SliceState::Failed)
        .map(|s| s.id.clone())
        .collect();
    let per_dataset = FOLDERS.len() * DAYS as usize;
    assert_eq!(failed.len(), per_dataset, "every jobs slice failed");
    assert!(slices
        .iter()
        .filter(|s| s.state == SliceState::Failed)
        .all(|s| s.dataset == "jobs"));
    let p = fleet.ledger.progress(&id).await.unwrap();
    assert_eq!(
        (p.failed, p.completed),
        (per_dataset as u64, per_dataset as u64)
    );
    let letters = per_dataset as u64 + 1;
    wait_dead(fleet, letters, Duration::from_secs(30)).await;

    // list: oldest first, nothing removed, the same order every time.
    let (ids, list) = listed(fleet, &config).await;
    assert_eq!(list["count"], letters, "{list}");
    assert_eq!(ids[0], JUNK_ID, "oldest first");
    let junk = &list["letters"][0];
    assert_eq!(
        (junk["decodable"].as_bool(), junk["reason"].as_str()),
        (Some(false), Some("malformed_job"))
    );
    let listed_slices: HashSet<String> = list["letters"].as_array().unwrap()[1..]
        .iter()
        .map(|l| l["slice_id"].as_str().expect("a slice id").to_owned())
        .collect();
    assert_eq!(listed_slices, failed, "the letters are the failed slices");
    for l in &list["letters"].as_array().unwrap()[1..] {
        assert_eq!(l["reason"], "tenant_not_found", "{l}");
        assert_eq!(
            (l["dataset"].as_str(), l["lane"].as_str()),
            (Some("jobs"), Some("backfill"))
        );
        assert!(
            l["error"].as_str().is_some_and(|e| e.contains("404")),
            "{l}"
        );
    }
    let by_reason: BTreeMap<String, u64> =
        serde_json::from_value(list["by_reason"].clone()).unwrap();
    assert_eq!(
        by_reason,
        BTreeMap::from([
            ("malformed_job".to_owned(), 1),
            ("tenant_not_found".to_owned(), per_dataset as u64)
        ])
    );
    assert_eq!(dead_depth(fleet).await, letters, "list removes nothing");
    let (again, _) = listed(fleet, &config).await;
    assert_eq!(again, ids, "listing keeps the letters in their order");
    let limited: Value =
        serde_json::from_str(&dlq_ok(fleet, &config, &["list", "--limit", "3", "--json"]).await)
            .unwrap();
    let first: Vec<&str> = limited["letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        first,
        ids[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(limited["count"], letters, "the count covers every letter");
    let (again, _) = listed(fleet, &config).await;
    assert_eq!(again, ids, "a limited listing keeps the rest in order too");

    let table = dlq_ok(fleet, &config, &["list"]).await;
    assert!(table.starts_with("MESSAGE ID"), "{table}");
    assert!(table.contains("malformed"), "{table}");
    assert!(
        table.contains(&format!(
            "{letters} dead letter(s): malformed_job 1, tenant_not_found {per_dataset}"
        )),
        "{table}"
    );

    // show: the letter and its slice in the ledger.
    let one = &ids[1];
    let shown: Value =
        serde_json::from_str(&dlq_ok(fleet, &config, &["show", one, "--json"]).await).unwrap();
    assert_eq!(shown["slice"]["state"], "failed", "{shown}");
    assert!(shown["slice"]["attempts"].as_u64() >= Some(1), "{shown}");
    assert!(
        shown["slice"]["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("tenant_not_found")),
        "{shown}"
    );
    assert_eq!(shown["headers"][headers::REASON], "tenant_not_found");
    assert_eq!(shown["job"]["slice_id"], one.as_str());
    assert_eq!(shown["request_state"], "failed");
    let text = dlq_ok(fleet, &config, &["show", JUNK_ID]).await;
    assert!(
        text.contains("not readable") && text.contains("{not a job"),
        "{text}"
    );
    let out = dlq(fleet, &config, &["show", "no-such-letter"]).await;
    assert_eq!(out.status.code(), Some(1));

    // A dry run and a replay of unknown ids change nothing.
    let dry = dlq_ok(fleet, &config, &["replay", "--all", "--dry-run"]).await;
    assert!(
        dry.contains(&format!(
            "{letters} letter(s): would replay {per_dataset}, drop 0, keep 1"
        )),
        "{dry}"
    );
    let out = dlq(fleet, &config, &["replay", one, "no-such-letter"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`no-such-letter`"), "{stderr}");
    assert_eq!(dead_depth(fleet).await, letters);
    assert_eq!(
        fleet.ledger.progress(&id).await.unwrap(),
        p,
        "nothing replayed"
    );
    assert_eq!(
        fleet.ledger.get_request(&id).await.unwrap().unwrap().state,
        RequestState::Failed
    );

    // Fixed. A second letter for one slice (a dead letter published twice) is replayed
    // once: the copy is dropped.
    fleet.sim.sim.faults.set_config(FaultConfig::default());
    let copy = || {
        Outgoing::new(
            Destination::DeadLetter,
            one.as_str(),
            serde_json::to_vec(&shown["job"]).unwrap(),
        )
        .header(headers::REASON, "tenant_not_found")
        .header(headers::SLICE, one.as_str())
    };
    fleet
        .amqp
        .publish(vec![copy()])
        .await
        .expect("publish a copy");
    wait_dead(fleet, letters + 1, Duration::from_secs(10)).await;
    let replay = dlq_ok(fleet, &config, &["replay", one]).await;
    assert!(
        replay.contains("2 letter(s): 1 replayed, 1 dropped, 0 kept"),
        "{replay}"
    );
    assert!(
        replay.contains(&format!("{one}  dropped: slice {one} was replayed above")),
        "{replay}"
    );
    assert!(
        replay.contains(&format!("request {id} reopened")),
        "{replay}"
    );
    assert_eq!(
        fleet.ledger.get_request(&id).await.unwrap().unwrap().state,
        RequestState::Running,
        "the replay reopened the request"
    );

    // Then everything else.
    let replay = dlq_ok(fleet, &config, &["replay", "--all"]).await;
    let rest = per_dataset - 1;
    assert!(
        replay.contains(&format!(
            "{} letter(s): {rest} replayed, 0 dropped, 1 kept",
            rest + 1
        )),
        "{replay}"
    );
    assert!(
        replay.contains(&format!("{JUNK_ID}  kept: not a slice job")),
        "{replay}"
    );
    wait_request(
        fleet,
        &id,
        RequestState::Completed,
        Duration::from_secs(120),
    )
    .await;

    let received = fleet.received_after_quiet(Duration::from_secs(2)).await;
    received.assert_complete(&expected);
    assert_all_completed(fleet, &id, expected.len()).await;
    let p = fleet.ledger.progress(&id).await.unwrap();
    assert_eq!(
        (p.completed, p.failed, p.queued, p.running, p.total()),
        (2 * per_dataset as u64, 0, 0, 0, 2 * per_dataset as u64)
    );
    for s in fleet.slices(&id).await {
        if failed.contains(&s.id) {
            assert_eq!(s.attempts, 2, "a replayed slice ran twice: {s:?}");
        }
    }
    // Only the letter no replay can fix is left.
    wait_dead(fleet, 1, Duration::from_secs(10)).await;
    let (ids, _) = listed(fleet, &config).await;
    assert_eq!(ids, vec![JUNK_ID.to_owned()]);

    // A late copy of a letter whose slice has completed since is dropped, not re-run.
    fleet
        .amqp
        .publish(vec![copy()])
        .await
        .expect("publish a copy");
    wait_dead(fleet, 2, Duration::from_secs(10)).await;
    let replay = dlq_ok(fleet, &config, &["replay", "--reason", "tenant_not_found"]).await;
    assert!(
        replay.contains(&format!(
            "{one}  dropped: slice {one} is completed: nothing to redo"
        )),
        "{replay}"
    );
    assert!(
        replay.contains("1 letter(s): 0 replayed, 1 dropped, 0 kept"),
        "{replay}"
    );
    wait_dead(fleet, 1, Duration::from_secs(10)).await;
    assert_eq!(
        fleet.ledger.get_request(&id).await.unwrap().unwrap().state,
        RequestState::Completed
    );

    // The request finished twice: Failed, then Completed.
    let mut finished = Vec::new();
    let mut message_ids = HashSet::new();
    let start = Instant::now();
    while finished.len() < 2 && start.elapsed() < Duration::from_secs(30) {
        let Some(d) = events
            .next(Duration::from_millis(500))
            .await
            .expect("events")
        else {
            continue;
        };
        let event = Event::from_bytes(&d.body).expect("an event");
        if let EventBody::RequestCompleted {
            request_id, failed, ..
        } = event.body
        {
            if request_id == id {
                finished.push(failed);
                message_ids.insert(d.message_id.clone().expect("a message id"));
            }
        }
        d.ack().await.expect("ack an event");
    }
    assert_eq!(
        finished,
        vec![per_dataset as u64, 0],
        "request.completed twice"
    );
    assert_eq!(
        message_ids.len(),
        2,
        "each finish has its own message id, so deduplicating consumers keep both"
    );

    let (status, _) = worker.stop(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}");
}
