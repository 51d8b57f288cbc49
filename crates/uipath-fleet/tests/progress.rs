//! The progress board through its public API: plain lines for pipes and CI, bars on a
//! terminal (an emulated one here) that end showing what each request did.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleet_coordinator::service::RequestView;
use indicatif::ProgressDrawTarget;
use uipath_fleet::progress::{Board, Row};

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
    let request: RequestView = serde_json::from_value(json).unwrap();
    assert!(!request.is_terminal());
    let row = Row::from(&request);
    assert_eq!(row.label, "backfill jobs,queue-items bf-01234567");
    assert_eq!((row.done, row.total, row.records), (3, 8, 300));
    assert_eq!(row.describe(), "3/8 slices (37%), 300 records, running");
}

/// A terminal for indicatif to draw on, as a real one behaves: `WIDTH` columns that
/// wrap (indicatif pads each line to the width and relies on it), a cursor moved up
/// and down, lines cleared. It keeps the screen left behind (escape codes dropped)
/// and everything ever written.
#[derive(Debug, Clone, Default)]
struct Screen(Arc<Mutex<ScreenState>>);

#[derive(Debug, Default)]
struct ScreenState {
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
    /// The last column was just written: the next character starts a new row.
    wrap: bool,
    written: String,
}

const WIDTH: usize = 120;

impl Screen {
    fn with<R>(&self, f: impl FnOnce(&mut ScreenState) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
    fn text(&self) -> String {
        self.with(|s| {
            s.rows
                .iter()
                .map(|r| r.iter().collect::<String>().trim_end().to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }
    fn line(&self, label: &str) -> String {
        let text = self.text();
        text.lines()
            .find(|l| l.starts_with(label))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no line for {label} on screen:\n{text}"))
    }
}

impl ScreenState {
    fn put(&mut self, text: &str) {
        let plain = strip_escapes(text);
        self.written.push_str(&plain);
        for c in plain.chars() {
            match c {
                '\r' => (self.col, self.wrap) = (0, false),
                '\n' => (self.row, self.col, self.wrap) = (self.row + 1, 0, false),
                c => {
                    if self.wrap {
                        (self.row, self.col, self.wrap) = (self.row + 1, 0, false);
                    }
                    while self.rows.len() <= self.row {
                        self.rows.push(Vec::new());
                    }
                    let row = &mut self.rows[self.row];
                    if row.len() <= self.col {
                        row.resize(self.col + 1, ' ');
                    }
                    row[self.col] = c;
                    if self.col + 1 == WIDTH {
                        self.wrap = true;
                    } else {
                        self.col += 1;
                    }
                }
            }
        }
    }
}

/// The text without its CSI escape sequences (colours, bold).
fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl indicatif::TermLike for Screen {
    fn width(&self) -> u16 {
        WIDTH as u16
    }
    fn height(&self) -> u16 {
        40
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.with(|s| (s.row, s.wrap) = (s.row.saturating_sub(n), false));
        Ok(())
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.with(|s| (s.row, s.wrap) = (s.row + n, false));
        Ok(())
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.with(|s| s.col = (s.col + n).min(WIDTH - 1));
        Ok(())
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.with(|s| s.col = s.col.saturating_sub(n));
        Ok(())
    }
    fn write_line(&self, text: &str) -> std::io::Result<()> {
        self.with(|s| s.put(&format!("{text}\n")));
        Ok(())
    }
    fn write_str(&self, text: &str) -> std::io::Result<()> {
        self.with(|s| s.put(text));
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.with(|s| {
            if let Some(row) = s.rows.get_mut(s.row) {
                row.clear();
            }
            (s.col, s.wrap) = (0, false);
        });
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn bars_end_showing_what_each_request_did() {
    let screen = Screen::default();
    let mut board = Board::bars_on(ProgressDrawTarget::term_like(Box::new(screen.clone())));
    let row = |label: &str, done, total, state: &str| Row {
        label: label.into(),
        done,
        total,
        records: done * 10,
        state: state.into(),
    };
    // Planned nothing yet: no slice counts that were never there.
    board.update(&[
        row("jobs", 0, 0, "planning"),
        row("robots", 0, 0, "planning"),
        row("users", 0, 0, "planning"),
    ]);
    board.update(&[
        row("jobs", 2, 8, "running"),
        row("robots", 0, 0, "planning"),
        row("users", 0, 0, "planning"),
    ]);
    board.update(&[
        row("jobs", 8, 8, "completed"),
        row("robots", 3, 8, "cancelled"),
        row("users", 0, 0, "completed"),
    ]);
    board.finish();

    let jobs = screen.line("jobs");
    assert!(
        jobs.contains("8/8 slices (100%), 80 records, completed"),
        "{jobs}"
    );
    let robots = screen.line("robots");
    assert!(
        robots.contains("3/8 slices (37%), 30 records, cancelled"),
        "{robots}"
    );
    // A cancelled request's bar shows the part done, not a full bar.
    let bar: String = robots.chars().skip_while(|c| *c != '[').take(32).collect();
    assert_eq!(bar.matches('=').count(), 3 * 30 / 8, "{robots}");
    let users = screen.line("users");
    assert!(
        users.contains("0/0 slices (0%), 0 records, completed"),
        "{users}"
    );
    let written = screen.with(|s| s.written.clone());
    assert!(
        !written.contains("0/1"),
        "a bar counted a slice that does not exist:\n{written}"
    );
    assert_eq!(
        screen.text().lines().filter(|l| !l.is_empty()).count(),
        3,
        "{}",
        screen.text()
    );
}
