//! The client commands that talk to a coordinator's HTTP API: `datasets`, `preview`,
//! `backfill`, `sync`, `status`, `cancel`.
//!
//! Where the coordinator is: `--coordinator URL` (or `UIPATH_FLEET_COORDINATOR`), else
//! `coordinator.url` / `coordinator.listen` of `--config FILE`, else
//! `http://127.0.0.1:8700/`. The bearer token: `--api-token` (or
//! `UIPATH_FLEET_API_TOKEN`), else `coordinator.api_token`.
//!
//! Output: people get tables and sentences on stdout; `--json` prints the API's JSON
//! instead, one document, for scripts (`backfill`/`sync` add `"created": true|false`).
//! Live progress (`backfill --wait`, `status ID --watch`) goes to stderr (see
//! [`crate::progress`]).
//!
//! Exit codes: 0 done; 1 the coordinator refused or failed (each wrong field, the error
//! and the hint are printed), could not be reached, or a waited-for request
//! (`backfill --wait`, `status ID --watch`) ended failed or cancelled; 2 a local mistake
//! (configuration file, `--body` file). `cancel` of a request that had already ended
//! says so and exits 0: nothing of it runs, which is what was asked. The API token is
//! never printed.

mod api;
pub(crate) mod show;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use fleet_core::ledger::RequestState;
use fleet_core::Secret;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;
use tracing::warn;
use url::Url;

pub use self::api::{Api, ApiError, FieldError, Unreachable};
use crate::config::{ConfigError, FleetConfig};
use crate::progress::{ApiRequest, Board, Row};

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
    fn connection(&self) -> &Connection {
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

/// Runs a client command.
pub async fn run(
    command: &ClientCommand,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let connection = command.connection();
    let base = connection
        .coordinator
        .clone()
        .unwrap_or_else(|| config.coordinator.client_url());
    if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
        return Err(ConfigError(format!("--coordinator: `{base}` is not an http(s) URL")).into());
    }
    let token = connection
        .api_token
        .clone()
        .or_else(|| config.coordinator.api_token.clone());
    let api = Api::new(base, token)?;
    match command {
        ClientCommand::Datasets(a) => datasets(&api, a, out).await,
        ClientCommand::Preview(a) => preview(&api, a, out).await,
        ClientCommand::Backfill(a) => backfill(&api, a, shutdown, out).await,
        ClientCommand::Sync(a) => sync(&api, a, out).await,
        ClientCommand::Status(a) => status(&api, a, shutdown, out).await,
        ClientCommand::Cancel(a) => cancel(&api, a, out).await,
    }
}

async fn datasets(api: &Api, args: &DatasetsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let query: Vec<(&str, String)> = args.source.iter().map(|s| ("source", s.clone())).collect();
    let body = api.get(&["datasets"], &query).await?;
    if args.json {
        return print_json(out, &body);
    }
    show::datasets(out, &body)?;
    Ok(())
}

async fn preview(api: &Api, args: &PreviewArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut body = json!({ "source": args.source, "dataset": args.dataset });
    if let Some(from) = &args.from {
        body["from"] = json!(as_rfc3339(from));
    }
    if let Some(to) = &args.to {
        body["to"] = json!(as_rfc3339(to));
    }
    if let Some(folder) = &args.folder {
        body["folder"] = json!(folder);
    }
    if !args.select.is_empty() {
        body["select"] = json!(args.select);
    }
    if let Some(limit) = args.limit {
        body["limit"] = json!(limit);
    }
    let (_, answer) = api.post(&["preview"], &body).await?;
    if args.json {
        return print_json(out, &answer);
    }
    show::preview(out, &answer)?;
    Ok(())
}

/// The API takes RFC 3339 times in a preview; a bare date means midnight UTC, as in
/// backfills.
fn as_rfc3339(text: &str) -> String {
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(_) => format!("{text}T00:00:00Z"),
        Err(_) => text.to_owned(),
    }
}

