//! Change capture on the real binary: `uipath-fleet run --config F` (embedded, no
//! `--until-done`: a sync never ends) against an in-process **live** simulator, whose
//! jobs and queue items move through their states in wall-clock time and whose reference
//! sets change every few seconds. What the file sink wrote is compared with the
//! simulator's ground truth computed in-process (`TenantData::as_of`, the generators,
//! `reference_changes`, `live::state`), never with the fleet's own output.
//!
//! The simulator's live changes are a pure function of (seed, cadence, time): before a run
//! the test picks the seed so that a machine is removed inside the run (late in a UTC day
//! most machines of a small tenant are gone already, so the tenant has many machines and
//! the seed is chosen, not hoped for), and it knows in advance which jobs, queue items,
//! robots and machines change while the fleet runs.

#[path = "common/embedded.rs"]
mod embedded;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, Utc};
use embedded::{fleet_command, scratch, source_toml, tail};
use fleet_testkit::fleet_toml::{write_embedded, Embedded};
use serde_json::{json, Value};
use uipath_sim::config::{SimConfig, DEMO_ORG, DEMO_TENANT, DEMO_USER};
use uipath_sim::data::entities;
use uipath_sim::data::live::{reference_changes, RefChange, RefChangeKind};
use uipath_sim::data::{EntityGen, TenantData};
use uipath_sim::faults::FaultConfig;
use uipath_sim::identity::config::PatConfig;
use uipath_sim::server::{wall_clock_ms, RunningSim, Tenant};
use uipath_sim::value::{Row, Val};

const FOLDERS: [&str; 2] = ["Finance", "HR"];
/// Jobs and queue items created per folder and day: several end every second.
const PER_DAY: f64 = 30_000.0;
/// Machines in the tenant: enough that some are still there to be removed late in the
/// UTC day (the live changes start at midnight, one every [`CHANGE_SECS`]).
const MACHINES: u32 = 3_000;
const CHANGE_SECS: u64 = 3;
/// The sync's cadence (`every`, `settle`; `lookback` is 30 s).
const EVERY_SECS: i64 = 10;
const SETTLE_SECS: i64 = 2;
/// The time a window's read may take on top of `every` + `settle`, on a shared machine.
const READ_SLACK_MS: i64 = 8_000;
/// A personal access token of the demo user with the Data Service scopes.
const PAT: &str = "pat-sync-test-7f3a1c";
const ENTITY: &str = "Invoice";
const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;

/// A live tenant: two folders from two days ago to tomorrow, no rate limit, the demo
/// user's token for Data Service, reference changes every [`CHANGE_SECS`].
fn live_config(seed: u64) -> SimConfig {
    let mut c = SimConfig::default();
    let today = Utc::now().date_naive();
    c.rate_limit.requests = 0;
    c.data.seed = seed;
    c.data.span_start = today - Days::new(2);
    c.data.span_end = today + Days::new(1);
    c.data.folders = FOLDERS.map(String::from).to_vec();
    c.data.extra_folders = 0;
    c.data.weekend_factor = 1.0;
    c.data.jobs_per_day = PER_DAY;
    c.data.queue_items_per_day = PER_DAY;
    c.data.machines = MACHINES;
    c.live.enabled = true;
    c.live.reference_change_secs = CHANGE_SECS;
    c.identity.personal_access_tokens = vec![PatConfig {
        token: PAT.into(),
        user: DEMO_USER.into(),
        org: DEMO_ORG.into(),
        scopes: [
            "DataService.Schema.Read",
            "DataService.Data.Read",
            "DataService.Data.Write",
        ]
        .map(String::from)
        .to_vec(),
        expires_in_secs: None,
    }];
    c
}

fn tenant(sim: &RunningSim) -> &Arc<Tenant> {
    sim.sim
        .tenant(DEMO_ORG, DEMO_TENANT)
        .expect("the demo tenant")
}

