//! `uipath-fleet worker`: one worker process of a distributed fleet.
//!
//! Order of events: apply flags over the file and check the result; connect RabbitMQ and
//! Redis (retried for `worker.connect_timeout_secs`, then an error naming the backend);
//! bind the health listener; print one "ready" line; work jobs until `shutdown`; drain
//! (running jobs stop at their next page boundary and are handed back, anything still
//! running at `worker.drain_deadline_secs` is left to redelivery); stop the listener;
//! close the broker connection; print a one-line summary.
//!
//! stdout carries only those two lines, for operators and scripts; logs go to stderr.

use std::io::Write;

use fleet_assembly::WorkerProcess;
use fleet_worker::RunSummary;
use tokio_util::sync::CancellationToken;

use crate::backends::process_options;
use crate::cli::WorkerArgs;
use crate::config::{ConfigError, FleetConfig};

/// Runs a worker until `shutdown` is cancelled and its jobs are drained.
pub async fn run(
    args: &WorkerArgs,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let config = crate::with_flags(config, |c| args.apply(c))?;
    let settings = config.worker.settings().map_err(ConfigError::from)?;
    let id = settings.worker.id.clone();
    let process = format!("uipath-fleet worker {id}");
    let options = process_options(&config, &process, settings.connect_timeout, settings.listen)?;
    let started = WorkerProcess::start(
        &options,
        settings.worker.clone(),
        &settings.client,
        &shutdown,
    );
    let Some(worker) = started.await? else {
        writeln!(out, "worker {id} stopped before it was ready")?;
        return Ok(());
    };
    writeln!(
        out,
        "worker {id} ready: {} job slots, {} output; health and metrics on http://{}",
        settings.worker.concurrency,
        settings.worker.output.as_str(),
        worker.addr(),
    )?;
    out.flush()?;

    let summary = worker.run(shutdown).await;
    writeln!(out, "worker {id} stopped: {}", describe(&summary))?;
    out.flush()?;
    Ok(())
}

/// "12 completed, 3 released; 0 left to redelivery"
pub fn describe(summary: &RunSummary) -> String {
    let outcomes: Vec<String> = summary
        .outcomes
        .iter()
        .map(|(outcome, n)| format!("{n} {outcome}"))
        .collect();
    let outcomes = if outcomes.is_empty() {
        "no jobs".to_owned()
    } else {
        outcomes.join(", ")
    };
    format!("{outcomes}; {} left to redelivery", summary.abandoned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_reads_well() {
        let mut s = RunSummary::default();
        assert_eq!(describe(&s), "no jobs; 0 left to redelivery");
        s.outcomes.insert("completed", 12);
        s.outcomes.insert("released", 3);
        s.abandoned = 1;
        assert_eq!(
            describe(&s),
            "12 completed, 3 released; 1 left to redelivery"
        );
    }
}
