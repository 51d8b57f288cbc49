//! How the client commands show the API's answers to people: aligned tables and short
//! sentences. Scripts use `--json` instead; nothing here is a stable format.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use fleet_coordinator::estimate::{duration_words as minutes_words, thousands};
use fleet_coordinator::remote::{DatasetsView, DryRun, PreviewView, RequestView, SubmittedView};
use fleet_core::ledger::{RequestKind, RequestState};
use fleet_core::plan::Schedule;
use serde_json::Value;

use crate::progress::{state_name, Row};

/// Writes rows as columns separated by two spaces, the first row a header.
pub fn table(out: &mut dyn Write, rows: &[Vec<String>]) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn or_dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_owned()
}

/// `GET /v1/datasets`.
pub fn datasets(out: &mut dyn Write, body: &DatasetsView) -> io::Result<()> {
    let mut rows = vec![vec![
        "DATASET".to_owned(),
        "ENTITY".to_owned(),
        "SCOPE".to_owned(),
        "TIME FIELD".to_owned(),
        "KEY".to_owned(),
        "FOLDERS".to_owned(),
    ]];
    for d in &body.datasets {
        let folders = if d.folder_scoped {
            "per folder"
        } else {
            "tenant"
        };
        rows.push(vec![
            d.name.clone(),
            d.entity.clone(),
            d.scope.clone(),
            or_dash(d.time_field.as_deref()),
            or_dash(d.key_field.as_deref()),
            folders.to_owned(),
        ]);
    }
    table(out, &rows)?;
    if let Some(problem) = &body.dataservice_error {
        writeln!(out)?;
        writeln!(out, "Data Service: unreachable: {}", problem.error)?;
        if let Some(hint) = &problem.hint {
            writeln!(out, "  {hint}")?;
        }
    }
    if let Some(entities) = &body.dataservice {
        writeln!(out)?;
        if entities.is_empty() {
            writeln!(out, "Data Service: no entities")?;
        }
        for e in entities {
            let fields: Vec<String> = e
                .fields
                .iter()
                .filter(|f| !f.system)
                .map(|f| format!("{} ({})", f.name, or_dash(f.ty.as_deref())))
                .collect();
            writeln!(
                out,
                "{}  {} records  fields: {}",
                e.name,
                e.records.map_or("-".to_owned(), |n| n.to_string()),
                if fields.is_empty() {
                    "-".to_owned()
                } else {
                    fields.join(", ")
                }
            )?;
        }
    }
    Ok(())
}

/// `POST /v1/preview`: a heading, then one record per line as JSON.
pub fn preview(out: &mut dyn Write, body: &PreviewView) -> io::Result<()> {
    write!(
        out,
        "{} record(s) of {} from {}",
        body.records.len(),
        body.dataset,
        body.source
    )?;
    if !body.folders.is_empty() {
        write!(out, " (folders: {})", body.folders.join(", "))?;
    }
    writeln!(out)?;
    if let Some(message) = &body.message {
        writeln!(out, "{message}")?;
    }
    for r in &body.records {
        writeln!(out, "{r}")?;
    }
    Ok(())
}

/// The answer to a submission.
pub fn submitted(
    out: &mut dyn Write,
    kind: &str,
    view: &RequestView,
    created: bool,
) -> io::Result<()> {
    let (id, state) = (&view.request.id, view.request.state.as_str());
    if created {
        writeln!(out, "{kind} {id} accepted ({state})")?;
    } else {
        writeln!(
            out,
            "{kind} {id} already exists: an identical earlier request was returned ({state})"
        )?;
    }
    out.flush()
}

/// The estimate of a dry run (`POST /v1/backfills?dry_run=true`): per source and
/// dataset, then the totals in words. Nothing was stored.
pub fn estimate(out: &mut dyn Write, body: &DryRun) -> io::Result<()> {
    let e = &body.estimate;
    let mut rows = vec![[
        "SOURCE", "DATASET", "FOLDERS", "WIDTH", "SLICES", "RECORDS", "REQUESTS",
    ]
    .map(String::from)
    .to_vec()];
    for s in &e.sources {
        for d in &s.datasets {
            rows.push(vec![
                s.source.clone(),
                d.dataset.clone(),
                d.streams.to_string(),
                if d.widths.is_empty() {
                    "whole".to_owned()
                } else {
                    d.widths.join(",")
                },
                thousands(d.slices),
                thousands(d.records),
                thousands(d.requests),
            ]);
        }
    }
    table(out, &rows)?;
    for s in &e.sources {
        let budgets: Vec<String> = s
            .budget_per_minute
            .iter()
            .map(|(family, n)| format!("{} {family}", n.round()))
            .collect();
        writeln!(
            out,
            "{}: about {} at {}",
            s.source,
            minutes_words(s.minutes),
            if budgets.is_empty() {
                "no rate limit".to_owned()
            } else {
                format!("{} requests a minute", budgets.join(", "))
            }
        )?;
    }
    writeln!(
        out,
        "dry run of {}: {}; nothing was stored — submit without --dry-run to run it",
        body.id,
        e.describe()
    )?;
    out.flush()
}

