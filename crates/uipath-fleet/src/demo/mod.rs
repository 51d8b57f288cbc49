//! `uipath-fleet demo`: the whole product in one command, with nothing to install or
//! configure. It starts the bundled UiPath simulator in this process (the documented demo
//! organization, its confidential app and Automation Cloud's rate limit of 100 requests
//! a minute for Jobs and QueueItems), starts an embedded fleet against it, back-fills a
//! few datasets over the last months of the simulator's data with live progress (one bar
//! per dataset), writes the records to `--out` as newline-delimited JSON, and prints a
//! summary: records and files per dataset, time taken, requests sent to "UiPath", 429s
//! met, tokens granted, and what to try next.
//!
//! The simulator runs in live mode: its data ends today and activity goes on in
//! wall-clock time. After the backfill the demo runs a short live sync (`--live-secs`,
//! [`live`]) of a busy second tenant and prints each job change as its record lands.
//!
//! Reruns: without `--state` the fleet's state lives in a fresh temporary directory
//! (removed at the end), so every run starts clean and first removes the `.ndjson` files
//! an earlier demo wrote for the same datasets under `<out>/demo/`. With `--state DIR`
//! the state is kept: a demo interrupted with ctrl-c resumes where it stopped when run
//! again with the same `--state` (its output files are kept and completed, not
//! rewritten); a finished one finds nothing left to do.
//!
//! stdout carries the header and the summary; the progress bars and logs go to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{Months, NaiveDate};
use fleet_core::ledger::RequestState;
use tokio_util::sync::CancellationToken;
use uipath_sim::config::{
    SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG, DEMO_TENANT, OR_READ_SCOPES,
};
use uipath_sim::server::RunningSim;

use crate::config::{ConfigError, FleetConfig};
use crate::progress::{Board, Row};

mod files;
pub mod live;

use files::example_config;
use fleet_assembly::demo::{
    clear_previous_output, count_output, ndjson_files, requests_sent, submit_backfills, DemoState,
};

/// The source name the demo gives the simulator (the first level under `--out`).
pub use fleet_assembly::demo::DEMO_SOURCE;
/// Datasets back-filled unless `--datasets` says otherwise.
pub const DEFAULT_DATASETS: &str = "jobs,robot-logs,audit-logs";
/// The configuration the demo leaves in `--out` for `uipath-fleet run`.
pub const EXAMPLE_CONFIG: &str = "demo-fleet.toml";
/// How often progress is read.
const POLL: Duration = Duration::from_millis(250);

/// Flags of `uipath-fleet demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Optional configuration file; only its `[worker]` and `[limits]` sections are used
    /// (the demo brings its own source and fleet).
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: Option<PathBuf>,

    /// Where the records are written: `<DIR>/demo/<dataset>/<YYYY-MM-DD>.ndjson`.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,

    /// Keep the fleet's state (its ledger) in DIR, so an interrupted demo resumes when
    /// run again with the same DIR. Default: a temporary directory, removed at the end
    /// (every run starts clean).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// Workers in the embedded fleet.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub workers: usize,

    /// Job slots per worker (default: worker.concurrency, 4).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Months of data to back-fill, ending today at 00:00 UTC (the live simulator's data
    /// starts seven months ago); 1 to 6.
    #[arg(long, value_name = "M", default_value_t = 2)]
    pub months: u32,

    /// Days of data instead of months (for a quick look; overrides --months); 1 to 181.
    #[arg(long, value_name = "D")]
    pub days: Option<u32>,

    /// Orchestrator datasets, comma-separated: one backfill (and one progress bar) each.
    #[arg(long, value_name = "LIST", default_value = DEFAULT_DATASETS, value_delimiter = ',')]
    pub datasets: Vec<String>,

    /// Seconds of live sync after the backfill (jobs and queue items of a busy tenant,
    /// every 10 s, changes shown as they land); 0 skips it; at most 3600.
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub live_secs: u64,
}

