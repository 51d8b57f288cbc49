//! Requests: create, get, list, fix_plan, update_request, cancel_request.

use chrono::{Duration as TimeDelta, Utc};
use fleet_core::ledger::{Ledger, LedgerError, RequestKind, RequestState, SliceState, Transition};

use super::{all_slices, apply, assert_counts, Run};

pub(super) async fn requests_are_created_once_and_listed_newest_first(
    run: &Run,
    a: &dyn Ledger,
    b: &dyn Ledger,
) {
    assert_eq!(
        a.get_request(&run.request_id("never")).await.unwrap(),
        None,
        "get_request: an unknown id is None"
    );
    // Far-future creation times, a second apart (and with sub-second parts), so these
    // are the newest requests of the store.
    let t0 = Utc::now() + TimeDelta::days(365 * 200) + TimeDelta::nanoseconds(123_456_789);
    let mut made = Vec::new();
    for (i, kind) in [
        RequestKind::Backfill,
        RequestKind::Sync,
        RequestKind::Backfill,
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = run.request(&format!("listed-{i}"), kind);
        r.created_at = t0 + TimeDelta::seconds(i as i64);
        if i == 1 {
            r.plan = Some(serde_json::json!({"units": []}));
            r.note = Some("from a test".into());
            r.planned = true;
            r.state = RequestState::Running;
        }
        assert!(
            a.create_request(&r).await.unwrap(),
            "create_request: a new id is stored"
        );
        assert_eq!(
            b.get_request(&r.id).await.unwrap().as_ref(),
            Some(&r),
            "get_request: another handle reads back exactly what was created"
        );
        made.push(r);
    }

    let mut again = made[0].clone();
    again.spec = serde_json::json!({"other": true});
    again.state = RequestState::Completed;
    assert!(
        !b.create_request(&again).await.unwrap(),
        "create_request: an existing id returns false"
    );
    assert_eq!(
        a.get_request(&made[0].id).await.unwrap().as_ref(),
        Some(&made[0]),
        "create_request: an existing request is left unchanged"
    );

    let listed = b.list_requests(1000).await.unwrap();
    for pair in listed.windows(2) {
        assert!(
            pair[0].created_at >= pair[1].created_at,
            "list_requests: newest first, but {} ({}) comes before {} ({})",
            pair[0].id,
            pair[0].created_at,
            pair[1].id,
            pair[1].created_at
        );
    }
    let ours: Vec<&str> = listed
        .iter()
        .filter(|r| made.iter().any(|m| m.id == r.id))
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        ours,
        vec![
            made[2].id.as_str(),
            made[1].id.as_str(),
            made[0].id.as_str()
        ],
        "list_requests: newest first"
    );
    let top = a.list_requests(2).await.unwrap();
    assert_eq!(top.len(), 2, "list_requests: at most `limit`");
    assert_eq!(
        top[..],
        listed[..2],
        "list_requests: a limit keeps the newest"
    );
    assert_eq!(top[1], made[1], "list_requests: full records");
    assert!(a.list_requests(0).await.unwrap().is_empty());
}

pub(super) async fn plans_are_fixed_by_the_first_writer(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    let id = run.new_request(a, "plan", RequestKind::Backfill).await;
    let first =
        serde_json::json!({"units": [{"source": "acme", "dataset": "jobs", "width": "1d"}]});
    let second = serde_json::json!({"units": []});
    assert_eq!(
        a.fix_plan(&id, &first).await.unwrap(),
        first,
        "fix_plan: the first call stores its plan"
    );
    assert_eq!(
        b.fix_plan(&id, &second).await.unwrap(),
        first,
        "fix_plan: a later call gets the stored plan"
    );
    let stored = a.get_request(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.plan,
        Some(first),
        "fix_plan: the request carries the plan"
    );
    assert_eq!(
        stored.state,
        RequestState::Planning,
        "fix_plan: nothing else changes"
    );
}