/// The estimate a new backfill's 202 carries, in words (nothing for an earlier one).
pub fn submitted_estimate(out: &mut dyn Write, answer: &SubmittedView) -> io::Result<()> {
    if let Some(e) = &answer.estimate {
        writeln!(out, "estimate: {}", e.describe())?;
    } else if let Some(why) = &answer.estimate_error {
        writeln!(out, "no estimate: {why}")?;
    }
    out.flush()
}

/// One request in detail.
pub fn request(out: &mut dyn Write, r: &RequestView) -> io::Result<()> {
    request_at(out, r, Utc::now())
}

/// The names in the request's `key` list (`sources`, `datasets`), joined by `sep`.
fn names(spec: &Value, key: &str, sep: &str) -> Option<String> {
    spec.get(key).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(sep)
    })
}

/// One request in detail, as of `now` (a sync's next run and lag are counted from it).
pub fn request_at(out: &mut dyn Write, view: &RequestView, now: DateTime<Utc>) -> io::Result<()> {
    let r = &view.request;
    let list = |key: &str| names(&r.spec, key, ", ").unwrap_or_else(|| "-".to_owned());
    writeln!(out, "request   {}", r.id)?;
    writeln!(out, "kind      {}", state_name(&r.kind))?;
    writeln!(out, "state     {}", r.state.as_str())?;
    writeln!(out, "created   {}", r.created_at.to_rfc3339())?;
    writeln!(out, "sources   {}", list("sources"))?;
    writeln!(out, "datasets  {}", list("datasets"))?;
    if let (Some(from), Some(to)) = (r.spec.get("from"), r.spec.get("to")) {
        writeln!(
            out,
            "range     {} .. {}",
            from.as_str().unwrap_or("-"),
            to.as_str().unwrap_or("-")
        )?;
    }
    if r.kind == RequestKind::Sync {
        sync_schedule(out, view, now)?;
    }
    let p = &view.progress.counts;
    writeln!(out, "progress  {}", Row::from(view).describe())?;
    writeln!(
        out,
        "slices    {} planned, {} queued, {} running, {} completed, {} failed, {} cancelled, {} split",
        p.planned, p.queued, p.running, p.completed, p.failed, p.cancelled, p.split
    )?;
    if let Some(note) = &r.note {
        // A request that failed with nothing planned failed in planning: the note is
        // the error, and there are no dead letters to look at.
        let label = if r.state == RequestState::Failed && view.progress.total == 0 {
            "error   "
        } else {
            "note    "
        };
        writeln!(out, "{label}  {note}")?;
    }
    for s in &view.streams {
        writeln!(
            out,
            "stream    {}: {}",
            s.stream,
            watermark_words(s.state.watermark, now)
        )?;
    }
    Ok(())
}

/// A sync's schedule, next run, windows and overall watermark, in words.
fn sync_schedule(out: &mut dyn Write, view: &RequestView, now: DateTime<Utc>) -> io::Result<()> {
    let r = &view.request;
    let schedule: Option<Schedule> = r
        .spec
        .get("schedule")
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    let Some(schedule) = schedule else {
        return writeln!(out, "schedule  unknown");
    };
    let next = if view.is_terminal() {
        format!("no next run ({})", r.state.as_str())
    } else {
        match schedule.next_tick(now) {
            Some(t) => format!(
                "next run {} (in {})",
                t.format("%Y-%m-%d %H:%M:%S UTC"),
                duration_words((t - now).num_seconds())
            ),
            None => "no next run".to_owned(),
        }
    };
    writeln!(out, "schedule  {schedule}; {next}")?;
    let secs = |key: &str| r.spec.get(key).and_then(Value::as_i64);
    if let (Some(lookback), Some(settle)) = (secs("lookback_secs"), secs("settle_secs")) {
        writeln!(
            out,
            "windows   each re-reads {} back (lookback) and waits {} for data to settle",
            duration_words(lookback),
            duration_words(settle)
        )?;
    }
    let oldest = view
        .streams
        .iter()
        .map(|s| s.state.watermark)
        .min_by_key(|w| w.map(|t| t.timestamp()).unwrap_or(i64::MIN));
    match oldest {
        None => {}
        Some(None) => writeln!(out, "watermark none yet: no window has completed")?,
        Some(Some(t)) => writeln!(
            out,
            "watermark {} ({} behind; the oldest of {} stream(s))",
            t.format("%Y-%m-%d %H:%M:%S UTC"),
            duration_words((now - t).num_seconds()),
            view.streams.len()
        )?,
    }
    Ok(())
}

/// "complete to 2025-07-01 10:00:00 UTC (17m behind)", or that nothing completed yet.
fn watermark_words(watermark: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match watermark {
        Some(t) => format!(
            "complete to {} ({} behind)",
            t.format("%Y-%m-%d %H:%M:%S UTC"),
            duration_words((now - t).num_seconds())
        ),
        None => "no window completed yet".to_owned(),
    }
}

