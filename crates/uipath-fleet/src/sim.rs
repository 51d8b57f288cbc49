//! `uipath-fleet sim`: the bundled UiPath simulator as a process of its own (the same
//! server as the `uipath-sim` binary), for the distributed quick start and compose
//! stack. Serves until SIGTERM or ctrl-c.

use std::io::Write;

use tokio_util::sync::CancellationToken;

use crate::config::FleetConfig;

/// Flags of `uipath-fleet sim` (the simulator's own; it reads no fleet configuration,
/// its own file is `--sim-config`).
pub use uipath_sim::cli::SimArgs;

/// Runs the simulator until `shutdown`.
pub async fn run(
    args: &SimArgs,
    _config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    args.serve(shutdown, out).await
}
