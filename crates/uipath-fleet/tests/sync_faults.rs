//! A sync of a **live** tenant through faults: three `uipath-fleet worker` processes read
//! jobs and queue items of a simulator whose records change several times a second,
//! window after window, while two of them are SIGKILLed mid-work (and replaced) and one
//! has its RabbitMQ connection cut by the broker. The coordinator (in the test process)
//! plans the windows; the records exchange is consumed from before anything runs.
//!
//! The check is the promise of README "What a sync delivers", against the simulator's
//! own state (its generators, in process), never the fleet's output: for every stream
//! (dataset × folder) with watermark `W`, every job and queue item whose state as of `W`
//! was created or changed in `[start, W)` arrived in that version **or a later one** of
//! the same key (a later state may have replaced it before its window was read: polling
//! cannot see states that lived only between two reads). Nothing foreign arrived: every
//! key is the simulator's, in its folder, in a version no newer than the tenant's at the
//! end and no older than the sync's start. Repeats are reported: the lookback re-reads
//! versions by design (other slices); a slice that publishes a record twice was
//! interrupted, at most a page per interrupted job.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::process::ExitStatusExt as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, Utc};
use common::*;
use fleet_core::ledger::StreamState;
use fleet_core::Ledger as _;
use fleet_worker::output::key_and_version;
use tokio_util::sync::CancellationToken;
use uipath_client::odata::Record;
use uipath_sim::config::{SimConfig, DEMO_ORG, DEMO_TENANT};
use uipath_sim::data::{entities, AsOf, EntityGen, TenantData};
use uipath_sim::server::wall_clock_ms;

const DATASETS: [&str; 2] = ["jobs", "queue-items"];
/// Jobs and queue items created per folder and day: with three transitions each, several
/// records change every second across the three folders.
const PER_DAY: f64 = 30_000.0;
/// Job slots per worker and records per API page: a slice of a window takes a few pages.
const SLOTS: u64 = 2;
const PAGE: u64 = 20;
/// Latency of every OData page, so that slices last long enough to be interrupted.
const PAGE_LATENCY_MS: u64 = 100;
/// The sync: every 10 s, settled 2 s, 30 s lookback, from three minutes back.
const EVERY_SECS: i64 = 10;
const START_BACK_SECS: i64 = 180;
const HOUR: i64 = 3_600_000;
/// How far after the sync's start the truth looks for changes: past the end of the run.
const HORIZON_MS: i64 = 10 * 60_000;

