//! [`RedisLedger`]: the fleet's [`Ledger`] on Redis.
//!
//! Layout (every key under the caller's prefix `P`; ids are the planner's hex ids):
//!
//! | key | type | content |
//! |---|---|---|
//! | `P:req:<id>` | hash | `rec` request JSON (immutable fields), `state`, `planned` 0/1, `plan` JSON?, `note`? |
//! | `P:requests` | zset | request ids by `created_at` in µs (newest first with `ZREVRANGE`) |
//! | `P:req:<id>:progress` | hash | counters by slice state, and `records` |
//! | `P:req:<id>:slices` | zset | every slice id of the request, score 0 (id order, paged by `ZRANGEBYLEX`) |
//! | `P:req:<id>:st:<state>` | zset | the ids in one state, score 0 (for `list_slices(state)` and cancel) |
//! | `P:slice:<id>` | hash | `rec` slice JSON (immutable fields), `req`, `state`, `stream`?, `parent`?, `from`?, `to`?, `records`, `pages`, `attempts`, `err`?, `cp`?, `at` |
//! | `P:stream:<req>:<stream>` | hash | `planned_to`?, `watermark`? |
//! | `P:stream:<req>:<stream>:pending` | zset | `<from> <slice id>`, score 0: the stream's unfinished slices, oldest first |
//! | `P:stream:<req>:<stream>:passed` | zset | `<to> <slice id>`, score 0: completed slices the watermark passed, until `compact_stream` deletes them |
//! | `P:snap:<req>:<stream>` | hash | `gen`, `at` (observed_at), `map` (key → content hash, one JSON object): the stream's snapshot state |
//! | `P:lease:<name>` | string | the holder, with the lease's ttl (`PX`) |
//!
//! Nothing expires but leases: the ledger is the record of what was done. Only
//! `compact_stream` deletes slices, and only completed ones a stream's watermark passed
//! (their counts stay in the progress hash).
//!
//! Guarantees: every check-and-update is one Lua script (see the `scripts` module for
//! why that is atomic, and `codec` for how values round-trip exactly), so the contract's
//! guarantees hold across every process of the fleet. Two operations are more than one
//! script, both safely: `add_slices` runs one script per 1,000 slices (each slice is
//! insert-if-absent, so a batch cut short is finished by calling again), and
//! `cancel_request` first marks the request Cancelled, then cancels its slices 500 per
//! script (a script over 100k slices would stall Redis), which a re-run finishes.
//! `list_slices` reads at most 1,000 slices per script (each page is consistent in
//! itself), `advance_watermark` pops at most 1,000 per script, and `compact_stream`
//! deletes at most 1,000 per script (each batch complete in itself; a re-run finishes).
//! A stream's snapshot state is one hash whose `map` is the whole key → hash map as
//! one JSON value (written and read by Rust only): a store replaces it whole, in one
//! compare-and-set script on `gen`.
//! The scripts build key names from ids, so the ledger needs one Redis server, not
//! Cluster. `updated_at` is the caller's clock; lease expiry is Redis's.
//!
//! Beyond the trait docs, the ledger (like `fleet_memory::FileLedger`): refuses a Split
//! whose children are empty, of another request, or the parent itself (as an illegal
//! move); gives split children the parent's stream and `parent`; adds slices to a
//! cancelled request (by add_slices, plan_window or a split) as Cancelled; returns each
//! id once from add_slices; puts plan_window's slices on its stream; leaves a terminal
//! request untouched by update_request.

mod codec;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fleet_core::ledger::{
    Ledger, LedgerError, Outcome, Progress, RequestRecord, RequestState, SliceRecord, SliceState,
    SnapshotState, StreamState, Transition,
};
use redis::aio::ConnectionManager;
use redis::{FromRedisValue, RedisError, Script};

