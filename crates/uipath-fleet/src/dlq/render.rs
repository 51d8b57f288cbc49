//! What `dlq list` and `dlq show` print: a table or JSON of the letters, and one letter
//! in full with its slice in the ledger.

use std::io::Write;

use fleet_coordinator::dlq::{Letter, ListReport, ShowReport};

use fleet_assembly::dead_letters::DeadLetters;

/// Longest error text in the `list` table.
const ERROR_WIDTH: usize = 60;

/// `dlq list`: the oldest `limit` letters as a table (or JSON), then the counts.
pub(super) fn list(
    letters: &[Letter],
    limit: usize,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let report = ListReport::new(letters, limit);
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    if letters.is_empty() {
        writeln!(out, "the dead-letter queue is empty")?;
        return Ok(());
    }
    let shown = &letters[..report.letters.len()];
    let rows: Vec<[String; 8]> = shown.iter().map(row).collect();
    let head = [
        "MESSAGE ID",
        "REASON",
        "SLICE",
        "WHAT",
        "FOLDER",
        "RANGE",
        "LANE",
        "ERROR",
    ]
    .map(str::to_owned);
    let mut widths = head.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for r in std::iter::once(&head).chain(&rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    let counts: Vec<String> = report
        .by_reason
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    if shown.len() < letters.len() {
        writeln!(out, "(the oldest {} shown)", shown.len())?;
    }
    writeln!(
        out,
        "{} dead letter(s): {}",
        letters.len(),
        counts.join(", ")
    )?;
    Ok(())
}

/// `dlq show`: one letter in full, with its slice in the ledger.
pub(super) async fn show(
    fleet: &DeadLetters,
    letters: &[Letter],
    id: &str,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let report = ShowReport::read(&fleet.ledger, letters, id).await?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    print_show(&report, out)
}

/// One row of the `list` table.
fn row(l: &Letter) -> [String; 8] {
    let s = l.summary();
    let dash = || "-".to_owned();
    let what = match (&s.source, &s.dataset) {
        (Some(src), Some(ds)) => format!("{src}/{ds}"),
        _ => dash(),
    };
    let range = match (&l.job, &s.from, &s.to) {
        (Err(_), _, _) => "malformed".to_owned(),
        (Ok(_), None, None) => "whole".to_owned(),
        (Ok(_), from, to) => format!(
            "{}..{}",
            from.as_deref().unwrap_or(""),
            to.as_deref().unwrap_or("")
        ),
    };
    [
        l.id().to_owned(),
        s.reason,
        s.slice_id.unwrap_or_else(dash),
        what,
        s.folder.unwrap_or_else(dash),
        range,
        s.lane.unwrap_or_else(dash),
        s.error
            .map(|e| one_line(&e, ERROR_WIDTH))
            .unwrap_or_else(dash),
    ]
}

/// `text` on one line, cut to `width` characters with an ellipsis.
fn one_line(text: &str, width: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= width {
        return flat;
    }
    let mut cut: String = flat.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn print_show(o: &ShowReport, out: &mut dyn Write) -> anyhow::Result<()> {
    let s = &o.summary;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    writeln!(out, "message id: {}", opt(&s.message_id))?;
    if o.copies > 1 {
        writeln!(out, "copies:     {} letters have this id", o.copies)?;
    }
    writeln!(out, "reason:     {}", s.reason)?;
    writeln!(out, "error:      {}", opt(&s.error))?;
    writeln!(out, "headers:")?;
    for (k, v) in &o.headers {
        writeln!(out, "  {k}: {v}")?;
    }
    match &o.job {
        Some(job) => {
            writeln!(out, "job:")?;
            for line in serde_json::to_string_pretty(job)?.lines() {
                writeln!(out, "  {line}")?;
            }
        }
        None => {
            writeln!(
                out,
                "job:        not readable ({}); cannot be replayed",
                opt(&s.decode_error)
            )?;
            writeln!(out, "body:       {}", o.body.as_deref().unwrap_or(""))?;
        }
    }
    match &o.slice {
        Some(slice) => {
            writeln!(out, "ledger:")?;
            writeln!(out, "  slice:      {} ({})", slice.id, slice.state.as_str())?;
            writeln!(
                out,
                "  request:    {} ({})",
                slice.request_id,
                o.request_state
                    .map(|r| format!("{r:?}").to_lowercase())
                    .unwrap_or_else(|| "unknown".into())
            )?;
            writeln!(out, "  attempts:   {}", slice.attempts)?;
            writeln!(out, "  records:    {}", slice.records)?;
            writeln!(out, "  last error: {}", opt(&slice.last_error))?;
            writeln!(out, "  updated:    {}", slice.updated_at.to_rfc3339())?;
        }
        None => writeln!(out, "ledger:     no such slice")?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_cut_to_one_line() {
        assert_eq!(one_line("a\nb", 10), "a b");
        assert_eq!(one_line("abcdefghij", 5), "abcd…");
        assert_eq!(one_line("abc", 3), "abc");
    }
}
