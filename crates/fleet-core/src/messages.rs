//! Every message the fleet publishes, built in one place: destination, message id and
//! headers for each kind (docs/messages.md, "AMQP properties"). Publishers call these and
//! never set a header themselves, so a header promised on "every message" cannot be
//! forgotten by one of them.
//!
//! | Kind | Built by | Published by |
//! |---|---|---|
//! | slice job (planned, split child, retry copy) | [`job`] | coordinator planner; worker |
//! | record, one per message | [`record`] | worker |
//! | page of records | [`page`] | worker |
//! | event (`slice.*`, `request.completed`) | [`event`] | worker; coordinator leader |
//! | dead letter of a job | [`dead_letter`] | worker |
//! | dead letter of an unreadable body | [`rejected`] | worker |
//! | replayed dead letter | [`replayed`] | `uipath-fleet dlq replay` |
//!
//! The AMQP properties every message gets (persistent, [`CONTENT_TYPE`]) are set by the
//! broker backend from [`Outgoing`]; everything else is here.
//!
//! **`x-fleet-version`** is on every message the fleet builds. It is the version of the
//! body: [`WIRE_VERSION`] for what this build writes, and for a dead letter or a replay,
//! which carry a job's body unchanged, that job's version. Only a body no build could
//! read (not JSON, no version) goes without it, unless it came with one.
//!
//! To add a message kind: its body type goes in [`crate::wire`], its builder here (with
//! its id and headers), a line in the table above and in docs/messages.md, and a case in
//! `crates/fleet-core/tests/messages_doc.rs` (every kind has the headers the page
//! promises) and in a golden capture (`crates/fleet-worker/tests/golden.rs`).

use crate::broker::{Destination, Headers, Outgoing};
use crate::wire::{headers, Event, EventBody, FolderRef, Op, Provenance, SliceJob, WIRE_VERSION};

/// The AMQP `content_type` of every message.
pub const CONTENT_TYPE: &str = "application/json";

/// A slice job: onto its lane (`Destination::Jobs`) or into a delay queue
/// (`Destination::Retry`, a retry copy). Message id = the slice id.
pub fn job(job: &SliceJob, destination: Destination) -> Outgoing {
    let body = job.to_bytes();
    let m = Outgoing::new(destination, job.slice_id.clone(), body)
        .header(headers::VERSION, WIRE_VERSION.to_string());
    job_headers(m, job)
}

/// The headers that name a job's slice: source, dataset, slice, request, folder.
fn job_headers(mut m: Outgoing, job: &SliceJob) -> Outgoing {
    m = m
        .header(headers::SOURCE, job.source.as_str())
        .header(headers::DATASET, job.dataset.as_str())
        .header(headers::SLICE, job.slice_id.as_str())
        .header(headers::REQUEST, job.request_id.as_str());
    folder(m, job.folder.as_ref())
}

fn folder(m: Outgoing, folder: Option<&FolderRef>) -> Outgoing {
    match folder {
        Some(f) => m.header(headers::FOLDER, f.path.as_str()),
        None => m,
    }
}

/// The records exchange's routing key for a source's dataset: `<source>.<dataset>`.
pub fn records_routing_key(source: &str, dataset: &str) -> String {
    format!("{source}.{dataset}")
}

/// The headers of a records message, `shape` being `record` or `page`.
fn records(p: &Provenance, id: String, body: Vec<u8>, shape: &str) -> Outgoing {
    let destination = Destination::Records {
        routing_key: records_routing_key(&p.source, &p.dataset),
    };
    let m = Outgoing::new(destination, id, body)
        .header(headers::VERSION, WIRE_VERSION.to_string())
        .header(headers::SOURCE, p.source.as_str())
        .header(headers::TENANT, p.tenant.as_str())
        .header(headers::DATASET, p.dataset.as_str())
        .header(headers::SLICE, p.slice_id.as_str())
        .header(headers::REQUEST, p.request_id.as_str())
        .header(headers::SHAPE, shape);
    folder(m, p.folder.as_ref())
}

