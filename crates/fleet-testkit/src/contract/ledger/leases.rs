//! Leases: exclusive while unexpired, renewable by their holder, released only by it.

use std::sync::Arc;
use std::time::Duration;

use fleet_core::ledger::Ledger;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Run;
use crate::contract::{late, EARLY};

const LONG_TTL: Duration = Duration::from_secs(60);
const SHORT_TTL: Duration = Duration::from_millis(300);

pub(super) async fn leases_are_exclusive_and_released_by_their_holder(
    run: &Run,
    a: &dyn Ledger,
    b: &dyn Ledger,
) {
    let name = format!("{}-lease", run.id);
    assert!(
        a.try_lease(&name, "coord-1", LONG_TTL).await.unwrap(),
        "try_lease: a free lease is taken"
    );
    assert!(
        !b.try_lease(&name, "coord-2", LONG_TTL).await.unwrap(),
        "try_lease: held by another holder"
    );
    assert!(
        b.try_lease(&name, "coord-1", LONG_TTL).await.unwrap(),
        "try_lease: the holder renews (through any handle)"
    );
    b.release_lease(&name, "coord-2").await.unwrap();
    assert!(
        !b.try_lease(&name, "coord-2", LONG_TTL).await.unwrap(),
        "release_lease: only the holder releases"
    );
    let other = format!("{}-lease-other", run.id);
    assert!(
        b.try_lease(&other, "coord-2", LONG_TTL).await.unwrap(),
        "try_lease: leases are separate by name"
    );
    a.release_lease(&name, "coord-1").await.unwrap();
    assert!(
        b.try_lease(&name, "coord-2", LONG_TTL).await.unwrap(),
        "release_lease: a released lease is free"
    );
    a.release_lease(&name, "coord-1").await.unwrap();
    assert!(
        !a.try_lease(&name, "coord-1", LONG_TTL).await.unwrap(),
        "release_lease: a former holder does not release the new holder's lease"
    );
    b.release_lease(&name, "coord-2").await.unwrap();
    b.release_lease(&other, "coord-2").await.unwrap();
    a.release_lease(&other, "coord-2").await.unwrap();
}

/// Two leases taken for 300 ms; one is renewed for a minute. When the other lapses
/// (on time, not early), the renewed one must still be held.
pub(super) async fn leases_lapse_and_renewals_extend_them(
    run: &Run,
    a: &dyn Ledger,
    b: &dyn Ledger,
) {
    let lapsing = format!("{}-lapsing", run.id);
    let renewed = format!("{}-renewed", run.id);
    let before = Instant::now();
    assert!(a.try_lease(&lapsing, "h1", SHORT_TTL).await.unwrap());
    let after = Instant::now();
    assert!(a.try_lease(&renewed, "h1", SHORT_TTL).await.unwrap());
    assert!(
        a.try_lease(&renewed, "h1", LONG_TTL).await.unwrap(),
        "try_lease: renews"
    );

    let end = Instant::now() + Duration::from_secs(5);
    let taken_at = loop {
        if b.try_lease(&lapsing, "h2", LONG_TTL).await.unwrap() {
            break Instant::now();
        }
        assert!(
            Instant::now() < end,
            "try_lease: a 300 ms lease was still held after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        taken_at + EARLY >= before + SHORT_TTL,
        "try_lease: a lease lapsed {:?} early",
        (before + SHORT_TTL) - taken_at
    );
    assert!(
        taken_at <= after + SHORT_TTL + late(SHORT_TTL),
        "try_lease: a lease was still held {:?} after its ttl",
        taken_at - (after + SHORT_TTL)
    );
    assert!(
        !b.try_lease(&renewed, "h2", LONG_TTL).await.unwrap(),
        "try_lease: a renewal extends the lease past its first ttl"
    );
    a.release_lease(&lapsing, "h1").await.unwrap();
    assert!(
        !a.try_lease(&lapsing, "h1", LONG_TTL).await.unwrap(),
        "release_lease: a lapsed holder does not release the next holder's lease"
    );
    b.release_lease(&lapsing, "h2").await.unwrap();
    a.release_lease(&renewed, "h1").await.unwrap();
}

pub(super) async fn one_of_many_racers_takes_a_lease(run: &Run, handles: &[Arc<dyn Ledger>]) {
    let name = format!("{}-lease-race", run.id);
    let mut racers = JoinSet::new();
    for (i, h) in handles.iter().enumerate() {
        let (h, name) = (Arc::clone(h), name.clone());
        racers.spawn(async move {
            let holder = format!("racer-{i}");
            h.try_lease(&name, &holder, LONG_TTL)
                .await
                .unwrap()
                .then_some(holder)
        });
    }
    let won: Vec<String> = racers.join_all().await.into_iter().flatten().collect();
    assert_eq!(
        won.len(),
        1,
        "try_lease: {} of {} concurrent callers got the lease",
        won.len(),
        handles.len()
    );
    handles[0].release_lease(&name, &won[0]).await.unwrap();
}
