//! The `uipath-fleet` binary: parses flags, sets up logging and signals, loads the
//! configuration, and calls [`uipath_fleet::run`].
//!
//! Exit codes: 0 done (including a drained shutdown, and stdout closed by its reader,
//! as `| head` does), 1 failed, 2 the configuration (file, environment or flags) is
//! wrong, 130 a second signal cut the drain short.

use std::process::ExitCode;

use clap::Parser as _;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;
use uipath_fleet::{Cli, FleetConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_json, cli.command.default_log_filter());
    let loaded = match cli.command.config_path() {
        Some(path) => FleetConfig::load(path),
        None => FleetConfig::parse(""),
    };
    let config = match loaded {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let shutdown = CancellationToken::new();
    let on_signal = tokio::spawn(shut_down_on_signals(shutdown.clone()));
    let result = uipath_fleet::run(&cli.command, &config, shutdown, &mut std::io::stdout()).await;
    on_signal.abort();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `uipath-fleet status --json | head`: the reader has all it wanted.
        Err(e) if uipath_fleet::output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if uipath_fleet::is_config_error(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The first SIGTERM or ctrl-c cancels `shutdown` (the command drains and returns); a
/// second one exits at once, leaving unfinished jobs to the broker's redelivery.
async fn shut_down_on_signals(shutdown: CancellationToken) {
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot listen for signals; stop the process with SIGKILL");
            return;
        }
    };
    let name = signals.next().await;
    info!(
        signal = name,
        "shutting down; send the signal again to stop at once"
    );
    shutdown.cancel();
    let name = signals.next().await;
    warn!(signal = name, "second signal: exiting without draining");
    std::process::exit(130);
}

/// SIGTERM (what Kubernetes and `docker stop` send) and SIGINT (ctrl-c).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    /// Waits for the next signal; returns its name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }
}

/// Logs go to stderr (stdout is for the operator), filtered by `RUST_LOG`, else by the
/// command's default (info for the fleet's own crates in `worker`, `coordinator`, `sink`
/// and `sim`; warnings only elsewhere).
fn init_tracing(json: bool, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a terminal: a log file or a pipe gets plain `key=value` text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
