//! The file sink: the fleet's records, from the records exchange to newline-delimited
//! JSON files (or stdout), acknowledged only once they are on disk.
//!
//! - [`FileSink`] turns record messages (a `RecordEnvelope` or a `RecordPage`, see
//!   `docs/messages.md`, wire versions 1 and 2) into one JSON line per record — an
//!   upsert or a delete (tombstone), with its `op`, `key` and `order` — in
//!   `<dir>/<source>/<dataset>/<YYYY-MM-DD>.ndjson` — the date being the UTC date of the
//!   record's own time field (a delete's: when it was seen) — or on stdout.
//! - [`consume`] runs a subscription into a sink: batch, write, flush, then acknowledge.
//! - [`FileSinkBroker`] puts a sink in front of a broker for a fleet in one process:
//!   record messages are written and synced before `publish` confirms them.
//!
//! Guarantees: **an acknowledged record is on disk** (written and synced); nothing is
//! lost when the sink crashes, since unacknowledged messages are delivered again.
//! Delivery is **at-least-once**: within one run duplicates are dropped by record id
//! (when dedupe is on; the ids of a bounded window, see [`SinkOptions`]), but across a
//! restart a record can be written twice (at most the batch that was in flight), so
//! consumers deduplicate by the line's `id`. Files are private by default (`0600`). A malformed
//! message is rejected to the dead-letter queue, never half-written, and never stops the
//! sink. Files are appended to, so a restarted sink continues where it stopped; one sink
//! writes to a directory at a time (a lock file enforces it).

mod broker;
mod consume;
mod files;
mod message;
mod partition;
mod seen;
mod settings;
mod sink;

pub use broker::FileSinkBroker;
pub use consume::{consume, ConsumeOptions, ConsumeSummary};
pub use seen::DEFAULT_DEDUPE_WINDOW;
pub use settings::{SinkSection, MAX_BATCH};
pub use sink::{FileSink, SinkOptions, Target, DEFAULT_FILE_MODE, DEFAULT_MAX_OPEN_FILES};

/// Why a message was not written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Not a record message of a wire version this build reads (1 or 2); the text says
    /// what is wrong. Nothing
    /// of it was written. Reject it (dead-letter); it will never succeed.
    #[error("not a record message: {0}")]
    Malformed(String),
    /// Writing failed (disk full, permissions). Do not acknowledge; it may succeed later.
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A `[sink]` setting is wrong; the text names `sink.<field>` and the fix.
    #[error("{0}")]
    Config(String),
}

#[cfg(test)]
mod tests;
