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
