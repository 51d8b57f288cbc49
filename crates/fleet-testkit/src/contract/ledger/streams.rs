//! Sync streams: plan_window's compare-and-set and advance_watermark.

use fleet_core::ledger::{Ledger, RequestKind, SliceState, StreamState, Transition};

use super::{apply, assert_counts, Run};

const STREAM: &str = "acme/jobs/6f1c2f9a-0000-4000-8000-000000000007";

pub(super) async fn plan_window_is_a_compare_and_set(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    let id = run.new_request(a, "window", RequestKind::Sync).await;
    assert_eq!(
        a.stream(&id, STREAM).await.unwrap(),
        StreamState::default(),
        "stream: an unplanned stream has neither planned_to nor watermark"
    );
    let first: Vec<_> = (0..2).map(|n| run.slice(&id, n)).collect();
    assert_eq!(
        b.plan_window(&id, STREAM, Some(run.at(0)), run.at(120), &first)
            .await
            .unwrap(),
        None,
        "plan_window: a stale `expected` plans nothing"
    );
    assert_eq!(
        a.get_slice(&first[0].id).await.unwrap(),
        None,
        "plan_window: a refused window adds no slice"
    );
    let ids: Vec<String> = first.iter().map(|s| s.id.clone()).collect();
    assert_eq!(
        b.plan_window(&id, STREAM, None, run.at(120), &first)
            .await
            .unwrap(),
        Some(ids.clone()),
        "plan_window: the expected planned_to plans, returning the ids to publish"
    );
    assert_eq!(
        a.stream(&id, STREAM).await.unwrap(),
        StreamState {
            planned_to: Some(run.at(120)),
            watermark: None
        },
        "plan_window: planned_to moves to the window's end"
    );
    assert_eq!(
        a.get_slice(&ids[0])
            .await
            .unwrap()
            .unwrap()
            .stream
            .as_deref(),
        Some(STREAM),
        "plan_window: its slices are on its stream"
    );
    assert_eq!(
        a.plan_window(&id, STREAM, None, run.at(120), &first)
            .await
            .unwrap(),
        None,
        "plan_window: the same window twice plans once"
    );
    let next = [run.slice(&id, 2)];
    assert_eq!(
        a.plan_window(&id, STREAM, Some(run.at(120)), run.at(180), &next)
            .await
            .unwrap(),
        Some(vec![next[0].id.clone()])
    );
    assert_eq!(
        b.stream(&id, "acme/jobs/other-folder").await.unwrap(),
        StreamState::default(),
        "stream: streams are separate"
    );
    let p = assert_counts(b, &id, "plan_window").await;
    assert_eq!(p.planned, 3);
}