use crate::conn::{connect_manager, describe};
use crate::scripts::{
    LEDGER_ADD_SLICES, LEDGER_ADVANCE_WATERMARK, LEDGER_CANCEL_CHUNK, LEDGER_CANCEL_REQUEST,
    LEDGER_COMPACT_STREAM, LEDGER_CREATE_REQUEST, LEDGER_FIX_PLAN, LEDGER_LEASE,
    LEDGER_LIST_SLICES, LEDGER_MARK_QUEUED, LEDGER_PLAN_WINDOW, LEDGER_REOPEN_REQUEST,
    LEDGER_STORE_SNAPSHOT, LEDGER_TRANSITION, LEDGER_UPDATE_REQUEST, UNLOCK,
};
use codec::{fields, opt, push_slice, ts, Fields};

/// Slices per `add_slices` script: ~13k arguments, a few ms of Redis time.
const ADD_CHUNK: usize = 1000;
/// Slices read per list_slices script.
const LIST_CHUNK: usize = 1000;
/// Slices per cancel script.
const CANCEL_CHUNK: u64 = 500;
/// Pending slices popped per watermark script.
const WATERMARK_CHUNK: u64 = 1000;
/// Slices deleted per compaction script.
const COMPACT_CHUNK: u64 = 1000;
const MAX_LEASE_TTL_MS: u64 = 365 * 24 * 3600 * 1000;

/// The fleet's ledger. Cheap to clone (one multiplexed connection underneath).
#[derive(Clone)]
pub struct RedisLedger {
    conn: ConnectionManager,
    prefix: Arc<str>,
}

/// Shows the prefix only.
impl fmt::Debug for RedisLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLedger")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn backend(op: &str, e: RedisError) -> LedgerError {
    LedgerError::Backend(describe(op, &e))
}

impl RedisLedger {
    /// A ledger over `conn` whose keys all start with `prefix` (e.g. `uipath-fleet`).
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        RedisLedger {
            conn,
            prefix: prefix.into().into(),
        }
    }

    /// Connects with [`connect_manager`] and builds the ledger.
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, LedgerError> {
        let conn = connect_manager(url)
            .await
            .map_err(|e| backend("connecting to redis", e))?;
        Ok(Self::new(conn, prefix))
    }

    /// Deletes every key of this ledger (everything under `<prefix>:`), in batches with
    /// SCAN and UNLINK so Redis is never blocked. For tests, benchmarks and an operator
    /// wiping a fleet's state; returns how many keys went.
    pub async fn delete_all(&self) -> Result<u64, LedgerError> {
        crate::conn::delete_prefix(&self.conn, &self.prefix)
            .await
            .map_err(|e| backend("deleting the fleet's keys", e))
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.to_string();
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }

    /// Runs a ledger script with `ARGV = [prefix, args...]`.
    async fn run<T: FromRedisValue>(
        &self,
        op: &str,
        script: &Script,
        args: &[String],
    ) -> Result<T, LedgerError> {
        let mut invocation = script.prepare_invoke();
        invocation.arg(&*self.prefix);
        for a in args {
            invocation.arg(a);
        }
        invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend(op, e))
    }

    async fn hash(&self, op: &str, key: &str) -> Result<Fields, LedgerError> {
        redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend(op, e))
    }
}

