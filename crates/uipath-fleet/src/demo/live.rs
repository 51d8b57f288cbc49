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

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use fleet_assembly::demo::live::{submit_sync, JobChange, Landed, Watch, EVERY, LOOKBACK, SETTLE};
use fleet_assembly::demo::{LIVE_FOLDERS, LIVE_JOBS_PER_DAY};
use fleet_assembly::EmbeddedFleet;
use tokio_util::sync::CancellationToken;
use uipath_sim::config::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG};
use uipath_sim::stats::StatsSnapshot;

pub use fleet_assembly::demo::live::LiveSummary;
pub use fleet_assembly::demo::{sim_config, LIVE_DATASETS, LIVE_SOURCE, LIVE_TENANT};
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

/// Prints what landed: job changes while there is room, queue items as one line per poll.
struct Printer {
    watch: Watch,
    printed: usize,
}

impl Printer {
    /// Reads what landed since the last call and prints it.
    fn poll(&mut self, root: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
        let now = Utc::now().format("%H:%M:%S");
        for landed in self.watch.poll(root)? {
            match landed {
                Landed::Job { id, change, folder } => {
                    let change = match change {
                        JobChange::Moved { from, to } => format!("{from} → {to}"),
                        JobChange::Changed { state, created } => {
                            format!("→ {state} (created {})", fmt_time(created))
                        }
                        JobChange::New { state } => format!("new, {state}"),
                    };
                    self.printed += 1;
                    if self.printed <= MAX_JOB_LINES {
                        writeln!(out, "  {now}  job {id}  {change:<36} {folder}")?;
                    } else if self.printed == MAX_JOB_LINES + 1 {
                        writeln!(out, "  … more job changes keep arriving; counted below")?;
                    }
                }
                Landed::QueueItems { versions, statuses } => {
                    let list: Vec<String> =
                        statuses.iter().map(|(s, n)| format!("{s} {n}")).collect();
                    writeln!(
                        out,
                        "  {now}  queue items: {versions} version(s) landed ({})",
                        list.join(", ")
                    )?;
                }
            }
        }
        out.flush()?;
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
    let submitted = submit_sync(fleet, start).await?;
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
    let mut w = Printer {
        watch: Watch::new(start),
        printed: 0,
    };
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
    w: Printer,
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
        Ok(self.w.watch.summary(self.secs, before, after))
    }
}

/// The summary's lines about the live phase.
pub(super) fn print(summary: &LiveSummary, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "live sync ({:.0}s, tenant {LIVE_TENANT}):",
        summary.secs
    )?;
    for ds in LIVE_DATASETS {
        writeln!(
            out,
            "  {ds:<18} {:>8} version(s) of {:>6} record(s)",
            summary.versions.get(ds).copied().unwrap_or(0),
            summary.records.get(ds).copied().unwrap_or(0),
        )?;
    }
    writeln!(
            out,
            "  {} job version(s) of jobs created before the sync started (changes, not creations); {} request(s), {} answered 429",
            summary.changed_jobs, summary.requests, summary.throttled
        )?;
    Ok(())
}
