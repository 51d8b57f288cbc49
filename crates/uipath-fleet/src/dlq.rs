//! `uipath-fleet dlq list|show|replay`: the dead-lettered jobs (being built).

use std::io::Write;
use std::path::Path;

use clap::Subcommand;
use tokio_util::sync::CancellationToken;

use crate::config::FleetConfig;

/// Flags of `uipath-fleet dlq`.
#[derive(Debug, Clone, clap::Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub action: DlqAction,
}

/// What to do with the dead letters.
#[derive(Debug, Clone, Subcommand)]
pub enum DlqAction {
    /// Dead-lettered jobs with their reasons.
    List {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
        config: Option<std::path::PathBuf>,
    },
}

impl DlqArgs {
    /// The configuration file the command reads, if any.
    pub fn config_path(&self) -> Option<&Path> {
        match &self.action {
            DlqAction::List { config } => config.as_deref(),
        }
    }
}

/// Runs `uipath-fleet dlq`.
pub async fn run(
    _args: &DlqArgs,
    _config: &FleetConfig,
    _shutdown: CancellationToken,
    _out: &mut dyn Write,
) -> anyhow::Result<()> {
    anyhow::bail!("`uipath-fleet dlq` is being built")
}
