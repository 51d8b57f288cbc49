//! The demo's live phase: after the backfill, a short sync of a busy simulated tenant
//! that shows jobs and queue items changing while you watch, then stops by itself.
//!
//! The simulator runs in live mode ([`sim_config`]): activity continues in wall-clock
//! time. The demo tenant (`DefaultTenant`) keeps the documented densities, which are far
//! too quiet to show anything in half a minute (about fifty jobs a day), so the same
//! organization gets a second, busy tenant, `LiveTenant` (three folders, about 60,000
//! jobs and 60,000 queue items a day, every day of the week), configured as a second
//! source, `live`. The sync reads what changed in `jobs` and `queue-items` every 10 s
//! from the moment it starts; what it delivers is read back from the files the embedded
//! sink writes (`<out>/live/<dataset>/`), never from the simulator.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use fleet_assembly::demo::{Tail, LIVE_FOLDERS, LIVE_JOBS_PER_DAY};
use fleet_assembly::EmbeddedFleet;
use fleet_core::ledger::RequestKind;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uipath_sim::config::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG};
use uipath_sim::stats::StatsSnapshot;

pub use fleet_assembly::demo::{sim_config, LIVE_DATASETS, LIVE_SOURCE, LIVE_TENANT};
/// The sync's schedule: every 10 s, 2 s settle, 30 s re-read.
const EVERY: &str = "10s";
const SETTLE: &str = "2s";
const LOOKBACK: &str = "30s";
/// How often the files are read for new lines.
const TAIL_POLL: Duration = Duration::from_millis(500);
/// Job lines printed at most; later changes are only counted.
const MAX_JOB_LINES: usize = 40;

/// The `[[sources]]` table of the busy tenant, for the demo's configuration.
pub(super) fn source_toml(base_url: &str, scopes: &[&str]) -> String {
    format!(
        r#"
[[sources]]
name = "{LIVE_SOURCE}"
deployment = {{ kind = "cloud", base_url = "{base_url}", organization = "{DEMO_ORG}", tenant = "{LIVE_TENANT}" }}
auth = {{ method = "client-credentials", client_id = "{DEMO_CLIENT_ID}", client_secret = "{DEMO_CLIENT_SECRET}", scopes = {scopes:?} }}
"#
    )
}

/// What the live phase delivered, read from the sink's files.
#[derive(Debug, Default)]
pub(super) struct LiveSummary {
    /// Record versions (lines) per dataset.
    pub versions: BTreeMap<&'static str, u64>,
    /// Distinct records per dataset.
    pub records: BTreeMap<&'static str, usize>,
    /// Jobs created before the sync started that arrived in a new state.
    pub changed_jobs: u64,
    pub requests: u64,
    pub throttled: u64,
    pub secs: f64,
}

/// What the watcher has seen so far.
struct Watch {
    start: DateTime<Utc>,
    tails: [Tail; 2],
    job_state: HashMap<i64, String>,
    keys: [HashSet<String>; 2],
    versions: [u64; 2],
    changed_jobs: u64,
    printed: usize,
}

impl Watch {
    fn new(start: DateTime<Utc>) -> Watch {
        Watch {
            start,
            tails: Default::default(),
            job_state: HashMap::new(),
            keys: Default::default(),
            versions: [0; 2],
            changed_jobs: 0,
            printed: 0,
        }
    }

    /// Reads what landed since the last call and prints it.
    fn poll(&mut self, root: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
        let now = Utc::now().format("%H:%M:%S");
        for (i, ds) in LIVE_DATASETS.iter().enumerate() {
            let lines = self.tails[i].read(&root.join(ds))?;
            let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
            for line in &lines {
                self.versions[i] += 1;
                let key = line["key"].as_str().map_or_else(
                    || line["record"]["Id"].to_string(),
                    std::borrow::ToOwned::to_owned,
                );
                self.keys[i].insert(key);
                let record = &line["record"];
                if i == 0 {
                    self.job(line, record, &now.to_string(), out)?;
                } else {
                    let status = record["Status"].as_str().unwrap_or("?").to_owned();
                    *statuses.entry(status).or_default() += 1;
                }
            }
            if !statuses.is_empty() {
                let list: Vec<String> = statuses.iter().map(|(s, n)| format!("{s} {n}")).collect();
                writeln!(
                    out,
                    "  {now}  queue items: {} version(s) landed ({})",
                    lines.len(),
                    list.join(", ")
                )?;
            }
        }
        out.flush()?;
        Ok(())
    }