/// Starts a live simulator for which `wanted` holds (its changes are known in advance),
/// trying seeds in turn.
async fn live_sim_where(what: &str, wanted: impl Fn(&TenantData) -> bool) -> RunningSim {
    let started = Instant::now();
    for seed in 1..=200u64 {
        let sim = RunningSim::start(live_config(seed))
            .await
            .expect("simulator starts");
        if wanted(&tenant(&sim).data) {
            eprintln!("seed {seed} has {what} (found in {:?})", started.elapsed());
            return sim;
        }
        sim.stop().await;
    }
    panic!("no seed of 1..=200 has {what}");
}

/// Whether `data` has a change of each of `kinds` with `from <= at < to` (Unix ms).
fn has_changes(data: &TenantData, kinds: &[RefChangeKind], from: i64, to: i64) -> bool {
    let changes = reference_changes(data, from, to);
    kinds.iter().all(|k| changes.iter().any(|c| c.kind == *k))
}

/// The configuration: `sources` (TOML), budgets far above what the test sends, the
/// embedded fleet's state and output under `dir`, and `syncs`.
fn write_config(dir: &Path, sources: &str, syncs: &str) -> PathBuf {
    let fleet = Embedded {
        workers: 2,
        concurrency: 4,
        page_size: 250,
    };
    write_embedded(dir, sources, fleet, syncs)
}

/// A `[[syncs]]` table: `datasets` of `source` every 10 s, settled 2 s, 30 s lookback,
/// from `start`.
fn sync_toml(source: &str, datasets: &[&str], start: DateTime<Utc>) -> String {
    format!(
        "[[syncs]]\nsources = [\"{source}\"]\ndatasets = {datasets:?}\nevery = \"{EVERY_SECS}s\"\nsettle = \"{SETTLE_SECS}s\"\nlookback = \"30s\"\nstart = \"{}\"\n\n",
        start.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// `uipath-fleet run --config F` running, its stdout and stderr in files.
struct Fleet {
    child: tokio::process::Child,
    dir: PathBuf,
    out: PathBuf,
}

impl Fleet {
    fn start(dir: &Path, config: &Path) -> Fleet {
        let mut command = fleet_command(&["run", "--config", config.to_str().unwrap()]);
        command
            .stdout(Stdio::from(
                std::fs::File::create(dir.join("stdout.log")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stderr.log")).unwrap(),
            ));
        Fleet {
            child: command.spawn().expect("spawn uipath-fleet run"),
            dir: dir.to_owned(),
            out: dir.join("out"),
        }
    }

    /// The end of stdout and stderr, for failure messages.
    fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!(
            "--- stdout\n{}\n--- stderr (last 6000 bytes)\n{}",
            tail(&read("stdout.log"), 2000),
            tail(&read("stderr.log"), 6000)
        )
    }

    /// Panics (with the logs) if the run has ended.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "uipath-fleet run ended on its own: {status:?}\n{}",
                self.logs()
            );
        }
    }

    /// Polls `done` every 200 ms until it returns `Ok`, failing after `deadline` with the
    /// last `Err` (what is missing) and the logs.
    async fn wait_for<T>(
        &mut self,
        what: &str,
        deadline: Duration,
        mut done: impl FnMut(&Path) -> Result<T, String>,
    ) -> T {
        let started = Instant::now();
        loop {
            self.assert_running();
            match done(&self.out) {
                Ok(v) => return v,
                Err(missing) if started.elapsed() > deadline => {
                    panic!(
                        "{what}: not there after {deadline:?}: {missing}\n{}",
                        self.logs()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// SIGTERM, then exit 0 within 30 s (the workers drain).
    async fn stop(mut self) -> String {
        self.assert_running();
        let pid = self.child.id().expect("a running child has a pid");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -TERM {pid}");
        let status = match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => status.expect("wait for uipath-fleet"),
            Err(_) => panic!("no exit 30 s after SIGTERM\n{}", self.logs()),
        };
        assert!(
            status.success(),
            "exit after SIGTERM: {status:?}\n{}",
            self.logs()
        );
        self.logs()
    }
}

/// One line of the sink's files.
#[derive(Debug, Clone)]
struct Line {
    op: String,
    key: String,
    fetched_at: i64,
    record: Value,
}

impl Line {
    fn field(&self, name: &str) -> &Value {
        &self.record[name]
    }
    fn time(&self, name: &str) -> Option<i64> {
        time_ms(self.field(name))
    }
}

fn time_ms(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(fleet_core::wire::parse_time)
        .map(|t| t.timestamp_millis())
}

/// Every line of `<out>/<source>/<dataset>/*.ndjson`. While the run writes, a line being
/// written may be incomplete: `strict = false` skips lines that do not parse.
fn lines(out: &Path, source: &str, dataset: &str, strict: bool) -> Vec<Line> {
    let folder = out.join(source).join(dataset);
    let mut all = Vec::new();
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return all;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("ndjson") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines() {
            let v: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) if strict => panic!("{}: not JSON ({e}): {line}", path.display()),
                Err(_) => continue,
            };
            let op = v["op"].as_str().unwrap_or_default().to_owned();
            assert!(
                op == "upsert" || op == "delete",
                "{}: op in {line}",
                path.display()
            );
            all.push(Line {
                op,
                key: v["key"].as_str().expect("a line has a key").to_owned(),
                fetched_at: time_ms(&v["fetched_at"]).expect("a line has fetched_at"),
                record: v.get("record").cloned().unwrap_or(Value::Null),
            });
        }
    }
    all
}

