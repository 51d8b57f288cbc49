//! [`FileSink`]: record messages in, one JSON line per record out, to partition files
//! or to a stream (stdout).
//!
//! Each line is an object with the record's provenance, its identity and the record
//! itself:
//!
//! ```json
//! {"id":"3f2a…","op":"upsert","key":"42","source":"acme","tenant":"acme/Prod","dataset":"jobs","folder":"Shared/Finance","fetched_at":"2024-01-02T03:04:05Z","order_by":"modified","order":"2024-01-01T09:30:12.3450000Z","record":{"Id":42,"CreationTime":"2024-01-01T09:30:12.345Z","State":"Successful"}}
//! {"id":"9b1c…","op":"delete","key":"7","source":"acme","tenant":"acme/Prod","dataset":"machines","fetched_at":"2024-01-02T03:04:05Z","order_by":"observed-at","order":"2024-01-02T03:04:05.0000000Z"}
//! ```
//!
//! `op` is `upsert` or `delete` (a tombstone: the key disappeared; no `record`). `key`,
//! `order_by` and `order` are as in the record message (docs/messages.md): the newest
//! version of a key is the line with the greatest `order`. They are left out when the
//! message did not carry them (version-1 messages, whose lines are upserts; a record
//! without its order field). `folder` (the folder's fully qualified name) is left out for
//! tenant-level datasets; `record` is the record as the worker received it from UiPath.
//! Lines written before version 2 have no `op`: read them as upserts.
//!
//! **Delivery is at-least-once.** With dedupe on, a record id this process wrote lately
//! (within the last `dedupe_window` distinct ids: memory stays bounded) is skipped;
//! across restarts, after a failed write, and beyond the window a record can appear
//! twice, so consumers keep the last line per `id`.
//!
//! New files are created with [`SinkOptions::file_mode`] (default `0600`) and new
//! directories with the matching execute bits (`0700`): records are the tenant's data.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use fleet_core::broker::Headers;
use fleet_core::dataset::VersionOrder;
use fleet_core::wire::Op;
use serde::Serialize;
use serde_json::Value;

use crate::files::Files;
use crate::message::{self, Message};
use crate::partition;
use crate::seen::{Seen, DEFAULT_DEDUPE_WINDOW};
use crate::SinkError;

/// Files a sink keeps open at most (see [`FileSink::open_with_limit`]).
pub const DEFAULT_MAX_OPEN_FILES: usize = 64;

/// Permission bits of the files a sink creates, by default: records are the tenant's
/// data, readable by the sink's user only. Directories get the matching execute bits.
pub const DEFAULT_FILE_MODE: u32 = 0o600;

/// How a [`FileSink`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkOptions {
    /// Drop ids written lately: `Some(window)` remembers at least the last `window`
    /// distinct ids (bounded memory, see the `seen` module); `None` writes everything.
    pub dedupe_window: Option<usize>,
    /// Permission bits of new files (`0o600`); new directories get the execute bit
    /// wherever a read bit is set (`0o700`). Files that exist keep theirs.
    pub file_mode: u32,
    /// Files kept open at most.
    pub max_open_files: usize,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            dedupe_window: Some(DEFAULT_DEDUPE_WINDOW),
            file_mode: DEFAULT_FILE_MODE,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
        }
    }
}

impl SinkOptions {
    /// The defaults, with dedupe on or off.
    pub fn dedupe(dedupe: bool) -> SinkOptions {
        SinkOptions {
            dedupe_window: dedupe.then_some(DEFAULT_DEDUPE_WINDOW),
            ..SinkOptions::default()
        }
    }
}

/// Where a sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `<dir>/<source>/<dataset>/<YYYY-MM-DD>.ndjson`.
    Dir(PathBuf),
    /// Every line to standard output.
    Stdout,
}

enum Out {
    Files(Files),
    Stream(BufWriter<Box<dyn Write + Send>>),
}

/// Writes record messages as JSON lines. See the module docs.
pub struct FileSink {
    out: Out,
    seen: Option<Seen>,
    counts: BTreeMap<(String, String), u64>,
    duplicates: u64,
    /// One line being built, reused.
    line: Vec<u8>,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match &self.out {
            Out::Files(files) => files.dir().display().to_string(),
            Out::Stream(_) => "stream".to_owned(),
        };
        f.debug_struct("FileSink")
            .field("target", &target)
            .field("dedupe", &self.seen.is_some())
            .field("counts", &self.counts)
            .field("duplicates", &self.duplicates)
            .finish()
    }
}

/// One output line; the field order is the line's.
#[derive(Serialize)]
struct Line<'a> {
    id: &'a str,
    op: Op,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    source: &'a str,
    tenant: &'a str,
    dataset: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    folder: Option<&'a str>,
    fetched_at: &'a DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_by: Option<VersionOrder>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a Value>,
}

impl FileSink {
    /// A sink writing to `target`, dropping ids it already wrote when `dedupe` is set.
    /// For a directory: creates it and takes its lock (one sink per directory), keeping
    /// at most [`DEFAULT_MAX_OPEN_FILES`] files open.
    pub fn open(target: Target, dedupe: bool) -> io::Result<FileSink> {
        FileSink::open_with(target, SinkOptions::dedupe(dedupe))
    }

