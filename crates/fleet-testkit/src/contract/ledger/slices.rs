//! Slices: add_slices, get_slice, list_slices, splits, claims and requeues (the
//! transition table is `transitions`).

use fleet_core::ledger::{Ledger, RequestKind, SliceRecord, SliceState, Transition};

use super::{all_slices, apply, assert_counts, Run};

pub(super) async fn add_slices_is_idempotent(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    let id = run.new_request(a, "add", RequestKind::Backfill).await;
    let mut slices: Vec<SliceRecord> = (0..10).map(|n| run.slice(&id, n)).collect();
    // Variety for the round trip: no folder, no select, no range, a parent, records.
    slices[1].folder = None;
    slices[2].select = Vec::new();
    (slices[3].from, slices[3].to) = (None, None);
    slices[4].parent = Some("elsewhere".into());
    slices[5].records = 12;
    slices[5].pages = 2;
    slices[5].attempts = 1;
    slices[5].last_error = Some(String::new());
    slices[5].checkpoint = Some("{\"skip\":100}".into());
    slices[6].lane = fleet_core::wire::Lane::Sync;
    let ids: Vec<String> = slices.iter().map(|s| s.id.clone()).collect();

    assert_eq!(
        a.add_slices(&slices).await.unwrap(),
        ids,
        "add_slices: new slices are returned, in input order"
    );
    for s in &slices {
        let stored = b.get_slice(&s.id).await.unwrap();
        let expected = SliceRecord {
            state: SliceState::Planned,
            ..s.clone()
        };
        assert_eq!(
            stored,
            Some(expected),
            "add_slices: a slice reads back exactly as added (in state Planned)"
        );
    }
    let p = assert_counts(b, &id, "add_slices").await;
    assert_eq!((p.planned, p.total(), p.records), (10, 10, 12));

    assert_eq!(
        b.add_slices(&slices).await.unwrap(),
        ids,
        "add_slices: slices still Planned are returned again (an interrupted plan)"
    );
    for n in [0, 4, 9] {
        apply(a, &ids[n], Transition::Queued).await;
    }
    apply(a, &ids[5], Transition::Start).await;
    let mut changed = slices.clone();
    for s in &mut changed {
        s.select = vec!["Other".into()];
        s.records = 99;
    }
    changed.reverse();
    let expected: Vec<String> = [8, 7, 6, 3, 2, 1].iter().map(|&n| ids[n].clone()).collect();
    assert_eq!(
        b.add_slices(&changed).await.unwrap(),
        expected,
        "add_slices: only the slices still Planned are returned, in input order"
    );
    assert_eq!(
        a.get_slice(&ids[2]).await.unwrap().unwrap().select,
        Vec::<String>::new(),
        "add_slices: a known slice is never changed"
    );
    let p = assert_counts(a, &id, "re-adding known slices").await;
    assert_eq!(
        (p.planned, p.queued, p.running, p.records),
        (6, 3, 1, 12),
        "add_slices: re-adding counts nothing twice"
    );

    let dup = vec![run.slice(&id, 20), run.slice(&id, 21), run.slice(&id, 20)];
    assert_eq!(
        a.add_slices(&dup).await.unwrap(),
        vec![dup[0].id.clone(), dup[1].id.clone()],
        "add_slices: an id given twice is inserted and returned once"
    );
    assert!(b.add_slices(&[]).await.unwrap().is_empty());
    assert_eq!(
        assert_counts(b, &id, "a batch with a duplicate")
            .await
            .planned,
        8
    );
}

/// Split children must be of the parent's request and not the parent; known children
/// are left alone.
pub(super) async fn splits_are_checked(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    let id = run.new_request(a, "split", RequestKind::Backfill).await;
    let other = run
        .new_request(a, "split-other", RequestKind::Backfill)
        .await;
    let parent = run.slice(&id, 0);
    a.add_slices(std::slice::from_ref(&parent)).await.unwrap();
    apply(a, &parent.id, Transition::Start).await;
    let before = a.get_slice(&parent.id).await.unwrap();
    for (why, children) in [
        ("no children", vec![]),
        ("a child of another request", vec![run.slice(&other, 1)]),
        ("the parent as its own child", vec![parent.clone()]),
    ] {
        let out = b
            .transition(&parent.id, Transition::Split { children })
            .await
            .unwrap();
        assert!(!out.applied, "transition: a split with {why} is refused");
        assert_eq!(
            out.slice, before,
            "transition: a refused split ({why}) changes nothing"
        );
    }
    assert_eq!(a.get_slice(&run.slice(&other, 1).id).await.unwrap(), None);

    // A child that already exists is kept as it is (and not counted again).
    let known = run.slice(&id, 1);
    a.add_slices(std::slice::from_ref(&known)).await.unwrap();
    let fresh = run.slice(&id, 2);
    apply(
        b,
        &parent.id,
        Transition::Split {
            children: vec![known.clone(), fresh.clone()],
        },
    )
    .await;
    assert_eq!(
        a.get_slice(&known.id).await.unwrap().unwrap().state,
        SliceState::Planned
    );
    assert_eq!(
        a.get_slice(&fresh.id).await.unwrap().unwrap().state,
        SliceState::Queued
    );
    let p = assert_counts(a, &id, "a split with a known child").await;
    assert_eq!((p.split, p.planned, p.queued, p.total()), (1, 1, 1, 2));
}

