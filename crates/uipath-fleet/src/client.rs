//! The client commands that talk to a coordinator's HTTP API: `datasets`, `preview`,
//! `backfill`, `sync`, `status`, `cancel` (being built).

use std::io::Write;
use std::path::Path;

use clap::Subcommand;
use tokio_util::sync::CancellationToken;

use crate::config::FleetConfig;

/// The client commands.
#[derive(Debug, Clone, Subcommand)]
pub enum ClientCommand {
    /// What can be synced, with fields.
    Datasets(CommonArgs),
}

/// Flags every client command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// The configuration file (TOML).
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: Option<std::path::PathBuf>,
}

impl ClientCommand {
    /// The configuration file the command reads, if any.
    pub fn config_path(&self) -> Option<&Path> {
        match self {
            ClientCommand::Datasets(a) => a.config.as_deref(),
        }
    }
}

/// Runs a client command.
pub async fn run(
    _command: &ClientCommand,
    _config: &FleetConfig,
    _shutdown: CancellationToken,
    _out: &mut dyn Write,
) -> anyhow::Result<()> {
    anyhow::bail!("the client commands are being built")
}
