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
//! [`crate::progress`]). The calls themselves are `fleet_coordinator::remote`, which
//! decodes the very types the coordinator answers with.
//!
//! Exit codes: 0 done; 1 the coordinator refused or failed (each wrong field, the error
//! and the hint are printed), could not be reached, or a waited-for request
//! (`backfill --wait`, `status ID --watch`) ended failed or cancelled; 2 a local mistake
//! (configuration file, `--body` file). `cancel` of a request that had already ended
//! says so and exits 0: nothing of it runs, which is what was asked. The API token is
//! never printed.

mod args;
pub(crate) mod show;

pub use args::{
    BackfillArgs, CancelArgs, ClientCommand, Connection, DatasetsArgs, PreviewArgs, RequestFlags,
    StatusArgs, SyncArgs,
};

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::bail;
use fleet_coordinator::remote::{Answer, ApiClient, RequestView};
use fleet_core::ledger::RequestState;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, FleetConfig};
use crate::progress::{Board, Row};

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
    let api = ApiClient::new(base, token)?;
    match command {
        ClientCommand::Datasets(a) => datasets(&api, a, out).await,
        ClientCommand::Preview(a) => preview(&api, a, out).await,
        ClientCommand::Backfill(a) => backfill(&api, a, shutdown, out).await,
        ClientCommand::Sync(a) => sync(&api, a, out).await,
        ClientCommand::Status(a) => status(&api, a, shutdown, out).await,
        ClientCommand::Cancel(a) => cancel(&api, a, out).await,
    }
}

async fn datasets(api: &ApiClient, args: &DatasetsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let answer = api.datasets(args.source.as_deref()).await?;
    if args.json {
        return print_json(out, &answer.json);
    }
    show::datasets(out, &answer.view)?;
    Ok(())
}

async fn preview(api: &ApiClient, args: &PreviewArgs, out: &mut dyn Write) -> anyhow::Result<()> {
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
    let answer = api.preview(&body).await?;
    if args.json {
        return print_json(out, &answer.json);
    }
    show::preview(out, &answer.view)?;
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
    api: &ApiClient,
    args: &BackfillArgs,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut body = request_body(&args.request)?;
    set_opt(&mut body, "from", &args.from);
    set_opt(&mut body, "to", &args.to);
    let body = Value::Object(body);
    if args.dry_run {
        let answer = api.dry_run(&body).await?;
        if args.request.json {
            return print_json(out, &answer.json);
        }
        show::estimate(out, &answer.view)?;
        return Ok(());
    }
    let answer = api.backfill(&body).await?;
    let created = answer.created();
    let request = &answer.view.request;
    if !args.wait {
        submitted(out, "backfill", &answer, request, args.request.json)?;
        if !args.request.json {
            show::submitted_estimate(out, &answer.view)?;
        }
        return Ok(());
    }
    if !args.request.json {
        show::submitted(out, "backfill", request, created)?;
        show::submitted_estimate(out, &answer.view)?;
    }
    let id = &request.request.id;
    let poll = Duration::from_millis(args.poll_ms.max(50));
    let Some(last) = watch(api, id, poll, &shutdown).await? else {
        bail!("stopped waiting; the backfill goes on: see `uipath-fleet status {id}`");
    };
    if args.request.json {
        let mut last_json = api.request(id).await?.json;
        last_json["created"] = json!(created);
        print_json(out, &last_json)?;
    } else {
        show::request(out, &last)?;
    }
    ended(&last)
}

/// Ok if the request completed; an error saying how it ended otherwise.
fn ended(view: &RequestView) -> anyhow::Result<()> {
    let (request, progress) = (&view.request, &view.progress);
    match request.state {
        RequestState::Completed => Ok(()),
        // Nothing was planned: the reason is the note (a probe or folder listing that
        // failed, the cap), not dead letters.
        RequestState::Failed if progress.total == 0 => bail!(
            "request {} failed before any slice was planned: {}",
            request.id,
            request.note.as_deref().unwrap_or("no reason recorded")
        ),
        RequestState::Failed => bail!(
            "request {} failed: {} of {} slices failed{} (see `uipath-fleet dlq`)",
            request.id,
            progress.counts.failed,
            progress.total,
            request
                .note
                .as_deref()
                .map(|n| format!("; {n}"))
                .unwrap_or_default()
        ),
        state => bail!("request {} ended {}", request.id, state.as_str()),
    }
}

