//! `uipath-fleet coordinator`: one coordinator process of a distributed fleet — the HTTP
//! API, planning, schedules and progress, on RabbitMQ and Redis.
//!
//! Order of events: apply flags over the file and check the result; connect RabbitMQ and
//! Redis (retried for `coordinator.connect_timeout_secs`, then an error naming the
//! backend); build the sources' clients on the fleet's token cache and rate limiter;
//! bind `coordinator.listen`; print one "ready" line with the API's URL; serve and lead
//! until `shutdown`; close the broker connection; print one "stopped" line.
//!
//! stdout carries only those two lines; logs go to stderr. The API token is never
//! printed. Several coordinators may run against the same prefix: schedules are led by
//! whoever holds the lease, and any of them answers the API.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use fleet_assembly::CoordinatorProcess;
use fleet_core::Secret;
use tokio_util::sync::CancellationToken;

use crate::backends::process_options;
use crate::cli::BackendArgs;
use crate::config::{ConfigError, FleetConfig};

/// Flags of `uipath-fleet coordinator`. Each overrides its field of the file.
#[derive(Debug, Clone, clap::Args)]
pub struct CoordinatorArgs {
    /// The configuration file (TOML) with `[[sources]]`, `[broker]`, `[redis]`,
    /// `[coordinator]`.
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub backends: BackendArgs,

    /// Address of the HTTP API, /healthz, /readyz and /metrics (overrides
    /// coordinator.listen).
    #[arg(long, value_name = "ADDR", env = "UIPATH_FLEET_COORDINATOR_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// The bearer token the API requires (overrides coordinator.api_token). Prefer the
    /// environment variable: a flag's value shows in the process list.
    #[arg(long, value_name = "TOKEN", env = "UIPATH_FLEET_API_TOKEN", hide_env_values = true, value_parser = secret)]
    pub api_token: Option<Secret>,
}

fn secret(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text))
}

impl CoordinatorArgs {
    /// The configuration file the command reads, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// Writes the flags (and their environment variables) over the file's values.
    pub fn apply(&self, config: &mut FleetConfig) {
        self.backends.apply(config);
        if let Some(addr) = self.listen {
            config.coordinator.listen = addr;
        }
        if let Some(token) = &self.api_token {
            config.coordinator.api_token = Some(token.clone());
        }
    }
}

/// Runs a coordinator until `shutdown` is cancelled.
pub async fn run(
    args: &CoordinatorArgs,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let config = crate::with_flags(config, |c| args.apply(c))?;
    if config.sources.is_empty() {
        return Err(ConfigError(
            "sources: no [[sources]] configured; pass --config FILE with at least one source"
                .into(),
        )
        .into());
    }
    let settings = config.coordinator.settings_with(&config.limits);
    let replica = settings.replica.clone();
    let process = format!("uipath-fleet coordinator {replica}");
    let c = &config.coordinator;
    let options = process_options(&config, &process, c.connect_timeout, c.listen)?;
    let Some(coordinator) = CoordinatorProcess::start(&options, settings, &shutdown).await? else {
        writeln!(out, "coordinator {replica} stopped before it was ready")?;
        return Ok(());
    };
    let addr = coordinator.addr()?;
    let shown = if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    writeln!(
        out,
        "coordinator {replica} ready: API on http://{shown}/v1 ({} source(s){})",
        config.sources.len(),
        if config.coordinator.api_token.is_some() {
            ", bearer token required"
        } else {
            ""
        }
    )?;
    out.flush()?;

    coordinator.run(shutdown).await?;
    writeln!(out, "coordinator {replica} stopped")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn flags_override_the_file_and_hide_the_token() {
        let cli = Cli::try_parse_from([
            "uipath-fleet",
            "coordinator",
            "--config",
            "f.toml",
            "--listen",
            "127.0.0.1:0",
            "--api-token",
            "s3cret-token",
            "--prefix",
            "p9",
        ])
        .unwrap();
        let Command::Coordinator(args) = &cli.command else {
            panic!("not coordinator")
        };
        assert!(!format!("{args:?}").contains("s3cret-token"));
        let mut config = FleetConfig::parse("").unwrap();
        args.apply(&mut config);
        assert_eq!(config.coordinator.listen.port(), 0);
        assert_eq!(
            config.coordinator.api_token.as_ref().map(Secret::expose),
            Some("s3cret-token")
        );
        assert_eq!(config.broker.prefix(), "p9");
    }
}
