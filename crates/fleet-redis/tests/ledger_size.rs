//! What one backfill slice costs in the Redis ledger, measured: plan 20,000 slices the
//! way the coordinator does (`add_slices` in batches of 1,000, then `mark_queued`), sum
//! `MEMORY USAGE` over every key under the test's prefix, and compare with the constant
//! the default `max_slices` is derived from (`fleet_core::plan::capacity`). The numbers
//! are printed (`--nocapture`) and recorded in BENCHMARKS.md, "Ledger size".

mod common;

use chrono::{DateTime, Utc};
use fleet_core::ledger::{Ledger, RequestKind, RequestRecord, RequestState};
use fleet_core::plan::capacity::LEDGER_BYTES_PER_SLICE;
use fleet_core::plan::{self, PlanUnit, Width};
use fleet_core::wire::{FolderRef, Lane};
use fleet_redis::RedisLedger;
use fleet_testkit::unique_prefix;
use redis::aio::ConnectionManager;

use common::manager;

const SLICES: usize = 20_000;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Sum of `MEMORY USAGE` (exact: `SAMPLES 0`) over every key under `prefix`, and the
/// number of keys.
async fn prefix_bytes(conn: &ConnectionManager, prefix: &str) -> (u64, u64) {
    let mut conn = conn.clone();
    let (mut cursor, mut bytes, mut keys) = (0u64, 0u64, 0u64);
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1_000)
            .query_async(&mut conn)
            .await
            .unwrap();
        for key in batch {
            let used: Option<u64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(&key)
                .arg("SAMPLES")
                .arg(0)
                .query_async(&mut conn)
                .await
                .unwrap();
            bytes += used.unwrap_or(0);
            keys += 1;
        }
        if next == 0 {
            return (bytes, keys);
        }
        cursor = next;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_slice_costs_less_redis_memory_than_the_cap_assumes() {
    let prefix = unique_prefix("redis_ledger_size");
    let conn = manager().await;
    let ledger = RedisLedger::new(conn.clone(), prefix.clone());
    // A request id and slices as the planner makes them: a folder-scoped dataset, a
    // folder with its key and path, 15-minute slices, 32-hex slice ids.
    let id = plan::request_id(RequestKind::Backfill, &serde_json::json!({"size": prefix}));
    let record = RequestRecord {
        id: id.clone(),
        kind: RequestKind::Backfill,
        state: RequestState::Planning,
        created_at: Utc::now(),
        spec: serde_json::json!({"sources": ["acme"], "datasets": ["queue-items"],
            "from": "2024-01-01T00:00:00Z", "to": "2024-08-01T00:00:00Z"}),
        plan: None,
        planned: false,
        note: None,
    };
    assert!(ledger.create_request(&record).await.unwrap());
    let (base, _) = prefix_bytes(&conn, &prefix).await;

    let unit = PlanUnit {
        source: "acme".into(),
        dataset: "queue-items".into(),
        folder: Some(FolderRef {
            id: 1_234_567,
            key: "6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f".into(),
            path: "Finance/Invoices".into(),
        }),
        width: Some(Width::Minutes(15)),
        select: Vec::new(),
    };
    let slices: Vec<_> = plan::unit_slices(
        &id,
        Lane::Backfill,
        &unit,
        t("2024-01-01T00:00:00Z"),
        t("2025-01-01T00:00:00Z"),
        None,
        Utc::now(),
    )
    .take(SLICES)
    .collect();
    assert_eq!(slices.len(), SLICES);
    for batch in slices.chunks(1_000) {
        let ids = ledger.add_slices(batch).await.unwrap();
        ledger.mark_queued(&ids).await.unwrap();
    }
    let (after, keys) = prefix_bytes(&conn, &prefix).await;
    let per_slice = (after - base) as f64 / SLICES as f64;
    println!(
        "ledger size: {SLICES} queued slices, {keys} keys, {} bytes (MEMORY USAGE), {per_slice:.0} bytes per slice",
        after - base
    );
    assert_eq!(
        keys as usize,
        SLICES + 5,
        "one hash per slice plus the request's five keys"
    );
    assert!(
        per_slice <= LEDGER_BYTES_PER_SLICE as f64,
        "a slice costs {per_slice:.0} bytes, more than the {LEDGER_BYTES_PER_SLICE} the default max_slices assumes"
    );
    // Not absurdly generous either: the constant stays within 1.5× of the measurement.
    assert!(
        LEDGER_BYTES_PER_SLICE as f64 <= per_slice * 1.5,
        "{per_slice:.0} bytes measured; lower LEDGER_BYTES_PER_SLICE"
    );
    fleet_redis::delete_prefix(&conn, &prefix).await.unwrap();
}
