//! How the client commands show the API's answers to people: aligned tables and short
//! sentences. Scripts use `--json` instead; nothing here is a stable format.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use fleet_core::ledger::RequestState;
use fleet_core::plan::Schedule;
use serde_json::Value;

use crate::progress::{ApiRequest, Row};

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

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `GET /v1/datasets`.
pub fn datasets(out: &mut dyn Write, body: &Value) -> io::Result<()> {
    let mut rows = vec![vec![
        "DATASET".to_owned(),
        "ENTITY".to_owned(),
        "SCOPE".to_owned(),
        "TIME FIELD".to_owned(),
        "KEY".to_owned(),
        "FOLDERS".to_owned(),
    ]];
    for d in body
        .get("datasets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let folders = if d.get("folder_scoped").and_then(Value::as_bool) == Some(true) {
            "per folder"
        } else {
            "tenant"
        };
        rows.push(vec![
            text(d, "name"),
            text(d, "entity"),
            text(d, "scope"),
            text(d, "time_field"),
            text(d, "key_field"),
            folders.to_owned(),
        ]);
    }
    table(out, &rows)?;
    if let Some(problem) = body.get("dataservice_error") {
        writeln!(out)?;
        writeln!(
            out,
            "Data Service: unreachable: {}",
            problem.get("error").and_then(Value::as_str).unwrap_or("-")
        )?;
        if let Some(hint) = problem.get("hint").and_then(Value::as_str) {
            writeln!(out, "  {hint}")?;
        }
    }
    if let Some(entities) = body.get("dataservice").and_then(Value::as_array) {
        writeln!(out)?;
        if entities.is_empty() {
            writeln!(out, "Data Service: no entities")?;
        }
        for e in entities {
            let fields: Vec<String> = e
                .get("fields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|f| f.get("system").and_then(Value::as_bool) != Some(true))
                .map(|f| format!("{} ({})", text(f, "name"), text(f, "type")))
                .collect();
            writeln!(
                out,
                "{}  {} records  fields: {}",
                text(e, "name"),
                text(e, "records"),
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
pub fn preview(out: &mut dyn Write, body: &Value) -> io::Result<()> {
    let records = body
        .get("records")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let folders: Vec<String> = body
        .get("folders")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    write!(
        out,
        "{} record(s) of {} from {}",
        records.len(),
        text(body, "dataset"),
        text(body, "source")
    )?;
    if !folders.is_empty() {
        write!(out, " (folders: {})", folders.join(", "))?;
    }
    writeln!(out)?;
    if let Some(message) = body.get("message").and_then(Value::as_str) {
        writeln!(out, "{message}")?;
    }
    for r in &records {
        writeln!(out, "{r}")?;
    }
    Ok(())
}

/// The answer to a submission.
pub fn submitted(
    out: &mut dyn Write,
    kind: &str,
    request: &ApiRequest,
    created: bool,
) -> io::Result<()> {
    if created {
        writeln!(out, "{kind} {} accepted ({})", request.id, request.state)?;
    } else {
        writeln!(
            out,
            "{kind} {} already exists: an identical earlier request was returned ({})",
            request.id, request.state
        )?;
    }
    out.flush()
}

fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn minutes(v: &Value) -> f64 {
    v.get("minutes").and_then(Value::as_f64).unwrap_or(0.0)
}

/// The estimate of a dry run (`POST /v1/backfills?dry_run=true`): per source and
/// dataset, then the totals in words. Nothing was stored.
pub fn estimate(out: &mut dyn Write, body: &Value) -> io::Result<()> {
    use fleet_coordinator::estimate::{duration_words, thousands};
    let e = body.get("estimate").cloned().unwrap_or(Value::Null);
    let mut rows = vec![[
        "SOURCE", "DATASET", "FOLDERS", "WIDTH", "SLICES", "RECORDS", "REQUESTS",
    ]
    .map(String::from)
    .to_vec()];
    let sources = e
        .get("sources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for s in &sources {
        for d in s
            .get("datasets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let widths: Vec<&str> = d
                .get("widths")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            rows.push(vec![
                text(s, "source"),
                text(d, "dataset"),
                count(d, "streams").to_string(),
                if widths.is_empty() {
                    "whole".to_owned()
                } else {
                    widths.join(",")
                },
                thousands(count(d, "slices")),
                thousands(count(d, "records")),
                thousands(count(d, "requests")),
            ]);
        }
    }
    table(out, &rows)?;
    for s in &sources {
        let budgets: Vec<String> = s
            .get("budget_per_minute")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(family, n)| format!("{} {family}", n.as_f64().unwrap_or(0.0).round()))
            .collect();
        writeln!(
            out,
            "{}: about {} at {}",
            text(s, "source"),
            duration_words(minutes(s)),
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
        text(body, "id"),
        describe(&e)
    )?;
    out.flush()
}

/// The totals of an estimate in one sentence.
fn describe(e: &Value) -> String {
    use fleet_coordinator::estimate::{duration_words, thousands};
    format!(
        "{} slices, ~{} records in ~{} API requests, about {} at the tenant's backfill budget",
        thousands(count(e, "slices")),
        thousands(count(e, "records")),
        thousands(count(e, "requests")),
        duration_words(minutes(e))
    )
}

/// The estimate a new backfill's 202 carries, in words (nothing for an earlier one).
pub fn submitted_estimate(out: &mut dyn Write, answer: &Value) -> io::Result<()> {
    if let Some(e) = answer.get("estimate") {
        writeln!(out, "estimate: {}", describe(e))?;
    } else if let Some(why) = answer.get("estimate_error").and_then(Value::as_str) {
        writeln!(out, "no estimate: {why}")?;
    }
    out.flush()
}

/// One request in detail.
pub fn request(out: &mut dyn Write, r: &ApiRequest) -> io::Result<()> {
    request_at(out, r, Utc::now())
}

/// One request in detail, as of `now` (a sync's next run and lag are counted from it).
pub fn request_at(out: &mut dyn Write, r: &ApiRequest, now: DateTime<Utc>) -> io::Result<()> {
    let list = |key: &str| -> String {
        r.spec
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "-".to_owned())
    };
    writeln!(out, "request   {}", r.id)?;
    writeln!(out, "kind      {}", r.kind)?;
    writeln!(out, "state     {}", r.state)?;
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
    if r.kind == "sync" {
        sync_schedule(out, r, now)?;
    }
    let p = &r.progress;
    writeln!(out, "progress  {}", Row::from(r).describe())?;
    writeln!(
        out,
        "slices    {} planned, {} queued, {} running, {} completed, {} failed, {} cancelled, {} split",
        p.planned, p.queued, p.running, p.completed, p.failed, p.cancelled, p.split
    )?;
    if let Some(note) = &r.note {
        // A request that failed with nothing planned failed in planning: the note is
        // the error, and there are no dead letters to look at.
        let label = if r.state() == Some(RequestState::Failed) && p.total == 0 {
            "error   "
        } else {
            "note    "
        };
        writeln!(out, "{label}  {note}")?;
    }
    for s in &r.streams {
        let name = s.get("stream").and_then(Value::as_str).unwrap_or("-");
        writeln!(out, "stream    {name}: {}", watermark_words(s, now))?;
    }
    Ok(())
}

/// A sync's schedule, next run, windows and overall watermark, in words.
fn sync_schedule(out: &mut dyn Write, r: &ApiRequest, now: DateTime<Utc>) -> io::Result<()> {
    let schedule: Option<Schedule> = r
        .spec
        .get("schedule")
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    let Some(schedule) = schedule else {
        return writeln!(out, "schedule  unknown");
    };
    let next = if r.is_terminal() {
        format!("no next run ({})", r.state)
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
    let oldest = r
        .streams
        .iter()
        .map(watermark)
        .min_by_key(|w| w.map(|t| t.timestamp()).unwrap_or(i64::MIN));
    match oldest {
        None => {}
        Some(None) => writeln!(out, "watermark none yet: no window has completed")?,
        Some(Some(t)) => writeln!(
            out,
            "watermark {} ({} behind; the oldest of {} stream(s))",
            t.format("%Y-%m-%d %H:%M:%S UTC"),
            duration_words((now - t).num_seconds()),
            r.streams.len()
        )?,
    }
    Ok(())
}

fn watermark(stream: &Value) -> Option<DateTime<Utc>> {
    stream
        .get("watermark")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// "complete to 2025-07-01 10:00:00 UTC (17m behind)", or that nothing completed yet.
fn watermark_words(stream: &Value, now: DateTime<Utc>) -> String {
    match watermark(stream) {
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
pub fn requests(out: &mut dyn Write, requests: &[ApiRequest]) -> io::Result<()> {
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
    for r in requests {
        let datasets = r
            .spec
            .get("datasets")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        rows.push(vec![
            r.id.clone(),
            r.kind.clone(),
            r.state.clone(),
            format!("{}/{}", r.progress.done, r.progress.total),
            r.progress.records.to_string(),
            r.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            datasets,
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
        datasets(&mut out, &body).unwrap();
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
            "progress": {"total": 4, "done": 3, "completed": 3, "running": 1, "records": 42},
            "streams": [
                {"stream": "acme/jobs/Finance", "planned_to": "2025-07-01T10:00:00Z",
                 "watermark": "2025-07-01T09:45:00Z"},
                {"stream": "acme/jobs/HR", "planned_to": "2025-07-01T10:00:00Z",
                 "watermark": null}
            ]
        });
        let request: ApiRequest = serde_json::from_value(json).unwrap();
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
