//! The wire formats: every message that crosses RabbitMQ, in one place.
//!
//! Each body is JSON with a `version` field. A reader accepts the versions it knows and
//! rejects the rest with [`WireError::Version`], so a job written by a newer coordinator
//! is dead-lettered with a clear reason instead of being half-understood. Domain types
//! are not serialized directly: these structs are the contract, documented with examples
//! in `docs/messages.md`, and a change to them is a change to that file.
//!
//! - [`SliceJob`]: one date-range slice of one dataset, the unit of work on the job queues.
//! - [`RecordEnvelope`] / [`RecordPage`]: records on the output exchange, one per message
//!   or one page per message.
//! - [`Event`]: `slice.completed`, `slice.failed` and `request.completed` on the events
//!   exchange.
//!
//! Version 2 gives every record message an identity for change capture: an explicit
//! [`Op`] (upsert or delete: tombstones), the record's `key`, and a per-dataset version
//! order (`order_by`, `order`) a consumer compares as plain strings to keep the newest
//! version of a key ([`version_order`], [`order_value`]). Version 1 bodies are still read.

mod event;
pub mod headers;
mod job;
mod order;
mod record;

use serde::Serialize;

pub use event::{Event, EventBody};
pub use job::{FolderRef, Lane, ReadMode, SliceJob};
pub use order::{order_fields, order_time, order_value, parse_time, version_order};
pub use record::{record_id, tombstone_id, Op, PageRecord, Provenance, RecordEnvelope, RecordPage};

/// The version this build writes.
pub const WIRE_VERSION: u32 = 2;

/// The oldest version this build still reads (jobs in flight and records written before
/// an upgrade). Readers accept `MIN_READ_VERSION..=WIRE_VERSION`.
pub const MIN_READ_VERSION: u32 = 1;

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("message is not valid JSON for {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("{what} has version {found}; this build reads versions {MIN_READ_VERSION} to {WIRE_VERSION}")]
    Version { what: &'static str, found: u64 },
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    body: &[u8],
) -> Result<T, WireError> {
    // Check the version before the shape, so a v3 message says "version 3", not "missing
    // field" for whatever v3 renamed.
    let probe: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WireError::Malformed {
            what,
            detail: e.to_string(),
        })?;
    match probe.get("version").and_then(|v| v.as_u64()) {
        Some(v) if (u64::from(MIN_READ_VERSION)..=u64::from(WIRE_VERSION)).contains(&v) => {}
        Some(found) => return Err(WireError::Version { what, found }),
        None => {
            return Err(WireError::Malformed {
                what,
                detail: "missing numeric field `version`".into(),
            })
        }
    }
    serde_json::from_value(probe).map_err(|e| WireError::Malformed {
        what,
        detail: e.to_string(),
    })
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail (string keys, no non-finite floats).
    serde_json::to_vec(value).expect("wire types always serialize")
}