async fn backfill(
    api: &Api,
    args: &BackfillArgs,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut body = request_body(&args.request)?;
    set_opt(&mut body, "from", &args.from);
    set_opt(&mut body, "to", &args.to);
    if args.dry_run {
        let (_, answer) = api
            .post_query(&["backfills"], &[("dry_run", "true")], &Value::Object(body))
            .await?;
        if args.request.json {
            return print_json(out, &answer);
        }
        show::estimate(out, &answer)?;
        return Ok(());
    }
    let (status, answer) = api.post(&["backfills"], &Value::Object(body)).await?;
    let created = status != reqwest::StatusCode::OK;
    let request: ApiRequest = parse_request(&answer)?;
    if !args.wait {
        submitted(
            out,
            "backfill",
            &request,
            created,
            &answer,
            args.request.json,
        )?;
        if !args.request.json {
            show::submitted_estimate(out, &answer)?;
        }
        return Ok(());
    }
    if !args.request.json {
        show::submitted(out, "backfill", &request, created)?;
        show::submitted_estimate(out, &answer)?;
    }
    let poll = Duration::from_millis(args.poll_ms.max(50));
    let Some(last) = watch(api, &request.id, poll, &shutdown).await? else {
        bail!(
            "stopped waiting; the backfill goes on: see `uipath-fleet status {}`",
            request.id
        );
    };
    if args.request.json {
        let mut last_json = api.get(&["requests", &request.id], &[]).await?;
        last_json["created"] = json!(created);
        print_json(out, &last_json)?;
    } else {
        show::request(out, &last)?;
    }
    ended(&last)
}

/// Ok if the request completed; an error saying how it ended otherwise.
fn ended(request: &ApiRequest) -> anyhow::Result<()> {
    match request.state() {
        Some(RequestState::Completed) => Ok(()),
        // Nothing was planned: the reason is the note (a probe or folder listing that
        // failed, the cap), not dead letters.
        Some(RequestState::Failed) if request.progress.total == 0 => bail!(
            "request {} failed before any slice was planned: {}",
            request.id,
            request.note.as_deref().unwrap_or("no reason recorded")
        ),
        Some(RequestState::Failed) => bail!(
            "request {} failed: {} of {} slices failed{} (see `uipath-fleet dlq`)",
            request.id,
            request.progress.failed,
            request.progress.total,
            request
                .note
                .as_deref()
                .map(|n| format!("; {n}"))
                .unwrap_or_default()
        ),
        _ => bail!("request {} ended {}", request.id, request.state),
    }
}

async fn sync(api: &Api, args: &SyncArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut body = request_body(&args.request)?;
    set_opt(&mut body, "every", &args.every);
    set_opt(&mut body, "cron", &args.cron);
    set_opt(&mut body, "lookback", &args.lookback);
    set_opt(&mut body, "settle", &args.settle);
    set_opt(&mut body, "start", &args.start);
    let (status, answer) = api.post(&["syncs"], &Value::Object(body)).await?;
    let created = status != reqwest::StatusCode::OK;
    let request = parse_request(&answer)?;
    submitted(out, "sync", &request, created, &answer, args.request.json)
}

fn submitted(
    out: &mut dyn Write,
    kind: &str,
    request: &ApiRequest,
    created: bool,
    answer: &Value,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let mut answer = answer.clone();
        answer["created"] = json!(created);
        return print_json(out, &answer);
    }
    show::submitted(out, kind, request, created)?;
    Ok(())
}

/// The request body: `--body FILE` if given, with the flags written over it.
fn request_body(flags: &RequestFlags) -> anyhow::Result<Map<String, Value>> {
    let mut body = match &flags.body {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("--body: cannot read {}: {e}", path.display())))?;
            match serde_json::from_str(&text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(ConfigError(format!(
                        "--body: {} must hold a JSON object",
                        path.display()
                    ))
                    .into())
                }
                Err(e) => {
                    return Err(
                        ConfigError(format!("--body: {} is not JSON: {e}", path.display())).into(),
                    )
                }
            }
        }
        None => Map::new(),
    };
    if !flags.sources.is_empty() {
        body.remove("source");
        body.insert("sources".into(), json!(flags.sources));
    }
    if !flags.datasets.is_empty() {
        body.insert("datasets".into(), json!(flags.datasets));
    }
    if let Some(width) = &flags.width {
        body.insert("slice_width".into(), json!(width));
    }
    if !flags.select.is_empty() {
        let mut select: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for item in &flags.select {
            let Some((dataset, fields)) = item.split_once('=') else {
                return Err(ConfigError(format!(
                    "--select: `{item}` must be DATASET=FIELD1,FIELD2"
                ))
                .into());
            };
            select.entry(dataset.trim().to_owned()).or_default().extend(
                fields
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned),
            );
        }
        body.insert("select".into(), json!(select));
    }
    if flags.rerun {
        // The API's `run` label is part of the request's identity: a new label, a new
        // request of the same work.
        body.insert(
            "run".into(),
            json!(chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()),
        );
    }
    Ok(body)
}

