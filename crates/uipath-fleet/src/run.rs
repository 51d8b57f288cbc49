//! `uipath-fleet run --config FILE`: a whole fleet in this process (see
//! [`crate::embedded`]), doing the `[[backfills]]` and `[[syncs]]` of the file.
//!
//! Order of events: apply flags over the file and check the result (`--until-done` with
//! `[[syncs]]` is refused: a sync never ends); start the fleet (resuming whatever an
//! earlier run on the same state left unfinished); submit every configured request (an
//! identical earlier one is kept, so restarting is harmless; a refused one is a
//! configuration error naming `backfills[i].<field>`); retry what an earlier run left
//! failed for a cause that may be gone by now (a fixed secret, a granted scope: see
//! [`crate::rerun`]), saying so on stdout; show live progress on stderr;
//! then either run until SIGTERM/ctrl-c (workers drain: running jobs stop at their next
//! page with their checkpoint kept) or, with `--until-done`, until every backfill has
//! ended. Exit 0 when all completed (or after a drained shutdown), 1 when one failed or
//! was cancelled, 2 for a configuration mistake.
//!
//! stdout carries a few lines for operators and scripts: where the fleet runs, each
//! submitted request, and one line per request at the end.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fleet_core::ledger::RequestState;
use tokio_util::sync::CancellationToken;

use crate::cli::BackendArgs;
use crate::config::{ConfigError, FleetConfig};
use crate::embedded::{is_distributed, EmbeddedFleet};
use crate::progress::{state_name, Board, Row};
use crate::rerun::{describe_kept, describe_retried, retry_failed};

/// How often progress is read.
const POLL: Duration = Duration::from_millis(500);

/// Flags of `uipath-fleet run`. Each overrides its field of the file.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The configuration file (TOML): `[[sources]]`, `[[backfills]]`, `[[syncs]]`, and
    /// optionally `[embedded]`, `[worker]`, `[coordinator]`, `[limits]`.
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: Option<PathBuf>,

    /// Run on RabbitMQ and Redis instead of in-process (both URLs needed, from the flags
    /// or `[broker]`/`[redis]`); records then go to the broker's output queues.
    #[command(flatten)]
    pub backends: BackendArgs,

    /// Stop once every configured backfill has ended: exit 0 if all completed, 1
    /// otherwise. Refused when the file has `[[syncs]]`.
    #[arg(long)]
    pub until_done: bool,

    /// Workers in this process (overrides embedded.workers).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// Job slots per worker (overrides worker.concurrency).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// The state directory, holding the ledger (overrides embedded.state_dir).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// Where records are written (overrides sink.dir).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Address of the coordinator API (overrides coordinator.listen; port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Do not serve the coordinator API (sets embedded.api = false).
    #[arg(long)]
    pub no_api: bool,
}

impl RunArgs {
    /// The configuration file the command reads, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// Writes the flags over the file's values.
    pub fn apply(&self, config: &mut FleetConfig) {
        self.backends.apply(config);
        if let Some(n) = self.workers {
            config.embedded.workers = n;
        }
        if let Some(n) = self.concurrency {
            config.worker.concurrency = n;
        }
        if let Some(dir) = &self.state {
            config.embedded.state_dir = dir.clone();
        }
        if let Some(dir) = &self.out {
            config.sink.dir = dir.clone();
        }
        if let Some(addr) = self.listen {
            config.coordinator.listen = addr;
        }
        if self.no_api {
            config.embedded.api = false;
        }
    }
}

