//! The `uipath-fleet` command line as a library, so tests run it in-process and `main`
//! stays thin: `main` parses flags, loads the configuration
//! and calls [`run`].
//!
//! - [`cli`]: flags and subcommands.
//! - [`config`]: the TOML configuration file ([`FleetConfig`]).
//! - [`token_store`]: opening the configured token cache (Redis or a file, sealed or not).
//! - [`login`]: `uipath-fleet login`, the one-time browser sign-in.

pub mod cli;
pub mod config;
pub mod login;
pub mod token_store;

use std::io::Write;

pub use cli::{Cli, Command};
pub use config::FleetConfig;
use tokio_util::sync::CancellationToken;

/// Runs `command` with `config` until it ends or `shutdown` is cancelled; writes what the
/// operator must read to `out` (logs go to tracing).
pub async fn run(
    command: &Command,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        Command::Login(args) => login::run(args, config, shutdown, out).await,
    }
}
