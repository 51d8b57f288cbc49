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
//! at the end. Rows come from the coordinator in-process ([`Row`] from
//! [`RequestView`]) or over HTTP ([`ApiRequest`], the JSON of `GET /v1/requests/{id}`,
//! then [`Row`] from `&ApiRequest`).
//!
//! Guarantees: the board writes only to stderr (or the writer given to
//! [`Board::plain`]), never to stdout, so a command's stdout stays clean for scripts;
//! a failed write to the terminal is ignored (progress is never worth failing for).

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fleet_coordinator::service::RequestView;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;

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

/// The state as the API writes it (`running`, `completed`, ...).
fn state_name<T: serde::Serialize>(state: &T) -> String {
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

/// A request as the API returns it (`GET /v1/requests/{id}`, and each element of
/// `GET /v1/requests`'s `requests`). Unknown fields are ignored so a newer coordinator
/// does not break an older client.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiRequest {
    pub id: String,
    /// `backfill` or `sync`.
    pub kind: String,
    /// `planning`, `running`, `completed`, `failed`, `cancelled`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    /// The normalized request as accepted.
    #[serde(default)]
    pub spec: serde_json::Value,
    #[serde(default)]
    pub planned: bool,
    /// The last problem, if any.
    #[serde(default)]
    pub note: Option<String>,
    pub progress: ApiProgress,
    /// Sync streams (only on `GET /v1/requests/{id}` of a sync).
    #[serde(default)]
    pub streams: Vec<serde_json::Value>,
}

impl ApiRequest {
    /// Completed, failed or cancelled: nothing more will happen.
    pub fn is_terminal(&self) -> bool {
        matches!(self.state.as_str(), "completed" | "failed" | "cancelled")
    }
}

/// A request's progress as the API returns it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ApiProgress {
    pub total: u64,
    pub done: u64,
    pub percent: f64,
    pub planned: u64,
    pub queued: u64,
    pub running: u64,
    pub completed: u64,
    pub failed: u64,
    pub split: u64,
    pub cancelled: u64,
    pub records: u64,
}

impl From<&ApiRequest> for Row {
    fn from(r: &ApiRequest) -> Row {
        Row {
            label: request_label(&r.kind, &r.spec, &r.id),
            done: r.progress.done,
            total: r.progress.total,
            records: r.progress.records,
            state: r.state.clone(),
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
        Board {
            mode: Mode::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
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
                        .or_insert_with(|| multi.add(new_bar(&row.label)));
                    bar.set_length(row.total.max(1));
                    bar.set_position(row.done.min(row.total));
                    bar.set_message(format!("{} records, {}", row.records, row.state));
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

    /// Ends the board: bars stay on screen at their final position; plain mode writes
    /// each row's last known line unless it was already the row's last line.
    pub fn finish(&mut self) {
        match &mut self.mode {
            Mode::Bars { bars, .. } => {
                for bar in bars.values() {
                    bar.finish();
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

fn new_bar(label: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} slices {msg} ({elapsed})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bar = ProgressBar::new(1).with_style(style);
    bar.set_prefix(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer tests can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

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
    fn plain_mode_writes_new_rows_and_state_changes_without_escape_codes() {
        let captured = Captured::default();
        let mut board = Board::plain(Box::new(captured.clone()), Duration::from_secs(3600));
        board.update(&[row(0, "planning")]);
        board.update(&[row(1, "planning")]); // same state, within the interval: quiet
        board.update(&[row(2, "running")]);
        board.update(&[row(3, "running")]); // quiet again
        board.finish(); // the row moved on since its last line: written once more
        let text = captured.text();
        assert_eq!(
            text,
            "jobs: 0/4 slices (0%), 0 records, planning\n\
             jobs: 2/4 slices (50%), 20 records, running\n\
             jobs: 3/4 slices (75%), 30 records, running\n"
        );
        assert!(!text.contains('\x1b'));

        // A row whose last line is current is not repeated at the end.
        let captured = Captured::default();
        let mut board = Board::plain(Box::new(captured.clone()), Duration::from_secs(3600));
        board.update(&[row(4, "completed")]);
        board.finish();
        assert_eq!(captured.text().lines().count(), 1, "{}", captured.text());
    }

    #[test]
    fn rows_come_from_the_api_json() {
        let json = serde_json::json!({
            "id": "bf-0123456789abcdef0123", "kind": "backfill", "state": "running",
            "created_at": "2024-01-01T00:00:00Z",
            "spec": {"sources": ["acme"], "datasets": ["jobs", "queue-items"]},
            "planned": true, "note": null,
            "progress": {"total": 8, "done": 3, "percent": 37.5, "planned": 0, "queued": 4,
                          "running": 1, "completed": 3, "failed": 0, "split": 0,
                          "cancelled": 0, "records": 300},
            "something_new": 1
        });
        let request: ApiRequest = serde_json::from_value(json).unwrap();
        assert!(!request.is_terminal());
        let row = Row::from(&request);
        assert_eq!(row.label, "backfill jobs,queue-items bf-01234567");
        assert_eq!((row.done, row.total, row.records), (3, 8, 300));
        assert_eq!(row.describe(), "3/8 slices (37%), 300 records, running");
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