/// A job or queue item that ended: its key, final state and end time.
#[derive(Debug, Clone, PartialEq)]
struct Ended {
    folder: &'static str,
    key: String,
    state: String,
    end: i64,
}

fn val(g: &dyn EntityGen, row: &Row, name: &str) -> Val {
    row.get(g.def().schema.index_of(name).expect("a field of the set"))
        .clone()
}

/// Every `entity` record (Jobs or QueueItems) created at or before `created_by` whose
/// `end_field` lies in `(from, to]`, with its `state_field` as of `to`, in every folder.
fn ended(
    data: &TenantData,
    entity: &str,
    state_field: &str,
    end_field: &str,
    created_by: i64,
    (from, to): (i64, i64),
) -> Vec<Ended> {
    let g = entities::by_name(entity).expect("a generated set");
    let view = data.as_of(to);
    let mut out = Vec::new();
    for folder in FOLDERS {
        let part = data.folder_by_path(folder).expect("the folder exists");
        // Records are generated in creation order, and nothing lives longer than a day.
        for i in (0..g.len(&view, part)).rev() {
            if !g.exists(&view, part, i) {
                continue;
            }
            let row = g.row(&view, part, i);
            let created = val(g, &row, "CreationTime").as_datetime().unwrap();
            if created < to - 25 * 60 * MINUTE {
                break;
            }
            if created > created_by {
                continue;
            }
            let Some(end) = val(g, &row, end_field).as_datetime() else {
                continue;
            };
            if from < end && end <= to {
                out.push(Ended {
                    folder,
                    key: val(g, &row, "Id").as_i64().unwrap().to_string(),
                    state: val(g, &row, state_field).as_str().unwrap().to_owned(),
                    end,
                });
            }
        }
    }
    out
}

/// The expected versions of `expected` not among `got` (matched on key, the state field
/// and the time field); empty when every one arrived.
fn missing_ended(
    expected: &[Ended],
    got: &[Line],
    state_field: &str,
    time_field: &str,
) -> Vec<String> {
    expected
        .iter()
        .filter(|e| {
            !got.iter().any(|l| {
                l.op == "upsert"
                    && l.key == e.key
                    && l.field(state_field).as_str() == Some(e.state.as_str())
                    && l.time(time_field) == Some(e.end)
            })
        })
        .map(|e| {
            let seen: Vec<String> = got
                .iter()
                .filter(|l| l.key == e.key)
                .map(|l| format!("{} at {:?}", l.field(state_field), l.field(time_field)))
                .collect();
            format!(
                "{} {} (expected {} at {}; found {seen:?})",
                e.folder,
                e.key,
                e.state,
                iso(e.end)
            )
        })
        .collect()
}

fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339()
}

/// The machines that exist as of `at`, by key.
fn machines_at(data: &TenantData, at: i64) -> HashSet<String> {
    uipath_sim::data::live::state(data, at)
        .machines(data)
        .map(|(_, m)| m.id.to_string())
        .collect()
}

