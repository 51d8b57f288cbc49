//! Freshness: how long after a change in UiPath its record version is on the records
//! exchange, for a live tenant synced every 10 s (see BENCHMARKS.md, "Freshness").
//!
//! Starts the live simulator in this process (one tenant, 10 folders, 2,000 jobs and
//! 2,000 queue items per folder and day, the cloud's rate limit of 100 requests/min for
//! Jobs and QueueItems on) and an embedded fleet (the library's assembly, `[limits]`
//! default) with one sync of jobs, queue-items and machines: `every = "10s"`,
//! `settle = "5s"`, `lookback = "1m"`, from now. The embedded fleet's records exchange is
//! its file sink; this program reads the sink's files every 100 ms and stamps each new
//! line with the time it saw it (the write time, to within 100 ms). After
//! `FRESHNESS_SECS` (default 240) it cancels the sync, drains the fleet, and takes the
//! ground truth from the simulator's own data as of the end: every job transition
//! (created, started, ended) and every queue-item event in the measured interval. A
//! change is delivered by the first line of its record that reflects it — for a job,
//! a version whose `LastModificationTime` (or `CreationTime`, never modified) is at or
//! after the change; for a queue item, a version read (`fetched_at`) at or after the
//! event — and its delay is that line's write time minus the change's time. Loopback
//! only; stops by itself.
//!
//! `CARGO_TARGET_DIR=... cargo bench -p uipath-fleet --bench freshness`

use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Seek as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Days, SecondsFormat, Utc};
use fleet_core::ledger::RequestKind;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uipath_fleet::FleetConfig;
use uipath_sim::config::{
    SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG, DEMO_TENANT, OR_READ_SCOPES,
};
use uipath_sim::data::{entities, EntityGen};
use uipath_sim::server::RunningSim;
use uipath_sim::value::{Row, Val};

