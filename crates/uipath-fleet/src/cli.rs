//! The command line: flags and subcommands (clap derive). Parsing only; the work is in
//! the modules the subcommands name.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use fleet_core::Secret;
use fleet_worker::OutputMode;

use crate::config::FleetConfig;

/// Copies data out of UiPath Orchestrator and Data Service with a fleet of workers.
#[derive(Debug, Parser)]
#[command(name = "uipath-fleet", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log as JSON lines (on stderr) instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in once in a browser (authorization code + PKCE) and store the refresh token
    /// that a `refresh-token` source needs, e.g. for Data Service.
    ///
    /// Prints a URL to open; after you sign in, the browser is sent back to a listener on
    /// the source's `auth.redirect_uri` (loopback; port 0 picks a free port). The refresh
    /// token is stored in the configured token cache — never printed.
    Login(LoginArgs),

    /// Run a worker of a distributed fleet: take slice jobs from RabbitMQ, read them from
    /// UiPath with the fleet's token cache and rate limiter in Redis, publish the records.
    ///
    /// Runs until SIGTERM or ctrl-c, then drains: running jobs stop at their next page
    /// boundary and are handed back; a second signal exits at once (unfinished jobs are
    /// redelivered by RabbitMQ). Serves /healthz, /readyz and /metrics on `worker.listen`.
    Worker(WorkerArgs),

    /// Try it in one command: start the bundled UiPath simulator and an embedded fleet
    /// (coordinator and workers in this process, nothing to install), back-fill a few
    /// datasets over a few months with live progress, and write the records to `./out/`
    /// as newline-delimited JSON partitioned by dataset and date.
    Demo(crate::demo::DemoArgs),

    /// Run a fleet from a configuration file: coordinator, workers and file sink in this
    /// process on an in-memory broker with state in a local file (embedded), or, with
    /// `--amqp-url` and `--redis-url`, coordinator and workers on RabbitMQ and Redis.
    Run(crate::run::RunArgs),

    /// Run a coordinator of a distributed fleet: the HTTP API, planning, schedules and
    /// progress, on RabbitMQ and Redis.
    Coordinator(crate::coordinator::CoordinatorArgs),

    /// Run the bundled UiPath simulator (identity server, Orchestrator OData, Data
    /// Service) with deterministic data, cloud rate limits and fault injection.
    Sim(crate::sim::SimArgs),

    /// Check each source's credentials, scopes and folder access, per dataset: a table
    /// of what works and what to fix.
    Check(crate::check::CheckArgs),

    #[command(flatten)]
    Client(crate::client::ClientCommand),

    /// Dead-lettered jobs: list them with their reasons, show one, replay them after
    /// fixing the cause.
    Dlq(crate::dlq::DlqArgs),

    /// A downstream consumer: bind a queue to the records exchange and write the
    /// records as newline-delimited JSON files (or to stdout), acknowledging only what
    /// is flushed.
    Sink(crate::sink::SinkArgs),

    /// Check a configuration file without connecting to anything; fails on the first
    /// mistake, naming the field.
    Validate(ValidateArgs),
}

/// Flags of `uipath-fleet validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The configuration file (TOML).
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: PathBuf,
}

/// Flags naming the fleet's shared backends; they override `[broker]` and `[redis]`.
#[derive(Debug, Clone, Default, Args)]
pub struct BackendArgs {
    /// RabbitMQ URL, `amqp://USER:PASSWORD@HOST:PORT/VHOST` (overrides broker.amqp_url).
    #[arg(long, value_name = "URL", env = "UIPATH_FLEET_AMQP_URL", hide_env_values = true, value_parser = secret)]
    pub amqp_url: Option<Secret>,

    /// Redis URL, `redis://[:PASSWORD@]HOST:PORT` (overrides redis.url).
    #[arg(long, value_name = "URL", env = "UIPATH_FLEET_REDIS_URL", hide_env_values = true, value_parser = secret)]
    pub redis_url: Option<Secret>,

    /// Prefix of every queue, exchange and Redis key (overrides broker.prefix and
    /// redis.prefix): fleets with different prefixes share RabbitMQ and Redis unseen.
    #[arg(long, value_name = "PREFIX", env = "UIPATH_FLEET_PREFIX")]
    pub prefix: Option<String>,
}

