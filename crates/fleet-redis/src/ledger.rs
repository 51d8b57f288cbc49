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
mod requests;
mod slices;
mod streams;

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
use crate::scripts::{LEDGER_LEASE, UNLOCK};
use codec::Fields;

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

    /// The record in the hash at `key`, decoded by `decode`; `None` when there is none.
    async fn record<T>(
        &self,
        op: &str,
        key: &str,
        decode: fn(&str, &Fields) -> Result<T, LedgerError>,
    ) -> Result<Option<T>, LedgerError> {
        let f: Fields = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend(op, e))?;
        if f.is_empty() {
            return Ok(None);
        }
        decode(key, &f).map(Some)
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

#[async_trait]
impl Ledger for RedisLedger {
    async fn create_request(&self, r: &RequestRecord) -> Result<bool, LedgerError> {
        requests::create(self, r).await
    }

    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, LedgerError> {
        requests::get(self, id).await
    }

    async fn list_requests(&self, limit: usize) -> Result<Vec<RequestRecord>, LedgerError> {
        requests::list(self, limit).await
    }

    async fn fix_plan(
        &self,
        id: &str,
        plan: &serde_json::Value,
    ) -> Result<serde_json::Value, LedgerError> {
        requests::fix_plan(self, id, plan).await
    }

    async fn update_request(
        &self,
        id: &str,
        state: RequestState,
        planned: bool,
        note: Option<&str>,
    ) -> Result<RequestState, LedgerError> {
        requests::update(self, id, state, planned, note).await
    }

    async fn reopen_request(&self, id: &str) -> Result<bool, LedgerError> {
        requests::reopen(self, id).await
    }

    async fn cancel_request(&self, id: &str) -> Result<u64, LedgerError> {
        requests::cancel(self, id).await
    }

    async fn add_slices(&self, slices: &[SliceRecord]) -> Result<Vec<String>, LedgerError> {
        slices::add(self, slices).await
    }

    async fn get_slice(&self, id: &str) -> Result<Option<SliceRecord>, LedgerError> {
        slices::get(self, id).await
    }

    async fn list_slices(
        &self,
        request_id: &str,
        state: Option<SliceState>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SliceRecord>, LedgerError> {
        slices::list(self, request_id, state, after, limit).await
    }

    async fn mark_queued(&self, ids: &[String]) -> Result<(), LedgerError> {
        slices::mark_queued(self, ids).await
    }

    async fn transition(&self, id: &str, transition: Transition) -> Result<Outcome, LedgerError> {
        slices::transition(self, id, transition).await
    }

    async fn progress(&self, request_id: &str) -> Result<Progress, LedgerError> {
        slices::progress(self, request_id).await
    }

    async fn stream(&self, request_id: &str, stream: &str) -> Result<StreamState, LedgerError> {
        streams::state(self, request_id, stream).await
    }

    async fn plan_window(
        &self,
        request_id: &str,
        stream: &str,
        expected: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        slices: &[SliceRecord],
    ) -> Result<Option<Vec<String>>, LedgerError> {
        streams::plan_window(self, request_id, stream, expected, to, slices).await
    }

    async fn advance_watermark(
        &self,
        request_id: &str,
        stream: &str,
    ) -> Result<Option<DateTime<Utc>>, LedgerError> {
        streams::advance_watermark(self, request_id, stream).await
    }

    async fn compact_stream(
        &self,
        request_id: &str,
        stream: &str,
        before: DateTime<Utc>,
    ) -> Result<u64, LedgerError> {
        streams::compact(self, request_id, stream, before).await
    }

    async fn snapshot(&self, request_id: &str, stream: &str) -> Result<SnapshotState, LedgerError> {
        streams::snapshot(self, request_id, stream).await
    }

    async fn store_snapshot(
        &self,
        request_id: &str,
        stream: &str,
        expected_generation: u64,
        hashes: &BTreeMap<String, String>,
        observed_at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        streams::store_snapshot(
            self,
            request_id,
            stream,
            expected_generation,
            hashes,
            observed_at,
        )
        .await
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
