//! The ledger file: an append-only journal of [`Effect`] lines behind a snapshot.
//!
//! Format: a header line `{"uipath_fleet_ledger":1}`, then lines that are each a JSON
//! array of effects, one line per mutation (so a mutation is replayed whole or not at
//! all). Opening replays every line; compaction rewrites the file as a snapshot of the
//! live state (the same line format, up to [`SNAPSHOT_LINE`] effects a line).
//!
//! Guarantees:
//! - **Written before it counts.** A mutation's line is written (to the OS) before the
//!   mutation is applied in memory and before the call returns, so a process that dies
//!   loses nothing it reported done. Lines are not fsynced one by one (that would cost a
//!   disk flush per slice transition); a power loss may lose the last mutations, which
//!   the fleet redoes anyway (planning is idempotent, jobs are redelivered).
//! - **A torn last line is ignored.** A crash in the middle of a write leaves a last
//!   line without its newline: opening logs a warning, cuts it off, and goes on. Any
//!   other unreadable line is [`LedgerError::Corrupt`], naming the line (never quoting
//!   it).
//! - **A failed append leaves no trace**: the file is cut back to its last whole line,
//!   or, if even that fails, the journal refuses every later write (its end is unknown).
//! - **Compaction is atomic**: the snapshot goes to a temporary file in the same
//!   directory, locked before it is written, fsynced, and renamed over the journal, so
//!   a crash leaves the old journal or the new one, and the lock never lapses.
//! - **One owner.** The file is locked (`flock`) while open; a second open, from this
//!   process or another, fails with an error saying so. Mode 0600; directories created
//!   here get 0700.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use fleet_core::ledger::LedgerError;

use super::state::{Effect, State};
use crate::private_file;

const HEADER: &str = r#"{"uipath_fleet_ledger":1}"#;
/// Weight (see [`Effect::weight`]) per line in a snapshot: lines of a few hundred KB,
/// nothing huge to hold (a line ends once it reaches this, so one big snapshot state
/// is a line of its own).
const SNAPSHOT_LINE: u64 = 1000;
/// A journal smaller than this is never compacted (not worth a rewrite).
const MIN_COMPACT: u64 = 1024;

pub(super) struct Journal {
    path: PathBuf,
    file: File,
    /// Bytes of whole lines: where a failed append is cut back to.
    len: u64,
    /// Effects in the file, snapshot and appended: compared with the live state's.
    written: u64,
    /// After a failed compaction, no new attempt before `written` reaches this.
    retry_at: u64,
    /// While a compaction writes its snapshot, the lines appended meanwhile (and their
    /// effect counts): they follow the snapshot into the new file. `None` otherwise.
    tail: Option<Vec<(Vec<u8>, u64)>>,
    /// Why appends are refused, after one failed and could not be undone.
    broken: Option<String>,
}

/// A snapshot written to a temporary file, waiting to replace the journal.
pub(super) struct Prepared {
    tmp: PathBuf,
    file: File,
    len: u64,
    written: u64,
}

fn error(path: &Path, what: impl std::fmt::Display) -> LedgerError {
    LedgerError::Backend(format!("ledger file {}: {what}", path.display()))
}

impl Journal {
    /// Opens (or creates) the file, locks it and replays it. Blocking.
    pub fn open(path: &Path) -> Result<(Journal, State), LedgerError> {
        private_file::create_parent(path)
            .map_err(|e| error(path, format_args!("cannot create its directory: {e}")))?;
        let mut file = open_private(path, false)
            .map_err(|e| error(path, format_args!("cannot open it: {e}")))?;
        lock(&file, path)?;
        remove_stale_temporaries(path);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| error(path, format_args!("cannot read it: {e}")))?;
        let (state, len, written) = replay(path, &bytes)?;
        if len < bytes.len() as u64 {
            tracing::warn!(
                path = %path.display(),
                bytes = bytes.len() as u64 - len,
                "ledger file ends in a torn line (a write cut short by a crash); dropping it"
            );
            file.set_len(len)
                .map_err(|e| error(path, format_args!("cannot cut off its torn last line: {e}")))?;
        }
        let mut journal = Journal {
            path: path.to_owned(),
            file,
            len,
            written,
            retry_at: 0,
            tail: None,
            broken: None,
        };
        if len == 0 {
            journal.write_line(format!("{HEADER}\n").into_bytes(), 0)?;
        }
        Ok((journal, state))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Appends one mutation as one line.
    pub fn append(&mut self, effects: &[Effect]) -> Result<(), LedgerError> {
        let mut line = serde_json::to_vec(effects)
            .map_err(|e| error(&self.path, format_args!("cannot encode a mutation: {e}")))?;
        line.push(b'\n');
        self.write_line(line, effects.iter().map(Effect::weight).sum())
    }

    fn write_line(&mut self, line: Vec<u8>, effects: u64) -> Result<(), LedgerError> {
        if let Some(why) = &self.broken {
            return Err(error(
                &self.path,
                format_args!("not writable since an earlier failure: {why}"),
            ));
        }
        if let Err(e) = self.file.write_all(&line) {
            if let Err(cut) = self.file.set_len(self.len) {
                self.broken = Some(format!(
                    "a write failed ({e}) and cutting it back failed ({cut})"
                ));
            }
            return Err(error(
                &self.path,
                format_args!("cannot write a mutation: {e}"),
            ));
        }
        self.len += line.len() as u64;
        self.written += effects;
        if let Some(tail) = &mut self.tail {
            tail.push((line, effects));
        }
        Ok(())
    }

