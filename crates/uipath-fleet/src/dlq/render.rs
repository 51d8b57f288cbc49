//! What `dlq list` and `dlq show` print: a table or JSON of the letters, and one letter
//! in full with its slice in the ledger.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context as _;
use fleet_core::broker::Headers;
use fleet_core::ledger::{Ledger as _, RequestState, SliceRecord};
use fleet_core::wire::SliceJob;
use serde::Serialize;

use super::letters::{Fleet, Letter, Summary};

/// Longest error text in the `list` table.
const ERROR_WIDTH: usize = 60;

#[derive(Debug, Serialize)]
struct ListOutput {
    /// The oldest `--limit` letters.
    letters: Vec<Summary>,
    /// Letters in the queue (all of them, printed or not).
    count: usize,
    by_reason: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
struct ShowOutput {
    #[serde(flatten)]
    summary: Summary,
    /// Letters in the queue with this message id (duplicates are possible).
    copies: usize,
    headers: Headers,
    job: Option<SliceJob>,
    /// The body as text, when it is not a job this build reads.
    body: Option<String>,
    slice: Option<SliceRecord>,
    request_state: Option<RequestState>,
}

impl Fleet {
    pub(super) async fn list(
        &self,
        letters: &[Letter],
        limit: usize,
        json: bool,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let shown = &letters[..letters.len().min(limit)];
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for l in letters {
            *by_reason.entry(l.reason().to_owned()).or_default() += 1;
        }
        if json {
            let output = ListOutput {
                letters: shown.iter().map(Letter::summary).collect(),
                count: letters.len(),
                by_reason,
            };
            serde_json::to_writer_pretty(&mut *out, &output)?;
            writeln!(out)?;
            return Ok(());
        }
        if letters.is_empty() {
            writeln!(out, "the dead-letter queue is empty")?;
            return Ok(());
        }
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
        let counts: Vec<String> = by_reason.iter().map(|(r, n)| format!("{r} {n}")).collect();
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

    pub(super) async fn show(
        &self,
        letters: &[Letter],
        id: &str,
        json: bool,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let matching: Vec<&Letter> = letters
            .iter()
            .filter(|l| l.message_id.as_deref() == Some(id))
            .collect();
        let Some(letter) = matching.first() else {
            anyhow::bail!("no dead letter has message id `{id}`");
        };
        let slice = match letter.slice_id() {
            Some(s) => self
                .ledger
                .get_slice(s)
                .await
                .with_context(|| format!("reading slice {s} from the ledger"))?,
            None => None,
        };
        let request_state = match &slice {
            Some(s) => self
                .ledger
                .get_request(&s.request_id)
                .await
                .with_context(|| format!("reading request {} from the ledger", s.request_id))?
                .map(|r| r.state),
            None => None,
        };
        let output = ShowOutput {
            summary: letter.summary(),
            copies: matching.len(),
            headers: letter.headers.clone(),
            job: letter.job.as_ref().ok().cloned(),
            body: letter
                .job
                .is_err()
                .then(|| String::from_utf8_lossy(&letter.body).into_owned()),
            slice,
            request_state,
        };
        if json {
            serde_json::to_writer_pretty(&mut *out, &output)?;
            writeln!(out)?;
            return Ok(());
        }
        print_show(&output, out)
    }
}

pub(super) fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
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

fn print_show(o: &ShowOutput, out: &mut dyn Write) -> anyhow::Result<()> {
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