impl BackendArgs {
    /// Writes the flags (and their environment variables) over the file's values.
    pub fn apply(&self, config: &mut FleetConfig) {
        if let Some(url) = &self.amqp_url {
            config.broker.amqp_url = Some(url.clone());
        }
        if let Some(url) = &self.redis_url {
            config.redis.url = Some(url.clone());
        }
        if let Some(prefix) = &self.prefix {
            config.broker.prefix = Some(prefix.clone());
            config.redis.prefix = Some(prefix.clone());
        }
    }
}

/// Flags of `uipath-fleet worker`. Each overrides its `[worker]` field.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// The configuration file (TOML) with `[[sources]]`, `[broker]`, `[redis]`, `[worker]`.
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: PathBuf,

    #[command(flatten)]
    pub backends: BackendArgs,

    /// This worker's name in logs (overrides worker.id).
    #[arg(long, value_name = "NAME", env = "UIPATH_FLEET_WORKER_ID")]
    pub id: Option<String>,

    /// Slice jobs worked on at once (overrides worker.concurrency).
    #[arg(long, value_name = "N", env = "UIPATH_FLEET_CONCURRENCY")]
    pub concurrency: Option<usize>,

    /// `record` (one message per record) or `page` (overrides worker.output).
    #[arg(long, value_name = "SHAPE", env = "UIPATH_FLEET_OUTPUT", value_parser = output_mode)]
    pub output: Option<OutputMode>,

    /// Address of /healthz, /readyz and /metrics (overrides worker.listen).
    #[arg(long, value_name = "ADDR", env = "UIPATH_FLEET_LISTEN")]
    pub listen: Option<SocketAddr>,
}

impl WorkerArgs {
    /// Writes the flags (and their environment variables) over the file's values.
    pub fn apply(&self, config: &mut FleetConfig) {
        self.backends.apply(config);
        let w = &mut config.worker;
        if let Some(id) = &self.id {
            w.id = Some(id.clone());
        }
        if let Some(n) = self.concurrency {
            w.concurrency = n;
        }
        if let Some(mode) = self.output {
            w.output = mode;
        }
        if let Some(addr) = self.listen {
            w.listen = addr;
        }
    }
}

fn secret(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text))
}

fn output_mode(text: &str) -> Result<OutputMode, String> {
    match text {
        "record" => Ok(OutputMode::Record),
        "page" => Ok(OutputMode::Page),
        other => Err(format!("`{other}`: expected `record` or `page`")),
    }
}

/// Flags of `uipath-fleet login`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The configuration file (TOML) with `[[sources]]` and `[token_cache]`.
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: PathBuf,

    /// The name of the source to log in to (its `name` in the configuration).
    #[arg(long, value_name = "NAME")]
    pub source: String,

    /// Do not print the "waiting for the browser" line: stdout then holds only the URL
    /// line and the result, for scripts that read the URL.
    #[arg(long)]
    pub no_wait_print: bool,

    /// How long to wait for the browser to come back, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout_secs: u64,
}

/// The log filter of the fleet's long-running processes when `RUST_LOG` is not set:
/// what they do at info (a line per slice started and finished, requests planned,
/// files written), everyone else's warnings.
pub const SERVICE_LOG_FILTER: &str =
    "warn,uipath_fleet=info,fleet_assembly=info,fleet_worker=info,fleet_coordinator=info,fleet_sink=info";

/// The log filter of everything else (client commands, `check`, and `demo`/`run`, which
/// draw progress on stderr) when `RUST_LOG` is not set.
pub const QUIET_LOG_FILTER: &str = "warn";

impl Command {
    /// The log filter when `RUST_LOG` is not set: processes that run unattended
    /// (`worker`, `coordinator`, `sink`, `sim`) say what they do; commands a person
    /// watches keep stderr for warnings and progress.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Worker(_) | Command::Coordinator(_) | Command::Sink(_) | Command::Sim(_) => {
                SERVICE_LOG_FILTER
            }
            _ => QUIET_LOG_FILTER,
        }
    }

    /// The configuration file the command reads, if it reads one.
    pub fn config_path(&self) -> Option<&std::path::Path> {
        match self {
            Command::Login(args) => Some(&args.config),
            Command::Worker(args) => Some(&args.config),
            Command::Validate(args) => Some(&args.config),
            Command::Demo(args) => args.config_path(),
            Command::Run(args) => args.config_path(),
            Command::Coordinator(args) => args.config_path(),
            Command::Sim(_) => None,
            Command::Check(args) => args.config_path(),
            Command::Client(command) => command.config_path(),
            Command::Dlq(args) => args.config_path(),
            Command::Sink(args) => args.config_path(),
        }
    }
}