/// One stream through windows, a split, a failure and a retry: the watermark follows
/// the completed slices oldest first, and stops at anything else.
pub(super) async fn watermarks_advance_over_completed_slices_only(
    run: &Run,
    a: &dyn Ledger,
    b: &dyn Ledger,
) {
    let id = run.new_request(a, "watermark", RequestKind::Sync).await;
    let w: Vec<_> = (0..3).map(|n| run.slice(&id, n)).collect();
    let ids: Vec<String> = w.iter().map(|s| s.id.clone()).collect();
    a.plan_window(&id, STREAM, None, run.at(180), &w)
        .await
        .unwrap();
    let advance = || async { b.advance_watermark(&id, STREAM).await.unwrap() };
    let stream = || async { a.stream(&id, STREAM).await.unwrap() };

    assert_eq!(
        advance().await,
        None,
        "advance_watermark: stops at a planned slice"
    );
    apply(a, &ids[0], Transition::Queued).await;
    assert_eq!(
        advance().await,
        None,
        "advance_watermark: stops at a queued slice"
    );
    apply(a, &ids[0], Transition::Start).await;
    assert_eq!(
        advance().await,
        None,
        "advance_watermark: stops at a running slice"
    );
    apply(
        a,
        &ids[0],
        Transition::Complete {
            records: 1,
            pages: 1,
            claim: None,
        },
    )
    .await;
    assert_eq!(
        advance().await,
        Some(run.at(60)),
        "advance_watermark: moves to the end of a completed slice"
    );
    assert_eq!(
        stream().await.watermark,
        Some(run.at(60)),
        "advance_watermark: stores it"
    );

    // Split the second window; its children replace it on the stream.
    apply(a, &ids[1], Transition::Start).await;
    let children = vec![
        run.slice_between(&id, "s00001-a", run.at(60), run.at(90)),
        run.slice_between(&id, "s00001-b", run.at(90), run.at(120)),
    ];
    apply(
        b,
        &ids[1],
        Transition::Split {
            children: children.clone(),
        },
    )
    .await;
    for c in &children {
        let child = a.get_slice(&c.id).await.unwrap().unwrap();
        assert_eq!(
            (child.stream.as_deref(), child.parent.as_deref()),
            (Some(STREAM), Some(ids[1].as_str())),
            "transition: split children inherit the parent's stream"
        );
    }
    assert_eq!(
        advance().await,
        Some(run.at(60)),
        "advance_watermark: stops at a queued child"
    );
    apply(a, &children[0].id, Transition::Start).await;
    apply(
        a,
        &children[0].id,
        Transition::Complete {
            records: 1,
            pages: 1,
            claim: None,
        },
    )
    .await;
    assert_eq!(
        advance().await,
        Some(run.at(90)),
        "advance_watermark: moves across a completed child of a split"
    );
    apply(
        a,
        &children[1].id,
        Transition::Fail {
            error: "500".into(),
        },
    )
    .await;
    // The third window completes meanwhile: it must not be passed over the failure.
    apply(a, &ids[2], Transition::Start).await;
    apply(
        a,
        &ids[2],
        Transition::Complete {
            records: 1,
            pages: 1,
            claim: None,
        },
    )
    .await;
    assert_eq!(
        advance().await,
        Some(run.at(90)),
        "advance_watermark: stops at a failed slice"
    );
    apply(b, &children[1].id, Transition::Requeue).await;
    apply(b, &children[1].id, Transition::Start).await;
    assert_eq!(
        advance().await,
        Some(run.at(90)),
        "advance_watermark: stops at a running slice"
    );
    apply(
        b,
        &children[1].id,
        Transition::Complete {
            records: 1,
            pages: 1,
            claim: None,
        },
    )
    .await;
    assert_eq!(
        advance().await,
        Some(run.at(180)),
        "advance_watermark: moves over every completed slice in one call"
    );

    // With nothing pending, the watermark is planned_to (here past the last slice).
    a.plan_window(&id, STREAM, Some(run.at(180)), run.at(240), &[])
        .await
        .unwrap();
    assert_eq!(
        advance().await,
        Some(run.at(240)),
        "advance_watermark: with nothing pending, the watermark is planned_to"
    );

    // The next window is planned, and meanwhile a late slice of an old range
    // completes: the walk passes it but the watermark does not go back.
    let next = run.slice_between(&id, "next", run.at(240), run.at(300));
    a.plan_window(
        &id,
        STREAM,
        Some(run.at(240)),
        run.at(300),
        std::slice::from_ref(&next),
    )
    .await
    .unwrap();
    let mut old = run.slice_between(&id, "old", run.at(-60), run.at(0));
    old.stream = Some(STREAM.to_owned());
    a.add_slices(std::slice::from_ref(&old)).await.unwrap();
    apply(a, &old.id, Transition::Start).await;
    apply(
        a,
        &old.id,
        Transition::Complete {
            records: 1,
            pages: 1,
            claim: None,
        },
    )
    .await;
    assert_eq!(
        advance().await,
        Some(run.at(240)),
        "advance_watermark: never moves backwards"
    );
    assert_eq!(
        stream().await.watermark,
        Some(run.at(240)),
        "advance_watermark: never moves backwards"
    );
    apply(a, &next.id, Transition::Start).await;
    apply(
        a,
        &next.id,
        Transition::Complete {
            records: 1,
            pages: 1,
            claim: None,
        },
    )
    .await;
    assert_eq!(advance().await, Some(run.at(300)));
    assert_eq!(
        stream().await,
        StreamState {
            planned_to: Some(run.at(300)),
            watermark: Some(run.at(300))
        }
    );
    let p = assert_counts(a, &id, "a stream's life").await;
    assert_eq!((p.completed, p.split, p.failed), (6, 1, 0));
    assert_eq!(
        a.get_slice(&children[1].id).await.unwrap().unwrap().state,
        SliceState::Completed
    );
    assert_eq!(
        b.advance_watermark(&id, "acme/never-planned")
            .await
            .unwrap(),
        None,
        "advance_watermark: an unplanned stream has no watermark"
    );
}