impl DemoArgs {
    /// The configuration file the command reads, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// The datasets as canonical slugs, checked against the catalog.
    fn datasets(&self) -> Result<Vec<&'static str>, ConfigError> {
        let mut out: Vec<&'static str> = Vec::new();
        for name in self
            .datasets
            .iter()
            .map(|d| d.trim())
            .filter(|d| !d.is_empty())
        {
            let Some(def) = fleet_core::dataset::by_name(name) else {
                let known: Vec<&str> = fleet_core::dataset::all().iter().map(|d| d.slug).collect();
                return Err(ConfigError(format!(
                    "--datasets: `{name}` is not an Orchestrator dataset; choose from {}",
                    known.join(", ")
                )));
            };
            if !out.contains(&def.slug) {
                out.push(def.slug);
            }
        }
        if out.is_empty() {
            return Err(ConfigError(
                "--datasets: name at least one dataset (e.g. jobs,queue-items)".into(),
            ));
        }
        Ok(out)
    }

    /// `[from, to)`: the last months (or days) of the simulator's data.
    fn range(&self, sim: &SimConfig) -> Result<(NaiveDate, NaiveDate), ConfigError> {
        let to = sim.data.span_end;
        let span = sim.data.days() as u32;
        let from = match self.days {
            Some(d) if d == 0 || d > span => {
                return Err(ConfigError(format!(
                    "--days: must be between 1 and {span} (the simulator's data)"
                )))
            }
            Some(d) => to - chrono::Days::new(u64::from(d)),
            None => {
                let from = to
                    .checked_sub_months(Months::new(self.months))
                    .filter(|from| (1..=6).contains(&self.months) && *from >= sim.data.span_start);
                from.ok_or_else(|| {
                    ConfigError(format!(
                        "--months: must be between 1 and 6 (the simulator's data runs from {} to {})",
                        sim.data.span_start,
                        sim.data.span_end
                    ))
                })?
            }
        };
        if self.live_secs > 3600 {
            return Err(ConfigError(
                "--live-secs: must be between 0 (no live sync) and 3600".into(),
            ));
        }
        Ok((from, to))
    }
}

/// Runs `uipath-fleet demo`.
pub async fn run(
    args: &DemoArgs,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let datasets = args.datasets()?;
    let sim_config = live::sim_config(chrono::Utc::now().date_naive());
    let (from, to) = args.range(&sim_config)?;
    if args.workers == 0 || args.workers > crate::config::EmbeddedSection::MAX_WORKERS {
        return Err(ConfigError(format!(
            "--workers: must be between 1 and {}",
            crate::config::EmbeddedSection::MAX_WORKERS
        ))
        .into());
    }
    let state = DemoState::choose(args.state.as_deref());
    let resuming = state.has_ledger();
    if !resuming {
        let mut removed = clear_previous_output(&args.out, &datasets)?;
        if args.live_secs > 0 {
            removed +=
                clear_previous_output(&args.out.join(live::LIVE_SOURCE), &live::LIVE_DATASETS)?;
        }
        if removed > 0 {
            writeln!(
                out,
                "removed {removed} file(s) of an earlier demo under {}",
                args.out.join(DEMO_SOURCE).display()
            )?;
        }
    }

    let sim = RunningSim::start(sim_config)
        .await
        .map_err(|e| anyhow::anyhow!("starting the simulator: {e}"))?;
    let result = demo(
        args,
        config,
        &shutdown,
        out,
        &sim,
        &state,
        &datasets,
        (from, to),
    )
    .await;
    sim.stop().await;
    state.cleanup();
    result
}

