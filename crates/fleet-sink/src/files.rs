//! The partition files of one sink directory: opened in append mode on first use, kept
//! open up to a bound, and made durable on [`Files::sync`].
//!
//! Guarantees:
//! - **After `sync` returns `Ok`, every byte appended before it is on disk**: buffers
//!   written, each file `fdatasync`ed, and each directory that gained an entry (a new
//!   file or subdirectory) synced too, so new files survive a crash as well.
//! - **At most `max_open` files are open.** Beyond that the least recently used one is
//!   written out, synced and closed; reopening appends where it left off.
//! - **A torn last line is cut off when a file is opened.** Lines only reach the file
//!   whole, but a crash of the machine can leave a prefix of one; it was never synced, so
//!   its message was never acknowledged and comes again. Cutting it keeps every line of
//!   the file valid JSON.
//! - **Private by default**: files are created with the configured mode (`0600`),
//!   directories with the matching execute bits (`0700`); the umask may only narrow it.
//! - **One sink per directory**: the directory's `.sink.lock` is locked (an advisory
//!   `flock`, released when the process ends, however it ends), since two writers
//!   appending to the same files would interleave and cut each other's lines.

use std::collections::{BTreeSet, HashMap};
use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use tracing::warn;

/// The lock file in a sink directory.
pub(crate) const LOCK_FILE: &str = ".sink.lock";

/// Buffer per open file.
const BUFFER: usize = 64 * 1024;

struct Handle {
    file: BufWriter<File>,
    /// The [`Files::tick`] of its last use: the smallest is evicted first.
    used: u64,
    /// Appended to since the last sync.
    dirty: bool,
}

pub(crate) struct Files {
    dir: PathBuf,
    open: HashMap<PathBuf, Handle>,
    tick: u64,
    max_open: usize,
    /// Directories with entries created since the last sync.
    new_entries: BTreeSet<PathBuf>,
    /// Permission bits of new files; new directories get [`dir_mode`] of it.
    file_mode: u32,
    /// Held for the life of the sink; closing it releases the lock.
    _lock: File,
}