pub(super) async fn terminal_request_states_are_never_left(
    run: &Run,
    a: &dyn Ledger,
    b: &dyn Ledger,
) {
    let id = run.new_request(a, "update", RequestKind::Backfill).await;
    assert_eq!(
        a.update_request(&id, RequestState::Running, true, Some("planned 3 slices"))
            .await
            .unwrap(),
        RequestState::Running,
        "update_request: returns the state stored"
    );
    let r = b.get_request(&id).await.unwrap().unwrap();
    assert_eq!(
        (r.state, r.planned, r.note.as_deref()),
        (RequestState::Running, true, Some("planned 3 slices")),
        "update_request: state, planned and note are stored"
    );
    assert_eq!(
        b.update_request(&id, RequestState::Running, true, None)
            .await
            .unwrap(),
        RequestState::Running
    );
    assert_eq!(
        a.get_request(&id).await.unwrap().unwrap().note,
        None,
        "update_request: a note of None clears it"
    );
    assert_eq!(
        a.update_request(&id, RequestState::Failed, true, Some("2 slices failed"))
            .await
            .unwrap(),
        RequestState::Failed
    );
    let before = a.get_request(&id).await.unwrap().unwrap();
    for to in [
        RequestState::Running,
        RequestState::Planning,
        RequestState::Completed,
    ] {
        assert_eq!(
            b.update_request(&id, to, false, None).await.unwrap(),
            RequestState::Failed,
            "update_request: a terminal state is never left (asked for {to:?})"
        );
    }
    assert_eq!(
        a.get_request(&id).await.unwrap().unwrap(),
        before,
        "update_request: a terminal request is left unchanged"
    );
}

/// `reopen_request` takes back only a failure of planning itself.
pub(super) async fn only_a_failed_plan_is_reopened(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    let id = run.new_request(a, "reopen", RequestKind::Backfill).await;
    assert!(
        !b.reopen_request(&id).await.unwrap(),
        "reopen_request: a request still planning is left as it is"
    );
    a.update_request(
        &id,
        RequestState::Failed,
        false,
        Some("invalid_client: wrong secret"),
    )
    .await
    .unwrap();
    assert!(
        b.reopen_request(&id).await.unwrap(),
        "reopen_request: a request whose planning failed is reopened"
    );
    let stored = a.get_request(&id).await.unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.planned, stored.note),
        (RequestState::Planning, false, None),
        "reopen_request: back to Planning, note cleared"
    );
    assert!(
        !a.reopen_request(&id).await.unwrap(),
        "reopen_request: twice reopens once"
    );

    // Failed with its slices planned (reopened by Requeue instead), completed and
    // cancelled requests stay as they are.
    let planned = run
        .new_request(a, "reopen-planned", RequestKind::Backfill)
        .await;
    a.update_request(
        &planned,
        RequestState::Failed,
        true,
        Some("2 slices failed"),
    )
    .await
    .unwrap();
    let done = run
        .new_request(a, "reopen-done", RequestKind::Backfill)
        .await;
    a.update_request(&done, RequestState::Completed, false, None)
        .await
        .unwrap();
    let cancelled = run
        .new_request(a, "reopen-cancel", RequestKind::Backfill)
        .await;
    a.cancel_request(&cancelled).await.unwrap();
    for id in [&planned, &done, &cancelled] {
        let before = a.get_request(id).await.unwrap().unwrap();
        assert!(
            !b.reopen_request(id).await.unwrap(),
            "reopen_request: {:?} (planned {}) is not reopened",
            before.state,
            before.planned
        );
        assert_eq!(a.get_request(id).await.unwrap().unwrap(), before);
    }
}