    /// [`FileSink::open`] keeping at most `max_open_files` files open.
    pub fn open_with_limit(
        target: Target,
        dedupe: bool,
        max_open_files: usize,
    ) -> io::Result<FileSink> {
        FileSink::open_with(
            target,
            SinkOptions {
                max_open_files,
                ..SinkOptions::dedupe(dedupe)
            },
        )
    }

    /// A sink writing to `target` as `options` say.
    pub fn open_with(target: Target, options: SinkOptions) -> io::Result<FileSink> {
        let out = match target {
            Target::Dir(dir) => Out::Files(Files::open(
                &dir,
                options.max_open_files,
                options.file_mode,
            )?),
            Target::Stdout => Out::Stream(BufWriter::new(Box::new(io::stdout()))),
        };
        Ok(FileSink::with_out(out, options.dedupe_window))
    }

    /// A sink writing its lines to any stream (what [`Target::Stdout`] does with stdout);
    /// for embedding and tests.
    pub fn to_writer(writer: Box<dyn Write + Send>, dedupe: bool) -> FileSink {
        FileSink::to_writer_with(writer, SinkOptions::dedupe(dedupe))
    }

    /// [`FileSink::to_writer`] with `options` (the file settings do not apply).
    pub fn to_writer_with(writer: Box<dyn Write + Send>, options: SinkOptions) -> FileSink {
        FileSink::with_out(Out::Stream(BufWriter::new(writer)), options.dedupe_window)
    }

    fn with_out(out: Out, dedupe_window: Option<usize>) -> FileSink {
        FileSink {
            out,
            seen: dedupe_window.map(Seen::new),
            counts: BTreeMap::new(),
            duplicates: 0,
            line: Vec::with_capacity(4096),
        }
    }

    /// The directory written to, for a [`Target::Dir`] sink.
    pub fn dir(&self) -> Option<&Path> {
        match &self.out {
            Out::Files(files) => Some(files.dir()),
            Out::Stream(_) => None,
        }
    }

    /// Decodes one record message (envelope or page) and appends its records; returns
    /// how many were written (duplicates skipped). A body that is not a record message is
    /// [`SinkError::Malformed`] and nothing of it is written. Written lines are durable
    /// only after [`FileSink::flush`].
    pub fn write(&mut self, headers: &Headers, body: &[u8]) -> Result<usize, SinkError> {
        let message = message::decode(headers, body)?;
        self.write_message(&message).inspect_err(|_| {
            if let Some(seen) = &mut self.seen {
                seen.forget_pending();
            }
        })
    }

    fn write_message(&mut self, m: &Message) -> Result<usize, SinkError> {
        let p = &m.provenance;
        let mut written = 0;
        for r in &m.records {
            let id = &r.id;
            if let Some(seen) = &mut self.seen {
                if !seen.insert(id) {
                    self.duplicates += 1;
                    continue;
                }
            }
            self.line.clear();
            let line = Line {
                id,
                op: r.op,
                key: r.key.as_deref(),
                source: &p.source,
                tenant: &p.tenant,
                dataset: &p.dataset,
                folder: p.folder.as_ref().map(|f| f.path.as_str()),
                fetched_at: &m.fetched_at,
                order_by: m.order_by,
                order: r.order.as_deref(),
                record: r.record.as_ref(),
            };
            serde_json::to_writer(&mut self.line, &line)
                .map_err(|e| SinkError::Malformed(format!("record {id} cannot be written: {e}")))?;
            self.line.push(b'\n');
            match &mut self.out {
                Out::Files(files) => {
                    let date = partition::record_date(&p.dataset, r.record.as_ref(), m.fetched_at);
                    let path = partition::file_path(files.dir(), &p.source, &p.dataset, date);
                    files.append(&path, &self.line).map_err(|e| SinkError::Io {
                        path: path.display().to_string(),
                        source: e,
                    })?;
                }
                Out::Stream(stream) => stream.write_all(&self.line).map_err(|e| SinkError::Io {
                    path: "stdout".into(),
                    source: e,
                })?,
            }
            written += 1;
        }
        if written > 0 {
            *self
                .counts
                .entry((p.source.clone(), p.dataset.clone()))
                .or_default() += written as u64;
        }
        Ok(written)
    }

    /// Makes everything written so far durable: buffers written and files synced (a
    /// stream is flushed). Acknowledge messages only after this returned `Ok`.
    pub fn flush(&mut self) -> io::Result<()> {
        let result = match &mut self.out {
            Out::Files(files) => files.sync(),
            Out::Stream(stream) => stream.flush(),
        };
        if let Some(seen) = &mut self.seen {
            match result {
                Ok(()) => seen.flushed(),
                Err(_) => seen.forget_pending(),
            }
        }
        result
    }

    /// Records written per (source, dataset), duplicates not included.
    pub fn counts(&self) -> &BTreeMap<(String, String), u64> {
        &self.counts
    }

    /// Records skipped because their id was already written by this sink.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Distinct ids remembered for dedupe (0 when dedupe is off).
    pub fn remembered(&self) -> usize {
        self.seen.as_ref().map_or(0, Seen::len)
    }
}
