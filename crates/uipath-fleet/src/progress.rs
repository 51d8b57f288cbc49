//! Live progress of coordinator requests, for people watching a terminal.
//!
//! A [`Board`] shows one line per [`Row`] (a request, or whatever the caller groups by:
//! a dataset, a source): slices done out of total, records so far, and the state.
//!
//! - On a terminal (stderr is a tty) each row is an `indicatif` bar redrawn in place.
//! - Anywhere else (tests, CI, pipes, log files) rows are written as plain text lines,
//!   no escape codes: when a row first appears, when its state changes, and otherwise at
//!   most once per interval (default 5 s); [`Board::finish`] writes every row once more.
//!
//! Usage: build the board once, call [`Board::update`] with the current rows as often as
//! you poll (rows are matched by label; a new label adds a bar), and [`Board::finish`]
//! at the end. Rows come from the coordinator's [`RequestView`], in-process or decoded
//! from the API by `fleet_coordinator::remote`.
//!
//! Guarantees: the board writes only to stderr (or the writer given to
//! [`Board::plain`]), never to stdout, so a command's stdout stays clean for scripts;
//! a failed write to the terminal is ignored (progress is never worth failing for).

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write};
use std::time::{Duration, Instant};

use fleet_coordinator::service::RequestView;
use fleet_core::ledger::RequestState;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often plain mode repeats a row whose state did not change.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// One line of the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// What the line is about; rows with the same label are the same line.
    pub label: String,
    /// Slices in a terminal state.
    pub done: u64,
    /// Slices that count toward the work (0 while still planning).
    pub total: u64,
    /// Records published so far.
    pub records: u64,
    /// `planning`, `running`, `completed`, ...
    pub state: String,
}

impl Row {
    /// The bar's (position, length): the slices done of the total, the length at least
    /// 1 (indicatif draws a bar of length 0 full); a request that completed with no
    /// slice at all is drawn full.
    fn bar(&self) -> (u64, u64) {
        if self.total == 0 {
            (u64::from(self.state == RequestState::Completed.as_str()), 1)
        } else {
            (self.done.min(self.total), self.total)
        }
    }

    /// "12/40 slices (30%), 1234 records, running"
    pub fn describe(&self) -> String {
        let percent = (self.done * 100).checked_div(self.total).unwrap_or(0);
        format!(
            "{}/{} slices ({percent}%), {} records, {}",
            self.done, self.total, self.records, self.state
        )
    }
}

