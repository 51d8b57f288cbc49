//! `FileLedger`: the shared ledger contract in memory and on a file, and what only the
//! file has: state that survives a reopen, a torn last line, compaction, the lock.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use fleet_core::ledger::{
    Ledger, LedgerError, Progress, RequestKind, RequestRecord, RequestState, SliceRecord,
    SliceState, StreamState, Transition,
};
use fleet_core::wire::Lane;
use fleet_memory::FileLedger;
use fleet_testkit::contract::ledger_contract;

use common::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_ledger_meets_the_contract() {
    let ledger = FileLedger::memory();
    ledger_contract(|| std::future::ready(Arc::new(ledger.clone()) as Arc<dyn Ledger>)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_ledger_meets_the_contract() {
    let dir = TempDir::new("ledger-contract");
    let path = dir.path().join("ledger.jsonl");
    let ledger = FileLedger::open(&path).await.unwrap();
    ledger_contract(|| std::future::ready(Arc::new(ledger.clone()) as Arc<dyn Ledger>)).await;
    // What the contract left, as the open ledger sees it.
    let mut before = Vec::new();
    for r in ledger.list_requests(10_000).await.unwrap() {
        let p = ledger.progress(&r.id).await.unwrap();
        let slices = ledger
            .list_slices(&r.id, None, None, 100_000)
            .await
            .unwrap();
        before.push((r, p, slices));
    }
    drop(ledger);
    // Whatever the contract did (thousands of mutations, compactions of the file and of
    // streams, snapshot states), the file replays to the same ledger.
    let reopened = FileLedger::open(&path).await.unwrap();
    let requests = reopened.list_requests(10_000).await.unwrap();
    assert!(
        requests.len() > 10,
        "the contract's requests are in the file"
    );
    assert_eq!(requests.len(), before.len());
    let mut compacted = 0;
    for (r, p, slices) in before {
        assert_eq!(reopened.get_request(&r.id).await.unwrap(), Some(r.clone()));
        assert_eq!(
            reopened.progress(&r.id).await.unwrap(),
            p,
            "request {}",
            r.id
        );
        let now = reopened
            .list_slices(&r.id, None, None, 100_000)
            .await
            .unwrap();
        assert!(now == slices, "the slices of request {}", r.id);
        if p.total() + p.split != slices.len() as u64 {
            compacted += 1;
        }
    }
    assert!(
        compacted >= 2,
        "the contract's compacted requests keep counting their forgotten slices"
    );
    let snapshots = reopened
        .snapshot(
            &requests
                .iter()
                .find(|r| r.id.ends_with("-snapshot"))
                .expect("the snapshot check's request")
                .id,
            "acme/machines/-",
        )
        .await
        .unwrap();
    assert_eq!(
        (snapshots.generation, snapshots.hashes.len()),
        (4, 20_000),
        "snapshot states survive a reopen"
    );
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn request(id: &str, kind: RequestKind) -> RequestRecord {
    RequestRecord {
        id: id.into(),
        kind,
        state: RequestState::Planning,
        created_at: t("2025-05-01T10:00:00.000000001Z"),
        spec: serde_json::json!({"datasets": ["jobs"], "empty": []}),
        plan: None,
        planned: false,
        note: None,
    }
}

fn slice(request: &str, n: i64, stream: Option<&str>) -> SliceRecord {
    let from = t("2025-01-01T00:00:00.5Z") + TimeDelta::hours(n);
    SliceRecord {
        id: format!("{request}-{n:04}"),
        request_id: request.into(),
        lane: Lane::Sync,
        source: "acme".into(),
        dataset: "jobs".into(),
        folder: None,
        from: Some(from),
        to: Some(from + TimeDelta::hours(1)),
        select: vec![],
        stream: stream.map(str::to_owned),
        parent: None,
        state: SliceState::Planned,
        records: 0,
        pages: 0,
        attempts: 0,
        last_error: None,
        checkpoint: None,
        updated_at: t("2025-05-01T10:00:00Z"),
    }
}

const STREAM: &str = "acme/jobs";

/// A ledger with a bit of everything: two requests, slices in several states, a
/// stream with a watermark and pending slices, a fixed plan, a note.
async fn populate(l: &FileLedger) {
    assert!(l
        .create_request(&request("bf", RequestKind::Backfill))
        .await
        .unwrap());
    assert!(l
        .create_request(&request("sy", RequestKind::Sync))
        .await
        .unwrap());
    l.fix_plan("bf", &serde_json::json!({"units": [1, 2]}))
        .await
        .unwrap();
    l.update_request("bf", RequestState::Running, true, Some("note"))
        .await
        .unwrap();
    let bf: Vec<_> = (0..6).map(|n| slice("bf", n, None)).collect();
    l.add_slices(&bf).await.unwrap();
    l.transition("bf-0000", Transition::Queued).await.unwrap();
    l.transition("bf-0001", Transition::Start).await.unwrap();
    l.transition(
        "bf-0001",
        Transition::Checkpoint {
            cursor: "c".into(),
            records: 5,
            pages: 1,
            claim: None,
        },
    )
    .await
    .unwrap();
    l.transition("bf-0002", Transition::Fail { error: "e".into() })
        .await
        .unwrap();
    let sy: Vec<_> = (0..3).map(|n| slice("sy", n, Some(STREAM))).collect();
    l.plan_window("sy", STREAM, None, sy[2].to.unwrap(), &sy)
        .await
        .unwrap();
    l.transition("sy-0000", Transition::Start).await.unwrap();
    l.transition(
        "sy-0000",
        Transition::Complete {
            records: 3,
            pages: 1,
            claim: None,
        },
    )
    .await
    .unwrap();
    l.transition("sy-0001", Transition::Start).await.unwrap();
    // Two halves of sy-0001's hour.
    let half = |id: &str, minutes: i64| {
        let mut c = slice("sy", 1, None);
        c.id = id.into();
        c.from = c.from.map(|f| f + TimeDelta::minutes(minutes));
        c.to = c.from.map(|f| f + TimeDelta::minutes(30));
        c
    };
    let children = vec![half("sy-0100", 0), half("sy-0101", 30)];
    l.transition("sy-0001", Transition::Split { children })
        .await
        .unwrap();
    assert_eq!(l.advance_watermark("sy", STREAM).await.unwrap(), sy[0].to);
    l.try_lease("coordinator", "me", std::time::Duration::from_secs(60))
        .await
        .unwrap();
}

/// Everything a ledger can say about the populated requests.
async fn dump(
    l: &FileLedger,
) -> (
    Vec<RequestRecord>,
    Vec<SliceRecord>,
    Vec<Progress>,
    StreamState,
) {
    let requests = l.list_requests(100).await.unwrap();
    let mut slices = Vec::new();
    let mut progress = Vec::new();
    for r in &requests {
        slices.extend(l.list_slices(&r.id, None, None, 1000).await.unwrap());
        progress.push(l.progress(&r.id).await.unwrap());
    }
    (
        requests,
        slices,
        progress,
        l.stream("sy", STREAM).await.unwrap(),
    )
}

#[tokio::test]
async fn state_survives_a_reopen() {
    let dir = TempDir::new("ledger-reopen");
    let path = dir.path().join("nested/dir/ledger.jsonl");
    let l = FileLedger::open(&path).await.unwrap();
    populate(&l).await;
    let before = dump(&l).await;
    assert_eq!(before.1.len(), 11);
    drop(l);

    let l = FileLedger::open(&path).await.unwrap();
    assert_eq!(
        dump(&l).await,
        before,
        "a reopened ledger is the one that was closed"
    );
    // The stream's pending slices survived too: the watermark goes on from there.
    for id in ["sy-0100", "sy-0101"] {
        l.transition(id, Transition::Start).await.unwrap();
        l.transition(
            id,
            Transition::Complete {
                records: 1,
                pages: 1,
                claim: None,
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(
        l.advance_watermark("sy", STREAM).await.unwrap(),
        Some(t("2025-01-01T02:00:00.5Z"))
    );
    // Leases are not persisted: a new process holds none.
    assert!(l
        .try_lease(
            "coordinator",
            "someone-else",
            std::time::Duration::from_secs(1)
        )
        .await
        .unwrap());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the ledger file is private");
    }
}

#[tokio::test]
async fn a_torn_last_line_is_dropped_and_a_torn_middle_is_an_error() {
    let dir = TempDir::new("ledger-torn");
    let path = dir.path().join("ledger.jsonl");
    let l = FileLedger::open(&path).await.unwrap();
    populate(&l).await;
    let before = dump(&l).await;
    drop(l);

    // A crash in the middle of writing a mutation.
    let good_len = std::fs::metadata(&path).unwrap().len();
    append(&path, br#"[{"op":"slice","record":{"id":"bf-0005","requ"#);
    let l = FileLedger::open(&path).await.unwrap();
    assert_eq!(dump(&l).await, before, "a torn last line is ignored");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        good_len,
        "the torn line is cut off"
    );
    // The next mutation starts on a line of its own.
    l.transition("bf-0005", Transition::Queued).await.unwrap();
    let after = dump(&l).await;
    drop(l);
    let l = FileLedger::open(&path).await.unwrap();
    assert_eq!(dump(&l).await, after);
    drop(l);

    // A damaged line with lines after it was not a crash: refuse, naming the line.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines = text.lines().count();
    let mut damaged: Vec<&str> = text.lines().collect();
    damaged[2] = "[{\"op\":";
    std::fs::write(&path, damaged.join("\n") + "\n").unwrap();
    match FileLedger::open(&path).await {
        Err(LedgerError::Corrupt(msg)) => assert!(msg.contains("line 3"), "{msg}"),
        other => panic!("expected Corrupt for a damaged line of {lines}, got {other:?}"),
    }
    std::fs::write(&path, "not a ledger\n").unwrap();
    match FileLedger::open(&path).await {
        Err(LedgerError::Corrupt(msg)) => assert!(msg.contains("header"), "{msg}"),
        other => panic!("expected Corrupt for a foreign file, got {other:?}"),
    }
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

#[tokio::test]
async fn compaction_shrinks_the_file_and_keeps_the_state() {
    let dir = TempDir::new("ledger-compact");
    let path = dir.path().join("ledger.jsonl");
    let l = FileLedger::open(&path).await.unwrap();
    populate(&l).await;
    let mutations = 3_000;
    for i in 0..mutations {
        l.transition(
            "bf-0001",
            Transition::Checkpoint {
                cursor: format!("page-{i}"),
                records: 1,
                pages: 1,
                claim: None,
            },
        )
        .await
        .unwrap();
    }
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    assert!(
        lines < mutations / 2,
        "{mutations} checkpoints of one slice must have been compacted, found {lines} lines"
    );
    let before = dump(&l).await;
    assert_eq!(before.2[1].records, 5 + mutations as u64, "progress of bf");
    // Compaction swapped the file under the lock: it is still held.
    match FileLedger::open(&path).await {
        Err(LedgerError::Backend(msg)) => assert!(msg.contains("locked"), "{msg}"),
        other => panic!("a compacted ledger file must still be locked, got {other:?}"),
    }
    drop(l);
    let l = FileLedger::open(&path).await.unwrap();
    assert_eq!(dump(&l).await, before, "compaction keeps the state");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[tokio::test]
async fn a_locked_file_is_refused_with_a_clear_error() {
    let dir = TempDir::new("ledger-lock");
    let path = dir.path().join("ledger.jsonl");
    let first = FileLedger::open(&path).await.unwrap();
    let err = FileLedger::open(&path).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("locked") && msg.contains(&path.display().to_string()),
        "the error names the file and the lock: {msg}"
    );
    drop(first);
    FileLedger::open(&path)
        .await
        .expect("the file opens once its owner is gone");
}

/// A stream storing a big snapshot state every window must not grow the file without
/// bound: the journal weighs each store by its keys, so it is compacted after a few
/// stores, and a reopened ledger has the last one. Compacted slices stay compacted.
#[tokio::test]
async fn big_snapshot_states_keep_the_file_small_and_survive_a_reopen() {
    let dir = TempDir::new("ledger-snapshots");
    let path = dir.path().join("ledger.jsonl");
    let l = FileLedger::open(&path).await.unwrap();
    let id = "sync-snapshots";
    l.create_request(&request(id, RequestKind::Sync))
        .await
        .unwrap();
    let at = t("2024-03-01T00:00:00Z");
    let hashes = |round: usize| -> std::collections::BTreeMap<String, String> {
        (0..20_000)
            .map(|i| (format!("machine-{i:06}"), format!("{round:08x}{i:056x}")))
            .collect()
    };
    assert!(l
        .store_snapshot(id, "acme/machines/-", 0, &hashes(0), at)
        .await
        .unwrap());
    let one_store = std::fs::metadata(&path).unwrap().len();
    for round in 1..20u64 {
        assert!(l
            .store_snapshot(id, "acme/machines/-", round, &hashes(round as usize), at)
            .await
            .unwrap());
    }
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size < 5 * one_store,
        "20 stores of 20,000 keys: the file is {size} B, one store {one_store} B; \
         the journal must be compacted against the keys it holds"
    );

    // A stream's slices compacted, then the file reopened.
    let slices: Vec<SliceRecord> = (0..3).map(|n| slice(id, n, None)).collect();
    let to = slices[2].to.unwrap();
    l.plan_window(id, "acme/jobs/-", None, to, &slices)
        .await
        .unwrap()
        .unwrap();
    for s in &slices {
        l.transition(&s.id, Transition::Start).await.unwrap();
        l.transition(
            &s.id,
            Transition::Complete {
                records: 5,
                pages: 1,
                claim: None,
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(
        l.advance_watermark(id, "acme/jobs/-").await.unwrap(),
        Some(to)
    );
    assert_eq!(l.compact_stream(id, "acme/jobs/-", to).await.unwrap(), 3);
    let progress = l.progress(id).await.unwrap();
    drop(l);
    let l = FileLedger::open(&path).await.unwrap();
    let stored = l.snapshot(id, "acme/machines/-").await.unwrap();
    assert_eq!(stored.generation, 20);
    assert!(stored.hashes == hashes(19));
    assert_eq!(l.progress(id).await.unwrap(), progress);
    assert_eq!((progress.completed, progress.records), (3, 15));
    assert_eq!(l.get_slice(&slices[0].id).await.unwrap(), None);
    assert_eq!(l.compact_stream(id, "acme/jobs/-", to).await.unwrap(), 0);
}
