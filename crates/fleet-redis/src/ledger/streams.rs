//! Sync streams: the stream's window and watermark, planning a window (compare-and-set on
//! `planned_to`), advancing the watermark and compacting what it passed, and the
//! snapshot state of snapshot-diff datasets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use fleet_core::ledger::{LedgerError, SliceRecord, SnapshotState, StreamState};

use super::codec::{self, opt, push_slice, ts};
use super::{backend, status, RedisLedger};
use crate::scripts::{
    LEDGER_ADVANCE_WATERMARK, LEDGER_COMPACT_STREAM, LEDGER_PLAN_WINDOW, LEDGER_STORE_SNAPSHOT,
};

/// Pending slices popped per watermark script.
const WATERMARK_CHUNK: u64 = 1000;
/// Slices deleted per compaction script.
const COMPACT_CHUNK: u64 = 1000;

pub(super) async fn state(
    ledger: &RedisLedger,
    request_id: &str,
    stream: &str,
) -> Result<StreamState, LedgerError> {
    let key = ledger.key(&["stream", request_id, stream]);
    let (planned_to, watermark): (Option<String>, Option<String>) = redis::cmd("HMGET")
        .arg(&key)
        .arg("planned_to")
        .arg("watermark")
        .query_async(&mut ledger.conn.clone())
        .await
        .map_err(|e| backend("reading a stream", e))?;
    let parse = |field: &str, v: Option<String>| {
        v.map(|t| codec::parse_ts(&format!("{key} field `{field}`"), &t))
            .transpose()
    };
    Ok(StreamState {
        planned_to: parse("planned_to", planned_to)?,
        watermark: parse("watermark", watermark)?,
    })
}

pub(super) async fn plan_window(
    ledger: &RedisLedger,
    request_id: &str,
    stream: &str,
    expected: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
    slices: &[SliceRecord],
) -> Result<Option<Vec<String>>, LedgerError> {
    let mut args = vec![
        request_id.to_owned(),
        stream.to_owned(),
        opt(expected.map(ts).as_deref()),
        ts(to),
        slices.len().to_string(),
    ];
    for s in slices {
        push_slice(&mut args, s)?;
    }
    let reply: Vec<String> = ledger
        .run("planning a window", &LEDGER_PLAN_WINDOW, &args)
        .await?;
    if reply.first().map(String::as_str) == Some("moved") {
        return Ok(None);
    }
    status("planning a window", &reply)?;
    Ok(Some(reply.into_iter().skip(1).collect()))
}

pub(super) async fn advance_watermark(
    ledger: &RedisLedger,
    request_id: &str,
    stream: &str,
) -> Result<Option<DateTime<Utc>>, LedgerError> {
    let args = [
        request_id.to_owned(),
        stream.to_owned(),
        WATERMARK_CHUNK.to_string(),
    ];
    loop {
        let (more, watermark): (i64, String) = ledger
            .run("advancing a watermark", &LEDGER_ADVANCE_WATERMARK, &args)
            .await?;
        if more == 0 {
            if watermark.is_empty() {
                return Ok(None);
            }
            let what = format!("the watermark of {request_id} {stream}");
            return codec::parse_ts(&what, &watermark).map(Some);
        }
    }
}

pub(super) async fn compact(
    ledger: &RedisLedger,
    request_id: &str,
    stream: &str,
    before: DateTime<Utc>,
) -> Result<u64, LedgerError> {
    let args = [
        request_id.to_owned(),
        stream.to_owned(),
        ts(before),
        COMPACT_CHUNK.to_string(),
    ];
    let mut removed = 0u64;
    loop {
        let (n, more): (u64, i64) = ledger
            .run("compacting a stream", &LEDGER_COMPACT_STREAM, &args)
            .await?;
        removed += n;
        if more == 0 {
            return Ok(removed);
        }
    }
}

pub(super) async fn snapshot(
    ledger: &RedisLedger,
    request_id: &str,
    stream: &str,
) -> Result<SnapshotState, LedgerError> {
    let key = ledger.key(&["snap", request_id, stream]);
    let (generation, at, map): (Option<String>, Option<String>, Option<String>) =
        redis::cmd("HMGET")
            .arg(&key)
            .arg("gen")
            .arg("at")
            .arg("map")
            .query_async(&mut ledger.conn.clone())
            .await
            .map_err(|e| backend("reading a snapshot state", e))?;
    let Some(generation) = generation else {
        return Ok(SnapshotState::default());
    };
    let generation = generation
        .parse()
        .map_err(|_| LedgerError::Corrupt(format!("{key} field `gen` is not a count")))?;
    let observed_at = at
        .map(|t| codec::parse_ts(&format!("{key} field `at`"), &t))
        .transpose()?;
    let hashes = match map {
        Some(m) => codec::from_json(&format!("{key} field `map`"), &m)?,
        None => BTreeMap::new(),
    };
    Ok(SnapshotState {
        generation,
        hashes,
        observed_at,
    })
}

pub(super) async fn store_snapshot(
    ledger: &RedisLedger,
    request_id: &str,
    stream: &str,
    expected_generation: u64,
    hashes: &BTreeMap<String, String>,
    observed_at: DateTime<Utc>,
) -> Result<bool, LedgerError> {
    let Some(next) = expected_generation.checked_add(1) else {
        return Ok(false);
    };
    let args = [
        request_id.to_owned(),
        stream.to_owned(),
        expected_generation.to_string(),
        next.to_string(),
        ts(observed_at),
        codec::to_json("a snapshot state", hashes)?,
    ];
    let stored: i64 = ledger
        .run("storing a snapshot state", &LEDGER_STORE_SNAPSHOT, &args)
        .await?;
    match stored {
        1 => Ok(true),
        0 => Ok(false),
        _ => Err(LedgerError::UnknownRequest(request_id.to_owned())),
    }
}
