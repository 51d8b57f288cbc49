//! The `uipath-fleet` command line as a library, so tests run it in-process and `main`
//! stays thin: `main` parses flags, sets up logging and signals, loads the configuration
//! and calls [`run`].
//!
//! - [`cli`]: flags and subcommands.
//! - [`config`]: the TOML configuration file ([`FleetConfig`]) and its sections.
//! - [`token_store`]: opening the configured token cache (Redis or a file, sealed or not).
//! - [`backends`]: connecting a fleet process to RabbitMQ and Redis; [`connect`]: the
//!   start-up retry it uses.
//! - [`login`]: `uipath-fleet login`, the one-time browser sign-in.
//! - [`worker`]: `uipath-fleet worker`, one worker process of a distributed fleet.

pub mod backends;
pub mod cli;
pub mod config;
pub mod connect;
pub mod login;
pub mod token_store;
pub mod worker;

use std::io::Write;

pub use cli::{Cli, Command};
pub use config::{ConfigError, FleetConfig};
use tokio_util::sync::CancellationToken;

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
    }
}