/// `Ok` once the machines' files hold an upsert of every machine the simulator has now
/// (but those removed since the first snapshot was read).
fn first_snapshot(data: &TenantData, out: &Path) -> Result<(), String> {
    let got: HashSet<String> = lines(out, "acme", "machines", false)
        .into_iter()
        .filter(|l| l.op == "upsert")
        .map(|l| l.key)
        .collect();
    let now = wall_clock_ms();
    let missing = machines_at(data, now)
        .into_iter()
        .filter(|k| !got.contains(k))
        .count();
    if missing == 0 {
        Ok(())
    } else {
        Err(format!(
            "{missing} machines of the first snapshot not written yet"
        ))
    }
}

/// Tombstones for machines the ground truth still has: at the end (`stop`), or at the
/// instant the tombstone was read.
fn false_tombstones(data: &TenantData, machines: &[Line], stop: i64) -> Vec<String> {
    let at_stop = machines_at(data, stop);
    machines
        .iter()
        .filter(|l| l.op == "delete")
        .filter(|l| at_stop.contains(&l.key) || machines_at(data, l.fetched_at).contains(&l.key))
        .map(|l| format!("machine {} deleted at {}", l.key, iso(l.fetched_at)))
        .collect()
}

fn ds_url(sim: &RunningSim, path: &str) -> String {
    format!(
        "{}/{DEMO_ORG}/{DEMO_TENANT}/dataservice_/api/EntityService/{ENTITY}/{path}",
        sim.base_url()
    )
}

/// Updates an Invoice last changed more than a day ago: returns (Id, Amount, UpdateTime).
async fn update_old_invoice(sim: &RunningSim, before: i64) -> (String, f64, i64) {
    let http = reqwest::Client::new();
    let page: Value = http
        .get(ds_url(sim, "read"))
        .bearer_auth(PAT)
        .query(&[("limit", "200")])
        .send()
        .await
        .expect("Data Service read")
        .error_for_status()
        .expect("Data Service read succeeds")
        .json()
        .await
        .unwrap();
    let old = page["Value"]
        .as_array()
        .expect("a page of records")
        .iter()
        .find(|r| time_ms(&r["UpdateTime"]).is_some_and(|t| t < before))
        .unwrap_or_else(|| panic!("an Invoice updated before {}: {page}", iso(before)))
        .clone();
    let id = old["Id"].as_str().unwrap().to_owned();
    let amount = 4242.25;
    assert_ne!(old["Amount"].as_f64(), Some(amount));
    let updated: Value = http
        .post(ds_url(sim, &format!("update/{id}")))
        .bearer_auth(PAT)
        .json(&json!({"Amount": amount}))
        .send()
        .await
        .expect("Data Service update")
        .error_for_status()
        .expect("Data Service update succeeds")
        .json()
        .await
        .unwrap();
    let at = time_ms(&updated["UpdateTime"]).expect("the updated record's UpdateTime");
    assert!(at > before, "{updated}");
    (id, amount, at)
}