async fn sync(api: &ApiClient, args: &SyncArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut body = request_body(&args.request)?;
    set_opt(&mut body, "every", &args.every);
    set_opt(&mut body, "cron", &args.cron);
    set_opt(&mut body, "lookback", &args.lookback);
    set_opt(&mut body, "settle", &args.settle);
    set_opt(&mut body, "start", &args.start);
    let answer = api.sync(&Value::Object(body)).await?;
    submitted(out, "sync", &answer, &answer.view, args.request.json)
}

/// The answer to a submission: its JSON with `"created"`, or in words.
fn submitted<T>(
    out: &mut dyn Write,
    kind: &str,
    answer: &Answer<T>,
    request: &RequestView,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let mut json = answer.json.clone();
        json["created"] = json!(answer.created());
        return print_json(out, &json);
    }
    show::submitted(out, kind, request, answer.created())?;
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

async fn status(
    api: &ApiClient,
    args: &StatusArgs,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let Some(id) = &args.id else {
        let answer = api.requests(args.limit.max(1)).await?;
        if args.json {
            return print_json(out, &answer.json);
        }
        show::requests(out, &answer.view.requests)?;
        return Ok(());
    };
    let mut watched = None;
    if args.watch {
        let poll = Duration::from_millis(args.poll_ms.max(50));
        watched = watch(api, id, poll, &shutdown).await?;
    }
    let answer = api.request(id).await?;
    if args.json {
        print_json(out, &answer.json)?;
    } else {
        show::request(out, &answer.view)?;
    }
    // `--watch` waits for the end and says how it ended in its exit code, as
    // `backfill --wait` does: 0 only for a request that completed.
    if watched.is_some() {
        ended(&answer.view)?;
    }
    Ok(())
}

async fn cancel(api: &ApiClient, args: &CancelArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let answer = api.cancel(&args.id).await?;
    if args.json {
        return print_json(out, &answer.json);
    }
    let request = &answer.view.request.request;
    let state = request.state.as_str();
    if request.state != RequestState::Cancelled {
        // The ledger leaves a request that had ended as it was; nothing runs, which is
        // what the caller wanted, so this is not a failure (exit 0).
        writeln!(out, "{} had already {state}: nothing to cancel", request.id)?;
        return Ok(());
    }
    let dropped = answer.view.cancelled_slices;
    writeln!(
        out,
        "cancelled {}: {dropped} slice(s) dropped; state {state}",
        request.id
    )?;
    Ok(())
}

/// Shows the request's progress on a [`Board`] until it ends (`Some(last view)`) or
/// `shutdown` (`None`).
async fn watch(
    api: &ApiClient,
    id: &str,
    poll: Duration,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<RequestView>> {
    let mut board = Board::new();
    let watched = api
        .watch(id, poll, shutdown, &mut |view| {
            board.update(&[Row::from(view)])
        })
        .await;
    board.finish();
    Ok(watched?)
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

    use std::path::Path;

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
        let request: RequestView = serde_json::from_value(json!({
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
        show::estimate(&mut out, &serde_json::from_value(answer.clone()).unwrap()).unwrap();
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
        let submitted = json!({"estimate": answer["estimate"], "id": "bf-9", "kind": "backfill",
            "state": "planning", "created_at": "2024-06-01T00:00:00Z", "spec": {},
            "progress": {"planned": 0, "queued": 0, "running": 0, "completed": 0, "failed": 0,
                         "split": 0, "cancelled": 0, "records": 0}});
        show::submitted_estimate(&mut out, &serde_json::from_value(submitted).unwrap()).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .starts_with("estimate: 1,098 slices"));
    }
}
