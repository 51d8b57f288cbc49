//! `uipath-sim`: runs the UiPath simulator until SIGTERM or ctrl-c.
//!
//! Prints `uipath-sim listening on http://ADDR` on stdout once the socket is bound, so
//! scripts and tests can wait for that line.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use uipath_sim::config::{SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use uipath_sim::server::{serve, Simulator};

/// A faithful UiPath Automation Cloud simulator (identity, Orchestrator OData, Data
/// Service) with deterministic data, cloud rate limits and fault injection.
#[derive(Debug, Parser)]
#[command(name = "uipath-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "UIPATH_SIM_LISTEN")]
    listen: SocketAddr,
    /// A TOML configuration (organizations, tenants, data, apps, faults); the demo data set
    /// when absent.
    #[arg(long, env = "UIPATH_SIM_CONFIG")]
    config: Option<PathBuf>,
    /// Override the Jobs/QueueItems budget: requests per window (0 disables it).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Override the budget window, in milliseconds.
    #[arg(long)]
    rate_window_ms: Option<u64>,
    /// Override the access-token lifetime, in seconds.
    #[arg(long)]
    token_ttl: Option<u64>,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            SimConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => SimConfig::default(),
    };
    if let Some(n) = args.rate_limit {
        config.rate_limit.requests = n;
    }
    if let Some(ms) = args.rate_window_ms {
        config.rate_limit.window_ms = ms;
    }
    if let Some(ttl) = args.token_ttl {
        config.identity.access_token_ttl_secs = ttl;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(run(args.listen, config))
}

async fn run(listen: SocketAddr, config: SimConfig) -> anyhow::Result<()> {
    let demo = args_summary(&config);
    let sim = Simulator::new(config).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    println!("uipath-sim listening on http://{addr}");
    if let Some(line) = demo {
        println!("{line}");
    }
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal.cancel();
    });
    serve(sim, listener, shutdown).await.context("serving")?;
    Ok(())
}

/// One line naming the demo tenant and app when the demo application is configured.
fn args_summary(config: &SimConfig) -> Option<String> {
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

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
