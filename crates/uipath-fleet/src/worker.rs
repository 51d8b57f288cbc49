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
use std::time::Duration;

use anyhow::Context as _;
use fleet_worker::{RunSummary, Worker};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::backends::Backends;
use crate::cli::WorkerArgs;
use crate::config::{ConfigError, FleetConfig};

/// How long the health listener gets to finish its requests after the worker stopped.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// Runs a worker until `shutdown` is cancelled and its jobs are drained.
pub async fn run(
    args: &WorkerArgs,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut config = config.clone();
    args.apply(&mut config);
    config.validate()?;
    let settings = config.worker.settings()?;
    let id = settings.worker.id.clone();

    let connected = Backends::connect(
        &config,
        &format!("uipath-fleet worker {id}"),
        settings.connect_timeout,
        &shutdown,
    )
    .await;
    let backends = match connected {
        Ok(b) => b,
        // Told to stop while still connecting: nothing was taken, nothing to drain.
        Err(_) if shutdown.is_cancelled() => {
            writeln!(out, "worker {id} stopped before it was ready")?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let sources = backends.sources(&config, &settings.client)?;
    let worker = Worker::new(
        settings.worker.clone(),
        backends.ledger(),
        std::sync::Arc::new(backends.broker.clone()),
        sources,
    )
    .map_err(|e| ConfigError(e.to_string()))?;

    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding worker.listen {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let stop_http = CancellationToken::new();
    let mut http = tokio::spawn(fleet_worker::http::serve(
        worker.clone(),
        listener,
        stop_http.clone(),
    ));
    writeln!(
        out,
        "worker {id} ready: {} job slots, {} output; health and metrics on http://{addr}",
        settings.worker.concurrency,
        settings.worker.output.as_str(),
    )?;
    out.flush()?;

    let summary = worker.run(shutdown).await;

    stop_http.cancel();
    match tokio::time::timeout(HTTP_GRACE, &mut http).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => warn!(error = %e, "the health listener failed"),
        Ok(Err(e)) => warn!(error = %e, "the health listener task failed"),
        Err(_) => {
            warn!("the health listener did not stop in time");
            http.abort();
        }
    }
    backends.close().await;
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
