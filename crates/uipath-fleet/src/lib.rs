//! The `uipath-fleet` command line as a library, so tests run it in-process and `main`
//! stays thin: `main` parses flags, sets up logging and signals, loads the configuration
//! and calls [`run`].
//!
//! - [`cli`]: flags and subcommands.
//! - [`config`]: the TOML configuration file ([`FleetConfig`]) and its sections.
//! - [`backends`], [`embedded`]: the configuration's backends and one-process fleet
//!   mapped into [`fleet_assembly`]'s options (the assembly itself, the token store,
//!   connecting and retrying are the library's).
//! - [`login`]: `uipath-fleet login`, the one-time browser sign-in.
//! - [`worker`]: `uipath-fleet worker`, one worker process of a distributed fleet.
//! - [`coordinator`]: `uipath-fleet coordinator`, the coordinator process of a fleet.
//! - [`demo`], [`run`]: the one-command tour; a fleet from a configuration file;
//!   [`rerun`]: what `run` says it took back from an earlier failed run.
//! - [`client`]: the commands that talk to a coordinator's API (`backfill`, `status`, ...);
//!   [`progress`]: their live progress bars (terminal) or plain lines (pipes, CI).
//! - [`check`]: credentials, scopes and folder access per source and dataset.
//! - [`dlq`]: dead-lettered jobs, listed, shown and replayed.
//! - [`output`]: what the binary makes of its stdout going away (`| head`).
//! - [`sink`]: the file sink as a downstream consumer of RabbitMQ.
//! - [`sim`]: the bundled simulator.

pub mod backends;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod coordinator;
pub mod demo;
pub mod dlq;
pub mod embedded;
pub mod login;
pub mod output;
pub mod progress;
pub mod rerun;
pub mod run;
pub mod sim;
pub mod sink;
pub mod worker;

use std::io::Write;

pub use cli::{Cli, Command};
pub use config::{ConfigError, FleetConfig};
use tokio_util::sync::CancellationToken;

/// Whether `e` is a configuration mistake (exit status 2): the binary's [`ConfigError`]
/// or a setting [`fleet_assembly`] refused.
pub fn is_config_error(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ConfigError>().is_some() || e.chain().any(fleet_assembly::Error::is_config)
}

/// `config` with a command's flags written over it (`apply`), checked again.
pub(crate) fn with_flags(
    config: &FleetConfig,
    apply: impl FnOnce(&mut FleetConfig),
) -> Result<FleetConfig, ConfigError> {
    let mut config = config.clone();
    apply(&mut config);
    config.validate()?;
    Ok(config)
}

/// Runs `command` with `config` until it ends or `shutdown` is cancelled; writes what the
/// operator must read to `out` (logs go to tracing). A configuration mistake found on
/// the way is a [`ConfigError`] (find it with `downcast_ref`).
pub async fn run(
    command: &Command,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        Command::Login(args) => login::run(args, config, shutdown, out).await,
        Command::Worker(args) => worker::run(args, config, shutdown, out).await,
        Command::Demo(args) => demo::run(args, config, shutdown, out).await,
        Command::Run(args) => run::run(args, config, shutdown, out).await,
        Command::Coordinator(args) => coordinator::run(args, config, shutdown, out).await,
        Command::Sim(args) => sim::run(args, config, shutdown, out).await,
        Command::Check(args) => check::run(args, config, shutdown, out).await,
        Command::Client(command) => client::run(command, config, shutdown, out).await,
        Command::Dlq(args) => dlq::run(args, config, shutdown, out).await,
        Command::Sink(args) => sink::run(args, config, shutdown, out).await,
        Command::Validate(args) => {
            writeln!(
                out,
                "{}: valid ({} source(s))",
                args.config.display(),
                config.sources.len()
            )?;
            Ok(())
        }
    }
}