/// Everything after the simulator started; the caller stops it and cleans up.
#[allow(clippy::too_many_arguments)]
async fn demo(
    args: &DemoArgs,
    base: &FleetConfig,
    shutdown: &CancellationToken,
    out: &mut dyn Write,
    sim: &RunningSim,
    state: &DemoState,
    datasets: &[&'static str],
    (from, to): (NaiveDate, NaiveDate),
) -> anyhow::Result<()> {
    let config = demo_config(args, base, sim, state)?;
    writeln!(
        out,
        "uipath-fleet demo: a simulated UiPath Automation Cloud at {} (organization {DEMO_ORG}, tenant {DEMO_TENANT}, 100 requests/min for Jobs and QueueItems)",
        sim.base_url()
    )?;
    let started = Instant::now();
    let Some(fleet) = crate::embedded::start(&config, shutdown).await? else {
        anyhow::bail!("stopped before the fleet was running");
    };
    let (workers, slots) = fleet.workers();
    writeln!(
        out,
        "backfilling {} from {from} to {to} with {workers} worker(s) × {slots} slot(s) into {}",
        datasets.join(", "),
        args.out.display()
    )?;
    if fleet.resumed() > 0 {
        writeln!(
            out,
            "resuming an interrupted demo: {} slice(s) picked up from {}",
            fleet.resumed(),
            state.dir.display()
        )?;
    }
    out.flush()?;

    let ids = match submit_backfills(&fleet, datasets, (from, to)).await {
        Ok(ids) => ids,
        Err(e) => {
            fleet.stop().await;
            return Err(e.into());
        }
    };

    let mut board = Board::new();
    let (views, interrupted) = fleet
        .watch(&ids, true, POLL, shutdown, |views| {
            let rows = views.iter().zip(datasets).map(|(v, ds)| Row {
                label: format!("{ds:<12}"),
                ..Row::from(v)
            });
            board.update(&rows.collect::<Vec<_>>());
        })
        .await;
    board.finish();
    let elapsed = started.elapsed();
    let done = views
        .iter()
        .all(|v| v.request.state == RequestState::Completed);
    let mut live_watch = None;
    let mut interrupted = interrupted;
    let before = sim.sim.stats.snapshot();
    if !interrupted && done && args.live_secs > 0 {
        match live::watch(&fleet, &args.out, args.live_secs, shutdown, out).await {
            Ok((w, cut)) => {
                live_watch = Some(w);
                interrupted = cut;
            }
            Err(e) => {
                fleet.stop().await;
                return Err(e);
            }
        }
    }
    let refreshes: u64 = fleet
        .sources()
        .iter()
        .map(|(_, c)| c.stats().refreshes)
        .sum();
    fleet.stop().await;
    let stats = sim.sim.stats.snapshot();
    let live_summary = match live_watch {
        Some(w) => Some(w.finish(&before, &stats, out)?),
        None => None,
    };

    if interrupted {
        writeln!(out, "interrupted after {:.1}s.", elapsed.as_secs_f64())?;
        if state.temporary {
            writeln!(
                out,
                "run with --state DIR to be able to resume an interrupted demo"
            )?;
        } else {
            writeln!(
                out,
                "run the same command again to resume from {}",
                state.dir.display()
            )?;
        }
        out.flush()?;
        return Ok(());
    }

    writeln!(out)?;
    writeln!(out, "backfill done in {:.1}s", elapsed.as_secs_f64())?;
    let mut total = (0u64, 0usize);
    for ds in datasets {
        let dir = args.out.join(DEMO_SOURCE).join(ds);
        let (records, files) = count_output(&dir)?;
        total.0 += records;
        total.1 += files;
        writeln!(
            out,
            "  {ds:<18} {records:>8} records in {files:>4} file(s)  {}",
            dir.display()
        )?;
    }
    writeln!(
        out,
        "  {:<18} {:>8} records in {:>4} file(s)",
        "total", total.0, total.1
    )?;
    let requests = requests_sent(&stats);
    let grants: u64 = stats.token_grants.values().sum();
    writeln!(
        out,
        "UiPath API: {requests} request(s) sent, {} answered 429 (rate limited), {grants} token(s) granted, {refreshes} token refresh(es) after a 401",
        stats.throttled
    )?;
    if let Some(l) = &live_summary {
        live::print(l, out)?;
    }

    let failed: Vec<String> = views
        .iter()
        .zip(datasets)
        .filter(|(v, _)| v.request.state != RequestState::Completed)
        .map(|(v, ds)| {
            format!(
                "{ds}: {}",
                v.request.note.as_deref().unwrap_or("did not complete")
            )
        })
        .collect();
    if !failed.is_empty() {
        out.flush()?;
        anyhow::bail!("the demo did not complete: {}", failed.join("; "));
    }
    let first = match datasets.first() {
        Some(ds) => ndjson_files(&args.out.join(DEMO_SOURCE).join(ds))?
            .into_iter()
            .next(),
        None => None,
    };
    let example = args.out.join(EXAMPLE_CONFIG);
    std::fs::write(&example, example_config(datasets, from, to))
        .with_context(|| format!("writing {}", example.display()))?;
    writeln!(out)?;
    writeln!(out, "next:")?;
    if let Some(file) = first {
        writeln!(
            out,
            "  look at a record:  head -n 1 {} | jq .",
            file.display()
        )?;
    }
    writeln!(
        out,
        "  run it yourself:   `uipath-fleet sim` in one terminal (the same simulator on 127.0.0.1:8080), then"
    )?;
    writeln!(
        out,
        "                     `uipath-fleet run --config {} --until-done` in another",
        example.display()
    )?;
    writeln!(
        out,
        "  your own tenant:   copy that file and change [[sources]] to your organization, tenant and app"
    )?;
    out.flush()?;
    Ok(())
}

/// The demo fleet's configuration: the simulator as source `demo` (client credentials),
/// the embedded fleet's state and output, `[worker]` and `[limits]` from `base`.
fn demo_config(
    args: &DemoArgs,
    base: &FleetConfig,
    sim: &RunningSim,
    state: &DemoState,
) -> anyhow::Result<FleetConfig> {
    let text = format!(
        r#"
[[sources]]
name = "{DEMO_SOURCE}"
deployment = {{ kind = "cloud", base_url = "{base_url}", organization = "{DEMO_ORG}", tenant = "{DEMO_TENANT}" }}
auth = {{ method = "client-credentials", client_id = "{DEMO_CLIENT_ID}", client_secret = "{DEMO_CLIENT_SECRET}", scopes = {scopes:?} }}

{live_source}
[token_cache]
file = {tokens:?}

[coordinator]
tick_ms = 200

[embedded]
workers = {workers}
state_dir = {state:?}
api = false

[sink]
dir = {out_dir:?}
"#,
        base_url = sim.base_url(),
        scopes = OR_READ_SCOPES,
        live_source = live::source_toml(&sim.base_url(), OR_READ_SCOPES),
        tokens = path_str(&state.dir.join("tokens.json"))?,
        workers = args.workers,
        state = path_str(&state.dir)?,
        out_dir = path_str(&args.out)?,
    );
    let mut config = FleetConfig::parse(&text).context("building the demo's configuration")?;
    config.worker = base.worker.clone();
    if let Some(n) = args.concurrency {
        config.worker.concurrency = n;
    }
    config.limits = base.limits.clone();
    config.validate()?;
    Ok(config)
}

fn path_str(path: &Path) -> Result<&str, ConfigError> {
    path.to_str()
        .ok_or_else(|| ConfigError(format!("{}: not a UTF-8 path", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn parse(args: &[&str]) -> DemoArgs {
        match crate::Cli::parse_from(["uipath-fleet", "demo"].iter().chain(args)).command {
            crate::Command::Demo(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_are_checked_and_name_themselves() {
        let sim = live::sim_config(NaiveDate::from_ymd_opt(2025, 7, 1).unwrap());
        assert!(sim.live.enabled);
        let a = parse(&[]);
        assert_eq!(a.live_secs, 30);
        assert_eq!(a.datasets().unwrap(), ["jobs", "robot-logs", "audit-logs"]);
        let (from, to) = a.range(&sim).unwrap();
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2025-05-01".into(), "2025-07-01".into())
        );
        let a = parse(&["--days", "3", "--datasets", "Jobs,jobs, robots"]);
        assert_eq!(a.datasets().unwrap(), ["jobs", "robots"]);
        assert_eq!(a.range(&sim).unwrap().0.to_string(), "2025-06-28");
        for (flags, field) in [
            (&["--months", "0"][..], "--months"),
            (&["--months", "7"][..], "--months"),
            (&["--days", "0"][..], "--days"),
            (&["--live-secs", "3601"][..], "--live-secs"),
            (&["--datasets", "nope"][..], "--datasets"),
            (&["--datasets", ","][..], "--datasets"),
        ] {
            let a = parse(flags);
            let e = a
                .datasets()
                .err()
                .or_else(|| a.range(&sim).err())
                .unwrap_or_else(|| panic!("{flags:?} accepted"));
            assert!(e.0.contains(field), "{flags:?}: {e}");
        }
    }
}