fn set_opt(body: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        body.insert(key.to_owned(), json!(v));
    }
}

fn parse_request(value: &Value) -> anyhow::Result<ApiRequest> {
    serde_json::from_value(value.clone())
        .context("the coordinator's answer is not a request; is it a uipath-fleet coordinator of the same version?")
}

async fn status(
    api: &Api,
    args: &StatusArgs,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let Some(id) = &args.id else {
        let body = api
            .get(&["requests"], &[("limit", args.limit.max(1).to_string())])
            .await?;
        if args.json {
            return print_json(out, &body);
        }
        let requests: Vec<ApiRequest> = serde_json::from_value(
            body.get("requests")
                .cloned()
                .unwrap_or(Value::Array(Vec::new())),
        )
        .context("the coordinator's answer is not a list of requests")?;
        show::requests(out, &requests)?;
        return Ok(());
    };
    let mut watched = None;
    if args.watch {
        let poll = Duration::from_millis(args.poll_ms.max(50));
        watched = watch(api, id, poll, &shutdown).await?;
    }
    let body = api.get(&["requests", id], &[]).await?;
    let request = parse_request(&body)?;
    if args.json {
        print_json(out, &body)?;
    } else {
        show::request(out, &request)?;
    }
    // `--watch` waits for the end and says how it ended in its exit code, as
    // `backfill --wait` does: 0 only for a request that completed.
    if watched.is_some() {
        ended(&request)?;
    }
    Ok(())
}