pub(super) async fn unknown_requests_are_named(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    let ghost = run.request_id("ghost");
    let named = |r: Result<(), LedgerError>, method: &str| match r {
        Err(LedgerError::UnknownRequest(id)) => assert_eq!(id, ghost, "{method}: names the id"),
        other => panic!("{method} of an unknown request: expected UnknownRequest, got {other:?}"),
    };
    named(
        a.fix_plan(&ghost, &serde_json::json!({})).await.map(drop),
        "fix_plan",
    );
    named(
        b.update_request(&ghost, RequestState::Running, false, None)
            .await
            .map(drop),
        "update_request",
    );
    named(a.cancel_request(&ghost).await.map(drop), "cancel_request");
    named(b.reopen_request(&ghost).await.map(drop), "reopen_request");
    named(b.progress(&ghost).await.map(drop), "progress");
    named(
        a.plan_window(&ghost, "acme/jobs", None, run.at(60), &[])
            .await
            .map(drop),
        "plan_window",
    );
    // A batch with one slice of an unknown request is refused whole.
    let known = run.new_request(a, "known", RequestKind::Backfill).await;
    let batch = [run.slice(&known, 0), run.slice(&ghost, 0)];
    named(b.add_slices(&batch).await.map(drop), "add_slices");
    assert_eq!(
        a.get_slice(&batch[0].id).await.unwrap(),
        None,
        "add_slices: a refused batch stores nothing"
    );
    assert_eq!(a.get_request(&ghost).await.unwrap(), None);
    assert!(a
        .list_slices(&ghost, None, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        b.get_slice(&run.request_id("no-such-slice")).await.unwrap(),
        None
    );
}

/// One slice in each state, then a cancel: every non-terminal slice is cancelled, the
/// others kept; the request is Cancelled and takes no new work.
pub(super) async fn cancel_cancels_every_unfinished_slice(
    run: &Run,
    a: &dyn Ledger,
    b: &dyn Ledger,
) {
    let id = run.new_request(a, "cancel", RequestKind::Backfill).await;
    let slices: Vec<_> = (0..9).map(|n| run.slice(&id, n)).collect();
    a.add_slices(&slices).await.unwrap();
    let s = |n: usize| slices[n].id.as_str();
    // 0, 1 stay planned; 2, 3 queued; 4, 5 running; 6 completed; 7 failed; 8 split.
    for n in 2..6 {
        apply(b, s(n), Transition::Queued).await;
    }
    for n in [4, 5, 6, 8] {
        apply(a, s(n), Transition::Start).await;
    }
    apply(
        a,
        s(6),
        Transition::Complete {
            records: 4,
            pages: 1,
            claim: None,
        },
    )
    .await;
    apply(
        b,
        s(7),
        Transition::Fail {
            error: "gone".into(),
        },
    )
    .await;
    let children = vec![
        run.slice_between(&id, "s00008-a", run.at(480), run.at(510)),
        run.slice_between(&id, "s00008-b", run.at(510), run.at(540)),
    ];
    apply(
        b,
        s(8),
        Transition::Split {
            children: children.clone(),
        },
    )
    .await;
    assert_counts(a, &id, "setting up the cancel").await;

    assert_eq!(
        b.cancel_request(&id).await.unwrap(),
        8,
        "cancel_request: returns how many slices it cancelled (2 planned, 2 queued, 2 running, 2 split children)"
    );
    assert_eq!(
        a.get_request(&id).await.unwrap().unwrap().state,
        RequestState::Cancelled,
        "cancel_request: the request is Cancelled"
    );
    let p = assert_counts(a, &id, "cancel_request").await;
    assert_eq!(
        (
            p.cancelled,
            p.completed,
            p.failed,
            p.split,
            p.planned + p.queued + p.running
        ),
        (8, 1, 1, 1, 0),
        "cancel_request: only unfinished slices are cancelled"
    );
    assert_eq!(
        all_slices(a, &id, Some(SliceState::Completed)).await[0].records,
        4,
        "cancel_request: a completed slice keeps its records"
    );
    assert_eq!(
        a.cancel_request(&id).await.unwrap(),
        0,
        "cancel_request: again cancels nothing"
    );
    assert_eq!(
        b.update_request(&id, RequestState::Running, true, None)
            .await
            .unwrap(),
        RequestState::Cancelled,
        "update_request: a cancelled request stays cancelled"
    );
    let refused = a.transition(s(4), Transition::Start).await.unwrap();
    assert!(
        !refused.applied,
        "transition: a cancelled slice does not start"
    );

    // Work that arrives after the cancel is cancelled on arrival.
    let late = run.slice(&id, 20);
    assert_eq!(
        b.add_slices(&[late.clone(), slices[0].clone()])
            .await
            .unwrap(),
        Vec::<String>::new(),
        "add_slices: a cancelled request has no slices to publish"
    );
    assert_eq!(
        a.get_slice(&late.id).await.unwrap().map(|s| s.state),
        Some(SliceState::Cancelled),
        "add_slices: a slice added to a cancelled request arrives Cancelled"
    );
    let p = assert_counts(b, &id, "adding to a cancelled request").await;
    assert_eq!(p.cancelled, 9);
}

/// More slices than a cancel does in one step (both backends cancel in chunks of a few
/// hundred), with a few finished ones in between that must stay finished.
pub(super) async fn cancel_crosses_many_chunks(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    const SLICES: u32 = 1_234;
    let id = run
        .new_request(a, "cancel-many", RequestKind::Backfill)
        .await;
    let slices: Vec<_> = (0..SLICES).map(|n| run.slice(&id, n)).collect();
    for batch in slices.chunks(1000) {
        a.add_slices(batch).await.unwrap();
    }
    for n in (0..SLICES as usize).step_by(100) {
        apply(b, &slices[n].id, Transition::Fail { error: "x".into() }).await;
    }
    let failed = SLICES.div_ceil(100) as u64;
    assert_eq!(
        b.cancel_request(&id).await.unwrap(),
        u64::from(SLICES) - failed,
        "cancel_request: every unfinished slice, however many"
    );
    let p = assert_counts(a, &id, "a cancel of many slices").await;
    assert_eq!(
        (p.cancelled, p.failed, p.planned),
        (u64::from(SLICES) - failed, failed, 0)
    );
}
