//! Requests: create-if-absent, the first-writer-wins plan, state updates that never
//! leave a terminal state, reopening, and cancelling (the request first, then its slices
//! in chunks).

use chrono::Utc;
use fleet_core::ledger::{LedgerError, RequestRecord, RequestState};

use super::codec::{self, opt, ts, Fields};
use super::{backend, status, RedisLedger};
use crate::scripts::{
    LEDGER_CANCEL_CHUNK, LEDGER_CANCEL_REQUEST, LEDGER_CREATE_REQUEST, LEDGER_FIX_PLAN,
    LEDGER_REOPEN_REQUEST, LEDGER_UPDATE_REQUEST,
};

/// Slices per cancel script.
const CANCEL_CHUNK: u64 = 500;

pub(super) async fn create(ledger: &RedisLedger, r: &RequestRecord) -> Result<bool, LedgerError> {
    let plan = r
        .plan
        .as_ref()
        .map(|p| codec::to_json("a plan", p))
        .transpose()?;
    let args = [
        r.id.clone(),
        r.created_at.timestamp_micros().to_string(),
        codec::to_json("a request", r)?,
        r.state.as_str().to_owned(),
        if r.planned { "1" } else { "0" }.to_owned(),
        opt(plan.as_deref()),
        opt(r.note.as_deref()),
    ];
    let created: i64 = ledger
        .run("creating a request", &LEDGER_CREATE_REQUEST, &args)
        .await?;
    Ok(created == 1)
}

pub(super) async fn get(
    ledger: &RedisLedger,
    id: &str,
) -> Result<Option<RequestRecord>, LedgerError> {
    let key = ledger.key(&["req", id]);
    ledger
        .record("reading a request", &key, codec::decode_request)
        .await
}

pub(super) async fn list(
    ledger: &RedisLedger,
    limit: usize,
) -> Result<Vec<RequestRecord>, LedgerError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = redis::cmd("ZREVRANGE")
        .arg(ledger.key(&["requests"]))
        .arg(0)
        .arg(limit - 1)
        .query_async(&mut ledger.conn.clone())
        .await
        .map_err(|e| backend("listing requests", e))?;
    if ids.is_empty() {
        // redis-rs refuses an empty pipeline.
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.cmd("HGETALL").arg(ledger.key(&["req", id]));
    }
    let hashes: Vec<Fields> = pipe
        .query_async(&mut ledger.conn.clone())
        .await
        .map_err(|e| backend("reading requests", e))?;
    ids.iter()
        .zip(hashes)
        .filter(|(_, f)| !f.is_empty())
        .map(|(id, f)| codec::decode_request(&ledger.key(&["req", id]), &f))
        .collect()
}

pub(super) async fn fix_plan(
    ledger: &RedisLedger,
    id: &str,
    plan: &serde_json::Value,
) -> Result<serde_json::Value, LedgerError> {
    let args = [id.to_owned(), codec::to_json("a plan", plan)?];
    let reply: Vec<String> = ledger.run("fixing a plan", &LEDGER_FIX_PLAN, &args).await?;
    status("fixing a plan", &reply).map_err(|e| unknown_is(e, id))?;
    let stored = reply.get(1).map(String::as_str).unwrap_or_default();
    serde_json::from_str(stored).map_err(|e| {
        LedgerError::Corrupt(format!(
            "the plan of request {id} is not JSON ({:?} error)",
            e.classify()
        ))
    })
}

pub(super) async fn update(
    ledger: &RedisLedger,
    id: &str,
    state: RequestState,
    planned: bool,
    note: Option<&str>,
) -> Result<RequestState, LedgerError> {
    let args = [
        id.to_owned(),
        state.as_str().to_owned(),
        if planned { "1" } else { "0" }.to_owned(),
        opt(note),
    ];
    let reply: Vec<String> = ledger
        .run("updating a request", &LEDGER_UPDATE_REQUEST, &args)
        .await?;
    status("updating a request", &reply).map_err(|e| unknown_is(e, id))?;
    codec::parse_request_state(
        &format!("the state of request {id}"),
        reply.get(1).map(String::as_str).unwrap_or_default(),
    )
}

pub(super) async fn reopen(ledger: &RedisLedger, id: &str) -> Result<bool, LedgerError> {
    let args = [id.to_owned()];
    let reply: Vec<String> = ledger
        .run("reopening a request", &LEDGER_REOPEN_REQUEST, &args)
        .await?;
    status("reopening a request", &reply).map_err(|e| unknown_is(e, id))?;
    Ok(reply.get(1).map(String::as_str) == Some("1"))
}

pub(super) async fn cancel(ledger: &RedisLedger, id: &str) -> Result<u64, LedgerError> {
    let known: i64 = ledger
        .run(
            "cancelling a request",
            &LEDGER_CANCEL_REQUEST,
            &[id.to_owned()],
        )
        .await?;
    if known == 0 {
        return Err(LedgerError::UnknownRequest(id.to_owned()));
    }
    let mut cancelled = 0u64;
    loop {
        let args = [id.to_owned(), ts(Utc::now()), CANCEL_CHUNK.to_string()];
        let n: u64 = ledger
            .run("cancelling slices", &LEDGER_CANCEL_CHUNK, &args)
            .await?;
        cancelled += n;
        if n < CANCEL_CHUNK {
            return Ok(cancelled);
        }
    }
}

/// A script's `{'unknown'}` reply carries no id; name the one asked about.
fn unknown_is(e: LedgerError, id: &str) -> LedgerError {
    match e {
        LedgerError::UnknownRequest(_) => LedgerError::UnknownRequest(id.to_owned()),
        other => other,
    }
}