    /// Whether the journal has grown past twice the live state (and no compaction is
    /// running or recently failed). Starts tracking the tail when it says yes.
    pub fn begin_compaction(&mut self, live: u64) -> bool {
        let due = self.written > 2 * live + MIN_COMPACT && self.written >= self.retry_at;
        if !due || self.tail.is_some() || self.broken.is_some() {
            return false;
        }
        self.tail = Some(Vec::new());
        true
    }

    /// Puts the prepared snapshot, plus the lines appended since, in place of the
    /// journal; or, if anything failed, keeps the journal (which has every mutation)
    /// and waits for it to double before trying again.
    pub fn finish_compaction(&mut self, prepared: io::Result<Prepared>) {
        let tail = self.tail.take().unwrap_or_default();
        let tmp = prepared.as_ref().ok().map(|p| p.tmp.clone());
        let result = prepared.and_then(|mut p| {
            for (line, effects) in &tail {
                p.file.write_all(line)?;
                p.len += line.len() as u64;
                p.written += effects;
            }
            p.file.sync_data()?;
            fs::rename(&p.tmp, &self.path)?;
            private_file::sync_parent(&self.path);
            Ok(p)
        });
        match result {
            Ok(p) => {
                tracing::debug!(path = %self.path.display(), before = self.written, after = p.written, "compacted the ledger file");
                // The old file's lock goes with its handle; the new one is already locked.
                self.file = p.file;
                self.len = p.len;
                self.written = p.written;
            }
            Err(e) => {
                if let Some(tmp) = tmp {
                    let _ = fs::remove_file(tmp);
                }
                self.retry_at = self.written.saturating_mul(2);
                tracing::warn!(path = %self.path.display(), error = %e, "could not compact the ledger file; keeping the journal");
            }
        }
    }
}

/// Writes a snapshot of `state` next to `path`. Blocking; runs without the ledger lock.
pub(super) fn write_snapshot(path: &Path, state: &State) -> io::Result<Prepared> {
    let tmp = private_file::temporary_beside(path)?;
    let result = (|| {
        let mut file = open_private(&tmp, true)?;
        // Locked before it has a name anyone would open: after the rename, a second
        // process opening the path finds it locked.
        file.try_lock().map_err(io::Error::other)?;
        let mut out = io::BufWriter::new(&mut file);
        out.write_all(HEADER.as_bytes())?;
        out.write_all(b"\n")?;
        let mut written = 0u64;
        let mut batch = Vec::new();
        let mut effects = state.snapshot().peekable();
        while effects.peek().is_some() {
            batch.clear();
            let mut weight = 0u64;
            for effect in effects.by_ref() {
                weight += effect.weight();
                batch.push(effect);
                if weight >= SNAPSHOT_LINE {
                    break;
                }
            }
            serde_json::to_writer(&mut out, &batch)?;
            out.write_all(b"\n")?;
            written += weight;
        }
        out.flush()?;
        drop(out);
        let len = file.metadata()?.len();
        Ok(Prepared {
            tmp: tmp.clone(),
            file,
            len,
            written,
        })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Rebuilds the state from the file's bytes. Returns it, the length of the whole lines
/// (shorter than `bytes` if the last line is torn) and the number of effects.
fn replay(path: &Path, bytes: &[u8]) -> Result<(State, u64, u64), LedgerError> {
    let mut state = State::default();
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut written = 0u64;
    let body = &bytes[..whole];
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    if body.is_empty() {
        return Ok((state, whole as u64, 0));
    }
    for (n, line) in body.split(|b| *b == b'\n').enumerate() {
        if n == 0 {
            if line != HEADER.as_bytes() {
                return Err(LedgerError::Corrupt(format!(
                    "{}: line 1 is not a ledger header (expected {HEADER}); \
                     is this a ledger file of this version?",
                    path.display()
                )));
            }
            continue;
        }
        let effects: Vec<Effect> = serde_json::from_slice(line).map_err(|e| {
            LedgerError::Corrupt(format!(
                "{}: line {} is not a ledger mutation ({:?} error at column {})",
                path.display(),
                n + 1,
                e.classify(),
                e.column()
            ))
        })?;
        written += effects.iter().map(Effect::weight).sum::<u64>();
        for effect in effects {
            state.apply(effect);
        }
    }
    Ok((state, whole as u64, written))
}

// `File::try_lock` (Rust 1.89, hence the workspace's rust-version) is an OS advisory
// lock: another process opening the same ledger file is refused, not corrupted.
fn lock(file: &File, path: &Path) -> Result<(), LedgerError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::WouldBlock) => Err(error(
            path,
            "it is locked: another process (or another FileLedger in this one) has it open; \
             a ledger file has one owner at a time",
        )),
        Err(fs::TryLockError::Error(e)) => Err(error(path, format_args!("cannot lock it: {e}"))),
    }
}

/// Temporary snapshots a crash left behind. Safe to delete: we hold the lock, so no
/// compaction of this file is running.
fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let n = entry.file_name();
        let n = n.to_string_lossy();
        if n.starts_with(&prefix) && n.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The ledger file (or a new snapshot of it: `create_new`), opened to read and append.
fn open_private(path: &Path, create_new: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).append(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true);
    }
    private_file::open(path, &mut options)
}
