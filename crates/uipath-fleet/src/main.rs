//! The `uipath-fleet` binary: parses flags, sets up logging and ctrl-c, loads the
//! configuration, and calls [`uipath_fleet::run`].

use std::process::ExitCode;

use clap::Parser as _;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use uipath_fleet::{Cli, FleetConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    let config = match FleetConfig::load(cli.command.config_path()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let shutdown = CancellationToken::new();
    let on_signal = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                shutdown.cancel();
            }
        }
    });
    let result = uipath_fleet::run(&cli.command, &config, shutdown, &mut std::io::stdout()).await;
    on_signal.abort();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout is for the operator), filtered by `RUST_LOG` (default `warn`).
fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