    /// One job version: printed as a transition while there is room.
    fn job(
        &mut self,
        line: &Value,
        record: &Value,
        now: &str,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let Some(id) = record["Id"].as_i64() else {
            return Ok(());
        };
        let state = record["State"].as_str().unwrap_or("?").to_owned();
        let created = record["CreationTime"]
            .as_str()
            .and_then(|t| fleet_core::time::parse_instant(t).ok());
        let old = created.is_some_and(|c| c < self.start);
        if old {
            self.changed_jobs += 1;
        }
        let change = match self.job_state.insert(id, state.clone()) {
            Some(prev) if prev == state => return Ok(()),
            Some(prev) => format!("{prev} → {state}"),
            None if old => format!("→ {state} (created {})", fmt_time(created)),
            None => format!("new, {state}"),
        };
        self.printed += 1;
        if self.printed <= MAX_JOB_LINES {
            let folder = line["folder"].as_str().unwrap_or("");
            writeln!(out, "  {now}  job {id}  {change:<36} {folder}")?;
        } else if self.printed == MAX_JOB_LINES + 1 {
            writeln!(out, "  … more job changes keep arriving; counted below")?;
        }
        Ok(())
    }
}

fn fmt_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "?".into(), |t| t.format("%H:%M:%S").to_string())
}

/// Submits the live sync, shows what lands for `secs` seconds (or until `shutdown`),
/// then cancels the sync. Returns the watcher (to read what lands while the fleet drains)
/// and whether `shutdown` cut it short.
pub(super) async fn watch(
    fleet: &EmbeddedFleet,
    out_dir: &Path,
    secs: u64,
    shutdown: &CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<(LiveWatch, bool)> {
    let start = DateTime::<Utc>::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default();
    let body = serde_json::json!({
        "sources": [LIVE_SOURCE],
        "datasets": LIVE_DATASETS,
        "every": EVERY,
        "settle": SETTLE,
        "lookback": LOOKBACK,
        "start": start.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    let submitted = fleet
        .submit(RequestKind::Sync, "live sync", body.to_string().as_bytes())
        .await?;
    writeln!(out)?;
    writeln!(
        out,
        "live sync from {}: {} of tenant {LIVE_TENANT} (~{:.0} jobs a day), every {EVERY}, settle {SETTLE}, lookback {LOOKBACK}, for {secs}s; changes as they land in {}:",
        start.to_rfc3339_opts(SecondsFormat::Secs, true),
        LIVE_DATASETS.join(" and "),
        LIVE_JOBS_PER_DAY * LIVE_FOLDERS.len() as f64,
        out_dir.join(LIVE_SOURCE).display()
    )?;
    out.flush()?;
    let root = out_dir.join(LIVE_SOURCE);
    let mut w = Watch::new(start);
    let began = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut interrupted = false;
    loop {
        w.poll(&root, out)?;
        tokio::select! {
            _ = shutdown.cancelled() => { interrupted = true; break; }
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tokio::time::sleep(TAIL_POLL) => {}
        }
    }
    if let Err(e) = fleet.coordinator().cancel(&submitted.id).await {
        tracing::warn!(error = %e, "cannot cancel the live sync");
    }
    Ok((
        LiveWatch {
            w,
            root,
            secs: began.elapsed().as_secs_f64(),
        },
        interrupted,
    ))
}

/// A live phase that ended; [`LiveWatch::finish`] reads the last lines after the fleet
/// drained.
pub(super) struct LiveWatch {
    w: Watch,
    root: PathBuf,
    secs: f64,
}

impl LiveWatch {
    /// Reads what the drain wrote and sums the phase up; `before`/`after` are the
    /// simulator's counters around it.
    pub(super) fn finish(
        mut self,
        before: &StatsSnapshot,
        after: &StatsSnapshot,
        out: &mut dyn Write,
    ) -> anyhow::Result<LiveSummary> {
        self.w.poll(&self.root, out)?;
        let total = |s: &StatsSnapshot| -> u64 {
            s.requests
                .values()
                .flat_map(|by_status| by_status.values())
                .sum()
        };
        let mut summary = LiveSummary {
            changed_jobs: self.w.changed_jobs,
            requests: total(after).saturating_sub(total(before)),
            throttled: after.throttled.saturating_sub(before.throttled),
            secs: self.secs,
            ..LiveSummary::default()
        };
        for (i, ds) in LIVE_DATASETS.iter().enumerate() {
            summary.versions.insert(ds, self.w.versions[i]);
            summary.records.insert(ds, self.w.keys[i].len());
        }
        Ok(summary)
    }
}

impl LiveSummary {
    /// The summary's lines about the live phase.
    pub(super) fn print(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        writeln!(out, "live sync ({:.0}s, tenant {LIVE_TENANT}):", self.secs)?;
        for ds in LIVE_DATASETS {
            writeln!(
                out,
                "  {ds:<18} {:>8} version(s) of {:>6} record(s)",
                self.versions.get(ds).copied().unwrap_or(0),
                self.records.get(ds).copied().unwrap_or(0),
            )?;
        }
        writeln!(
            out,
            "  {} job version(s) of jobs created before the sync started (changes, not creations); {} request(s), {} answered 429",
            self.changed_jobs, self.requests, self.throttled
        )?;
        Ok(())
    }
}