pub(super) async fn list_slices_pages_by_id(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    let id = run.new_request(a, "list", RequestKind::Backfill).await;
    let neighbour = run
        .new_request(a, "list-neighbour", RequestKind::Backfill)
        .await;
    // Added in reverse: listing order is by id, not by insertion.
    let slices: Vec<_> = (0..25).rev().map(|n| run.slice(&id, n)).collect();
    a.add_slices(&slices).await.unwrap();
    a.add_slices(&[run.slice(&neighbour, 0)]).await.unwrap();
    let mut ids: Vec<String> = slices.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    let queued: Vec<String> = ids.iter().step_by(4).cloned().collect();
    for q in &queued {
        apply(b, q, Transition::Queued).await;
    }

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let page = b
            .list_slices(&id, None, seen.last().map(String::as_str), 10)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        sizes.push(page.len());
        seen.extend(page.into_iter().map(|s| s.id));
    }
    assert_eq!(
        sizes,
        vec![10, 10, 5],
        "list_slices: pages of at most `limit`"
    );
    assert_eq!(
        seen, ids,
        "list_slices: every slice of the request once, in id order"
    );

    let mut filtered = Vec::new();
    loop {
        let page = a
            .list_slices(
                &id,
                Some(SliceState::Queued),
                filtered.last().map(String::as_str),
                3,
            )
            .await
            .unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        assert!(page.iter().all(|s| s.state == SliceState::Queued));
        filtered.extend(page.into_iter().map(|s| s.id));
    }
    assert_eq!(filtered, queued, "list_slices: the state filter pages too");

    // `after` need not be an id that exists.
    let after = format!("{}~", ids[11]);
    let page = a.list_slices(&id, None, Some(&after), 2).await.unwrap();
    assert_eq!(
        page.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec![ids[12].as_str(), ids[13].as_str()],
        "list_slices: after is exclusive and need not exist"
    );
    assert!(a.list_slices(&id, None, None, 0).await.unwrap().is_empty());
    assert!(a
        .list_slices(&id, Some(SliceState::Failed), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(all_slices(b, &neighbour, None).await.len(), 1);
}

pub(super) async fn mark_queued_moves_only_planned_slices(
    run: &Run,
    a: &dyn Ledger,
    b: &dyn Ledger,
) {
    let id = run
        .new_request(a, "mark-queued", RequestKind::Backfill)
        .await;
    let slices: Vec<SliceRecord> = (0..6).map(|n| run.slice(&id, n)).collect();
    let ids: Vec<String> = slices.iter().map(|s| s.id.clone()).collect();
    a.add_slices(&slices).await.unwrap();
    apply(a, &ids[1], Transition::Start).await;
    apply(a, &ids[2], Transition::Cancel).await;
    let mut with_unknown = ids.clone();
    with_unknown.push(format!("{id}-no-such-slice"));
    b.mark_queued(&with_unknown).await.unwrap();
    let states: Vec<SliceState> = {
        let mut out = Vec::new();
        for s in &ids {
            out.push(a.get_slice(s).await.unwrap().unwrap().state);
        }
        out
    };
    use SliceState::*;
    assert_eq!(
        states,
        vec![Queued, Running, Cancelled, Queued, Queued, Queued],
        "mark_queued: Planned slices become Queued, others are left alone"
    );
    let p = assert_counts(b, &id, "mark_queued").await;
    assert_eq!((p.queued, p.running, p.cancelled, p.planned), (4, 1, 1, 0));
    // Again: nothing changes.
    a.mark_queued(&ids).await.unwrap();
    let p = assert_counts(b, &id, "mark_queued twice").await;
    assert_eq!(p.queued, 4, "mark_queued: idempotent");
    assert_eq!(
        a.add_slices(&slices).await.unwrap(),
        Vec::<String>::new(),
        "add_slices: queued slices are not returned"
    );
}

/// A checkpoint or completion carrying a stale claim (another `Start` since) is refused,
/// so a worker that lost its job to another keeps neither publishing nor counting.
pub(super) async fn stale_claims_are_fenced(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    let id = run.new_request(a, "fence", RequestKind::Backfill).await;
    let s = run.slice(&id, 0);
    a.add_slices(std::slice::from_ref(&s)).await.unwrap();
    let first = apply(a, &s.id, Transition::Start).await;
    let old = first.attempts;
    let checkpoint = |claim: Option<u32>, cursor: &str| Transition::Checkpoint {
        cursor: cursor.into(),
        records: 10,
        pages: 1,
        claim,
    };
    apply(b, &s.id, checkpoint(Some(old), "c1")).await;
    // Another worker claims it (the first one's connection was cut, say).
    let second = apply(b, &s.id, Transition::Start).await;
    let new = second.attempts;
    assert_eq!(new, old + 1, "transition: Start counts attempts");
    let before = a.get_slice(&s.id).await.unwrap();
    for t in [
        checkpoint(Some(old), "stale"),
        Transition::Complete {
            records: 5,
            pages: 1,
            claim: Some(old),
        },
        Transition::Retry {
            error: "stale".into(),
            claim: Some(old),
        },
    ] {
        let out = a.transition(&s.id, t.clone()).await.unwrap();
        assert!(
            !out.applied,
            "transition: {t:?} with a stale claim is refused"
        );
        assert_eq!(
            out.slice, before,
            "transition: a fenced move changes nothing"
        );
    }
    apply(a, &s.id, checkpoint(Some(new), "c2")).await;
    // The holder retrying a checkpoint whose reply it lost: accepted, not counted again.
    let again = apply(b, &s.id, checkpoint(Some(new), "c2")).await;
    assert_eq!(
        again.records, 20,
        "transition: a repeated checkpoint counts once"
    );
    // Without a claim there is no way to tell a repeat: it counts.
    apply(a, &s.id, checkpoint(None, "c3")).await;
    let done = apply(
        b,
        &s.id,
        Transition::Complete {
            records: 1,
            pages: 1,
            claim: Some(new),
        },
    )
    .await;
    assert_eq!(
        (done.state, done.records, done.checkpoint.as_deref()),
        (SliceState::Completed, 31, Some("c3")),
        "transition: only current claims count records"
    );
    // A repeated completion by the holder is accepted and changes nothing; a stale
    // holder's is refused.
    let again = b
        .transition(
            &s.id,
            Transition::Complete {
                records: 1,
                pages: 1,
                claim: Some(new),
            },
        )
        .await
        .unwrap();
    assert!(
        again.applied,
        "transition: the holder may repeat its Complete"
    );
    assert_eq!(again.slice.as_ref().map(|s| s.records), Some(31));
    let stale = b
        .transition(
            &s.id,
            Transition::Complete {
                records: 1,
                pages: 1,
                claim: Some(old),
            },
        )
        .await
        .unwrap();
    assert!(!stale.applied, "transition: a stale Complete stays refused");
    let p = assert_counts(a, &id, "after fenced moves").await;
    assert_eq!(p.records, 31);

    // Retry: the holder puts its slice back to Queued (and may repeat that); a stale
    // worker may not, neither while another holds it nor after.
    let r = run.slice(&id, 1);
    a.add_slices(std::slice::from_ref(&r)).await.unwrap();
    let old = apply(a, &r.id, Transition::Start).await.attempts;
    let new = apply(b, &r.id, Transition::Start).await.attempts;
    let retry = |claim: u32| Transition::Retry {
        error: format!("retry under claim {claim}"),
        claim: Some(claim),
    };
    let stale = a.transition(&r.id, retry(old)).await.unwrap();
    assert!(
        !stale.applied,
        "transition: a stale Retry is refused while another worker holds the slice"
    );
    assert_eq!(
        stale.slice.as_ref().map(|s| s.state),
        Some(SliceState::Running),
        "transition: a fenced Retry leaves the holder's slice Running"
    );
    let parked = apply(b, &r.id, retry(new)).await;
    assert_eq!(
        (parked.state, parked.last_error.as_deref()),
        (
            SliceState::Queued,
            Some(format!("retry under claim {new}").as_str())
        ),
        "transition: the holder's Retry applies"
    );
    let again = b.transition(&r.id, retry(new)).await.unwrap();
    assert!(again.applied, "transition: the holder may repeat its Retry");
    assert_eq!(again.slice.map(|s| s.state), Some(SliceState::Queued));
    let stale = a.transition(&r.id, retry(old)).await.unwrap();
    assert!(!stale.applied, "transition: a stale Retry stays refused");
    assert_counts(a, &id, "after fenced retries").await;
}

/// `Requeue` (a dead-letter replay) reopens the slice's ended request in the same step,
/// leaves a running one as it is, and is refused in a cancelled request.
pub(super) async fn requeue_reopens_an_ended_request(run: &Run, a: &dyn Ledger, b: &dyn Ledger) {
    use fleet_core::ledger::RequestState;

    let id = run.new_request(a, "requeue", RequestKind::Backfill).await;
    let slices: Vec<SliceRecord> = (0..3).map(|n| run.slice(&id, n)).collect();
    let ids: Vec<String> = slices.iter().map(|s| s.id.clone()).collect();
    a.add_slices(&slices).await.unwrap();
    a.mark_queued(&ids).await.unwrap();
    a.update_request(&id, RequestState::Running, true, None)
        .await
        .unwrap();
    for s in &ids[..2] {
        apply(a, s, Transition::Start).await;
        apply(
            a,
            s,
            Transition::Fail {
                error: "404 not found".into(),
            },
        )
        .await;
    }
    apply(a, &ids[2], Transition::Start).await;
    apply(
        a,
        &ids[2],
        Transition::Complete {
            records: 4,
            pages: 1,
            claim: None,
        },
    )
    .await;
    assert_eq!(
        a.update_request(&id, RequestState::Failed, true, Some("2 slices failed"))
            .await
            .unwrap(),
        RequestState::Failed
    );

    let requeued = apply(b, &ids[0], Transition::Requeue).await;
    assert_eq!(
        (
            requeued.state,
            requeued.attempts,
            requeued.last_error.as_deref()
        ),
        (SliceState::Queued, 1, Some("404 not found")),
        "transition: Requeue queues the slice, keeping its attempts and last error"
    );
    let r = a.get_request(&id).await.unwrap().unwrap();
    assert_eq!(
        (r.state, r.planned),
        (RequestState::Running, true),
        "transition: Requeue reopens a Failed request (Running, still planned)"
    );
    let p = assert_counts(a, &id, "Requeue").await;
    assert_eq!(
        (p.queued, p.failed, p.completed, p.records),
        (1, 1, 1, 4),
        "transition: Requeue moves the counters with the slice"
    );

    // The request is running again: a second requeue leaves it so, and it can be
    // finished anew.
    apply(a, &ids[1], Transition::Requeue).await;
    assert_eq!(
        b.get_request(&id).await.unwrap().unwrap().state,
        RequestState::Running
    );
    for s in &ids[..2] {
        apply(b, s, Transition::Start).await;
        apply(
            b,
            s,
            Transition::Complete {
                records: 1,
                pages: 1,
                claim: None,
            },
        )
        .await;
    }
    let p = assert_counts(b, &id, "completing the replayed slices").await;
    assert_eq!((p.completed, p.failed, p.done(), p.total()), (3, 0, 3, 3));
    assert_eq!(
        a.update_request(&id, RequestState::Completed, true, None)
            .await
            .unwrap(),
        RequestState::Completed,
        "update_request: a reopened request can be finished again"
    );

    // A Completed request (a failed slice's request should not be, but the rule is the
    // same) is reopened too.
    let done = run
        .new_request(a, "requeue-completed", RequestKind::Backfill)
        .await;
    let lone = run.slice(&done, 0);
    a.add_slices(std::slice::from_ref(&lone)).await.unwrap();
    apply(
        a,
        &lone.id,
        Transition::Fail {
            error: "403".into(),
        },
    )
    .await;
    a.update_request(&done, RequestState::Completed, true, None)
        .await
        .unwrap();
    apply(b, &lone.id, Transition::Requeue).await;
    assert_eq!(
        a.get_request(&done).await.unwrap().unwrap().state,
        RequestState::Running,
        "transition: Requeue reopens a Completed request"
    );

    // In a cancelled request it is refused and nothing changes.
    let gone = run
        .new_request(a, "requeue-cancelled", RequestKind::Backfill)
        .await;
    let victim = run.slice(&gone, 0);
    a.add_slices(std::slice::from_ref(&victim)).await.unwrap();
    apply(
        a,
        &victim.id,
        Transition::Fail {
            error: "400".into(),
        },
    )
    .await;
    a.cancel_request(&gone).await.unwrap();
    let before = a.get_slice(&victim.id).await.unwrap();
    let out = b.transition(&victim.id, Transition::Requeue).await.unwrap();
    assert!(
        !out.applied,
        "transition: Requeue in a cancelled request is refused"
    );
    assert_eq!(
        out.slice, before,
        "transition: a refused Requeue changes nothing"
    );
    assert_eq!(
        a.get_request(&gone).await.unwrap().unwrap().state,
        RequestState::Cancelled,
        "transition: Requeue never reopens a cancelled request"
    );
    assert_eq!(assert_counts(a, &gone, "a refused Requeue").await.failed, 1);
}
