//! Slices: idempotent adds in chunks, paged listing, batch `mark_queued`, the transition
//! table (one script per move, progress counters moved in the same step) and progress.

use std::collections::HashSet;

use chrono::Utc;
use fleet_core::ledger::{LedgerError, Outcome, Progress, SliceRecord, SliceState, Transition};

use super::codec::{self, fields, opt, push_slice, ts, Fields};
use super::{backend, status, RedisLedger};
use crate::scripts::{
    LEDGER_ADD_SLICES, LEDGER_LIST_SLICES, LEDGER_MARK_QUEUED, LEDGER_TRANSITION,
};

/// Slices per `add_slices` (and `mark_queued`) script: ~13k arguments, a few ms of Redis
/// time.
const ADD_CHUNK: usize = 1000;
/// Slices read per list_slices script.
const LIST_CHUNK: usize = 1000;

pub(super) async fn add(
    ledger: &RedisLedger,
    slices: &[SliceRecord],
) -> Result<Vec<String>, LedgerError> {
    let mut planned = Vec::new();
    // A slice given twice in different chunks is returned once, as in one chunk.
    let mut seen = HashSet::new();
    for chunk in slices.chunks(ADD_CHUNK) {
        let mut args = vec![chunk.len().to_string()];
        for s in chunk {
            push_slice(&mut args, s)?;
        }
        let reply: Vec<String> = ledger
            .run("adding slices", &LEDGER_ADD_SLICES, &args)
            .await?;
        status("adding slices", &reply)?;
        planned.extend(
            reply
                .into_iter()
                .skip(1)
                .filter(|id| seen.insert(id.clone())),
        );
    }
    Ok(planned)
}

pub(super) async fn get(
    ledger: &RedisLedger,
    id: &str,
) -> Result<Option<SliceRecord>, LedgerError> {
    let key = ledger.key(&["slice", id]);
    ledger
        .record("reading a slice", &key, codec::decode_slice)
        .await
}

pub(super) async fn list(
    ledger: &RedisLedger,
    request_id: &str,
    state: Option<SliceState>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<SliceRecord>, LedgerError> {
    // Pages of at most LIST_CHUNK per script, so a big `limit` never holds Redis
    // for long; each page is read in one step.
    let what = format!("a slice of request {request_id}");
    let mut out: Vec<SliceRecord> = Vec::new();
    while out.len() < limit {
        let want = (limit - out.len()).min(LIST_CHUNK);
        let after = out.last().map(|s| s.id.as_str()).or(after);
        let args = [
            request_id.to_owned(),
            state.map_or("", SliceState::as_str).to_owned(),
            opt(after),
            want.to_string(),
        ];
        let page: Vec<Vec<String>> = ledger
            .run("listing slices", &LEDGER_LIST_SLICES, &args)
            .await?;
        let short = page.len() < want;
        for flat in page {
            out.push(codec::decode_slice(&what, &fields(flat))?);
        }
        if short {
            break;
        }
    }
    Ok(out)
}

pub(super) async fn mark_queued(ledger: &RedisLedger, ids: &[String]) -> Result<(), LedgerError> {
    for chunk in ids.chunks(ADD_CHUNK) {
        let mut args = Vec::with_capacity(chunk.len() + 1);
        args.push(ts(Utc::now()));
        args.extend(chunk.iter().cloned());
        let _moved: i64 = ledger
            .run("marking slices queued", &LEDGER_MARK_QUEUED, &args)
            .await?;
    }
    Ok(())
}

pub(super) async fn transition(
    ledger: &RedisLedger,
    id: &str,
    transition: Transition,
) -> Result<Outcome, LedgerError> {
    let args = transition_args(id, &transition)?;
    let (applied, slice, progress): (i64, Vec<String>, Vec<String>) = ledger
        .run("applying a transition", &LEDGER_TRANSITION, &args)
        .await?;
    let key = ledger.key(&["slice", id]);
    let slice = if slice.is_empty() {
        None
    } else {
        Some(codec::decode_slice(&key, &fields(slice))?)
    };
    let progress = match &slice {
        Some(s) => codec::decode_progress(
            &ledger.key(&["req", &s.request_id, "progress"]),
            &fields(progress),
        )?,
        None => Progress::default(),
    };
    let outcome = Outcome {
        applied: applied == 1,
        slice,
        progress,
    };
    if let Some(why) = outcome.refused_split(&transition) {
        tracing::warn!(slice_id = id, "{why}");
    }
    Ok(outcome)
}

pub(super) async fn progress(
    ledger: &RedisLedger,
    request_id: &str,
) -> Result<Progress, LedgerError> {
    let key = ledger.key(&["req", request_id, "progress"]);
    let (exists, f): (i64, Fields) = redis::pipe()
        .atomic()
        .cmd("EXISTS")
        .arg(ledger.key(&["req", request_id]))
        .cmd("HGETALL")
        .arg(&key)
        .query_async(&mut ledger.conn.clone())
        .await
        .map_err(|e| backend("reading progress", e))?;
    if exists == 0 {
        return Err(LedgerError::UnknownRequest(request_id.to_owned()));
    }
    codec::decode_progress(&key, &f)
}

fn transition_args(id: &str, t: &Transition) -> Result<Vec<String>, LedgerError> {
    let kind = match t {
        Transition::Queued => "queued",
        Transition::Start => "start",
        Transition::Checkpoint { .. } => "checkpoint",
        Transition::Retry { .. } => "retry",
        Transition::Complete { .. } => "complete",
        Transition::Fail { .. } => "fail",
        Transition::Split { .. } => "split",
        Transition::Cancel => "cancel",
        Transition::Requeue => "requeue",
    };
    let mut args = vec![id.to_owned(), ts(Utc::now()), kind.to_owned()];
    match t {
        Transition::Checkpoint {
            cursor,
            records,
            pages,
            claim,
        } => args.extend([
            cursor.clone(),
            records.to_string(),
            pages.to_string(),
            claim.map(|c| c.to_string()).unwrap_or_default(),
        ]),
        Transition::Complete {
            records,
            pages,
            claim,
        } => args.extend([
            records.to_string(),
            pages.to_string(),
            claim.map(|c| c.to_string()).unwrap_or_default(),
        ]),
        Transition::Retry { error, claim } => args.extend([
            error.clone(),
            claim.map(|c| c.to_string()).unwrap_or_default(),
        ]),
        Transition::Fail { error } => args.push(error.clone()),
        Transition::Split { children } => {
            args.push(children.len().to_string());
            for c in children {
                push_slice(&mut args, c)?;
            }
        }
        Transition::Queued | Transition::Start | Transition::Cancel | Transition::Requeue => {}
    }
    Ok(args)
}