impl Files {
    /// Opens (creating, with `file_mode`'s directory mode) and locks `dir`; files created
    /// in it get `file_mode`.
    pub fn open(dir: &Path, max_open: usize, file_mode: u32) -> io::Result<Files> {
        create_dirs(dir, file_mode)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(file_mode)
            .open(dir.join(LOCK_FILE))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "another sink is writing to {} (it holds {LOCK_FILE}); give each sink its own directory",
                        dir.display()
                    ),
                ))
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
        Ok(Files {
            dir: dir.to_path_buf(),
            open: HashMap::new(),
            tick: 0,
            max_open: max_open.max(1),
            new_entries: BTreeSet::new(),
            file_mode,
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    #[cfg(test)]
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Appends `bytes` (whole lines) to the file at `path` (inside the directory).
    pub fn append(&mut self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.tick += 1;
        if !self.open.contains_key(path) {
            if self.open.len() >= self.max_open {
                self.evict()?;
            }
            let file = self.open_file(path)?;
            self.open.insert(
                path.to_path_buf(),
                Handle {
                    file: BufWriter::with_capacity(BUFFER, file),
                    used: 0,
                    dirty: false,
                },
            );
        }
        let handle = self.open.get_mut(path).expect("opened above");
        handle.used = self.tick;
        handle.dirty = true;
        handle.file.write_all(bytes)
    }

    /// Writes every buffer and syncs every file and new directory entry.
    pub fn sync(&mut self) -> io::Result<()> {
        for handle in self.open.values_mut() {
            if handle.dirty {
                sync_handle(handle)?;
            }
        }
        while let Some(dir) = self.new_entries.pop_first() {
            if let Err(e) = File::open(&dir).and_then(|d| d.sync_all()) {
                self.new_entries.insert(dir);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Closes the least recently used file, synced first so closing it loses nothing.
    fn evict(&mut self) -> io::Result<()> {
        let Some(oldest) = self
            .open
            .iter()
            .min_by_key(|(_, h)| h.used)
            .map(|(p, _)| p.clone())
        else {
            return Ok(());
        };
        let mut handle = self.open.remove(&oldest).expect("just found");
        if handle.dirty {
            if let Err(e) = sync_handle(&mut handle) {
                // Keep it, so the next sync tries (and reports) again.
                self.open.insert(oldest, handle);
                return Err(e);
            }
        }
        Ok(())
    }

    fn open_file(&mut self, path: &Path) -> io::Result<File> {
        let parent = path.parent().unwrap_or(&self.dir);
        // Directories this call creates: each one's parent gains an entry.
        let mut missing = Vec::new();
        let mut d = parent;
        while d.starts_with(&self.dir) && d != self.dir && !d.exists() {
            missing.push(d.to_path_buf());
            match d.parent() {
                Some(up) => d = up,
                None => break,
            }
        }
        create_dirs(parent, self.file_mode)?;
        for created in missing {
            if let Some(up) = created.parent() {
                self.new_entries.insert(up.to_path_buf());
            }
        }
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(self.file_mode)
            .open(path)?;
        if existed {
            let cut = cut_torn_tail(&mut file)?;
            if cut > 0 {
                warn!(path = %path.display(), bytes = cut, "cut an incomplete last line (left by a crash; its records come again)");
            }
        } else {
            self.new_entries.insert(parent.to_path_buf());
        }
        Ok(file)
    }
}

/// The mode of directories holding files of `file_mode`: each class that may read the
/// files may also enter the directory (`0600` → `0700`, `0640` → `0750`).
pub(crate) fn dir_mode(file_mode: u32) -> u32 {
    let read = file_mode & 0o444;
    (file_mode | (read >> 2)) & 0o777
}

/// `create_dir_all` with the directory mode of `file_mode` for what it creates.
fn create_dirs(dir: &Path, file_mode: u32) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(dir_mode(file_mode))
        .create(dir)
}

fn sync_handle(handle: &mut Handle) -> io::Result<()> {
    handle.file.flush()?;
    handle.file.get_ref().sync_data()?;
    handle.dirty = false;
    Ok(())
}

/// Truncates `file` after its last `\n`; returns how many bytes were cut.
fn cut_torn_tail(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(i) = chunk[..n].iter().rposition(|b| *b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        file.set_len(end)?;
        file.sync_data()?;
    }
    Ok(len - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "fleet-sink-files-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn appends_across_reopen_and_keeps_few_files_open() {
        let dir = temp_dir("lru");
        let mut files = Files::open(&dir, 2, 0o600).unwrap();
        for round in 0..3 {
            for name in ["a", "b", "c"] {
                let p = dir.join("x").join(format!("{name}.ndjson"));
                files.append(&p, format!("{round}\n").as_bytes()).unwrap();
                assert!(files.open_count() <= 2);
            }
        }
        files.sync().unwrap();
        for name in ["a", "b", "c"] {
            let text =
                std::fs::read_to_string(dir.join("x").join(format!("{name}.ndjson"))).unwrap();
            assert_eq!(text, "0\n1\n2\n");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_cut_and_a_second_sink_is_refused() {
        let dir = temp_dir("torn");
        let p = dir.join("f.ndjson");
        std::fs::write(&p, "{\"a\":1}\n{\"b\":").unwrap();
        let mut files = Files::open(&dir, 4, 0o600).unwrap();
        let e = Files::open(&dir, 4, 0o600)
            .err()
            .expect("the directory is locked");
        assert!(e.to_string().contains("another sink"), "{e}");
        files.append(&p, b"{\"c\":3}\n").unwrap();
        files.sync().unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"c\":3}\n"
        );
        drop(files);
        // A file with no newline at all is cut to nothing.
        std::fs::write(&p, "partial").unwrap();
        let mut files = Files::open(&dir, 4, 0o600).unwrap();
        files.append(&p, b"x\n").unwrap();
        files.sync().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "x\n");
        drop(files);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