/// Runs `uipath-fleet run`.
pub async fn run(
    args: &RunArgs,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if args.config.is_none() {
        return Err(ConfigError(
            "--config: `uipath-fleet run` needs a configuration file with [[sources]] and the [[backfills]] or [[syncs]] to do".into(),
        )
        .into());
    }
    let config = crate::with_flags(config, |c| args.apply(c))?;
    if args.until_done {
        if !config.syncs.is_empty() {
            return Err(ConfigError(
                "--until-done: the configuration has [[syncs]], which never end; remove them or run without --until-done".into(),
            )
            .into());
        }
        if config.backfills.is_empty() {
            return Err(ConfigError(
                "--until-done: the configuration has no [[backfills]] to wait for".into(),
            )
            .into());
        }
    }

    let started = Instant::now();
    let Some(fleet) = crate::embedded::start(&config, &shutdown).await? else {
        writeln!(out, "stopped before the fleet was running")?;
        return Ok(());
    };
    describe_fleet(&fleet, &config, out)?;

    let submitted = match crate::embedded::submit_configured(&fleet, &config).await {
        Ok(s) => s,
        Err(e) => {
            fleet.stop().await;
            return Err(e);
        }
    };
    for s in &submitted {
        writeln!(
            out,
            "{}: {} {}{}",
            s.origin,
            state_name(&s.kind),
            s.id,
            if s.created {
                ""
            } else {
                " (submitted before, by an earlier run)"
            }
        )?;
        if let Some(e) = &s.estimate {
            writeln!(out, "  {e}")?;
        }
    }
    for s in submitted.iter().filter(|s| !s.created) {
        let retried = match retry_failed(fleet.coordinator(), &s.id).await {
            Ok(r) => r,
            Err(e) => {
                fleet.stop().await;
                let e = anyhow::Error::new(e);
                return Err(e.context(format!("retrying what failed in {}", s.origin)));
            }
        };
        if retried.retried() {
            writeln!(
                out,
                "{}: retrying {} of {} {}: the cause may be gone since the earlier run (credentials, scopes, network)",
                s.origin,
                describe_retried(&retried),
                state_name(&s.kind),
                s.id
            )?;
        }
        if !retried.kept.is_empty() {
            writeln!(
                out,
                "{}: not retrying {} failure(s) of {} ({}): a rerun meets them again; change the request, or add `run = \"2\"` to its table to run it anew",
                s.origin,
                retried.kept.values().sum::<u64>(),
                s.id,
                describe_kept(&retried)
            )?;
        }
    }
    if submitted.is_empty() {
        writeln!(
            out,
            "no [[backfills]] or [[syncs]] in the configuration: submit requests to the API (`uipath-fleet backfill ...`)"
        )?;
    }
    out.flush()?;

    let ids: Vec<String> = submitted.iter().map(|s| s.id.clone()).collect();
    let mut board = Board::new();
    let (finished, interrupted) = fleet
        .watch(&ids, args.until_done, POLL, &shutdown, |views| {
            board.update(&views.iter().map(Row::from).collect::<Vec<_>>());
        })
        .await;
    board.finish();
    let summary = fleet.stop().await;

    let mut failed = Vec::new();
    for (s, v) in submitted.iter().zip(&finished) {
        let state = Row::from(v).state;
        writeln!(
            out,
            "{}: {} {}: {state}, {} records, {}/{} slices",
            s.origin,
            state_name(&s.kind),
            s.id,
            v.progress.counts.records,
            v.progress.done,
            v.progress.total
        )?;
        if v.request.state.is_terminal() && v.request.state != RequestState::Completed {
            failed.push(match &v.request.note {
                Some(note) => format!("{} ended {state}: {note}", s.origin),
                None => format!("{} ended {state}", s.origin),
            });
        }
    }
    let written: u64 = summary.written.values().sum();
    writeln!(
        out,
        "stopped after {:.1}s: {}{}",
        started.elapsed().as_secs_f64(),
        crate::worker::describe(&summary.jobs),
        if is_distributed(&config) {
            String::new()
        } else {
            format!(
                "; {written} records written to {}",
                config.sink.dir.display()
            )
        }
    )?;
    if interrupted && args.until_done {
        writeln!(
            out,
            "interrupted before every backfill ended; run the same command again to resume"
        )?;
    }
    if !failed.is_empty() {
        writeln!(
            out,
            "fix the cause and run the same command again: failures whose cause may be gone (credentials, scopes, folder roles, network, rate limits) are retried"
        )?;
    }
    out.flush()?;
    if !failed.is_empty() {
        anyhow::bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// "fleet running: 2 workers × 4 slots, in-process (state ..., records to ...); API on ..."
fn describe_fleet(
    fleet: &EmbeddedFleet,
    config: &FleetConfig,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (workers, slots) = fleet.workers();
    let variant = if is_distributed(config) {
        "on RabbitMQ and Redis; records go to the broker's output queues".to_owned()
    } else {
        format!(
            "in-process (state in {}, records to {})",
            config.embedded.state_dir.display(),
            config.sink.dir.display()
        )
    };
    let api = match fleet.api_addr() {
        Some(addr) => format!("API on http://{addr}"),
        None => "API not served".to_owned(),
    };
    writeln!(
        out,
        "fleet running: {workers} worker(s) × {slots} slot(s), {variant}; {api}"
    )?;
    if fleet.resumed() > 0 {
        writeln!(
            out,
            "resumed {} unfinished slice(s) of an earlier run",
            fleet.resumed()
        )?;
    }
    out.flush()?;
    Ok(())
}
