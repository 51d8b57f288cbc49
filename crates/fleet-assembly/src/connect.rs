//! Connecting to a backend at start: retried with backoff while the failure is
//! transient, for at most a configured time, and given up at once on shutdown.
//!
//! Why: in a fleet, processes often start together with RabbitMQ and Redis (a
//! docker-compose `up`, a node restart), so a backend being briefly away at start is
//! normal; one that stays away is an operator's problem and ends the process with an
//! error naming the backend. Once connected, reconnecting is the backend libraries' job.

use std::future::Future;
use std::time::{Duration, Instant};

use backon::Retryable as _;
use fleet_core::Backoff;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::error::{Context as _, Error};

/// The start-up schedule: 200 ms doubling to 5 s, jittered, for as long as allowed.
pub const START_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(200), Duration::from_secs(5)).with_jitter();

/// Runs `attempt` until it succeeds, it fails with an error `transient` refuses, `wait`
/// has passed since the first attempt, or `shutdown` is cancelled; the error is the last
/// attempt's. `wait` is checked between attempts, and one attempt may itself take a few
/// seconds (the client libraries retry a refused connection before they give up).
/// `what` names the backend in logs and in the error ("RabbitMQ at
/// amqp://fleet:***@rabbitmq:5672/%2f").
pub async fn patiently<T, E, F, Fut>(
    what: &str,
    wait: Duration,
    shutdown: &CancellationToken,
    mut transient: impl FnMut(&E) -> bool,
    attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let tries = attempt
        .retry(START_BACKOFF.builder())
        .when(|e| transient(e) && started.elapsed() < wait)
        .notify(|e, retry_in| warn!(error = %e, ?retry_in, "{what} is not reachable yet"));
    tokio::select! {
        result = tries => result.with_context(|| format!("connecting to {what}")),
        () = shutdown.cancelled() => Err(Error::Stopped(what.to_owned())),
    }
}

/// `start`'s result, or `None` when `shutdown` was cancelled while it ran (a process told
/// to stop while still connecting: nothing was taken, nothing to drain).
pub async fn unless_stopped<T>(
    shutdown: &CancellationToken,
    start: impl Future<Output = Result<T, Error>>,
) -> Result<Option<T>, Error> {
    match start.await {
        Ok(t) => Ok(Some(t)),
        Err(_) if shutdown.is_cancelled() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn failed(text: &'static str) -> std::io::Error {
        std::io::Error::other(text)
    }

    #[tokio::test]
    async fn retries_transient_failures_until_success_or_the_deadline() {
        let calls = AtomicU32::new(0);
        let never = CancellationToken::new();
        let got = patiently(
            "thing",
            Duration::from_secs(5),
            &never,
            |_| true,
            || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(failed("down")),
                    n => Ok(n),
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(got, 2);

        let e = patiently(
            "thing at x",
            Duration::ZERO,
            &never,
            |_| true,
            || async { Err::<(), _>(failed("refused")) },
        )
        .await
        .unwrap_err();
        let e = anyhow::Error::new(e);
        assert_eq!(format!("{e:#}"), "connecting to thing at x: refused");

        calls.store(0, Ordering::SeqCst);
        let e = patiently(
            "thing",
            Duration::from_secs(60),
            &never,
            |_| false,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(failed("bad config"))
            },
        )
        .await
        .unwrap_err();
        let e = anyhow::Error::new(e);
        assert!(format!("{e:#}").contains("bad config"));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "permanent errors are not retried"
        );

        let stopped = CancellationToken::new();
        stopped.cancel();
        let e = patiently(
            "thing",
            Duration::from_secs(60),
            &stopped,
            |_| true,
            || async { Err::<(), _>(failed("down")) },
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("stopped"), "{e}");
    }
}
