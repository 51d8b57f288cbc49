//! compact_stream: only completed slices the watermark passed and the cutoff allows go;
//! counters, planned_to and the watermark stay; the stream carries on afterwards.

use fleet_core::ledger::{Ledger, RequestKind, SliceState, StreamState, Transition};

use super::{all_slices, apply, Run};

const STREAM: &str = "acme/jobs/6f1c2f9a-0000-4000-8000-000000000007";
const OTHER_STREAM: &str = "acme/jobs/other-folder";

async fn complete(l: &dyn Ledger, id: &str) {
    apply(l, id, Transition::Start).await;
    apply(
        l,
        id,
        Transition::Complete {
            records: 10,
            pages: 1,
            claim: None,
        },
    )
    .await;
}

pub(super) async fn compaction_forgets_passed_completed_slices_only(
    run: &Run,
    a: &dyn Ledger,
    b: &dyn Ledger,
) {
    let id = run.new_request(a, "compact", RequestKind::Sync).await;
    // Six hourly windows [0h, 6h); s0..s2 complete, s3 fails, s4 completes behind the
    // failure (ahead of the watermark), s5 is split and its children complete later.
    let w: Vec<_> = (0..6).map(|n| run.slice(&id, n)).collect();
    let ids: Vec<String> = w.iter().map(|s| s.id.clone()).collect();
    a.plan_window(&id, STREAM, None, run.at(360), &w)
        .await
        .unwrap()
        .expect("the first window plans");
    // Another stream of the same request, completed and passed: never touched.
    let o = run.slice_between(&id, "other", run.at(0), run.at(60));
    a.plan_window(
        &id,
        OTHER_STREAM,
        None,
        run.at(60),
        std::slice::from_ref(&o),
    )
    .await
    .unwrap()
    .expect("the other stream plans");
    complete(a, &o.id).await;
    assert_eq!(
        b.advance_watermark(&id, OTHER_STREAM).await.unwrap(),
        Some(run.at(60))
    );

    assert_eq!(
        b.compact_stream(&id, STREAM, run.at(10_000)).await.unwrap(),
        0,
        "compact_stream: nothing before the watermark has moved"
    );
    for n in [0, 1, 2, 4] {
        complete(a, &ids[n]).await;
    }
    apply(
        b,
        &ids[3],
        Transition::Fail {
            error: "500".into(),
        },
    )
    .await;
    apply(a, &ids[5], Transition::Start).await;
    let children = vec![
        run.slice_between(&id, "s00005-a", run.at(300), run.at(330)),
        run.slice_between(&id, "s00005-b", run.at(330), run.at(360)),
    ];
    apply(
        a,
        &ids[5],
        Transition::Split {
            children: children.clone(),
        },
    )
    .await;
    assert_eq!(
        b.advance_watermark(&id, STREAM).await.unwrap(),
        Some(run.at(180)),
        "the watermark stops at the failed s3"
    );
    let progress = a.progress(&id).await.unwrap();
    let stream = a.stream(&id, STREAM).await.unwrap();
    assert_eq!(
        (
            progress.completed,
            progress.failed,
            progress.split,
            progress.queued
        ),
        (5, 1, 1, 2)
    );

    // The cutoff: only s0 (to 1h) and s1 (to 2h) end at or before 2h.
    assert_eq!(
        b.compact_stream(&id, STREAM, run.at(120)).await.unwrap(),
        2,
        "compact_stream: the completed slices behind the watermark whose `to` <= before"
    );
    for n in [0, 1] {
        assert_eq!(
            a.get_slice(&ids[n]).await.unwrap(),
            None,
            "compact_stream: a compacted slice is gone"
        );
    }
    for n in [2, 3, 4, 5] {
        assert!(
            a.get_slice(&ids[n]).await.unwrap().is_some(),
            "compact_stream: slice {n} (past the cutoff, failed, ahead of the watermark or split) stays"
        );
    }
    let unknown = a.transition(&ids[0], Transition::Start).await.unwrap();
    assert!(
        !unknown.applied && unknown.slice.is_none(),
        "transition: a compacted slice is unknown"
    );
    let listed: Vec<String> = all_slices(b, &id, None)
        .await
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert!(
        !listed.contains(&ids[0]) && !listed.contains(&ids[1]) && listed.contains(&ids[2]),
        "list_slices: compacted slices are not listed"
    );
    let completed = all_slices(b, &id, Some(SliceState::Completed)).await;
    assert_eq!(
        completed.len(),
        3,
        "list_slices(Completed): s2, s4 and the other stream's slice are left"
    );
    assert_eq!(
        a.progress(&id).await.unwrap(),
        progress,
        "compact_stream: the request's counters (completed, records, ...) stay"
    );
    assert_eq!(
        b.stream(&id, STREAM).await.unwrap(),
        stream,
        "compact_stream: planned_to and the watermark stay"
    );
    assert_eq!(
        b.compact_stream(&id, STREAM, run.at(120)).await.unwrap(),
        0,
        "compact_stream: twice is harmless"
    );

    // A later cutoff: s2 goes; s4 (completed, but ahead of the watermark) stays.
    assert_eq!(
        a.compact_stream(&id, STREAM, run.at(10_000)).await.unwrap(),
        1,
        "compact_stream: never a completed slice the watermark has not passed"
    );
    assert_eq!(
        a.get_slice(&ids[4]).await.unwrap().map(|s| s.state),
        Some(SliceState::Completed)
    );
    assert_eq!(a.progress(&id).await.unwrap(), progress);

    // The stream carries on: the failed window is replayed, the watermark advances over
    // it and s4, then over the split's children; nothing is planned twice.
    apply(b, &ids[3], Transition::Requeue).await;
    complete(b, &ids[3]).await;
    assert_eq!(
        a.advance_watermark(&id, STREAM).await.unwrap(),
        Some(run.at(300)),
        "advance_watermark: works after a compaction, stopping at the queued child"
    );
    for c in &children {
        complete(a, &c.id).await;
    }
    assert_eq!(
        a.advance_watermark(&id, STREAM).await.unwrap(),
        Some(run.at(360))
    );
    assert_eq!(
        b.plan_window(&id, STREAM, None, run.at(360), &w)
            .await
            .unwrap(),
        None,
        "plan_window: a compacted window is not planned again"
    );
    let before_second = a.progress(&id).await.unwrap();
    assert_eq!(
        (
            before_second.completed,
            before_second.failed,
            before_second.split
        ),
        (8, 0, 1)
    );
    assert_eq!(
        b.compact_stream(&id, STREAM, run.at(10_000)).await.unwrap(),
        4,
        "compact_stream: s3, s4 and both children; never the split parent"
    );
    assert_eq!(a.progress(&id).await.unwrap(), before_second);
    assert_eq!(
        a.get_slice(&ids[5]).await.unwrap().map(|s| s.state),
        Some(SliceState::Split),
        "compact_stream: a split slice is not completed and stays"
    );
    assert_eq!(
        a.stream(&id, STREAM).await.unwrap(),
        StreamState {
            planned_to: Some(run.at(360)),
            watermark: Some(run.at(360)),
        }
    );
    let next = [run.slice_between(&id, "next", run.at(360), run.at(420))];
    assert_eq!(
        a.plan_window(&id, STREAM, Some(run.at(360)), run.at(420), &next)
            .await
            .unwrap(),
        Some(vec![next[0].id.clone()]),
        "plan_window: the next window plans as before"
    );
    complete(a, &next[0].id).await;
    assert_eq!(
        b.advance_watermark(&id, STREAM).await.unwrap(),
        Some(run.at(420))
    );
    assert_eq!(
        b.compact_stream(&id, STREAM, run.at(10_000)).await.unwrap(),
        1
    );
    assert_eq!(
        b.compact_stream(&id, STREAM, run.at(10_000)).await.unwrap(),
        0,
        "compact_stream: twice is harmless"
    );

    // Left: the split parent, and the other stream's slice.
    let left: Vec<String> = all_slices(a, &id, None)
        .await
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![o.id.clone(), ids[5].clone()]);
    let p = a.progress(&id).await.unwrap();
    assert_eq!(
        (p.completed, p.split, p.records),
        (9, 1, 90),
        "progress: compacted slices still count, records included"
    );
    assert_eq!(
        a.compact_stream(&id, "acme/never-planned", run.at(10_000))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        a.compact_stream(&run.request_id("compact-unknown"), STREAM, run.at(10_000))
            .await
            .unwrap(),
        0,
        "compact_stream: an unknown request has nothing to compact"
    );
}

