//! The start-up retry of [`fleet_assembly::connect`], for the binary's own connections
//! (`dlq`).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// [`fleet_assembly::connect::patiently`], its error as the commands report it.
pub async fn patiently<T, E, F, Fut>(
    what: &str,
    wait: Duration,
    shutdown: &CancellationToken,
    transient: impl FnMut(&E) -> bool,
    attempt: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    Ok(fleet_assembly::connect::patiently(what, wait, shutdown, transient, attempt).await?)
}
