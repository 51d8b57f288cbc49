//! `uipath-sim`: runs the UiPath simulator until SIGTERM or ctrl-c.
//!
//! Prints `uipath-sim listening on http://ADDR` on stdout once the socket is bound, so
//! scripts and tests can wait for that line. The same server is `uipath-fleet sim`.

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use uipath_sim::cli::SimArgs;

/// A faithful UiPath Automation Cloud simulator (identity, Orchestrator OData, Data
/// Service) with deterministic data, cloud rate limits and fault injection.
#[derive(Debug, Parser)]
#[command(name = "uipath-sim", version)]
struct Args {
    #[command(flatten)]
    sim: SimArgs,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            signal.cancel();
        });
        args.sim.serve(shutdown, &mut std::io::stdout()).await
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
