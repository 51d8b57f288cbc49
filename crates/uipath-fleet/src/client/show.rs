//! How the client commands show the API's answers to people: aligned tables and short
//! sentences. Scripts use `--json` instead; nothing here is a stable format.

use std::io::{self, Write};

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
    if let Some(schedule) = r.spec.get("schedule") {
        writeln!(out, "schedule  {schedule}")?;
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
        let label = if r.state == "failed" && p.total == 0 {
            "error   "
        } else {
            "note    "
        };
        writeln!(out, "{label}  {note}")?;
    }
    for s in &r.streams {
        writeln!(out, "stream    {s}")?;
    }
    Ok(())
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