const SOURCE: &str = "bench";
const DATASETS: [&str; 3] = ["jobs", "queue-items", "machines"];
/// Changes in the first seconds of the sync (its first window re-reads the lookback) and
/// the last ones (not every change had its chance yet) are not measured.
const WARMUP_SECS: i64 = 15;
const COOLDOWN_SECS: i64 = 40;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // Test runners enumerate bench binaries with `--list` (there are no tests here), and
    // `cargo test --benches` runs them without `--bench`: minutes of live sync belong
    // to `cargo bench` only.
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("freshness is a benchmark: cargo bench -p uipath-fleet --bench freshness");
        return Ok(());
    }
    let secs: u64 = std::env::var("FRESHNESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(240);
    let today = Utc::now().date_naive();
    let mut sim_config = SimConfig::default().live();
    sim_config.data.span_start = today - Days::new(3);
    sim_config.data.span_end = today;
    sim_config.data.folders = (1..=10).map(|i| format!("Dept{i:02}")).collect();
    sim_config.data.extra_folders = 0;
    sim_config.data.weekend_factor = 1.0;
    sim_config.data.jobs_per_day = 2_000.0;
    sim_config.data.queue_items_per_day = 2_000.0;
    // The simulator keeps one window per tenant for Jobs and one for QueueItems, 100/min
    // each like the cloud; FRESHNESS_SIM_BUDGET=N sets both (e.g. to see the fleet's own
    // `[limits]` as the only pacing).
    if let Some(n) = std::env::var("FRESHNESS_SIM_BUDGET")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        sim_config.rate_limit.requests = n;
    }
    let sim_budget = sim_config.rate_limit.requests;
    let sim = RunningSim::start(sim_config)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let scratch =
        std::env::temp_dir().join(format!("uipath-fleet-freshness-{}", std::process::id()));
    let out = scratch.join("out");
    let text = format!(
        r#"
[[sources]]
name = "{SOURCE}"
deployment = {{ kind = "cloud", base_url = "{base}", organization = "{DEMO_ORG}", tenant = "{DEMO_TENANT}" }}
auth = {{ method = "client-credentials", client_id = "{DEMO_CLIENT_ID}", client_secret = "{DEMO_CLIENT_SECRET}", scopes = {OR_READ_SCOPES:?} }}

[token_cache]
file = "{state}/tokens.json"

[coordinator]
tick_ms = 200

[embedded]
workers = 2
state_dir = "{state}"
api = false

[sink]
dir = "{out}"
"#,
        base = sim.base_url(),
        state = scratch.join("state").display(),
        out = out.display(),
    );
    let config = FleetConfig::parse(&text)?;
    config.validate()?;
    let shutdown = CancellationToken::new();
    let fleet = uipath_fleet::embedded::start(&config, &shutdown)
        .await?
        .ok_or_else(|| anyhow::anyhow!("stopped before the fleet was running"))?;
    let start = DateTime::<Utc>::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default();
    let before = sim.sim.stats.snapshot();
    let body = serde_json::json!({
        "sources": [SOURCE], "datasets": DATASETS,
        "every": "10s", "settle": "5s", "lookback": "1m",
        "start": start.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    let sync = fleet
        .submit(RequestKind::Sync, "freshness", body.to_string().as_bytes())
        .await?;
    eprintln!("sync {} from {start} for {secs}s", sync.id);

    let mut tails: Vec<Tail> = DATASETS
        .iter()
        .map(|ds| Tail::new(out.join(SOURCE).join(ds)))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        for t in &mut tails {
            t.poll()?;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let end = Utc::now();
    let _ = fleet.coordinator().cancel(&sync.id).await;
    let summary = fleet.stop().await;
    for t in &mut tails {
        t.poll()?;
    }
    let after = sim.sim.stats.snapshot();

    // Ground truth, as of the end of the run.
    let tenant = sim
        .sim
        .tenant(DEMO_ORG, DEMO_TENANT)
        .ok_or_else(|| anyhow::anyhow!("no tenant"))?;
    let view = tenant.data.as_of(end.timestamp_millis());
    let (lo, hi) = (
        start.timestamp_millis() + WARMUP_SECS * 1000,
        end.timestamp_millis() - COOLDOWN_SECS * 1000,
    );
    let mut job_changes: Vec<(i64, i64)> = Vec::new();
    let g = entities::by_name("Jobs").ok_or_else(|| anyhow::anyhow!("Jobs"))?;
    for part in 0..entities::partitions(g, &tenant.data) {
        for i in 0..g.len(&view, part) {
            if !g.exists(&view, part, i) {
                continue;
            }
            let row = g.row(&view, part, i);
            let id = field(g, &row, "Id").as_i64().unwrap_or_default();
            let mut times = vec![dt(&field(g, &row, "CreationTime"))];
            times.push(dt(&field(g, &row, "StartTime")));
            times.push(dt(&field(g, &row, "EndTime")));
            times.dedup();
            for t in times.into_iter().flatten() {
                if (lo..=hi).contains(&t) {
                    job_changes.push((id, t));
                }
            }
        }
    }
    let mut item_changes: Vec<(i64, i64)> = Vec::new();
    let g = entities::by_name("QueueItemEvents").ok_or_else(|| anyhow::anyhow!("QIE"))?;
    for part in 0..entities::partitions(g, &tenant.data) {
        for i in 0..g.len(&view, part) {
            if !g.exists(&view, part, i) {
                continue;
            }
            let row = g.row(&view, part, i);
            if let Some(t) = dt(&field(g, &row, "Timestamp")).filter(|t| (lo..=hi).contains(t)) {
                let id = field(g, &row, "QueueItemId").as_i64().unwrap_or_default();
                item_changes.push((id, t));
            }
        }
    }

    let elapsed_min = (end - start).num_milliseconds() as f64 / 60_000.0;
    println!("freshness: sync every 10s, settle 5s, lookback 1m; {secs}s run; simulator budget {sim_budget}/min per tenant for Jobs and for QueueItems; changes measured from {} to {}",
        fmt(lo), fmt(hi));
    report("jobs", &job_changes, &tails[0], |line, t| {
        let r = &line["record"];
        let version = r["LastModificationTime"]
            .as_str()
            .or(r["CreationTime"].as_str())
            .and_then(|s| s.parse::<DateTime<Utc>>().ok())
            .map(|d| d.timestamp_millis());
        version.is_some_and(|v| v >= t)
    });
    report("queue-items", &item_changes, &tails[1], |line, t| {
        line["fetched_at"]
            .as_str()
            .and_then(|s| s.parse::<DateTime<Utc>>().ok())
            .is_some_and(|f| f.timestamp_millis() >= t)
    });
    println!(
        "machines: {} version(s) (changes, additions, tombstones)",
        tails[2].lines.len()
    );
    println!("requests/min (budget 100/min for Jobs and for QueueItems):");
    let mut families: BTreeMap<String, u64> = BTreeMap::new();
    for (endpoint, by_status) in &after.requests {
        let was: u64 = before
            .requests
            .get(endpoint)
            .map_or(0, |m| m.values().sum());
        let now: u64 = by_status.values().sum();
        *families.entry(endpoint.clone()).or_default() += now - was;
    }
    for (endpoint, n) in &families {
        println!(
            "  {endpoint:<28} {n:>6} requests  {:>6.1}/min",
            *n as f64 / elapsed_min
        );
    }
    let limited: u64 = ["odata/Jobs", "odata/QueueItems"]
        .iter()
        .map(|e| families.get(*e).copied().unwrap_or(0))
        .sum();
    println!(
        "  Jobs + QueueItems together     {limited:>6} requests  {:>6.1}/min",
        limited as f64 / elapsed_min
    );
    println!(
        "429s: {}; worker jobs: {:?}",
        after.throttled - before.throttled,
        summary.jobs.outcomes
    );
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn field(g: &dyn EntityGen, row: &Row, name: &str) -> Val {
    g.def()
        .schema
        .index_of(name)
        .map_or(Val::Null, |i| row.get(i).clone())
}

fn dt(v: &Val) -> Option<i64> {
    v.as_datetime()
}

fn fmt(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%H:%M:%S")
        .to_string()
}

/// The delay of each change until the first line of its record that carries it.
fn report(name: &str, changes: &[(i64, i64)], tail: &Tail, carries: impl Fn(&Value, i64) -> bool) {
    let mut by_id: HashMap<i64, Vec<&(Value, i64)>> = HashMap::new();
    for l in &tail.lines {
        if let Some(id) = l.0["record"]["Id"].as_i64() {
            by_id.entry(id).or_default().push(l);
        }
    }
    let mut delays: Vec<f64> = Vec::new();
    let mut missed = 0;
    for (id, t) in changes {
        let first = by_id
            .get(id)
            .and_then(|ls| ls.iter().filter(|l| carries(&l.0, *t)).map(|l| l.1).min());
        match first {
            Some(w) => delays.push((w - t) as f64 / 1000.0),
            None => missed += 1,
        }
    }
    delays.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if delays.is_empty() {
            f64::NAN
        } else {
            delays[((delays.len() as f64 - 1.0) * p).round() as usize]
        }
    };
    println!(
        "{name}: {} change(s), {} delivered, {missed} not delivered by the end; delay p50 {:.1}s  p95 {:.1}s  max {:.1}s  (min {:.1}s); {} line(s) written",
        changes.len(),
        delays.len(),
        q(0.5),
        q(0.95),
        delays.last().copied().unwrap_or(f64::NAN),
        delays.first().copied().unwrap_or(f64::NAN),
        tail.lines.len()
    );
}

/// New complete lines of a dataset's files, each stamped with when it was seen.
struct Tail {
    dir: PathBuf,
    offsets: HashMap<PathBuf, u64>,
    lines: Vec<(Value, i64)>,
}

impl Tail {
    fn new(dir: PathBuf) -> Tail {
        Tail {
            dir,
            offsets: HashMap::new(),
            lines: Vec::new(),
        }
    }

    fn poll(&mut self) -> anyhow::Result<()> {
        let seen = Utc::now().timestamp_millis();
        for path in files(&self.dir) {
            let offset = self.offsets.entry(path.clone()).or_default();
            let mut file = std::fs::File::open(&path)?;
            file.seek(std::io::SeekFrom::Start(*offset))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
                continue;
            };
            *offset += end as u64 + 1;
            for line in bytes[..end].split(|b| *b == b'\n') {
                if let Ok(v) = serde_json::from_slice::<Value>(line) {
                    self.lines.push((v, seen));
                }
            }
        }
        Ok(())
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .collect();
    out.sort();
    out
}