/// Tests 1, 2, 3 and 5 in one run: jobs, queue items, robots and machines of `acme`
/// (client credentials) and `dataservice/Invoice` of `acme-ds` (the demo user's personal
/// access token), synced every 10 s from a start five minutes back.
///
/// * A job, and a queue item, created at least ten minutes before the sync's start and
///   ending while the fleet runs (after its first window was read) reaches the files in
///   its final state: `State` with `LastModificationTime` = `EndTime`; `Status` with
///   `EndProcessing` (queue items come through the `QueueItemEvents` feed).
/// * A robot renamed while the fleet runs arrives with its new `Name`.
/// * A machine removed while the fleet runs (after its first snapshot) arrives as a
///   tombstone (`op = "delete"`, its key); no machine the simulator still has is ever
///   tombstoned.
/// * An Invoice last updated days ago and updated through the Data Service API while the
///   fleet runs arrives with the new `Amount` and `UpdateTime`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_delivers_ends_renames_removals_and_data_service_updates() {
    let dir = scratch("sync-changes");
    let now = wall_clock_ms();
    let start = now - 5 * MINUTE;
    // Between 20 and 32 s from now (after the first windows, early in the run), a machine
    // is removed, a robot renamed, and a job and a queue item of long ago end.
    let (from, to) = (now + 20 * SECOND, now + 32 * SECOND);
    let sim = live_sim_where("a removal, a rename and long-lived ends", |data| {
        has_changes(
            data,
            &[RefChangeKind::MachineRemoved, RefChangeKind::RobotRenamed],
            from,
            to,
        ) && !ended(
            data,
            "Jobs",
            "State",
            "EndTime",
            start - 10 * MINUTE,
            (from, to),
        )
        .is_empty()
            && !ended(
                data,
                "QueueItems",
                "Status",
                "EndProcessing",
                start - 10 * MINUTE,
                (from, to),
            )
            .is_empty()
    })
    .await;
    let mut sources = source_toml(&sim, "acme");
    sources.push_str(&format!(
        "\n[[sources]]\nname = \"acme-ds\"\ndeployment = {{ kind = \"cloud\", base_url = \"{}\", organization = \"{DEMO_ORG}\", tenant = \"{DEMO_TENANT}\" }}\nauth = {{ method = \"personal-access-token\", token = \"{PAT}\" }}\ntimeout_secs = 10\n",
        sim.base_url()
    ));
    let start_at = DateTime::<Utc>::from_timestamp_millis(start).unwrap();
    let syncs = format!(
        "{}{}",
        sync_toml(
            "acme",
            &["jobs", "queue-items", "robots", "machines"],
            start_at
        ),
        sync_toml("acme-ds", &[&format!("dataservice/{ENTITY}")], start_at)
    );
    let config = write_config(&dir, &sources, &syncs);
    let launched = Instant::now();
    let mut fleet = Fleet::start(&dir, &config);

    // The first windows read: lines of every Orchestrator dataset, and the whole first
    // snapshot of the machines (every machine, as an upsert).
    let data = &tenant(&sim).data;
    fleet
        .wait_for("the first windows", Duration::from_secs(40), |out| {
            let empty: Vec<&str> = ["jobs", "queue-items", "robots"]
                .into_iter()
                .filter(|ds| lines(out, "acme", ds, false).is_empty())
                .collect();
            first_snapshot(data, out)?;
            if empty.is_empty() {
                Ok(())
            } else {
                Err(format!("no lines yet for {empty:?}"))
            }
        })
        .await;
    let first = wall_clock_ms();

    // The Data Service change, after the first windows.
    let (invoice, amount, updated_at) = update_old_invoice(&sim, start - 24 * 60 * MINUTE).await;

    // What changes from now to `until` is known now: the ground truth as of `until`. The
    // seed has each change between `from` and `to`; should the first windows come later
    // than `from` (a loaded machine), the run goes on to the next change of each kind.
    let created_by = start - 10 * MINUTE;
    let horizon = (first + 20 * SECOND).max(to) + MINUTE;
    let next_end = |entity: &str, state: &str, end: &str| {
        ended(data, entity, state, end, created_by, (first, horizon))
            .iter()
            .map(|e| e.end)
            .min()
            .unwrap_or_else(|| panic!("no long-lived {entity} ends before {}", iso(horizon)))
    };
    let next_change = |kind: RefChangeKind| {
        reference_changes(data, first + SECOND, horizon)
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| c.at)
            .unwrap_or_else(|| panic!("no {kind:?} before {}", iso(horizon)))
    };
    let until = [
        first + 20 * SECOND,
        to,
        next_end("Jobs", "State", "EndTime"),
        next_end("QueueItems", "Status", "EndProcessing"),
        next_change(RefChangeKind::RobotRenamed),
        next_change(RefChangeKind::MachineRemoved),
    ]
    .into_iter()
    .max()
    .unwrap();
    let jobs = ended(data, "Jobs", "State", "EndTime", created_by, (first, until));
    let items = ended(
        data,
        "QueueItems",
        "Status",
        "EndProcessing",
        created_by,
        (first, until),
    );
    let changes = reference_changes(data, first + SECOND, until + 1);
    let renamed: Vec<&RefChange> = changes
        .iter()
        .filter(|c| c.kind == RefChangeKind::RobotRenamed)
        .collect();
    let removed: Vec<&RefChange> = changes
        .iter()
        .filter(|c| c.kind == RefChangeKind::MachineRemoved)
        .collect();
    eprintln!(
        "first windows after {:?}; until {}: {} jobs, {} queue items ended, {} robots renamed, {} machines removed",
        launched.elapsed(),
        iso(until),
        jobs.len(),
        items.len(),
        renamed.len(),
        removed.len()
    );
    assert!(!jobs.is_empty(), "a long-lived job ends in the run");
    assert!(!items.is_empty(), "a long-lived queue item ends in the run");
    assert!(!renamed.is_empty(), "a robot is renamed in the run");
    assert!(
        !removed.is_empty(),
        "a machine is removed after the first snapshot ({}), before {}: the run started late",
        iso(first),
        iso(until)
    );

    // Everything arrives within one `every` + `settle` (+ the read) after `until`.
    let deadline = Duration::from_millis(
        (until - wall_clock_ms()).max(0) as u64 + ((EVERY_SECS + SETTLE_SECS) * SECOND) as u64,
    ) + Duration::from_secs(15);
    let missing = |out: &Path| -> Vec<String> {
        let mut missing = Vec::new();
        let got = lines(out, "acme", "jobs", false);
        missing.extend(
            missing_ended(&jobs, &got, "State", "LastModificationTime")
                .into_iter()
                .map(|m| format!("job {m}")),
        );
        missing.extend(
            missing_ended(&jobs, &got, "State", "EndTime")
                .into_iter()
                .map(|m| format!("job (EndTime) {m}")),
        );
        let got = lines(out, "acme", "queue-items", false);
        missing.extend(
            missing_ended(&items, &got, "Status", "EndProcessing")
                .into_iter()
                .map(|m| format!("queue item {m}")),
        );
        let got = lines(out, "acme", "robots", false);
        for c in &renamed {
            let key = c.id.to_string();
            // The version of the rename, or of a later rename of the same robot (one the
            // window's read already saw).
            let later = reference_changes(data, c.at + 1, wall_clock_ms() + 1);
            let arrived = got.iter().any(|l| {
                l.key == key
                    && (l.field("Name") == &c.value
                        || later.iter().any(|later| {
                            later.kind == RefChangeKind::RobotRenamed
                                && later.id == c.id
                                && l.field("Name") == &later.value
                        }))
            });
            if !arrived {
                let seen: Vec<&Value> = got
                    .iter()
                    .filter(|l| l.key == key)
                    .map(|l| l.field("Name"))
                    .collect();
                missing.push(format!(
                    "robot {key} renamed {} at {} (found names {seen:?})",
                    c.value,
                    iso(c.at)
                ));
            }
        }
        let got = lines(out, "acme", "machines", false);
        for c in &removed {
            let key = c.id.to_string();
            if !got.iter().any(|l| l.op == "delete" && l.key == key) {
                missing.push(format!(
                    "tombstone of machine {key} removed at {}",
                    iso(c.at)
                ));
            }
        }
        let got = lines(out, "acme-ds", &format!("dataservice/{ENTITY}"), false);
        if !got.iter().any(|l| {
            l.key.eq_ignore_ascii_case(&invoice)
                && l.field("Amount").as_f64() == Some(amount)
                && l.time("UpdateTime") == Some(updated_at)
        }) {
            let seen: Vec<String> = got
                .iter()
                .filter(|l| l.key.eq_ignore_ascii_case(&invoice))
                .map(|l| format!("{} at {}", l.field("Amount"), l.field("UpdateTime")))
                .collect();
            missing.push(format!(
                "{ENTITY} {invoice} updated to {amount} at {} (found {seen:?})",
                iso(updated_at)
            ));
        }
        missing
    };
    fleet
        .wait_for("every change of the run", deadline, |out| {
            let m = missing(out);
            if m.is_empty() {
                Ok(())
            } else {
                Err(format!("{} missing:\n{}", m.len(), m.join("\n")))
            }
        })
        .await;
    let stop = wall_clock_ms();
    let out = fleet.out.clone();
    let logs = fleet.stop().await;
    eprintln!("run took {:?}", launched.elapsed());

    // Read strictly once the run has ended: every line is whole, every change is there,
    // and no machine that exists was ever tombstoned.
    assert_eq!(missing(&out), Vec::<String>::new(), "{logs}");
    let machines = lines(&out, "acme", "machines", true);
    let wrong = false_tombstones(data, &machines, stop);
    assert!(
        wrong.is_empty(),
        "tombstones of existing machines: {wrong:?}\n{logs}"
    );
    // Freshness: each change was fetched within `every` + `settle` of happening, plus
    // the time to read the window (generous: the machine is shared).
    let mut late = Vec::new();
    let mut worst = 0;
    let mut fresh = |what: String, at: i64, got: &[Line], matches: &dyn Fn(&Line) -> bool| {
        let fetched = got
            .iter()
            .filter(|l| matches(l))
            .map(|l| l.fetched_at)
            .min();
        let lag = fetched.expect("every change arrived") - at;
        worst = worst.max(lag);
        if lag > (EVERY_SECS + SETTLE_SECS) * SECOND + READ_SLACK_MS {
            late.push(format!("{what}: fetched {lag} ms after it happened"));
        }
    };
    let got = lines(&out, "acme", "jobs", true);
    for e in &jobs {
        fresh(format!("job {}", e.key), e.end, &got, &|l| {
            l.key == e.key && l.time("LastModificationTime") == Some(e.end)
        });
    }
    let got = lines(&out, "acme", "queue-items", true);
    for e in &items {
        fresh(format!("queue item {}", e.key), e.end, &got, &|l| {
            l.key == e.key && l.time("EndProcessing") == Some(e.end)
        });
    }
    for c in &removed {
        fresh(format!("machine {}", c.id), c.at, &machines, &|l| {
            l.op == "delete" && l.key == c.id.to_string()
        });
    }
    let got = lines(&out, "acme-ds", &format!("dataservice/{ENTITY}"), true);
    fresh(format!("{ENTITY} {invoice}"), updated_at, &got, &|l| {
        l.key.eq_ignore_ascii_case(&invoice) && l.time("UpdateTime") == Some(updated_at)
    });
    eprintln!("slowest change fetched {worst} ms after it happened");
    assert!(late.is_empty(), "changes read late: {late:?}\n{logs}");
    for ds in ["jobs", "queue-items", "robots"] {
        let deletes = lines(&out, "acme", ds, true)
            .into_iter()
            .filter(|l| l.op == "delete")
            .count();
        assert_eq!(deletes, 0, "{ds}: no deletes are visible");
    }
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Test 4: a snapshot read that fails produces no tombstone. The simulator fails only the
/// Machines endpoint (`paths = ["odata/Machines"]`): for at least one window half its
/// requests answer 500/503 and a third of the rest come back with a truncated body, so
/// reads fail outright or are cut short after some pages (250 machines a page, 3,000
/// machines). Then the fault is lifted. During and after the outage no tombstone appears
/// for a machine the simulator has; after it, a machine removed later arrives as a
/// tombstone (the snapshots are complete again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_snapshot_read_produces_no_tombstone() {
    let dir = scratch("sync-outage");
    let now = wall_clock_ms();
    // A machine removed after the outage, 26–34 s from now.
    let sim = live_sim_where("a removal", |data| {
        has_changes(
            data,
            &[RefChangeKind::MachineRemoved],
            now + 26 * SECOND,
            now + 34 * SECOND,
        )
    })
    .await;
    let start = DateTime::<Utc>::from_timestamp_millis(now - MINUTE).unwrap();
    let config = write_config(
        &dir,
        &source_toml(&sim, "acme"),
        &sync_toml("acme", &["machines"], start),
    );
    let launched = Instant::now();
    let mut fleet = Fleet::start(&dir, &config);
    let data = &tenant(&sim).data;
    fleet
        .wait_for("the first snapshot", Duration::from_secs(40), |out| {
            first_snapshot(data, out)
        })
        .await;
    let first = wall_clock_ms();

    // The outage: at least two windows' reads meet it.
    let requests = |sim: &RunningSim, status: u16| -> u64 {
        let stats = sim.sim.stats.snapshot();
        stats
            .requests
            .get("odata/Machines")
            .and_then(|by| by.get(&status))
            .copied()
            .unwrap_or(0)
    };
    let ok_before = requests(&sim, 200);
    sim.sim.faults.set_config(FaultConfig {
        error_rate: 0.5,
        error_statuses: vec![500, 503],
        truncate_rate: 0.35,
        paths: vec!["odata/Machines".into()],
        ..FaultConfig::default()
    });
    let outage = Instant::now();
    // (faults injected by kind, pages served whole) since the outage began
    let outage_counts = |sim: &RunningSim| {
        let faults = sim.sim.stats.snapshot().faults;
        let truncated = faults.get("truncate").copied().unwrap_or(0);
        let whole = (requests(sim, 200) - ok_before).saturating_sub(truncated);
        (faults, whole)
    };
    // It lasts a window at least, until reads have met both faults and got whole pages
    // (so reads failed outright and were cut short part way).
    fleet
        .wait_for("a window of the outage", Duration::from_secs(40), |out| {
            let wrong = false_tombstones(
                data,
                &lines(out, "acme", "machines", false),
                wall_clock_ms(),
            );
            assert!(wrong.is_empty(), "tombstones during the outage: {wrong:?}");
            let (faults, whole) = outage_counts(&sim);
            let met = |kind: &str| faults.get(kind).is_some_and(|n| *n > 0);
            if outage.elapsed() >= Duration::from_secs((EVERY_SECS + SETTLE_SECS) as u64)
                && met("error")
                && met("truncate")
                && whole > 0
            {
                Ok(())
            } else {
                Err(format!(
                    "faults {faults:?} and {whole} whole pages after {:?}",
                    outage.elapsed()
                ))
            }
        })
        .await;
    let (faults, whole) = outage_counts(&sim);
    sim.sim.faults.set_config(FaultConfig::default());
    let lifted = wall_clock_ms();
    eprintln!(
        "outage of {:?}: faults {faults:?}, {whole} pages served whole",
        outage.elapsed()
    );

    // After the outage: the next machine removed arrives as a tombstone.
    let removed: Vec<RefChange> = reference_changes(data, lifted + SECOND, lifted + MINUTE)
        .into_iter()
        .filter(|c| c.kind == RefChangeKind::MachineRemoved)
        .take(1)
        .collect();
    let Some(next) = removed.first() else {
        panic!("no machine removed within a minute after {}", iso(lifted));
    };
    let deadline = Duration::from_millis(
        (next.at - wall_clock_ms()).max(0) as u64 + ((EVERY_SECS + SETTLE_SECS) * SECOND) as u64,
    ) + Duration::from_secs(15);
    fleet
        .wait_for("the tombstone after the outage", deadline, |out| {
            let got = lines(out, "acme", "machines", false);
            let missing: Vec<i64> = removed
                .iter()
                .filter(|c| {
                    !got.iter()
                        .any(|l| l.op == "delete" && l.key == c.id.to_string())
                })
                .map(|c| c.id)
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("no tombstone for machines {missing:?}"))
            }
        })
        .await;
    let stop = wall_clock_ms();
    let out = fleet.out.clone();
    let logs = fleet.stop().await;
    eprintln!("run took {:?}", launched.elapsed());

    let machines = lines(&out, "acme", "machines", true);
    let wrong = false_tombstones(data, &machines, stop);
    assert!(
        wrong.is_empty(),
        "tombstones of existing machines: {wrong:?}\n{logs}"
    );
    // Tombstones are for machines removed after the first snapshot, none other.
    let tombstoned: BTreeSet<&str> = machines
        .iter()
        .filter(|l| l.op == "delete")
        .map(|l| l.key.as_str())
        .collect();
    let removed_in_run: BTreeSet<String> = reference_changes(data, first - 30 * SECOND, stop)
        .into_iter()
        .filter(|c| c.kind == RefChangeKind::MachineRemoved)
        .map(|c| c.id.to_string())
        .collect();
    let foreign: Vec<&&str> = tombstoned
        .iter()
        .filter(|k| !removed_in_run.contains(**k))
        .collect();
    assert!(
        foreign.is_empty(),
        "tombstones of machines not removed in the run: {foreign:?}"
    );
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
