//! `uipath-fleet demo`: (being built).

use std::io::Write;
use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::config::FleetConfig;

/// Flags of `uipath-fleet demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// The configuration file (TOML).
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: Option<std::path::PathBuf>,
}

impl DemoArgs {
    /// The configuration file the command reads, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }
}

/// Runs `uipath-fleet demo`.
pub async fn run(
    _args: &DemoArgs,
    _config: &FleetConfig,
    _shutdown: CancellationToken,
    _out: &mut dyn Write,
) -> anyhow::Result<()> {
    anyhow::bail!("`uipath-fleet demo` is being built")
}