/// A live tenant: three folders from two days ago to tomorrow, dense jobs and queue
/// items, reference changes every 3 s, no rate limit.
fn live_config() -> SimConfig {
    let today = Utc::now().date_naive();
    let mut c = sim_config(1, PER_DAY);
    c.data.span_start = today - Days::new(2);
    c.data.span_end = today + Days::new(1);
    c.data.weekend_factor = 1.0;
    c.live.enabled = true;
    c.live.reference_change_secs = 3;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_sync_through_kills_and_a_cut_connection_delivers_every_change() {
    with_fleet("fleet-sync-faults", live_config(), |fleet| async move {
        sync_through_faults(&fleet).await
    })
    .await;
}

/// One stream of the sync: its ledger name, dataset and folder.
#[derive(Debug, Clone)]
struct Stream {
    name: String,
    dataset: &'static str,
    folder: &'static str,
}

async fn sync_through_faults(fleet: &Fleet) {
    let began = Instant::now();
    fleet.set_page_latency(PAGE_LATENCY_MS);
    let folders = fleet.sources.folders("acme").await.expect("folders");
    let streams: Vec<Stream> = DATASETS
        .iter()
        .flat_map(|&dataset| FOLDERS.iter().map(move |&folder| (dataset, folder)))
        .map(|(dataset, folder)| {
            let f = folders.iter().find(|f| f.path == folder).expect("folder");
            Stream {
                name: format!("acme/{dataset}/{}", f.key),
                dataset,
                folder,
            }
        })
        .collect();
    let config = fleet.write_config(&format!(
        "concurrency = {SLOTS}\npage_size = {PAGE}\noutput = \"record\"\ndrain_deadline_secs = 10"
    ));
    let name = |i: usize| format!("sf-{}-w{i}", std::process::id());
    let mut workers = Vec::new();
    for i in 0..3 {
        workers.push(fleet.spawn(&config, &name(i)).await);
    }

    // The sync, from a few minutes back, and the coordinator's leader planning it.
    let start_ms = (wall_clock_ms() / 1000 - START_BACK_SECS) * 1000;
    let start = DateTime::<Utc>::from_timestamp_millis(start_ms).unwrap();
    let body = serde_json::json!({"sources": ["acme"], "datasets": DATASETS,
        "every": format!("{EVERY_SECS}s"), "settle": "2s", "lookback": "30s",
        "start": start.to_rfc3339()});
    let (request, _) = fleet
        .coordinator
        .submit_sync(body.to_string().as_bytes())
        .await
        .expect("sync accepted");
    let id = request.id;
    let stop_leader = CancellationToken::new();
    let leader = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let coordinator = fleet.coordinator.clone();
        let stop = stop_leader.clone();
        tokio::spawn(async move { coordinator.run(listener, stop).await })
    };
    let http = reqwest::Client::new();
    // Meanwhile, off the runtime: the records of each stream that change from the start
    // to a horizon past the run's end (the generators answer future instants too).
    let tenant = fleet
        .sim
        .sim
        .tenant(DEMO_ORG, DEMO_TENANT)
        .expect("the demo tenant")
        .clone();
    let horizon = start_ms + HORIZON_MS;
    let changed = tokio::task::spawn_blocking({
        let (tenant, streams) = (tenant.clone(), streams.clone());
        move || {
            std::thread::scope(|scope| {
                let tasks: Vec<_> = streams
                    .iter()
                    .map(|s| {
                        let data = &tenant.data;
                        let part = data.folder_by_path(s.folder).expect("folder");
                        scope.spawn(move || {
                            (
                                s.name.clone(),
                                candidates(data, s.dataset, part, horizon, start_ms),
                            )
                        })
                    })
                    .collect();
                tasks
                    .into_iter()
                    .map(|t| t.join().expect("a stream's records"))
                    .collect::<HashMap<String, HashMap<String, u64>>>()
            })
        }
    });

    // The faults, each while a worker holds a job of a fresh window: SIGKILL and
    // replace in the first window, cut the broker connection two windows later, SIGKILL
    // and replace in the next.
    let faults_began = Instant::now();
    let mut before_faults: Option<BTreeMap<String, StreamState>> = None;
    let mut planned = states(fleet, &id, &streams).await;
    let mut kills = 0u64;
    let mut cuts = 0u64;
    for (n, (fault, windows)) in [("kill", 1), ("cut", 2), ("kill", 1)]
        .into_iter()
        .enumerate()
    {
        for _ in 0..windows {
            planned = next_window(fleet, &id, &streams, &planned).await;
        }
        let busy = busy_worker(&http, &workers, Duration::from_secs(20)).await;
        if before_faults.is_none() {
            before_faults = Some(states(fleet, &id, &streams).await);
        }
        match fault {
            "kill" => {
                let victim = workers.remove(busy);
                let victim_name = victim.name.clone();
                let status = victim.kill().await;
                assert_eq!(
                    status.signal(),
                    Some(9),
                    "{victim_name} SIGKILLed: {status:?}"
                );
                kills += 1;
                workers.push(fleet.spawn(&config, &name(3 + n)).await);
                eprintln!(
                    "{:>5.1}s: killed {victim_name} mid-work, replaced",
                    faults_began.elapsed().as_secs_f64()
                );
            }
            _ => {
                let who = workers[busy].name.clone();
                cut_connection(&format!("uipath-fleet worker {who}")).await;
                cuts += 1;
                eprintln!(
                    "{:>5.1}s: cut the broker connection of {who} mid-work; it reconnected",
                    faults_began.elapsed().as_secs_f64()
                );
            }
        }
    }
    let at_last = states(fleet, &id, &streams).await;
    // One more window after the last fault, completed, then no new windows.
    let after = next_window(fleet, &id, &streams, &planned).await;
    wait_for(
        "every stream's watermark past the window after the faults",
        Duration::from_secs(40),
        || async {
            let now = states(fleet, &id, &streams).await;
            let behind: Vec<String> = streams
                .iter()
                .filter(|s| now[&s.name].watermark < after[&s.name].planned_to)
                .map(|s| format!("{}: {:?}", s.name, now[&s.name]))
                .collect();
            behind.is_empty().then_some(()).ok_or(behind)
        },
    )
    .await;
    let fault_secs = faults_began.elapsed().as_secs_f64();
    stop_leader.cancel();
    leader
        .await
        .expect("the coordinator task")
        .expect("the coordinator ran");

    // Everything planned is read: each stream's watermark reaches its last window's end.
    let watermarks: BTreeMap<String, i64> = wait_for(
        "every planned window completed",
        Duration::from_secs(40),
        || async {
            let mut out = BTreeMap::new();
            let mut behind = Vec::new();
            for s in &streams {
                let w = fleet.ledger.advance_watermark(&id, &s.name).await.unwrap();
                let st = fleet.ledger.stream(&id, &s.name).await.unwrap();
                match (w, st.planned_to) {
                    (Some(w), Some(p)) if w == p => {
                        out.insert(s.name.clone(), w.timestamp_millis());
                    }
                    _ => behind.push(format!("{}: {st:?}", s.name)),
                }
            }
            behind.is_empty().then_some(out).ok_or(behind)
        },
    )
    .await;
    let p = fleet.ledger.progress(&id).await.unwrap();
    assert_eq!(p.failed, 0, "no slice failed: {p:?}");
    let slices = fleet.slices(&id).await;
    let restarted = slices.iter().filter(|s| s.attempts > 1).count();
    assert!(
        restarted >= 1,
        "no slice was started twice: the faults missed every running slice"
    );
    for w in workers {
        let name = w.name.clone();
        let (status, out) = w.stop(Duration::from_secs(30)).await;
        assert_eq!(status.code(), Some(0), "{name}: {status:?} {out}");
    }
    // No worker reads any more: the tenant as of now is later than every read.
    let end_ms = wall_clock_ms();
    let received = fleet.received_after_quiet(Duration::from_secs(2)).await;

    // The watermarks moved on through the faults: windows completed between the first
    // fault and the last, and from the first fault to the end.
    let before = before_faults.expect("faults injected");
    let passed = |s: &Stream, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>| {
        slices
            .iter()
            .filter(|x| x.stream.as_deref() == Some(s.name.as_str()))
            .filter_map(|x| x.to)
            .filter(|end| Some(*end) > from && Some(*end) <= to)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    let during = streams
        .iter()
        .map(|s| passed(s, before[&s.name].watermark, at_last[&s.name].watermark))
        .min()
        .unwrap_or(0);
    let windows_passed = streams
        .iter()
        .map(|s| {
            let w = DateTime::<Utc>::from_timestamp_millis(watermarks[&s.name]);
            passed(s, before[&s.name].watermark, w)
        })
        .min()
        .unwrap_or(0);
    assert!(
        during >= 2 && windows_passed >= 4,
        "the watermarks passed only {during} windows between the first fault and the last, \
         {windows_passed} in all: {before:?} → {at_last:?} → {watermarks:?}"
    );

    // The simulator's truth, and what arrived, per stream (streams in parallel).
    let truth_began = Instant::now();
    let changed = changed.await.expect("the changed records");
    assert!(end_ms <= horizon, "the run outlasted the truth's horizon");
    let data = &tenant.data;
    let got = latest_received(&received);
    let ids = &received.counts;
    let reports: Vec<StreamReport> = std::thread::scope(|scope| {
        let tasks: Vec<_> = streams
            .iter()
            .map(|s| {
                let mine = got.get(&(s.dataset, s.folder)).cloned().unwrap_or_default();
                let w = watermarks[&s.name];
                let changed = &changed[&s.name];
                let at = Instants {
                    start: start_ms,
                    w,
                    end: end_ms,
                };
                scope.spawn(move || check_stream(data, s, changed, at, &mine, ids))
            })
            .collect();
        tasks
            .into_iter()
            .map(|t| t.join().expect("a stream's check"))
            .collect()
    });
    let keys_received: usize = got.values().map(HashMap::len).sum();
    let checked_keys: usize = reports.iter().map(|r| r.received).sum();
    assert_eq!(
        checked_keys,
        keys_received,
        "records of other datasets or folders arrived: {:?}",
        got.keys().collect::<Vec<_>>()
    );
    let expected_total: usize = reports.iter().map(|r| r.expected).sum();
    let superseded: usize = reports.iter().map(|r| r.superseded).sum();
    let problems: Vec<&String> = reports.iter().flat_map(|r| &r.problems).collect();
    let span_secs = (watermarks.values().min().unwrap() - start_ms) as f64 / 1000.0;
    assert!(
        problems.is_empty(),
        "{} problems among {expected_total} expected versions and {keys_received} keys received, e.g.:\n{}",
        problems.len(),
        problems[..problems.len().min(15)]
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        expected_total as f64 >= span_secs,
        "only {expected_total} changes in {span_secs} s: the tenant is not live enough to test"
    );
    let truth_secs = truth_began.elapsed().as_secs_f64();
    let other_id: Vec<&String> = reports.iter().flat_map(|r| &r.other_id).collect();
    assert!(
        other_id.is_empty(),
        "{} versions arrived with the expected order under another record id: {other_id:?}",
        other_id.len()
    );

    // A job run that ends without completing repeats at most the page it published but
    // had not checkpointed; a cut connection may also repeat the publishes in flight of
    // each of its jobs.
    let reclaims: u64 = slices
        .iter()
        .map(|s| u64::from(s.attempts.saturating_sub(1)))
        .sum();
    let bound = (reclaims + cuts * SLOTS) * PAGE;
    let repeated = received.repeated_within_slices();
    assert!(
        repeated <= bound,
        "{repeated} records published twice by one slice; bound {bound} \
         ((re-claims {reclaims} + cuts × slots) × page)"
    );
    eprintln!(
        "sync faults: {expected_total} versions expected over {} streams, all delivered \
         ({superseded} in a later version), \
         {:.1} changes/s; \
         {} messages, {} distinct records, {keys_received} keys; duplicates {} (lookback) + \
         {repeated} repeated by interrupted slices (bound {bound}); {kills} kills, {cuts} cut; \
         {restarted} slices restarted; watermarks passed {during} windows between the first \
         fault and the last, {windows_passed} until the end ({fault_secs:.1}s); truth in {truth_secs:.1}s; {:.1}s in all",
        streams.len(),
        expected_total as f64 / span_secs,
        received.messages,
        received.counts.len(),
        received.duplicates() - repeated,
        began.elapsed().as_secs_f64()
    );
}

/// Every stream's planning state.
async fn states(fleet: &Fleet, id: &str, streams: &[Stream]) -> BTreeMap<String, StreamState> {
    let mut out = BTreeMap::new();
    for s in streams {
        out.insert(
            s.name.clone(),
            fleet.ledger.stream(id, &s.name).await.unwrap(),
        );
    }
    out
}

/// Waits until every stream has planned a window past `previous`; the states then.
async fn next_window(
    fleet: &Fleet,
    id: &str,
    streams: &[Stream],
    previous: &BTreeMap<String, StreamState>,
) -> BTreeMap<String, StreamState> {
    wait_for(
        "the next window of every stream",
        Duration::from_secs(3 * EVERY_SECS as u64),
        || async {
            let now = states(fleet, id, streams).await;
            let all = streams.iter().all(|s| {
                now[&s.name].planned_to.is_some()
                    && now[&s.name].planned_to > previous[&s.name].planned_to
            });
            all.then_some(now).ok_or("not planned yet")
        },
    )
    .await
}

/// Polls `check` every 100 ms until it returns `Ok`, failing after `deadline` with the
/// last `Err`.
async fn wait_for<T, E: std::fmt::Debug, F, Fut>(what: &str, deadline: Duration, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let began = Instant::now();
    loop {
        match check().await {
            Ok(v) => return v,
            Err(e) => assert!(
                began.elapsed() < deadline,
                "{what}: not reached after {deadline:?}: {e:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The index of a worker that holds a job now (its `jobs_in_flight` gauge).
async fn busy_worker(
    http: &reqwest::Client,
    workers: &[WorkerProcess],
    deadline: Duration,
) -> usize {
    let began = Instant::now();
    loop {
        for (i, w) in workers.iter().enumerate() {
            let Ok(resp) = http.get(format!("{}/metrics", w.health)).send().await else {
                continue;
            };
            let text = resp.text().await.unwrap_or_default();
            let busy = text
                .lines()
                .find(|l| l.starts_with("uipath_fleet_worker_jobs_in_flight"))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v > 0.0);
            if busy {
                return i;
            }
        }
        assert!(
            began.elapsed() < deadline,
            "no worker held a job for {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `rabbitmqctl args` off the runtime's threads.
async fn rabbitmqctl(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("rabbitmqctl")
            .args(&args)
            .output()
            .expect("run rabbitmqctl (this test needs it on PATH, as root)")
    })
    .await
    .expect("rabbitmqctl task")
}

/// Broker-side pids of the connections named `name`.
async fn connection_pids(name: &str) -> Vec<String> {
    let out = rabbitmqctl(&["list_connections", "pid", "client_properties", "--silent"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    let needle = format!("{{\"connection_name\",\"{name}\"}}");
    text.lines()
        .filter(|l| l.contains(&needle))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Closes the connection named `name` from the broker's side and waits until its
/// process has connected again (a new connection under the same name).
async fn cut_connection(name: &str) {
    let before = connection_pids(name).await;
    assert_eq!(before.len(), 1, "one connection named {name}: {before:?}");
    let out = rabbitmqctl(&["close_connection", &before[0], "chaos"]).await;
    assert!(
        out.status.success(),
        "rabbitmqctl close_connection: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(
        "the worker connected again",
        Duration::from_secs(30),
        || async {
            let now = connection_pids(name).await;
            (!now.is_empty() && !now.contains(&before[0]))
                .then_some(())
                .ok_or(now)
        },
    )
    .await;
}

/// One version of a record, as the ground truth knows it.
#[derive(Debug, Clone)]
struct Version {
    /// `order` as the fleet computes it (`fleet_core::wire::order_value`).
    order: String,
    /// The instant of the change that made this version (Unix ms).
    at: i64,
    /// The record id the fleet gives it (`record_id` of `key_and_version`).
    id: String,
}

/// What one stream's check found.
#[derive(Debug, Default)]
struct StreamReport {
    /// Versions the passed windows must have delivered.
    expected: usize,
    /// Of those, delivered in a later version.
    superseded: usize,
    /// Keys received.
    received: usize,
    /// Versions delivered with the expected order under another record id.
    other_id: Vec<String>,
    /// Jobs whose version as of W was replaced after W, before its window was read.
    problems: Vec<String>,
}

/// The instants a stream is checked at (Unix ms): the sync's start, the stream's
/// watermark, and a time after every read.
#[derive(Debug, Clone, Copy)]
struct Instants {
    start: i64,
    w: i64,
    end: i64,
}

/// Checks one stream: every record whose state as of `w` changed in `[start, w)` arrived
/// in that version (under its record id) or a later one; every key that arrived (`mine`:
/// key → greatest order) is the tenant's, in a version read after the start and not
/// newer than at `end`. `changed`: the stream's records that changed from `start` to a
/// time after `end` ([`candidates`]); `ids`: every record id received.
fn check_stream(
    data: &TenantData,
    s: &Stream,
    changed: &HashMap<String, u64>,
    Instants { start, w, end }: Instants,
    mine: &HashMap<String, String>,
    ids: &HashMap<String, u32>,
) -> StreamReport {
    let part = data.folder_by_path(s.folder).expect("folder");
    let mut report = StreamReport {
        received: mine.len(),
        ..StreamReport::default()
    };
    let view_w = data.as_of(w);
    let view_end = data.as_of(end);
    for (key, &index) in changed {
        if !exists(&view_w, s.dataset, part, index) {
            continue; // created after W
        }
        let v = version(&view_w, s.dataset, part, index);
        if v.at < start || v.at >= w {
            continue; // not changed in a passed window
        }
        report.expected += 1;
        match mine.get(key) {
            Some(o) if *o == v.order => {
                if !ids.contains_key(&v.id) {
                    report
                        .other_id
                        .push(format!("{} {} key {key} order {o}", s.dataset, s.folder));
                }
            }
            Some(o) if *o > v.order => report.superseded += 1,
            seen => {
                let now = version(&view_end, s.dataset, part, index);
                // Jobs are read by every change since their window's start up to the read,
                // queue items in their state at the read: either way the version as of W
                // or a later one must be there.
                report.problems.push(format!(
                    "{} {} key {key}: expected order {} (as of W = {}), got {seen:?}; at the end {}",
                    s.dataset,
                    s.folder,
                    v.order,
                    iso(w),
                    now.order
                ));
            }
        }
    }
    for (key, order) in mine {
        let Some(&index) = changed
            .get(key)
            .filter(|&&i| exists(&view_end, s.dataset, part, i))
        else {
            report.problems.push(format!(
                "{} {} key {key} (order {order}): not a record of the folder that changed since the start",
                s.dataset, s.folder
            ));
            continue;
        };
        let now = version(&view_end, s.dataset, part, index);
        if *order > now.order {
            report.problems.push(format!(
                "{} {} key {key}: order {order} newer than the tenant's {} at the end",
                s.dataset, s.folder, now.order
            ));
        }
        if order_ms(s.dataset, order) < start {
            report.problems.push(format!(
                "{} {} key {key}: order {order} is before the sync's start {}",
                s.dataset,
                s.folder,
                iso(start)
            ));
        }
    }
    report
}

/// The records of `dataset` in folder `part` that changed in `[since, at]`, key → index
/// (some of them again later): the jobs whose latest change as of `at` is at or after
/// `since`, among those created since a day before `since` (every later time of a job
/// lies within a day of its creation), and the queue items with an event in `[since, at]`
/// (the simulator derives items and events from one list of transitions, one event per
/// change, so every change of an item is an event). `at` may lie in the future: the
/// generators answer any instant.
fn candidates(
    data: &TenantData,
    dataset: &str,
    part: usize,
    at: i64,
    since: i64,
) -> HashMap<String, u64> {
    let view = data.as_of(at);
    let mut out = HashMap::new();
    if dataset == "jobs" {
        let g = entities::by_name("Jobs").expect("jobs");
        for i in (0..g.len(&view, part)).rev() {
            if g.time_at(&view, part, i) < since - 25 * HOUR {
                break; // generated in creation order
            }
            if version(&view, dataset, part, i).at >= since {
                out.insert(g.id_at(&view, part, i).to_string(), i);
            }
        }
        return out;
    }
    let items = entities::by_name("QueueItems").expect("queue items");
    let events = entities::by_name("QueueItemEvents").expect("queue item events");
    let n = items.len(&view, part);
    let slots = events.len(&view, part) / n.max(1);
    for i in (0..events.len(&view, part)).rev() {
        // An item starts at most 18 h after its creation, is abandoned a day after.
        if events.time_at(&view, part, i) < since - 49 * HOUR {
            break;
        }
        if !events.exists(&view, part, i) {
            continue;
        }
        let t = events.lagged_key(&view, part, i).expect("an event's time");
        if since <= t && t <= at {
            let item = i / slots;
            out.insert(items.id_at(&view, part, item).to_string(), item);
        }
    }
    out
}

/// Whether record `index` of `dataset` in folder `part` exists as of `view`.
fn exists(view: &AsOf<'_>, dataset: &str, part: usize, index: u64) -> bool {
    let g = entities::by_name(if dataset == "jobs" {
        "Jobs"
    } else {
        "QueueItems"
    })
    .expect("a generated set");
    index < g.len(view, part) && g.exists(view, part, index)
}

/// Record `index` of `dataset` in folder `part` as of `view`.
fn version(view: &AsOf<'_>, dataset: &str, part: usize, index: u64) -> Version {
    let entity = if dataset == "jobs" {
        "Jobs"
    } else {
        "QueueItems"
    };
    let g = entities::by_name(entity).expect("a generated set");
    let record = record_of(g, &g.row(view, part, index));
    let fetched = DateTime::<Utc>::from_timestamp_millis(view.now_ms()).unwrap();
    let order = fleet_core::wire::order_value(dataset, &record, fetched)
        .expect("the record has its order field");
    let at = order_ms(dataset, &order);
    assert!(
        at <= view.now_ms(),
        "{dataset} {order} after {}",
        view.now_ms()
    );
    let (key, v) = key_and_version(&record);
    assert_eq!(key, record["Id"].to_string(), "the key is the Id");
    let id = fleet_core::wire::record_id("acme", dataset, &key, &v);
    Version { order, at, id }
}

/// The row as the API serves it.
fn record_of(g: &dyn EntityGen, row: &uipath_sim::value::Row) -> Record {
    let mut out = Vec::new();
    uipath_sim::value::write_row(&mut out, g.def().schema, row, None);
    serde_json::from_slice(&out).expect("a JSON object")
}

/// The instant of the change an `order` names: a time for jobs, a row version (whose
/// high bits are the change's Unix ms in the simulator) for queue items.
fn order_ms(dataset: &str, order: &str) -> i64 {
    if dataset == "queue-items" {
        (u64::from_str_radix(order, 16).expect("16 hex digits") >> 22) as i64
    } else {
        fleet_core::wire::parse_time(order)
            .expect("an order time")
            .timestamp_millis()
    }
}

/// The greatest `order` received per (dataset, folder) and key, upserts only.
fn latest_received(
    received: &Received,
) -> HashMap<(&'static str, &'static str), HashMap<String, String>> {
    let mut out: HashMap<(&'static str, &'static str), HashMap<String, String>> = HashMap::new();
    for a in received.records.values() {
        assert_eq!(
            a.op,
            fleet_core::wire::Op::Upsert,
            "jobs and queue items never send deletes"
        );
        let dataset = DATASETS
            .iter()
            .copied()
            .find(|d| *d == a.dataset)
            .unwrap_or_else(|| panic!("a record of dataset {}", a.dataset));
        let folder = FOLDERS
            .iter()
            .copied()
            .find(|f| Some(*f) == a.folder.as_deref())
            .unwrap_or_else(|| panic!("a record of folder {:?}", a.folder));
        let key = a.key.clone().expect("version 2 names the key");
        let order = a
            .order
            .clone()
            .expect("every job and queue item has its order");
        let slot = out
            .entry((dataset, folder))
            .or_default()
            .entry(key)
            .or_default();
        if order > *slot {
            *slot = order;
        }
    }
    out
}

fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339()
}
