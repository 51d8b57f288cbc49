//! `RedisLedger` against the real Redis: the shared ledger contract (a new connection
//! per handle, one prefix), a 50k-slice request cancelled in chunks without stalling
//! Redis (and finished by a re-run after an interruption), and corrupt data named.
//! Every test deletes its keys at the end.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as TimeDelta, Utc};
use fleet_core::ledger::{
    Ledger, LedgerError, RequestKind, RequestRecord, RequestState, SliceRecord, SliceState,
    Transition,
};
use fleet_core::wire::Lane;
use fleet_redis::RedisLedger;
use fleet_testkit::{contract, require_redis, unique_prefix};
use redis::aio::ConnectionManager;

use common::manager;

/// Deletes every key under `prefix` (SCAN, not KEYS: the big test leaves ~100k).
async fn delete_keys(conn: &ConnectionManager, prefix: &str) -> u64 {
    fleet_redis::delete_prefix(conn, prefix).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_ledger_meets_the_contract() {
    let url = require_redis().await;
    let prefix = unique_prefix("redis_ledger_contract");
    contract::ledger_contract(|| {
        let (url, prefix) = (url.clone(), prefix.clone());
        async move {
            Arc::new(
                RedisLedger::connect(&url, prefix)
                    .await
                    .expect("redis connects"),
            ) as Arc<dyn Ledger>
        }
    })
    .await;
    let conn = manager().await;
    assert!(
        delete_keys(&conn, &prefix).await > 100,
        "the contract wrote under its prefix"
    );
    assert_eq!(delete_keys(&conn, &prefix).await, 0);
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn request(id: &str) -> RequestRecord {
    RequestRecord {
        id: id.into(),
        kind: RequestKind::Backfill,
        state: RequestState::Running,
        created_at: Utc::now(),
        spec: serde_json::json!({}),
        plan: None,
        planned: false,
        note: None,
    }
}

fn slice(request: &str, n: i64) -> SliceRecord {
    let from = t("2020-01-01T00:00:00Z") + TimeDelta::minutes(n);
    SliceRecord {
        id: format!("{request}-{n:06}"),
        request_id: request.into(),
        lane: Lane::Backfill,
        source: "acme".into(),
        dataset: "jobs".into(),
        folder: None,
        from: Some(from),
        to: Some(from + TimeDelta::minutes(1)),
        select: vec![],
        stream: None,
        parent: None,
        state: SliceState::Planned,
        records: 0,
        pages: 0,
        attempts: 0,
        last_error: None,
        checkpoint: None,
        updated_at: Utc::now(),
    }
}

/// The largest gap between PINGs answered while `work` runs: a script that holds
/// Redis for long shows up here.
async fn longest_stall<F: std::future::Future>(
    conn: &ConnectionManager,
    work: F,
) -> (F::Output, Duration) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pinger = {
        let (mut conn, stop) = (conn.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                let _: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
                worst = worst.max(sent.elapsed());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            worst
        })
    };
    let out = work.await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    (out, pinger.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_slices_cancel_in_chunks() {
    const SLICES: i64 = 50_000;
    let prefix = unique_prefix("redis_ledger_big_cancel");
    let conn = manager().await;
    let ledger = RedisLedger::new(conn.clone(), prefix.clone());
    let id = format!("{prefix}-req");
    assert!(ledger.create_request(&request(&id)).await.unwrap());

    let started = Instant::now();
    let slices: Vec<_> = (0..SLICES).map(|n| slice(&id, n)).collect();
    let mut planned = 0;
    for batch in slices.chunks(1000) {
        planned += ledger.add_slices(batch).await.unwrap().len();
    }
    let added_in = started.elapsed();
    assert_eq!(planned as i64, SLICES);
    for n in (0..SLICES).step_by(1000) {
        let id = &slices[n as usize].id;
        ledger.transition(id, Transition::Start).await.unwrap();
        ledger
            .transition(
                id,
                Transition::Complete {
                    records: 2,
                    pages: 1,
                    claim: None,
                },
            )
            .await
            .unwrap();
    }
    let done = (SLICES / 1000) as u64;
    let unfinished = SLICES as u64 - done;

    // Interrupted: the caller gives up after a few chunks.
    let cut = tokio::time::timeout(Duration::from_millis(30), ledger.cancel_request(&id)).await;
    assert!(
        cut.is_err(),
        "a cancel of 50k slices takes more than 30 ms: the interruption must land"
    );
    assert_eq!(
        ledger.get_request(&id).await.unwrap().unwrap().state,
        RequestState::Cancelled,
        "the request is Cancelled before any slice is"
    );
    let midway = ledger.progress(&id).await.unwrap();
    assert!(
        midway.planned > 0,
        "the interrupted cancel left slices to cancel: {midway:?}"
    );

    let cancel_started = Instant::now();
    let (rerun, stall) = longest_stall(&conn, ledger.cancel_request(&id)).await;
    let cancel_took = cancel_started.elapsed();
    let rerun = rerun.unwrap();
    assert_eq!(
        rerun, midway.planned,
        "the re-run cancels exactly what the interrupted one left"
    );
    let p = ledger.progress(&id).await.unwrap();
    assert_eq!(
        (p.planned, p.cancelled, p.completed, p.records),
        (0, unfinished, done, 2 * done),
        "every unfinished slice cancelled, the finished ones kept"
    );
    let listed = ledger
        .list_slices(&id, Some(SliceState::Cancelled), None, 100_000)
        .await
        .unwrap();
    assert_eq!(
        listed.len() as u64,
        unfinished,
        "the state index agrees with the counters"
    );
    // A script over all 50k slices would hold Redis for a quarter of a second or more here;
    // chunks of 500 hold it for a few.
    assert!(
        stall < Duration::from_millis(150),
        "redis was unresponsive for {stall:?} during the cancel (added 50k in {added_in:?}, cancelled in {cancel_took:?})"
    );
    assert!(
        cancel_took < Duration::from_secs(20),
        "cancel took {cancel_took:?}"
    );
    eprintln!("50k slices: added in {added_in:?}, cancel re-run in {cancel_took:?}, longest redis stall {stall:?}");

    assert!(delete_keys(&conn, &prefix).await >= SLICES as u64);
}

#[tokio::test]
async fn corrupt_records_are_named_errors() {
    let prefix = unique_prefix("redis_ledger_corrupt");
    let conn = manager().await;
    let ledger = RedisLedger::new(conn.clone(), prefix.clone());
    let id = format!("{prefix}-req");
    ledger.create_request(&request(&id)).await.unwrap();
    let s = slice(&id, 0);
    ledger.add_slices(std::slice::from_ref(&s)).await.unwrap();
    let key = format!("{prefix}:slice:{}", s.id);
    let _: i64 = redis::cmd("HSET")
        .arg(&key)
        .arg("rec")
        .arg("{\"id\": \"secret-looking")
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    match ledger.get_slice(&s.id).await {
        Err(LedgerError::Corrupt(msg)) => {
            assert!(msg.contains(&key) && !msg.contains("secret"), "{msg}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let _: i64 = redis::cmd("HSET")
        .arg(format!("{prefix}:req:{id}"))
        .arg("state")
        .arg("exploded")
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    assert!(matches!(
        ledger.get_request(&id).await,
        Err(LedgerError::Corrupt(_))
    ));
    // Leases are plain keys with Redis's expiry.
    assert!(ledger
        .try_lease("coordinator", "me", Duration::from_millis(5_000))
        .await
        .unwrap());
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:lease:coordinator"))
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    assert!((1..=5_000).contains(&pttl), "pttl {pttl}");
    assert!(delete_keys(&conn, &prefix).await > 0);
}

/// The Redis bytes of every key under `prefix` (`MEMORY USAGE … SAMPLES 0`: every
/// element counted, not sampled), and how many keys there are.
async fn bytes_under(conn: &ConnectionManager, prefix: &str) -> (u64, usize) {
    let sizes = key_bytes(conn, prefix).await;
    (sizes.iter().map(|(_, b)| b).sum(), sizes.len())
}

/// Each key under `prefix` with its `MEMORY USAGE … SAMPLES 0`.
async fn key_bytes(conn: &ConnectionManager, prefix: &str) -> Vec<(String, u64)> {
    let keys = common::keys(conn, prefix).await;
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("MEMORY").arg("USAGE").arg(k).arg("SAMPLES").arg(0);
    }
    if keys.is_empty() {
        return Vec::new();
    }
    let sizes: Vec<Option<u64>> = pipe.query_async(&mut conn.clone()).await.unwrap();
    keys.into_iter()
        .zip(sizes)
        .map(|(k, b)| (k, b.unwrap_or(0)))
        .collect()
}

/// Measures (and prints, for BENCHMARKS.md and the issues that need the numbers) the
/// Redis bytes of a sync request with 10,000 slices shaped like real ones (planner-style
/// ids, a folder, a stream, a checkpoint cursor), as planned, completed and passed by
/// the watermark, and compacted; and of snapshot states of 1,000 and 20,000 keys.
/// Run with `--nocapture` to see the numbers; the assertions only bound them loosely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_bytes_per_slice_and_per_snapshot_key() {
    const SLICES: i64 = 10_000;
    let prefix = unique_prefix("redis_ledger_bytes");
    let conn = manager().await;
    let ledger = RedisLedger::new(conn.clone(), prefix.clone());
    let id = "sync-0f3a9c2e71b84d5a6c09".to_owned();
    let mut r = request(&id);
    r.kind = RequestKind::Sync;
    assert!(ledger.create_request(&r).await.unwrap());
    let stream = "acme/jobs/6f1c2f9a-1b2c-4d3e-8f40-5a6b7c8d9e0f";
    let base = t("2024-03-01T00:00:00Z");
    let slices: Vec<SliceRecord> = (0..SLICES)
        .map(|n| {
            let from = base + TimeDelta::seconds(10 * n);
            SliceRecord {
                id: format!(
                    "{:032x}",
                    0x9e37_79b9_7f4a_7c15_u128.wrapping_mul(n as u128 + 1)
                ),
                request_id: id.clone(),
                lane: Lane::Sync,
                source: "acme".into(),
                dataset: "jobs".into(),
                folder: Some(fleet_core::wire::FolderRef {
                    id: 1_234_567,
                    key: "6f1c2f9a-1b2c-4d3e-8f40-5a6b7c8d9e0f".into(),
                    path: "Shared/Finance/Invoices".into(),
                }),
                from: Some(from),
                to: Some(from + TimeDelta::seconds(10)),
                select: vec![],
                stream: None,
                parent: None,
                state: SliceState::Planned,
                records: 0,
                pages: 0,
                attempts: 0,
                last_error: None,
                checkpoint: None,
                updated_at: Utc::now(),
            }
        })
        .collect();
    let ids: Vec<String> = slices.iter().map(|s| s.id.clone()).collect();
    let (empty, _) = bytes_under(&conn, &prefix).await;
    let end = base + TimeDelta::seconds(10 * SLICES);
    let mut expected = None;
    for (i, chunk) in slices.chunks(1000).enumerate() {
        let to = base + TimeDelta::seconds(10 * 1000 * (i as i64 + 1));
        ledger
            .plan_window(&id, stream, expected, to, chunk)
            .await
            .unwrap()
            .unwrap();
        expected = Some(to);
    }
    ledger.mark_queued(&ids).await.unwrap();
    let (planned, planned_keys) = bytes_under(&conn, &prefix).await;

    let work: Vec<_> = ids
        .chunks(SLICES as usize / 8)
        .map(|chunk| {
            let (ledger, chunk) = (ledger.clone(), chunk.to_vec());
            tokio::spawn(async move {
                for s in chunk {
                    let claim = ledger.transition(&s, Transition::Start).await.unwrap();
                    let claim = claim.slice.unwrap().attempts;
                    let cursor = r#"{"kind":"keyset","after":{"time":"2024-03-01T00:00:09.873Z","id":987654321},"page":1}"#;
                    for t in [
                        Transition::Checkpoint {
                            cursor: cursor.into(),
                            records: 37,
                            pages: 1,
                            claim: Some(claim),
                        },
                        Transition::Complete {
                            records: 0,
                            pages: 0,
                            claim: Some(claim),
                        },
                    ] {
                        assert!(ledger.transition(&s, t).await.unwrap().applied);
                    }
                }
            })
        })
        .collect();
    for w in work {
        w.await.unwrap();
    }
    let (completed, _) = bytes_under(&conn, &prefix).await;
    assert_eq!(
        ledger.advance_watermark(&id, stream).await.unwrap(),
        Some(end)
    );
    let (passed, passed_keys) = bytes_under(&conn, &prefix).await;
    let slice_key = format!("{prefix}:slice:");
    let mut breakdown: Vec<(String, u64)> = Vec::new();
    let mut in_slices = 0u64;
    for (k, b) in key_bytes(&conn, &prefix).await {
        if k.starts_with(&slice_key) {
            in_slices += b;
        } else {
            breakdown.push((k[prefix.len()..].to_owned(), b));
        }
    }
    eprintln!(
        "redis bytes after the watermark passed them: slice hashes {in_slices} B = {:.0} B/slice; other keys {breakdown:?}",
        in_slices as f64 / SLICES as f64
    );
    let progress = ledger.progress(&id).await.unwrap();
    let (removed, stall) = longest_stall(&conn, ledger.compact_stream(&id, stream, end)).await;
    assert_eq!(removed.unwrap(), SLICES as u64);
    assert_eq!(ledger.progress(&id).await.unwrap(), progress);
    let (compacted, compacted_keys) = bytes_under(&conn, &prefix).await;

    let per = |total: u64| (total - empty) as f64 / SLICES as f64;
    eprintln!(
        "redis bytes, sync request of {SLICES} slices (key prefix {} chars): \
         planned+queued {planned} B in {planned_keys} keys = {:.0} B/slice; \
         completed (still pending) {completed} B = {:.0} B/slice; \
         passed by the watermark {passed} B in {passed_keys} keys = {:.0} B/slice; \
         after compact_stream {compacted} B in {compacted_keys} keys \
         (longest redis stall during compaction {stall:?})",
        prefix.len(),
        per(planned),
        per(completed),
        per(passed),
    );
    assert!(per(passed) > 100.0 && per(passed) < 5_000.0);
    assert!(
        compacted < passed / 50,
        "compaction frees the slices: {compacted} B left of {passed} B"
    );
    assert!(stall < Duration::from_millis(150), "stall {stall:?}");

    for n in [1_000usize, 20_000] {
        let hashes: std::collections::BTreeMap<String, String> = (0..n)
            .map(|i| {
                (
                    format!("6f1c2f9a-0000-4000-8000-{i:012}"),
                    format!("{:064x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                )
            })
            .collect();
        let s = format!("acme/machines/size-{n}");
        assert!(ledger
            .store_snapshot(&id, &s, 0, &hashes, Utc::now())
            .await
            .unwrap());
        let key = format!("{prefix}:snap:{id}:{s}");
        let bytes: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut conn.clone())
            .await
            .unwrap();
        let started = Instant::now();
        let read = ledger.snapshot(&id, &s).await.unwrap();
        let read_in = started.elapsed();
        assert!(read.hashes == hashes);
        let started = Instant::now();
        assert!(ledger
            .store_snapshot(&id, &s, 1, &hashes, Utc::now())
            .await
            .unwrap());
        let stored_in = started.elapsed();
        eprintln!(
            "redis bytes, snapshot state of {n} keys (36-char keys, 64-hex hashes): {bytes} B \
             = {:.1} B/key; read in {read_in:?}, stored in {stored_in:?}",
            bytes as f64 / n as f64
        );
        assert!(bytes as f64 / (n as f64) < 200.0);
    }
    assert!(delete_keys(&conn, &prefix).await > 0);
    assert_eq!(
        bytes_under(&conn, &prefix).await,
        (0, 0),
        "delete_all-style deletion leaves no snapshot state behind"
    );
}
