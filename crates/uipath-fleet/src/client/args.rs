//! The flags of the client commands.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use fleet_core::Secret;
use url::Url;

/// The client commands (top-level commands of `uipath-fleet`).
#[derive(Debug, Clone, Subcommand)]
pub enum ClientCommand {
    /// List the datasets that can be synced, with their scope, time and key fields;
    /// with `--source`, also that source's Data Service entities and their fields.
    Datasets(DatasetsArgs),

    /// Read a few records of a dataset now, publishing nothing: to see what a backfill
    /// would copy.
    Preview(PreviewArgs),

    /// Copy a date range of one or more datasets: submit a backfill and print its id
    /// (an identical earlier request is returned instead of a new one). `--wait` shows
    /// progress until it ends.
    Backfill(BackfillArgs),

    /// Keep datasets up to date on a schedule (`--every 15m` or `--cron "*/15 * * * *"`).
    Sync(SyncArgs),

    /// Recent requests as a table; with an ID, one request with its progress.
    Status(StatusArgs),

    /// Cancel a request: queued slices are dropped, running ones stop at their next
    /// page, a sync plans no more windows.
    Cancel(CancelArgs),
}

/// Where the coordinator is, and how to talk to it.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The configuration file (TOML); its `[coordinator]` says where the API is.
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: Option<PathBuf>,

    /// The coordinator's URL (default: coordinator.url, else http://<coordinator.listen>).
    #[arg(long, value_name = "URL", env = "UIPATH_FLEET_COORDINATOR")]
    pub coordinator: Option<Url>,

    /// The API's bearer token (default: coordinator.api_token).
    #[arg(long, value_name = "TOKEN", env = "UIPATH_FLEET_API_TOKEN", hide_env_values = true, value_parser = secret)]
    pub api_token: Option<Secret>,
}

fn secret(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text))
}

/// Flags of `uipath-fleet datasets`.
#[derive(Debug, Clone, Args)]
pub struct DatasetsArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Also list this source's Data Service entities.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `uipath-fleet preview`.
#[derive(Debug, Clone, Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The source to read.
    #[arg(long, value_name = "NAME")]
    pub source: String,
    /// The dataset (`jobs`, `QueueItems`, `dataservice/<Entity>`, ...).
    #[arg(long, value_name = "NAME")]
    pub dataset: String,
    /// Start of the range: `YYYY-MM-DD` or an RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the range (exclusive).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// A folder path or key (default: all visible folders).
    #[arg(long, value_name = "FOLDER")]
    pub folder: Option<String>,
    /// Fields to read, comma separated (default: all).
    #[arg(long, value_name = "FIELDS", value_delimiter = ',')]
    pub select: Vec<String>,
    /// How many records, 1 to 100 (default 10).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
}

/// What backfills and syncs share.
#[derive(Debug, Clone, Args)]
pub struct RequestFlags {
    /// A source to read (repeat, or separate with commas).
    #[arg(long = "source", value_name = "NAME", value_delimiter = ',')]
    pub sources: Vec<String>,
    /// A dataset to copy (repeat, or separate with commas).
    #[arg(long = "dataset", value_name = "NAME", value_delimiter = ',')]
    pub datasets: Vec<String>,
    /// Slice width (`1h`, `1d`, `7d`, ...; default: chosen from a `$count` probe).
    #[arg(long, value_name = "WIDTH")]
    pub width: Option<String>,
    /// The fields to read of a dataset: `DATASET=F1,F2` (repeat per dataset).
    #[arg(long, value_name = "DATASET=FIELDS")]
    pub select: Vec<String>,
    /// A JSON file with the request body; the flags above are written over it.
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,
    /// Run the same work again as a new request, even though an identical one exists (one
    /// that was cancelled, or finished and should be read again). Without it, submitting
    /// the same request returns the earlier one.
    #[arg(long)]
    pub rerun: bool,
    /// Print the API's JSON (with `"created"`).
    #[arg(long)]
    pub json: bool,
}

/// Flags of `uipath-fleet backfill`.
#[derive(Debug, Clone, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(flatten)]
    pub request: RequestFlags,
    /// Start of the range: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the range (exclusive), not in the future.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Show progress until the backfill ends; exit 0 if it completed, 1 otherwise.
    #[arg(long, conflicts_with = "dry_run")]
    pub wait: bool,
    /// Only estimate: slices, records and API requests (from `$count` probes) and the
    /// time at the tenant's budget, per source and dataset. Nothing is stored; the
    /// probes are reused by a real submission within 15 minutes.
    #[arg(long)]
    pub dry_run: bool,
    /// How often to poll while waiting, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, hide = true)]
    pub poll_ms: u64,
}

/// Flags of `uipath-fleet sync`.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(flatten)]
    pub request: RequestFlags,
    /// Run every interval (`10s` to `7d`).
    #[arg(long, value_name = "INTERVAL", conflicts_with = "cron")]
    pub every: Option<String>,
    /// Run on a cron schedule (UTC), e.g. `"*/15 * * * *"`.
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// How far each window reaches back to catch late updates (default 15m).
    #[arg(long, value_name = "DURATION")]
    pub lookback: Option<String>,
    /// How long data needs to settle before it is read (default 2m).
    #[arg(long, value_name = "DURATION")]
    pub settle: Option<String>,
    /// Start of the first window (default: now).
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
}

/// Flags of `uipath-fleet status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// A request id; without one, the recent requests.
    pub id: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
    /// With an ID: show progress until the request ends (or ctrl-c).
    #[arg(long, requires = "id")]
    pub watch: bool,
    /// How many recent requests to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// How often to poll while watching, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, hide = true)]
    pub poll_ms: u64,
}

/// Flags of `uipath-fleet cancel`.
#[derive(Debug, Clone, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The request to cancel.
    pub id: String,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
}

impl ClientCommand {
    pub(super) fn connection(&self) -> &Connection {
        match self {
            ClientCommand::Datasets(a) => &a.connection,
            ClientCommand::Preview(a) => &a.connection,
            ClientCommand::Backfill(a) => &a.connection,
            ClientCommand::Sync(a) => &a.connection,
            ClientCommand::Status(a) => &a.connection,
            ClientCommand::Cancel(a) => &a.connection,
        }
    }

    /// The configuration file the command reads, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.connection().config.as_deref()
    }
}
