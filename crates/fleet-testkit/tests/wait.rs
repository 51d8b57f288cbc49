//! `wait_until`: succeeds as soon as the condition holds, times out exactly at the
//! deadline with a readable message, and accepts both sync and async conditions.
//!
//! All tests run with paused tokio time, so "5 seconds" costs nothing and the elapsed
//! times asserted below are exact.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fleet_testkit::wait_until;

const SECOND: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_millis(100);

#[tokio::test(start_paused = true)]
async fn sync_condition_met_after_some_polls() {
    let checks = AtomicU32::new(0);
    let waited = wait_until("the 4th check", 5 * SECOND, TICK, || {
        checks.fetch_add(1, Ordering::SeqCst) == 3
    })
    .await
    .unwrap();
    assert_eq!(checks.load(Ordering::SeqCst), 4);
    // Three sleeps of one tick between four checks.
    assert_eq!(waited, 3 * TICK);
}

#[tokio::test(start_paused = true)]
async fn async_condition_sees_background_work() {
    let done = Arc::new(AtomicU32::new(0));
    let worker = tokio::spawn({
        let done = Arc::clone(&done);
        async move {
            tokio::time::sleep(2 * SECOND).await;
            done.store(1, Ordering::SeqCst);
        }
    });
    let waited = wait_until("the worker to finish", 5 * SECOND, TICK, || async {
        tokio::task::yield_now().await;
        done.load(Ordering::SeqCst) == 1
    })
    .await
    .unwrap();
    assert_eq!(waited, 2 * SECOND);
    worker.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn met_immediately_costs_no_time_even_with_zero_deadline() {
    let waited = wait_until("already true", Duration::ZERO, TICK, || true)
        .await
        .unwrap();
    assert_eq!(waited, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn times_out_exactly_at_the_deadline_with_a_clear_message() {
    let start = tokio::time::Instant::now();
    let err = wait_until("queue t-x to drain", 5 * SECOND, TICK, || false)
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), 5 * SECOND);
    // One check at 0, then one per tick, the last one exactly at the deadline.
    assert_eq!(err.checks(), 51);
    assert_eq!(err.what(), "queue t-x to drain");
    let msg = format!("{err:?}");
    assert!(
        msg.starts_with("timed out after 5s waiting for queue t-x to drain (checked 51 times)"),
        "{msg}"
    );
    // The location is the test's call site, not somewhere inside the testkit.
    assert!(msg.contains("tests/wait.rs:"), "{msg}");
}

#[tokio::test(start_paused = true)]
async fn errors_count_as_not_yet_and_the_last_one_is_reported() {
    let attempt = AtomicU32::new(0);
    let err = wait_until("the broker to come back", SECOND, TICK, || async {
        let n = attempt.fetch_add(1, Ordering::SeqCst);
        Err::<bool, _>(format!("connection refused (attempt {n})"))
    })
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("last error: connection refused (attempt 10)"),
        "{msg}"
    );

    // And an error followed by success is simply a success.
    let attempt = AtomicU32::new(0);
    wait_until("a flaky check to pass", SECOND, TICK, || {
        if attempt.fetch_add(1, Ordering::SeqCst) < 2 {
            Err("not ready")
        } else {
            Ok(true)
        }
    })
    .await
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_check_that_never_finishes_is_cut_at_the_deadline() {
    let start = tokio::time::Instant::now();
    let err = wait_until("a silent queue", 3 * SECOND, TICK, || {
        std::future::pending::<bool>()
    })
    .await
    .unwrap_err();
    assert_eq!(start.elapsed(), 3 * SECOND);
    assert!(
        err.to_string().contains("the last check was still running"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn zero_poll_still_lets_other_tasks_run() {
    // On this current-thread runtime a busy loop would starve the setter forever.
    let flag = Arc::new(AtomicU32::new(0));
    let setter = tokio::spawn({
        let flag = Arc::clone(&flag);
        async move { flag.store(1, Ordering::SeqCst) }
    });
    wait_until("the setter task", SECOND, Duration::ZERO, || {
        flag.load(Ordering::SeqCst) == 1
    })
    .await
    .unwrap();
    setter.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_wait_future_can_be_spawned() {
    // Send matters: tests spawn waits next to the system under test.
    let flag = Arc::new(AtomicU32::new(1));
    let task = tokio::spawn(wait_until("spawned", SECOND, TICK, move || {
        let flag = Arc::clone(&flag);
        async move { flag.load(Ordering::SeqCst) == 1 }
    }));
    task.await.unwrap().unwrap();
}
