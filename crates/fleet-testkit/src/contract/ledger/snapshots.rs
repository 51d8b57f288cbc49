//! Snapshot states of sync streams: the generation compare-and-set, exact round trips
//! (20,000 keys included), isolation of streams and requests.

use std::collections::BTreeMap;
use std::sync::Arc;

use fleet_core::ledger::{Ledger, LedgerError, RequestKind, SnapshotState};

use super::Run;

const STREAM: &str = "acme/machines/-";
const OTHER_STREAM: &str = "acme/folders/-";

/// `n` keys as a snapshot diff would store them: record keys and 64-hex content hashes.
fn hashes(n: usize, salt: &str) -> BTreeMap<String, String> {
    (0..n)
        .map(|i| {
            (
                format!("6f1c2f9a-0000-4000-8000-{i:012}"),
                format!("{salt}{:0>63x}", i * 7919),
            )
        })
        .collect()
}

pub(super) async fn snapshot_states_are_compare_and_set(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    let id = run.new_request(a, "snapshot", RequestKind::Sync).await;
    let other = run
        .new_request(a, "snapshot-other", RequestKind::Sync)
        .await;
    assert_eq!(
        a.snapshot(&id, STREAM).await.unwrap(),
        SnapshotState::default(),
        "snapshot: a stream never stored has generation 0, no hashes, no observed_at"
    );

    // Keys and hashes that must survive exactly: JSON escapes, separators, empty ones.
    let mut first = hashes(3, "a");
    first.insert(String::new(), String::new());
    first.insert("quote\"back\\slash\nnewline é 🚀".into(), "h:1 2".into());
    first.insert("Shared/Finance: +-".into(), "-".into());
    assert!(
        b.store_snapshot(&id, STREAM, 0, &first, run.at(0))
            .await
            .unwrap(),
        "store_snapshot: the first store expects generation 0"
    );
    let stored = SnapshotState {
        generation: 1,
        hashes: first.clone(),
        observed_at: Some(run.at(0)),
    };
    assert_eq!(
        a.snapshot(&id, STREAM).await.unwrap(),
        stored,
        "snapshot: returns what was stored, generation 1, observed_at to the nanosecond"
    );

    assert!(
        !a.store_snapshot(&id, STREAM, 0, &hashes(2, "b"), run.at(1))
            .await
            .unwrap(),
        "store_snapshot: a stale generation is refused"
    );
    assert_eq!(
        b.snapshot(&id, STREAM).await.unwrap(),
        stored,
        "store_snapshot: a refused store changes nothing"
    );
    assert!(
        !a.store_snapshot(&id, STREAM, 2, &hashes(2, "b"), run.at(1))
            .await
            .unwrap(),
        "store_snapshot: a generation from the future is refused too"
    );

    // Isolation: another stream of the request, the same stream of another request.
    assert_eq!(
        a.snapshot(&id, OTHER_STREAM).await.unwrap(),
        SnapshotState::default(),
        "snapshot: streams are separate"
    );
    assert_eq!(
        a.snapshot(&other, STREAM).await.unwrap(),
        SnapshotState::default(),
        "snapshot: requests are separate"
    );
    assert!(b
        .store_snapshot(&other, STREAM, 0, &hashes(1, "c"), run.at(2))
        .await
        .unwrap());
    assert!(b
        .store_snapshot(&id, OTHER_STREAM, 0, &hashes(1, "d"), run.at(3))
        .await
        .unwrap());
    assert_eq!(
        a.snapshot(&id, STREAM).await.unwrap(),
        stored,
        "store_snapshot: storing another stream or request leaves this one alone"
    );

    // The next window replaces the whole map (keys that disappeared are gone).
    let second = hashes(2, "e");
    assert!(a
        .store_snapshot(&id, STREAM, 1, &second, run.at(4))
        .await
        .unwrap());
    assert_eq!(
        b.snapshot(&id, STREAM).await.unwrap(),
        SnapshotState {
            generation: 2,
            hashes: second,
            observed_at: Some(run.at(4)),
        },
        "store_snapshot: replaces the hashes wholly and bumps the generation"
    );
    assert!(a
        .store_snapshot(&id, STREAM, 2, &BTreeMap::new(), run.at(5))
        .await
        .unwrap());
    assert_eq!(
        b.snapshot(&id, STREAM).await.unwrap(),
        SnapshotState {
            generation: 3,
            hashes: BTreeMap::new(),
            observed_at: Some(run.at(5)),
        },
        "store_snapshot: an empty set is a set (every key disappeared)"
    );

    // A big reference set round-trips exactly.
    let big = hashes(20_000, "f");
    assert!(b
        .store_snapshot(&id, STREAM, 3, &big, run.at(6))
        .await
        .unwrap());
    let read = a.snapshot(&id, STREAM).await.unwrap();
    assert_eq!(
        (read.generation, read.hashes.len(), read.observed_at),
        (4, 20_000, Some(run.at(6))),
        "snapshot: 20,000 keys are stored"
    );
    assert!(
        read.hashes == big,
        "snapshot: 20,000 keys round-trip exactly"
    );

    match a
        .store_snapshot(
            &run.request_id("snapshot-unknown"),
            STREAM,
            0,
            &first,
            run.at(0),
        )
        .await
    {
        Err(LedgerError::UnknownRequest(r)) => assert_eq!(r, run.request_id("snapshot-unknown")),
        other => panic!("store_snapshot: an unknown request is UnknownRequest, got {other:?}"),
    }
    assert_eq!(
        a.snapshot(&run.request_id("snapshot-unknown"), STREAM)
            .await
            .unwrap(),
        SnapshotState::default(),
        "snapshot: an unknown request has nothing stored"
    );
}

/// Every racer read generation 0 and stores its own set: exactly one wins, and the
/// stored set is the winner's.
pub(super) async fn one_of_many_snapshot_writers_wins(run: &Run, handles: &[Arc<dyn Ledger>]) {
    let id = run
        .new_request(&*handles[0], "snapshot-race", RequestKind::Sync)
        .await;
    let at = run.at(0);
    let tasks: Vec<_> = handles
        .iter()
        .enumerate()
        .map(|(n, l)| {
            let (l, id) = (Arc::clone(l), id.clone());
            tokio::spawn(async move {
                let mine = hashes(50, &format!("{n:x}"));
                let won = l.store_snapshot(&id, STREAM, 0, &mine, at).await.unwrap();
                (won, mine)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (won, mine) = t.await.expect("a racer panicked");
        if won {
            winners.push(mine);
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "store_snapshot: of {} writers expecting generation 0, exactly one stores",
        handles.len()
    );
    let read = handles[1].snapshot(&id, STREAM).await.unwrap();
    assert_eq!(read.generation, 1);
    assert!(
        read.hashes == winners[0],
        "store_snapshot: the stored set is the winner's, whole"
    );
}