/// Seconds in words, the two largest units: "45s", "4m 10s", "2h 5m", "3d 4h".
pub fn duration_words(secs: i64) -> String {
    if secs < 0 {
        return format!("-{}", duration_words(-secs));
    }
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    // The largest unit that fits, then the next one if it is not zero.
    let Some(first) = units.iter().position(|(size, _)| secs >= *size) else {
        return "0s".to_owned();
    };
    let (size, name) = units[first];
    let mut parts = vec![format!("{}{name}", secs / size)];
    if let Some((next, next_name)) = units.get(first + 1) {
        let rest = (secs % size) / next;
        if rest > 0 {
            parts.push(format!("{rest}{next_name}"));
        }
    }
    parts.join(" ")
}

/// Recent requests as a table.
pub fn requests(out: &mut dyn Write, requests: &[RequestView]) -> io::Result<()> {
    if requests.is_empty() {
        return writeln!(out, "no requests yet");
    }
    let mut rows = vec![vec![
        "ID".to_owned(),
        "KIND".to_owned(),
        "STATE".to_owned(),
        "SLICES".to_owned(),
        "RECORDS".to_owned(),
        "CREATED".to_owned(),
        "DATASETS".to_owned(),
    ]];
    for view in requests {
        let (r, p) = (&view.request, &view.progress);
        rows.push(vec![
            r.id.clone(),
            state_name(&r.kind),
            r.state.as_str().to_owned(),
            format!("{}/{}", p.done, p.total),
            p.counts.records.to_string(),
            r.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            names(&r.spec, "datasets", ",").unwrap_or_default(),
        ]);
    }
    table(out, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_are_listed_when_data_service_is_unreachable() {
        let body = serde_json::json!({
            "datasets": [{"name": "jobs", "entity": "Jobs", "scope": "OR.Jobs.Read",
                          "time_field": "CreationTime", "key_field": "Id", "folder_scoped": true}],
            "dataservice_error": {"error": "unauthorized_client", "hint": "run `uipath-fleet login`"}
        });
        let mut out = Vec::new();
        datasets(&mut out, &serde_json::from_value(body).unwrap()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().any(|l| l.starts_with("jobs ")), "{text}");
        assert!(
            text.contains("Data Service: unreachable: unauthorized_client"),
            "{text}"
        );
        assert!(text.contains("uipath-fleet login"), "{text}");
    }

    #[test]
    fn a_sync_says_its_schedule_next_run_and_lag_in_words() {
        let json = serde_json::json!({
            "id": "sy-0123456789abcdef0123", "kind": "sync", "state": "running",
            "created_at": "2025-07-01T09:00:00Z",
            "spec": {"sources": ["acme"], "datasets": ["jobs"], "schedule": {"every": 900},
                     "lookback_secs": 900, "settle_secs": 120},
            "progress": {"total": 4, "done": 3, "completed": 3, "running": 1, "records": 42,
                         "planned": 0, "queued": 0, "failed": 0, "split": 0, "cancelled": 0},
            "streams": [
                {"stream": "acme/jobs/Finance", "planned_to": "2025-07-01T10:00:00Z",
                 "watermark": "2025-07-01T09:45:00Z"},
                {"stream": "acme/jobs/HR", "planned_to": "2025-07-01T10:00:00Z",
                 "watermark": null}
            ]
        });
        let request: RequestView = serde_json::from_value(json).unwrap();
        let now: DateTime<Utc> = "2025-07-01T10:05:50Z".parse().unwrap();
        let mut out = Vec::new();
        request_at(&mut out, &request, now).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("schedule  every 15m; next run 2025-07-01 10:15:00 UTC (in 9m 10s)"),
            "{text}"
        );
        assert!(
            text.contains("re-reads 15m back (lookback) and waits 2m"),
            "{text}"
        );
        assert!(
            text.contains(
                "stream    acme/jobs/Finance: complete to 2025-07-01 09:45:00 UTC (20m 50s behind)"
            ),
            "{text}"
        );
        assert!(
            text.contains("stream    acme/jobs/HR: no window completed yet"),
            "{text}"
        );
        assert!(text.contains("watermark none yet"), "{text}");
        assert!(!text.contains('{'), "no raw JSON: {text}");
        assert_eq!(duration_words(0), "0s");
        assert_eq!(duration_words(3_600), "1h");
        assert_eq!(duration_words(93_784), "1d 2h");
        assert_eq!(duration_words(125), "2m 5s");
    }

    #[test]
    fn tables_align_columns() {
        let mut out = Vec::new();
        table(
            &mut out,
            &[
                vec!["A".into(), "BB".into(), "C".into()],
                vec!["long".into(), "x".into(), "".into()],
            ],
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "A     BB  C\nlong  x\n");
    }
}
