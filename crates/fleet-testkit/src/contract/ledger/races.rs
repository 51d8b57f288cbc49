//! Many handles at once: what must be inserted once, applied once, won once.

use std::collections::BTreeSet;
use std::sync::Arc;

use fleet_core::ledger::{Ledger, RequestKind, SliceState, Transition};
use tokio::task::JoinSet;

use super::{apply, assert_counts, Run, RACERS};

/// Racer `i` adds slices `[5i, 5i + 30)`: neighbours overlap by 25 slices.
pub(super) async fn overlapping_add_slices_insert_each_slice_once(
    run: &Run,
    handles: &[Arc<dyn Ledger>],
) {
    let id = run
        .new_request(&*handles[0], "add-race", RequestKind::Backfill)
        .await;
    let mut racers = JoinSet::new();
    for (i, h) in handles.iter().enumerate() {
        let h = Arc::clone(h);
        let i = i as u32;
        let batch: Vec<_> = (5 * i..5 * i + 30).map(|n| run.slice(&id, n)).collect();
        racers.spawn(async move {
            let ids: Vec<String> = batch.iter().map(|s| s.id.clone()).collect();
            let returned = h.add_slices(&batch).await.unwrap();
            (ids, returned)
        });
    }
    let mut distinct = BTreeSet::new();
    for (ids, returned) in racers.join_all().await {
        assert_eq!(
            returned, ids,
            "add_slices: every slice of a racing batch is Planned after the call, and returned"
        );
        distinct.extend(ids);
    }
    let p = assert_counts(&*handles[1], &id, "16 overlapping add_slices").await;
    assert_eq!(
        (p.planned, p.total()),
        (distinct.len() as u64, distinct.len() as u64),
        "add_slices: each of {} distinct slices is counted once",
        distinct.len()
    );
}

pub(super) async fn start_and_complete_races(run: &Run, handles: &[Arc<dyn Ledger>]) {
    let id = run
        .new_request(&*handles[0], "run-race", RequestKind::Backfill)
        .await;
    let slices: Vec<_> = (0..2).map(|n| run.slice(&id, n)).collect();
    handles[0].add_slices(&slices).await.unwrap();
    let (one, two) = (slices[0].id.clone(), slices[1].id.clone());
    apply(&*handles[0], &one, Transition::Queued).await;

    // A redelivered job may start again: every Start applies, each counts an attempt.
    let applied = race(handles, |_| (one.clone(), Transition::Start)).await;
    assert_eq!(
        applied, RACERS,
        "transition: every concurrent Start applies"
    );
    let s = handles[1].get_slice(&one).await.unwrap().unwrap();
    assert_eq!(
        (s.state, s.attempts),
        (SliceState::Running, RACERS as u32),
        "transition: concurrent Starts count every attempt"
    );
    let p = assert_counts(&*handles[2], &id, "16 concurrent Starts").await;
    assert_eq!(p.running, 1);

    let applied = race(handles, |_| {
        (
            one.clone(),
            Transition::Complete {
                records: 10,
                pages: 1,
                claim: None,
            },
        )
    })
    .await;
    assert_eq!(
        applied, 1,
        "transition: exactly one of {RACERS} concurrent Completes applies"
    );
    let s = handles[3].get_slice(&one).await.unwrap().unwrap();
    assert_eq!(
        (s.state, s.records, s.pages),
        (SliceState::Completed, 10, 1)
    );

    // Complete, Fail and Cancel of one running slice: one wins, the rest see its state.
    apply(&*handles[0], &two, Transition::Start).await;
    let applied = race(handles, |i| {
        let t = match i % 3 {
            0 => Transition::Complete {
                records: 4,
                pages: 1,
                claim: None,
            },
            1 => Transition::Fail {
                error: "racer".into(),
            },
            _ => Transition::Cancel,
        };
        (two.clone(), t)
    })
    .await;
    assert_eq!(
        applied, 1,
        "transition: exactly one of racing terminal moves applies"
    );
    let p = assert_counts(&*handles[4], &id, "racing terminal moves").await;
    assert_eq!(
        (p.running, p.completed + p.failed + p.cancelled),
        (0, 2),
        "transition: the racing slice ended once"
    );
}

/// Runs `make(i)` on handle `i`, all at once; returns how many applied.
async fn race(handles: &[Arc<dyn Ledger>], make: impl Fn(usize) -> (String, Transition)) -> usize {
    let mut racers = JoinSet::new();
    for (i, h) in handles.iter().enumerate() {
        let h = Arc::clone(h);
        let (id, t) = make(i);
        racers.spawn(async move { h.transition(&id, t).await.unwrap().applied });
    }
    racers.join_all().await.into_iter().filter(|a| *a).count()
}

/// Every racer plans the first window of one stream with its own slices: one wins, and
/// only its slices exist.
pub(super) async fn one_of_many_window_planners_wins(run: &Run, handles: &[Arc<dyn Ledger>]) {
    let id = run
        .new_request(&*handles[0], "window-race", RequestKind::Sync)
        .await;
    let stream = "acme/queue-items";
    let mut racers = JoinSet::new();
    for (i, h) in handles.iter().enumerate() {
        let h = Arc::clone(h);
        let slice = run.slice(&id, i as u32);
        let (id, to) = (id.clone(), run.at(60));
        racers.spawn(async move {
            let won = h
                .plan_window(&id, stream, None, to, std::slice::from_ref(&slice))
                .await
                .unwrap();
            (slice.id, won)
        });
    }
    let results = racers.join_all().await;
    let winners: Vec<_> = results.iter().filter(|(_, won)| won.is_some()).collect();
    assert_eq!(
        winners.len(),
        1,
        "plan_window: {} of {RACERS} concurrent planners of one window won",
        winners.len()
    );
    assert_eq!(
        winners[0].1.as_deref(),
        Some(std::slice::from_ref(&winners[0].0))
    );
    for (slice, won) in &results {
        assert_eq!(
            handles[0].get_slice(slice).await.unwrap().is_some(),
            won.is_some(),
            "plan_window: only the winner's slices are added"
        );
    }
    let p = assert_counts(&*handles[1], &id, "racing window planners").await;
    assert_eq!(p.total(), 1);
    assert_eq!(
        handles[2].stream(&id, stream).await.unwrap().planned_to,
        Some(run.at(60))
    );
}