/// The `{'unknown', id}` / `{'ok', ...}` replies of the request scripts.
fn status(op: &str, reply: &[String]) -> Result<(), LedgerError> {
    match reply.first().map(String::as_str) {
        Some("ok") => Ok(()),
        Some("unknown") => Err(LedgerError::UnknownRequest(
            reply.get(1).cloned().unwrap_or_default(),
        )),
        _ => Err(LedgerError::Backend(format!(
            "{op}: unexpected reply from redis"
        ))),
    }
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

#[async_trait]
impl Ledger for RedisLedger {
    async fn create_request(&self, r: &RequestRecord) -> Result<bool, LedgerError> {
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
        let created: i64 = self
            .run("creating a request", &LEDGER_CREATE_REQUEST, &args)
            .await?;
        Ok(created == 1)
    }

    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, LedgerError> {
        let key = self.key(&["req", id]);
        let f = self.hash("reading a request", &key).await?;
        if f.is_empty() {
            return Ok(None);
        }
        codec::decode_request(&key, &f).map(Some)
    }

    async fn list_requests(&self, limit: usize) -> Result<Vec<RequestRecord>, LedgerError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(self.key(&["requests"]))
            .arg(0)
            .arg(limit - 1)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend("listing requests", e))?;
        if ids.is_empty() {
            // redis-rs refuses an empty pipeline.
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(self.key(&["req", id]));
        }
        let hashes: Vec<Fields> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend("reading requests", e))?;
        ids.iter()
            .zip(hashes)
            .filter(|(_, f)| !f.is_empty())
            .map(|(id, f)| codec::decode_request(&self.key(&["req", id]), &f))
            .collect()
    }

    async fn fix_plan(
        &self,
        id: &str,
        plan: &serde_json::Value,
    ) -> Result<serde_json::Value, LedgerError> {
        let args = [id.to_owned(), codec::to_json("a plan", plan)?];
        let reply: Vec<String> = self.run("fixing a plan", &LEDGER_FIX_PLAN, &args).await?;
        status("fixing a plan", &reply).map_err(|e| unknown_is(e, id))?;
        let stored = reply.get(1).map(String::as_str).unwrap_or_default();
        serde_json::from_str(stored).map_err(|e| {
            LedgerError::Corrupt(format!(
                "the plan of request {id} is not JSON ({:?} error)",
                e.classify()
            ))
        })
    }

    async fn update_request(
        &self,
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
        let reply: Vec<String> = self
            .run("updating a request", &LEDGER_UPDATE_REQUEST, &args)
            .await?;
        status("updating a request", &reply).map_err(|e| unknown_is(e, id))?;
        codec::parse_request_state(
            &format!("the state of request {id}"),
            reply.get(1).map(String::as_str).unwrap_or_default(),
        )
    }

    async fn reopen_request(&self, id: &str) -> Result<bool, LedgerError> {
        let args = [id.to_owned()];
        let reply: Vec<String> = self
            .run("reopening a request", &LEDGER_REOPEN_REQUEST, &args)
            .await?;
        status("reopening a request", &reply).map_err(|e| unknown_is(e, id))?;
        Ok(reply.get(1).map(String::as_str) == Some("1"))
    }

    async fn cancel_request(&self, id: &str) -> Result<u64, LedgerError> {
        let known: i64 = self
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
            let n: u64 = self
                .run("cancelling slices", &LEDGER_CANCEL_CHUNK, &args)
                .await?;
            cancelled += n;
            if n < CANCEL_CHUNK {
                return Ok(cancelled);
            }
        }
    }

    async fn add_slices(&self, slices: &[SliceRecord]) -> Result<Vec<String>, LedgerError> {
        let mut planned = Vec::new();
        // A slice given twice in different chunks is returned once, as in one chunk.
        let mut seen = std::collections::HashSet::new();
        for chunk in slices.chunks(ADD_CHUNK) {
            let mut args = vec![chunk.len().to_string()];
            for s in chunk {
                push_slice(&mut args, s)?;
            }
            let reply: Vec<String> = self.run("adding slices", &LEDGER_ADD_SLICES, &args).await?;
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

    async fn get_slice(&self, id: &str) -> Result<Option<SliceRecord>, LedgerError> {
        let key = self.key(&["slice", id]);
        let f = self.hash("reading a slice", &key).await?;
        if f.is_empty() {
            return Ok(None);
        }
        codec::decode_slice(&key, &f).map(Some)
    }

    async fn list_slices(
        &self,
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
            let page: Vec<Vec<String>> = self
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

    async fn mark_queued(&self, ids: &[String]) -> Result<(), LedgerError> {
        for chunk in ids.chunks(ADD_CHUNK) {
            let mut args = Vec::with_capacity(chunk.len() + 1);
            args.push(ts(Utc::now()));
            args.extend(chunk.iter().cloned());
            let _moved: i64 = self
                .run("marking slices queued", &LEDGER_MARK_QUEUED, &args)
                .await?;
        }
        Ok(())
    }

    async fn transition(&self, id: &str, transition: Transition) -> Result<Outcome, LedgerError> {
        let args = transition_args(id, &transition)?;
        let (applied, slice, progress): (i64, Vec<String>, Vec<String>) = self
            .run("applying a transition", &LEDGER_TRANSITION, &args)
            .await?;
        let key = self.key(&["slice", id]);
        let slice = if slice.is_empty() {
            None
        } else {
            Some(codec::decode_slice(&key, &fields(slice))?)
        };
        let progress = match &slice {
            Some(s) => codec::decode_progress(
                &self.key(&["req", &s.request_id, "progress"]),
                &fields(progress),
            )?,
            None => Progress::default(),
        };
        if applied == 0 && matches!(transition, Transition::Split { .. }) {
            if let Some(s) = &slice {
                if matches!(s.state, SliceState::Running | SliceState::Queued) {
                    tracing::warn!(
                        slice_id = id,
                        "split refused: children empty, of another request, or the parent itself"
                    );
                }
            }
        }
        Ok(Outcome {
            applied: applied == 1,
            slice,
            progress,
        })
    }

    async fn progress(&self, request_id: &str) -> Result<Progress, LedgerError> {
        let key = self.key(&["req", request_id, "progress"]);
        let (exists, f): (i64, Fields) = redis::pipe()
            .atomic()
            .cmd("EXISTS")
            .arg(self.key(&["req", request_id]))
            .cmd("HGETALL")
            .arg(&key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend("reading progress", e))?;
        if exists == 0 {
            return Err(LedgerError::UnknownRequest(request_id.to_owned()));
        }
        codec::decode_progress(&key, &f)
    }

    async fn stream(&self, request_id: &str, stream: &str) -> Result<StreamState, LedgerError> {
        let key = self.key(&["stream", request_id, stream]);
        let (planned_to, watermark): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(&key)
            .arg("planned_to")
            .arg("watermark")
            .query_async(&mut self.conn.clone())
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

    async fn plan_window(
        &self,
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
        let reply: Vec<String> = self
            .run("planning a window", &LEDGER_PLAN_WINDOW, &args)
            .await?;
        if reply.first().map(String::as_str) == Some("moved") {
            return Ok(None);
        }
        status("planning a window", &reply)?;
        Ok(Some(reply.into_iter().skip(1).collect()))
    }

    async fn advance_watermark(
        &self,
        request_id: &str,
        stream: &str,
    ) -> Result<Option<DateTime<Utc>>, LedgerError> {
        let args = [
            request_id.to_owned(),
            stream.to_owned(),
            WATERMARK_CHUNK.to_string(),
        ];
        loop {
            let (more, watermark): (i64, String) = self
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

    async fn compact_stream(
        &self,
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
            let (n, more): (u64, i64) = self
                .run("compacting a stream", &LEDGER_COMPACT_STREAM, &args)
                .await?;
            removed += n;
            if more == 0 {
                return Ok(removed);
            }
        }
    }

    async fn snapshot(&self, request_id: &str, stream: &str) -> Result<SnapshotState, LedgerError> {
        let key = self.key(&["snap", request_id, stream]);
        let (generation, at, map): (Option<String>, Option<String>, Option<String>) =
            redis::cmd("HMGET")
                .arg(&key)
                .arg("gen")
                .arg("at")
                .arg("map")
                .query_async(&mut self.conn.clone())
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

    async fn store_snapshot(
        &self,
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
        let stored: i64 = self
            .run("storing a snapshot state", &LEDGER_STORE_SNAPSHOT, &args)
            .await?;
        match stored {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(LedgerError::UnknownRequest(request_id.to_owned())),
        }
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, LedgerError> {
        // PX 0 is an error in Redis, and so is a ttl that overflows its clock.
        let ttl_ms = u64::try_from(ttl.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_LEASE_TTL_MS);
        let held: i64 = LEDGER_LEASE
            .key(self.key(&["lease", name]))
            .arg(holder)
            .arg(ttl_ms)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend("taking a lease", e))?;
        Ok(held == 1)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), LedgerError> {
        let _released: i64 = UNLOCK
            .key(self.key(&["lease", name]))
            .arg(holder)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend("releasing a lease", e))?;
        Ok(())
    }

    async fn ready(&self) -> bool {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn.clone())
            .await
            .is_ok()
    }
}

/// A script's `{'unknown'}` reply carries no id; name the one asked about.
fn unknown_is(e: LedgerError, id: &str) -> LedgerError {
    match e {
        LedgerError::UnknownRequest(_) => LedgerError::UnknownRequest(id.to_owned()),
        other => other,
    }
}
