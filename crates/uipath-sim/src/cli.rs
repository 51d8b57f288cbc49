//! The simulator's command-line flags and start-up, shared by the `uipath-sim` binary and
//! `uipath-fleet sim`: read the configuration, apply the overrides, bind, print the
//! address (and the demo tenant) on stdout, serve until told to stop.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::config::{SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use crate::server::{serve, Simulator};

/// Flags of the simulator.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "UIPATH_SIM_LISTEN")]
    pub listen: SocketAddr,
    /// A TOML configuration (organizations, tenants, data, apps, faults); the demo data
    /// set when absent.
    #[arg(
        long = "sim-config",
        alias = "config",
        value_name = "FILE",
        env = "UIPATH_SIM_CONFIG"
    )]
    pub config: Option<PathBuf>,
    /// Override the Jobs/QueueItems budget: requests per window (0 disables it).
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Override the budget window, in milliseconds.
    #[arg(long)]
    pub rate_window_ms: Option<u64>,
    /// Override the access-token lifetime, in seconds.
    #[arg(long)]
    pub token_ttl: Option<u64>,
    /// Serve the frozen snapshot (everything as of the configured `span_end`) instead of a
    /// tenant that lives in wall-clock time (live mode is the default here).
    #[arg(long)]
    pub frozen: bool,
}

impl SimArgs {
    /// The configuration the flags ask for: the file (or the demo set) with overrides.
    pub fn load(&self) -> anyhow::Result<SimConfig> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                SimConfig::from_toml(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => SimConfig::default().live(),
        };
        // Live unless asked for the snapshot; a file's `[live]` settings (cadence, horizon)
        // are kept.
        config.live.enabled = !self.frozen;
        if let Some(n) = self.rate_limit {
            config.rate_limit.requests = n;
        }
        if let Some(ms) = self.rate_window_ms {
            config.rate_limit.window_ms = ms;
        }
        if let Some(ttl) = self.token_ttl {
            config.identity.access_token_ttl_secs = ttl;
        }
        Ok(config)
    }

    /// Serves until `shutdown`; prints `uipath-sim listening on http://ADDR` (and a line
    /// naming the demo tenant and app) to `out` once the socket is bound.
    pub async fn serve(
        &self,
        shutdown: CancellationToken,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let config = self.load()?;
        let demo = demo_line(&config);
        let sim =
            Simulator::new(config).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("binding {}", self.listen))?;
        let addr = listener.local_addr()?;
        writeln!(out, "uipath-sim listening on http://{addr}")?;
        if let Some(line) = demo {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        serve(sim, listener, shutdown).await.context("serving")?;
        Ok(())
    }
}

/// One line naming the demo tenant and app when the demo application is configured.
pub fn demo_line(config: &SimConfig) -> Option<String> {
    let app = config.identity.apps.iter().find(|a| {
        a.client_id == DEMO_CLIENT_ID && a.client_secret.as_deref() == Some(DEMO_CLIENT_SECRET)
    })?;
    let org = config.orgs.first()?;
    let tenant = org.tenants.first()?;
    Some(format!(
        "demo: organization {} tenant {}, client_credentials app {} (secret in the README)",
        org.name, tenant.name, app.client_id
    ))
}