async fn cancel(api: &Api, args: &CancelArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let body = api.delete(&["requests", &args.id]).await?;
    if args.json {
        return print_json(out, &body);
    }
    let request = parse_request(body.get("request").unwrap_or(&Value::Null))?;
    let dropped = body
        .get("cancelled_slices")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if request.state() != Some(RequestState::Cancelled) {
        // The ledger leaves a request that had ended as it was; nothing runs, which is
        // what the caller wanted, so this is not a failure (exit 0).
        writeln!(
            out,
            "{} had already {}: nothing to cancel",
            request.id, request.state
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "cancelled {}: {dropped} slice(s) dropped; state {}",
        request.id, request.state
    )?;
    Ok(())
}

/// How long the coordinator may be unreachable while we watch before we give up.
const WATCH_PATIENCE: Duration = Duration::from_secs(30);

/// Shows the request's progress until it ends (`Some(last view)`) or `shutdown`
/// (`None`). A coordinator that is briefly away (restart, rollout) is waited for.
async fn watch(
    api: &Api,
    id: &str,
    poll: Duration,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<ApiRequest>> {
    let mut board = Board::new();
    let mut last_ok = Instant::now();
    loop {
        match api.get(&["requests", id], &[]).await {
            Ok(body) => {
                last_ok = Instant::now();
                let request = parse_request(&body)?;
                board.update(&[Row::from(&request)]);
                if request.is_terminal() {
                    board.finish();
                    return Ok(Some(request));
                }
            }
            Err(e) if transient(&e) && last_ok.elapsed() < WATCH_PATIENCE => {
                warn!(error = %e, "cannot read the request's progress; trying again");
            }
            Err(e) => {
                board.finish();
                return Err(e);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = shutdown.cancelled() => {
                board.finish();
                return Ok(None);
            }
        }
    }
}

fn transient(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Unreachable>().is_some()
        || e.downcast_ref::<ApiError>().is_some_and(|a| {
            a.status == reqwest::StatusCode::SERVICE_UNAVAILABLE
                || a.status == reqwest::StatusCode::BAD_GATEWAY
        })
}

fn print_json(out: &mut dyn Write, value: &Value) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> ClientCommand {
        let mut all = vec!["uipath-fleet"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).unwrap().command {
            Command::Client(c) => c,
            other => panic!("not a client command: {other:?}"),
        }
    }

    #[test]
    fn backfill_flags_make_the_api_body() {
        let ClientCommand::Backfill(a) = parse(&[
            "backfill",
            "--source",
            "acme,beta",
            "--dataset",
            "jobs",
            "--dataset",
            "queue-items",
            "--from",
            "2024-01-01",
            "--to",
            "2024-02-01",
            "--width",
            "1d",
            "--select",
            "jobs=Id,State",
            "--api-token",
            "t0ken-value",
        ]) else {
            panic!()
        };
        assert!(!format!("{a:?}").contains("t0ken-value"));
        let body = request_body(&a.request).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"sources": ["acme", "beta"], "datasets": ["jobs", "queue-items"],
                   "slice_width": "1d", "select": {"jobs": ["Id", "State"]}})
        );
        let ClientCommand::Backfill(a) = parse(&["backfill", "--select", "jobs"]) else {
            panic!()
        };
        let e = request_body(&a.request).unwrap_err();
        assert!(e.downcast_ref::<ConfigError>().is_some(), "{e}");
    }

    #[test]
    fn sync_takes_every_or_cron_and_status_watch_needs_an_id() {
        let mut all = vec![
            "uipath-fleet",
            "sync",
            "--every",
            "15m",
            "--cron",
            "* * * * *",
        ];
        assert!(Cli::try_parse_from(all.clone()).is_err());
        all.truncate(4);
        assert!(Cli::try_parse_from(all).is_ok());
        assert!(Cli::try_parse_from(["uipath-fleet", "status", "--watch"]).is_err());
        let c = parse(&["status", "bf-1", "--watch", "--config", "x.toml"]);
        assert_eq!(c.config_path(), Some(Path::new("x.toml")));
        assert_eq!(as_rfc3339("2024-01-02"), "2024-01-02T00:00:00Z");
        assert_eq!(as_rfc3339("2024-01-02T03:00:00Z"), "2024-01-02T03:00:00Z");
    }

    #[test]
    fn a_request_that_failed_in_planning_says_why_not_dead_letters() {
        let request: ApiRequest = serde_json::from_value(json!({
            "id": "bf-1", "kind": "backfill", "state": "failed",
            "created_at": "2024-06-01T00:00:00Z", "spec": {}, "planned": false,
            "note": "planning stopped: source acme, $count probe of jobs in folder Finance (..): odata/Jobs: server error (HTTP 503); check ...",
            "progress": {"total": 0, "done": 0, "percent": 0.0, "planned": 0, "queued": 0,
                         "running": 0, "completed": 0, "failed": 0, "split": 0,
                         "cancelled": 0, "records": 0}
        }))
        .unwrap();
        let message = ended(&request).unwrap_err().to_string();
        assert!(
            message.contains("before any slice was planned"),
            "{message}"
        );
        assert!(message.contains("jobs in folder Finance"), "{message}");
        assert!(!message.contains("dlq"), "{message}");
        let mut out = Vec::new();
        show::request(&mut out, &request).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("error     planning stopped"), "{text}");
    }

    #[test]
    fn backfill_dry_run_and_the_estimate_read_in_words() {
        let ClientCommand::Backfill(a) = parse(&["backfill", "--dry-run", "--dataset", "jobs"])
        else {
            panic!()
        };
        assert!(a.dry_run);
        assert!(Cli::try_parse_from(["uipath-fleet", "backfill", "--dry-run", "--wait"]).is_err());
        let answer = json!({"dry_run": true, "id": "bf-9", "estimate": {
            "slices": 1098, "records": 2_196_000, "requests": 4392, "minutes": 54.9,
            "sources": [{"source": "acme", "slices": 1098, "records": 2_196_000,
                "requests": 4392, "minutes": 54.9, "budget_per_minute": {"jobs": 80.0},
                "datasets": [{"dataset": "jobs", "streams": 3, "widths": ["1d"],
                    "slices": 1098, "records": 2_196_000, "requests": 4392}]}]}});
        let mut out = Vec::new();
        show::estimate(&mut out, &answer).unwrap();
        let text = String::from_utf8(out).unwrap();
        for part in [
            "acme    jobs     3        1d     1,098   2,196,000  4,392",
            "acme: about 55 min at 80 jobs requests a minute",
            "1,098 slices, ~2,196,000 records in ~4,392 API requests, about 55 min",
            "nothing was stored",
        ] {
            assert!(text.contains(part), "`{part}` not in:\n{text}");
        }
        let mut out = Vec::new();
        show::submitted_estimate(&mut out, &json!({"estimate": answer["estimate"]})).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .starts_with("estimate: 1,098 slices"));
    }
}