/// More passed slices than one batch: every batch removes its share, counters stay.
pub(super) async fn compaction_crosses_batches(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    const N: u32 = 2_500;
    let id = run.new_request(a, "compact-many", RequestKind::Sync).await;
    let w: Vec<_> = (0..N)
        .map(|n| {
            run.slice_between(
                &id,
                &format!("m{n:05}"),
                run.at(i64::from(n)),
                run.at(i64::from(n) + 1),
            )
        })
        .collect();
    let ids: Vec<String> = w.iter().map(|s| s.id.clone()).collect();
    a.plan_window(&id, STREAM, None, run.at(i64::from(N)), &w)
        .await
        .unwrap();
    b.mark_queued(&ids).await.unwrap();
    for s in &ids {
        complete(a, s).await;
    }
    assert_eq!(
        b.advance_watermark(&id, STREAM).await.unwrap(),
        Some(run.at(i64::from(N)))
    );
    let progress = a.progress(&id).await.unwrap();
    assert_eq!(
        b.compact_stream(&id, STREAM, run.at(2_200)).await.unwrap(),
        2_200,
        "compact_stream: across batches, up to the cutoff"
    );
    assert_eq!(
        a.compact_stream(&id, STREAM, run.at(10_000)).await.unwrap(),
        300
    );
    assert!(all_slices(a, &id, None).await.is_empty());
    assert_eq!(a.progress(&id).await.unwrap(), progress);
    assert_eq!(progress.completed, u64::from(N));
}