/// A short label for a request: its kind, datasets and the start of its id
/// ("backfill jobs,queue-items bf-3f9a1c2b").
fn request_label(kind: &str, spec: &serde_json::Value, id: &str) -> String {
    let datasets = spec
        .get("datasets")
        .and_then(|d| d.as_array())
        .map(|d| {
            d.iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let short: String = id.chars().take(11).collect();
    if datasets.is_empty() {
        format!("{kind} {short}")
    } else {
        format!("{kind} {datasets} {short}")
    }
}

/// A state or kind as the API writes it (`running`, `completed`, `sync`, ...).
pub(crate) fn state_name<T: serde::Serialize>(state: &T) -> String {
    match serde_json::to_value(state) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

impl From<&RequestView> for Row {
    fn from(view: &RequestView) -> Row {
        let r = &view.request;
        Row {
            label: request_label(&state_name(&r.kind), &r.spec, &r.id),
            done: view.progress.done,
            total: view.progress.total,
            records: view.progress.counts.records,
            state: state_name(&r.state),
        }
    }
}

/// Live progress bars (terminal) or periodic lines (anything else). See the module doc.
pub struct Board {
    mode: Mode,
}

enum Mode {
    Bars {
        multi: MultiProgress,
        bars: BTreeMap<String, ProgressBar>,
    },
    Plain {
        out: Box<dyn Write + Send>,
        interval: Duration,
        /// Per label: the state last written, when, and the line's text.
        written: BTreeMap<String, (String, Instant, String)>,
        /// The rows last seen, for `finish`.
        last: Vec<Row>,
    },
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.mode {
            Mode::Bars { .. } => "bars",
            Mode::Plain { .. } => "plain",
        };
        f.debug_struct("Board").field("mode", &mode).finish()
    }
}

impl Default for Board {
    fn default() -> Self {
        Board::new()
    }
}

impl Board {
    /// Bars when stderr is a terminal, plain lines on stderr otherwise.
    pub fn new() -> Board {
        if std::io::stderr().is_terminal() {
            Board::bars()
        } else {
            Board::plain(Box::new(std::io::stderr()), PLAIN_INTERVAL)
        }
    }

    /// Bars drawn on stderr, whatever stderr is.
    pub fn bars() -> Board {
        Board::bars_on(ProgressDrawTarget::stderr())
    }

    /// Bars drawn on `target` (a terminal emulation in tests).
    pub fn bars_on(target: ProgressDrawTarget) -> Board {
        Board {
            mode: Mode::Bars {
                multi: MultiProgress::with_draw_target(target),
                bars: BTreeMap::new(),
            },
        }
    }

    /// Plain lines to `out`, a row repeated at most once per `interval` unless its state
    /// changes.
    pub fn plain(out: Box<dyn Write + Send>, interval: Duration) -> Board {
        Board {
            mode: Mode::Plain {
                out,
                interval,
                written: BTreeMap::new(),
                last: Vec::new(),
            },
        }
    }

    /// Shows the current `rows`.
    pub fn update(&mut self, rows: &[Row]) {
        match &mut self.mode {
            Mode::Bars { multi, bars } => {
                for row in rows {
                    let bar = bars
                        .entry(row.label.clone())
                        .or_insert_with(|| new_bar(multi, &row.label));
                    let (position, length) = row.bar();
                    bar.set_length(length);
                    bar.set_position(position);
                    // The counts are written from the row, not from the bar's own
                    // `{pos}/{len}`: the bar needs a length of at least 1, and a row still
                    // planning (0 slices) must not read "0/1".
                    bar.set_message(row.describe());
                }
            }
            Mode::Plain {
                out,
                interval,
                written,
                last,
            } => {
                let now = Instant::now();
                for row in rows {
                    let due = match written.get(&row.label) {
                        None => true,
                        Some((state, at, _)) => {
                            *state != row.state || now.duration_since(*at) >= *interval
                        }
                    };
                    if due {
                        let text = row.describe();
                        let _ = writeln!(out, "{}: {text}", row.label);
                        written.insert(row.label.clone(), (row.state.clone(), now, text));
                    }
                }
                let _ = out.flush();
                *last = rows.to_vec();
            }
        }
    }

    /// Ends the board: bars stay on screen at their final position (`abandon`, not
    /// `finish`, which would draw a cancelled or failed request's bar full); plain mode
    /// writes each row's last known line unless it was already the row's last line.
    pub fn finish(&mut self) {
        match &mut self.mode {
            Mode::Bars { bars, .. } => {
                for bar in bars.values() {
                    bar.abandon();
                }
            }
            Mode::Plain {
                out, last, written, ..
            } => {
                for row in last.iter() {
                    // Skip a row whose last line already says exactly this.
                    if written.get(&row.label).map(|(_, _, text)| text) == Some(&row.describe()) {
                        continue;
                    }
                    let _ = writeln!(out, "{}: {}", row.label, row.describe());
                }
                let _ = out.flush();
                last.clear();
            }
        }
    }
}

/// A bar of `multi`. It joins the board before its steady tick starts: the ticker's
/// thread draws at once, and a bar not yet in the board would draw itself alone on
/// stderr — a stray "0/1 slices" line that no later redraw of the board clears.
fn new_bar(multi: &MultiProgress, label: &str) -> ProgressBar {
    let style =
        ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    let bar = multi.add(ProgressBar::with_draw_target(
        Some(1),
        ProgressDrawTarget::hidden(),
    ));
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(done: u64, state: &str) -> Row {
        Row {
            label: "jobs".into(),
            done,
            total: 4,
            records: done * 10,
            state: state.into(),
        }
    }

    #[test]
    fn bars_take_rows_without_a_terminal() {
        let mut board = Board {
            mode: Mode::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
                bars: BTreeMap::new(),
            },
        };
        board.update(&[
            row(1, "running"),
            Row {
                label: "x".into(),
                ..row(0, "planning")
            },
        ]);
        board.update(&[row(4, "completed")]);
        board.finish();
        let Mode::Bars { bars, .. } = &board.mode else {
            unreachable!()
        };
        assert_eq!(bars.len(), 2);
        assert_eq!(bars["jobs"].position(), 4);
    }
}
