//! The transition table: every move from every state, the legal ones applied with their
//! side effects, the others refused without a change; counters equal a recount after
//! each.

use chrono::{Duration as TimeDelta, Utc};
use fleet_core::ledger::{Ledger, Progress, RequestKind, SliceRecord, SliceState, Transition};

use super::{apply, assert_counts, Run};

/// The states a move is legal from, and where it goes: the table in `Transition`'s
/// docs, written out again here so that a backend cannot agree with itself.
fn legal(t: &Transition, from: SliceState) -> Option<SliceState> {
    use SliceState::*;
    let (sources, to): (&[SliceState], SliceState) = match t {
        Transition::Queued => (&[Planned], Queued),
        Transition::Start => (&[Planned, Queued, Running], Running),
        Transition::Checkpoint { .. } => (&[Running], Running),
        Transition::Retry { .. } => (&[Running, Queued], Queued),
        Transition::Complete { .. } => (&[Running], Completed),
        Transition::Fail { .. } => (&[Planned, Queued, Running], Failed),
        Transition::Split { .. } => (&[Running, Queued], Split),
        Transition::Cancel => (&[Planned, Queued, Running], Cancelled),
        Transition::Requeue => (&[Failed], Queued),
    };
    sources.contains(&from).then_some(to)
}

/// Moves a freshly added slice into `state` by legal moves.
async fn put_in(run: &Run, l: &dyn Ledger, slice: &SliceRecord, state: SliceState) {
    l.add_slices(std::slice::from_ref(slice)).await.unwrap();
    let id = &slice.id;
    match state {
        SliceState::Planned => {}
        SliceState::Queued => drop(apply(l, id, Transition::Queued).await),
        SliceState::Running => drop(apply(l, id, Transition::Start).await),
        SliceState::Completed => {
            apply(l, id, Transition::Start).await;
            apply(
                l,
                id,
                Transition::Complete {
                    records: 3,
                    pages: 1,
                    claim: None,
                },
            )
            .await;
        }
        SliceState::Failed => drop(
            apply(
                l,
                id,
                Transition::Fail {
                    error: "setup".into(),
                },
            )
            .await,
        ),
        SliceState::Split => {
            apply(l, id, Transition::Start).await;
            let child = run.slice_between(
                &slice.request_id,
                &format!("{}-setup", id),
                slice.from.unwrap(),
                slice.to.unwrap(),
            );
            apply(
                l,
                id,
                Transition::Split {
                    children: vec![child],
                },
            )
            .await;
        }
        SliceState::Cancelled => drop(apply(l, id, Transition::Cancel).await),
    }
    assert_eq!(l.get_slice(id).await.unwrap().unwrap().state, state);
}

/// Every move from every state: the legal ones apply with their side effects, the
/// others are refused and change nothing; counters equal a recount after each.
pub(super) async fn every_transition_follows_the_table(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    let id = run.new_request(a, "table", RequestKind::Backfill).await;
    let mut n = 0u32;
    for from in SliceState::ALL {
        for (name, t) in moves(run, &id) {
            n += 1;
            let slice = run.slice(&id, n);
            put_in(run, a, &slice, from).await;
            let before = b.get_slice(&slice.id).await.unwrap().unwrap();
            let progress_before = b.progress(&id).await.unwrap();
            let t = match t {
                // Children named after their parent, so every case has its own.
                Transition::Split { children } => Transition::Split {
                    children: children
                        .into_iter()
                        .map(|mut c| {
                            c.id = format!("{}-{}", slice.id, c.id);
                            c
                        })
                        .collect(),
                },
                other => other,
            };
            let called_at = Utc::now();
            let out = b.transition(&slice.id, t.clone()).await.unwrap();
            let after = out
                .slice
                .clone()
                .expect("transition: a known slice is returned");
            assert_eq!(
                out.progress,
                a.progress(&id).await.unwrap(),
                "transition: the outcome carries the progress after the call"
            );
            let what = format!("{name} from {from:?}");
            let progress = assert_counts(a, &id, &what).await;
            let Some(to) = legal(&t, from) else {
                assert!(
                    !out.applied,
                    "transition: {what} is illegal and must be refused"
                );
                assert_eq!(
                    after, before,
                    "transition: refused {what} must change nothing"
                );
                assert_eq!(
                    progress, progress_before,
                    "transition: refused {what} must count nothing"
                );
                continue;
            };
            assert!(out.applied, "transition: {what} is legal and must apply");
            assert!(
                after.updated_at >= called_at - TimeDelta::seconds(1),
                "transition: {what} sets updated_at to now"
            );
            let mut expected = SliceRecord {
                state: to,
                updated_at: after.updated_at,
                ..before.clone()
            };
            match &t {
                Transition::Start => expected.attempts += 1,
                Transition::Checkpoint {
                    cursor,
                    records,
                    pages,
                    ..
                } => {
                    expected.checkpoint = Some(cursor.clone());
                    expected.records += records;
                    expected.pages += pages;
                }
                Transition::Complete { records, pages, .. } => {
                    expected.records += records;
                    expected.pages += pages;
                }
                Transition::Retry { error, .. } | Transition::Fail { error } => {
                    expected.last_error = Some(error.clone());
                }
                Transition::Split { children } => {
                    for c in children {
                        let child = a.get_slice(&c.id).await.unwrap();
                        assert_eq!(
                            child,
                            Some(SliceRecord {
                                state: SliceState::Queued,
                                parent: Some(slice.id.clone()),
                                ..c.clone()
                            }),
                            "transition: {what} adds its children, Queued, with their parent"
                        );
                    }
                    assert_eq!(
                        progress.queued,
                        progress_before.queued + children.len() as u64
                            - u64::from(from == SliceState::Queued),
                        "transition: {what} counts its children"
                    );
                }
                Transition::Queued | Transition::Cancel | Transition::Requeue => {}
            }
            assert_eq!(
                after, expected,
                "transition: {what} changes exactly its fields"
            );
            assert_eq!(
                a.get_slice(&slice.id).await.unwrap(),
                Some(after),
                "transition: the returned slice is the stored one"
            );
        }
    }
    let unknown = a
        .transition(&run.request_id("no-such-slice"), Transition::Start)
        .await
        .unwrap();
    assert_eq!(
        (unknown.applied, unknown.slice, unknown.progress),
        (false, None, Progress::default()),
        "transition: an unknown slice is refused and reported as None"
    );
}

/// One of each transition, with distinctive arguments.
fn moves(run: &Run, request: &str) -> Vec<(&'static str, Transition)> {
    vec![
        ("Queued", Transition::Queued),
        ("Start", Transition::Start),
        (
            "Checkpoint",
            Transition::Checkpoint {
                cursor: "{\"after\":42}".into(),
                records: 5,
                pages: 2,
                claim: None,
            },
        ),
        (
            "Retry",
            Transition::Retry {
                error: "429 too many requests".into(),
                claim: None,
            },
        ),
        (
            "Complete",
            Transition::Complete {
                records: 7,
                pages: 3,
                claim: None,
            },
        ),
        (
            "Fail",
            Transition::Fail {
                error: "400 bad request".into(),
            },
        ),
        (
            "Split",
            Transition::Split {
                children: vec![
                    run.slice_between(request, "a", run.at(0), run.at(30)),
                    run.slice_between(request, "b", run.at(30), run.at(60)),
                ],
            },
        ),
        ("Cancel", Transition::Cancel),
        ("Requeue", Transition::Requeue),
    ]
}
