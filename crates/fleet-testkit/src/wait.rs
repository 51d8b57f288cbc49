//! Poll a condition until it holds or a deadline passes: the replacement for sleeps.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//! use fleet_testkit::wait_until;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let delivered = AtomicUsize::new(3);
//! // A plain closure returning bool...
//! wait_until("3 deliveries", Duration::from_secs(5), Duration::from_millis(10), || {
//!     delivered.load(Ordering::SeqCst) == 3
//! })
//! .await
//! .unwrap();
//! // ...or one returning a future, for conditions that must ask a server.
//! wait_until("queue drained", Duration::from_secs(5), Duration::from_millis(10), || async {
//!     // e.g. broker.queue_depth(&queue).await.map(|depth| depth == 0)
//!     Ok::<bool, std::io::Error>(true)
//! })
//! .await
//! .unwrap();
//! # }
//! ```
//!
//! Guarantees:
//! - The condition is checked at least once, even with a zero deadline, and once more
//!   at (or just after) the deadline before giving up, so a slow tick cannot lose a
//!   condition that became true in time.
//! - Every check is bounded by the deadline too: a condition future that never finishes
//!   (say, a `recv()` on a silent queue) ends as a timeout, not a hung test.
//! - Time is tokio time, so under `#[tokio::test(start_paused = true)]` a wait costs no
//!   real time.
//! - On success it returns how long the wait took, so fault tests can assert on recovery
//!   time rather than only on eventual success.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::time::Duration;

use tokio::time::{sleep_until, timeout_at, Instant};

/// The shortest gap between checks. A zero poll interval with a synchronous condition
/// would never yield, and on a current-thread runtime (the `#[tokio::test]` default) the
/// work being waited for would then never run.
pub const MIN_POLL: Duration = Duration::from_millis(1);

/// Polls `cond` every `poll` until it holds, or fails once `deadline` has passed.
///
/// `cond` is a closure (`FnMut`) returning either `bool` or `Result<bool, E>` — directly
/// or as a future. An `Err` counts as "not yet" and is remembered: if the wait times out
/// the last error is part of the message, which is what you want while a broker is
/// restarting. `what` names the condition for that message ("queue t-x-1 empty").
///
/// Returns how long it waited. The `WaitTimeout` error's `Debug` is its readable
/// message, so `.await.unwrap()` fails a test with the whole story and the caller's
/// file and line.
#[track_caller]
pub fn wait_until<M, C>(
    what: impl Into<String>,
    deadline: Duration,
    poll: Duration,
    mut cond: C,
) -> impl Future<Output = Result<Duration, WaitTimeout>>
where
    C: Condition<M>,
{
    // Taken here, outside the async block: an async fn cannot see its caller's location.
    let location = Location::caller();
    let what = what.into();
    let poll = poll.max(MIN_POLL);
    async move {
        let start = Instant::now();
        let end = start + deadline;
        let mut checks = 0u64;
        let mut last_error = None;
        let timed_out = |checks, last_error, hung| WaitTimeout {
            what: what.clone(),
            deadline,
            checks,
            last_error,
            hung,
            location,
        };
        loop {
            checks += 1;
            match timeout_at(end, cond.check()).await {
                Ok(Ok(true)) => return Ok(start.elapsed()),
                Ok(Ok(false)) => {}
                Ok(Err(error)) => last_error = Some(error),
                Err(_) => return Err(timed_out(checks, last_error, true)),
            }
            let now = Instant::now();
            if now >= end {
                return Err(timed_out(checks, last_error, false));
            }
            // Never sleep past the deadline: the final check happens right at it.
            sleep_until((now + poll).min(end)).await;
        }
    }
}

/// A condition [`wait_until`] can poll: any `FnMut` closure returning an [`Outcome`],
/// either directly or through a future.
///
/// `M` is a marker ([`Immediate`] or [`Deferred`]) that only exists so both kinds of
/// closure can be accepted by one function; the compiler infers it, and callers never
/// name it.
pub trait Condition<M> {
    /// Evaluates the condition once.
    fn check(&mut self) -> impl Future<Output = Result<bool, String>>;
}

/// Marker for closures that return an [`Outcome`] directly.
#[derive(Debug)]
pub enum Immediate {}

/// Marker for closures that return a future of an [`Outcome`].
#[derive(Debug)]
pub enum Deferred {}

impl<F, O> Condition<Immediate> for F
where
    F: FnMut() -> O,
    O: Outcome,
{
    fn check(&mut self) -> impl Future<Output = Result<bool, String>> {
        // Evaluated now, not inside the future, so the future does not borrow the closure.
        std::future::ready(self().into_result())
    }
}

impl<F, Fut> Condition<Deferred> for F
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    fn check(&mut self) -> impl Future<Output = Result<bool, String>> {
        let fut = self();
        async move { fut.await.into_result() }
    }
}

/// What a condition may return: `bool`, or `Result<bool, E>` where an error means
/// "not yet" and is shown if the wait times out.
pub trait Outcome {
    /// `Ok(met)`, or the error rendered for the timeout message.
    fn into_result(self) -> Result<bool, String>;
}

impl Outcome for bool {
    fn into_result(self) -> Result<bool, String> {
        Ok(self)
    }
}

impl<E: fmt::Display> Outcome for Result<bool, E> {
    fn into_result(self) -> Result<bool, String> {
        self.map_err(|e| e.to_string())
    }
}

/// A [`wait_until`] that ran out of time.
pub struct WaitTimeout {
    what: String,
    deadline: Duration,
    checks: u64,
    last_error: Option<String>,
    /// The last check itself was still running at the deadline.
    hung: bool,
    location: &'static Location<'static>,
}

impl WaitTimeout {
    /// The description passed to [`wait_until`].
    pub fn what(&self) -> &str {
        &self.what
    }

    /// How many times the condition was evaluated (including one that did not finish).
    pub fn checks(&self) -> u64 {
        self.checks
    }
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?} waiting for {} (checked {} times",
            self.deadline, self.what, self.checks
        )?;
        if self.hung {
            write!(f, "; the last check was still running at the deadline")?;
        }
        if let Some(error) = &self.last_error {
            write!(f, "; last error: {error}")?;
        }
        write!(f, ") at {}", self.location)
    }
}

/// Same as `Display`: `.unwrap()` and `fn test() -> Result<..>` print `Debug`, and a
/// struct dump would bury the one sentence a reader needs.
impl fmt::Debug for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for WaitTimeout {}