/// One record (a `RecordEnvelope` body, `id` its record id) of shape `record`, with its
/// `op` in `x-fleet-op`.
pub fn record(p: &Provenance, id: String, op: Op, body: Vec<u8>) -> Outgoing {
    records(p, id, body, "record").header(headers::OP, op.as_str())
}

/// One page of records (a `RecordPage` body) of shape `page`. Message id
/// `<slice_id>/<page>`. No `x-fleet-op`: a page can hold upserts and deletes.
pub fn page(p: &Provenance, page: u64, body: Vec<u8>) -> Outgoing {
    let id = format!("{}/{page}", p.slice_id);
    records(p, id, body, "page")
}

/// An event, routed by its type, with its deterministic message id:
/// `<slice_id>/completed`, `<slice_id>/failed/<attempts>` (a replayed slice that fails
/// again is news), `<request_id>/completed/<at, ms>` (a request reopened by a replay
/// finishes again).
pub fn event(event: &Event) -> Outgoing {
    let id = match &event.body {
        EventBody::SliceCompleted { slice_id, .. } => format!("{slice_id}/completed"),
        EventBody::SliceFailed {
            slice_id, attempts, ..
        } => format!("{slice_id}/failed/{attempts}"),
        EventBody::RequestCompleted { request_id, .. } => {
            format!("{request_id}/completed/{}", event.at.timestamp_millis())
        }
    };
    let destination = Destination::Events {
        routing_key: event.body.routing_key().to_owned(),
    };
    Outgoing::new(destination, id, event.to_bytes())
        .header(headers::VERSION, event.version.to_string())
}

/// A job the fleet gives up on: `body` as it was delivered (so it can be re-published as
/// it is), `reason` (an error kind) and `error` (readable, no secrets) in the headers,
/// with the headers that name the slice. Message id = the slice id.
pub fn dead_letter(job: &SliceJob, body: Vec<u8>, reason: &str, error: &str) -> Outgoing {
    let m = Outgoing::new(Destination::DeadLetter, job.slice_id.clone(), body)
        .header(headers::VERSION, job.version.to_string())
        .header(headers::REASON, reason)
        .header(headers::ERROR, error);
    job_headers(m, job)
}

/// A body that is not a job this build reads, dead-lettered as it came with `reason` and
/// `error`. The naming headers it came with (and its version, if it said one) are kept;
/// message id = the one it came with, or `unreadable`.
pub fn rejected(
    message_id: Option<&str>,
    came_with: &Headers,
    body: Vec<u8>,
    reason: &str,
    error: &str,
) -> Outgoing {
    let id = message_id.unwrap_or("unreadable");
    let mut m = Outgoing::new(Destination::DeadLetter, id, body)
        .header(headers::REASON, reason)
        .header(headers::ERROR, error);
    for h in [
        headers::VERSION,
        headers::SOURCE,
        headers::DATASET,
        headers::SLICE,
        headers::REQUEST,
    ] {
        if let Some(v) = came_with.get(h) {
            m = m.header(h, v.as_str());
        }
    }
    m
}

/// A dead letter put back on its job's lane: the body and headers as they were, less the
/// reason and error, and with `x-fleet-version` (letters written before every dead letter
/// had one get the job's version). Message id = the letter's, or the slice id.
pub fn replayed(
    job: &SliceJob,
    message_id: Option<&str>,
    letter: &Headers,
    body: Vec<u8>,
) -> Outgoing {
    let id = message_id.unwrap_or(&job.slice_id);
    let mut m = Outgoing::new(Destination::Jobs(job.lane), id, body);
    m.headers = letter
        .iter()
        .filter(|(k, _)| k.as_str() != headers::REASON && k.as_str() != headers::ERROR)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !m.headers.contains_key(headers::VERSION) {
        m = m.header(headers::VERSION, job.version.to_string());
    }
    m
}
