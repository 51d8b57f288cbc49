//! The request loop behind [`UipathClient::send`]: attempts with backoff around a single
//! attempt, which itself loops over permits, 401 refreshes and 429 pauses.
//!
//! Why two loops: a 429 or a 401 is not a failed attempt — the request was never judged —
//! so they do not spend the retry budget. A 429 is bounded instead by the call's permit
//! wait budget (the limiter defers once the pause is longer than what is left of it), and
//! a 401 by the one refresh a call may make.

use std::sync::Arc;
use std::time::Duration;

use fleet_core::{BucketKey, Decision, PermitRequest};
use tracing::{debug, warn};

use super::classify::{classify, Outcome};
use super::request::{Api, ApiRequest, Method};
use super::UipathClient;
use crate::error::ClientError;
use crate::Deployment;

/// Whether a 404 on `request` can only mean a wrong organization or tenant: an OData
/// collection (`odata/Folders`), not a keyed read (`odata/Jobs(42)`) whose record may be
/// gone, and not Data Service, where a 404 names a missing entity.
fn names_the_tenant(request: &ApiRequest) -> bool {
    let path = request.path.trim_start_matches('/');
    request.api == Api::Orchestrator && path.starts_with("odata/") && !path.contains('(')
}

/// A body decoder, shared with the blocking pool.
pub(crate) type Decode<T> = Arc<dyn Fn(&[u8]) -> Result<T, String> + Send + Sync>;

/// Bodies up to this size are decoded where they arrive: a hop to the blocking pool costs
/// more than parsing them. Above it (an OData page of wide records is megabytes), the
/// decode runs on the blocking pool so no runtime thread is held for it.
pub(crate) const INLINE_DECODE_MAX: usize = 64 * 1024;

/// Decodes `body`, on the blocking pool when it is large. A decoder that panics is a
/// malformed body, not a crashed worker.
pub(crate) async fn decode_body<T: Send + 'static>(
    decode: &Decode<T>,
    body: bytes::Bytes,
) -> Result<T, String> {
    if body.len() <= INLINE_DECODE_MAX {
        return decode(&body);
    }
    let decode = decode.clone();
    tokio::task::spawn_blocking(move || decode(&body))
        .await
        .unwrap_or_else(|e| Err(format!("the body could not be decoded: {e}")))
}

/// What one call carries across its attempts.
struct CallState {
    /// A call refreshes its token at most once, whatever attempt the 401 comes on.
    refreshed: bool,
    /// Permit waits so far; the call's total is bounded by `max_wait`.
    waited: Duration,
}

impl UipathClient {
    pub(super) async fn run<T: Send + 'static>(
        &self,
        request: &ApiRequest,
        decode: &Decode<T>,
    ) -> Result<T, ClientError> {
        let opts = &self.inner.options;
        let url = request.url(&self.inner.source)?;
        let bucket = BucketKey::new(self.inner.tenant.clone(), request.family);
        let path = request.display_path();
        let mut backoff = opts.backoff().delays();
        let mut state = CallState {
            refreshed: false,
            waited: Duration::ZERO,
        };
        let mut attempt = 1u32;
        loop {
            let error = match self
                .attempt(request, &url, &bucket, &path, decode, &mut state)
                .await
            {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if !retried_in_call(&error) {
                return Err(error);
            }
            match backoff.next() {
                Some(delay) => {
                    warn!(path = %path, attempt, error = %error, delay_ms = delay.as_millis() as u64, "retrying request");
                    self.inner.stats.retry();
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => {
                    warn!(path = %path, attempt, error = %error, "giving up on request");
                    return Err(ClientError::Exhausted {
                        attempts: attempt,
                        last: Box::new(error),
                    });
                }
            }
        }
    }

    /// One attempt: permit, token, send, classify; 401s and 429s loop back to the permit.
    async fn attempt<T: Send + 'static>(
        &self,
        request: &ApiRequest,
        url: &url::Url,
        bucket: &BucketKey,
        path: &str,
        decode: &Decode<T>,
        state: &mut CallState,
    ) -> Result<T, ClientError> {
        let inner = &*self.inner;
        loop {
            if self.permit(bucket, request, state).await? == Slot::Stale {
                continue;
            }
            let token = inner.tokens.bearer().await?;
            let mut builder = match request.method {
                Method::Get => inner.http.get(url.clone()),
                Method::Post => inner.http.post(url.clone()),
            };
            // `bearer_auth` marks the header sensitive, so it never shows in a Debug dump.
            builder = builder
                .bearer_auth(token.token.expose())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(folder) = &request.folder {
                builder = builder.header("X-UIPATH-FolderKey", folder);
            }
            if let Some(body) = &request.body {
                builder = builder.json(body);
            }
            inner.stats.sent();
            let response = match builder.send().await {
                Ok(r) => r,
                Err(e) => {
                    inner.stats.transport_error();
                    return Err(transport(path, &e));
                }
            };
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    inner.stats.transport_error();
                    return Err(transport(path, &e));
                }
            };
            inner.stats.status(status);
            debug!(path, status, bytes = body.len(), "api response");
            match classify(path, request.folder.as_deref(), status, &headers, &body) {
                Outcome::Success => {
                    return decode_body(decode, body).await.map_err(|detail| {
                        inner.stats.malformed();
                        ClientError::Malformed {
                            path: path.to_owned(),
                            detail,
                        }
                    })
                }
                Outcome::Unauthorized { message } => {
                    if state.refreshed {
                        return Err(ClientError::Unauthorized {
                            path: path.to_owned(),
                            message,
                        });
                    }
                    state.refreshed = true;
                    warn!(path, token = %token.fingerprint(), reason = %message, "token refused; refreshing once");
                    inner.stats.refresh();
                    inner.tokens.invalidate(&token).await?;
                }
                Outcome::Throttled { retry_after } => {
                    warn!(path, bucket = %bucket, retry_after_ms = retry_after.as_millis() as u64, "throttled; pausing the tenant's bucket");
                    inner.limiter.pause(bucket, retry_after).await?;
                }
                Outcome::Failed(ClientError::NotFound { path }) if names_the_tenant(request) => {
                    return Err(self.tenant_not_found(path));
                }
                Outcome::Failed(error) => return Err(error),
            }
        }
    }

    /// The 404 of a collection every tenant has, said as what it means: the
    /// organization or the tenant the URL names does not exist.
    fn tenant_not_found(&self, path: String) -> ClientError {
        let source = &self.inner.source;
        match &source.deployment {
            Deployment::Cloud {
                organization,
                tenant,
                ..
            } => ClientError::TenantNotFound {
                path,
                url: source.orchestrator_url().to_string(),
                source_name: source.name.clone(),
                organization: organization.clone(),
                tenant: tenant.clone(),
            },
            Deployment::Standalone { .. } => ClientError::NotFound { path },
        }
    }

    /// Waits for a permit within what is left of the call's wait budget, or defers.
    async fn permit(
        &self,
        bucket: &BucketKey,
        request: &ApiRequest,
        state: &mut CallState,
    ) -> Result<Slot, ClientError> {
        let inner = &*self.inner;
        let max_wait = inner.options.max_wait.saturating_sub(state.waited);
        // Backends differ in where the wait happens: the Redis limiter reserves a slot
        // and answers `Proceed { wait }` at once; the in-process one sleeps inside
        // `acquire`. Timing the whole exchange counts both against the call's budget.
        let started = tokio::time::Instant::now();
        let decision = inner
            .limiter
            .acquire(&PermitRequest {
                bucket: bucket.clone(),
                priority: request.priority,
                max_wait,
            })
            .await?;
        let mut slot = Slot::Fresh;
        if let Decision::Proceed { wait } = decision {
            if !wait.is_zero() {
                debug!(bucket = %bucket, wait_ms = wait.as_millis() as u64, "waiting for a permit");
                tokio::time::sleep(wait).await;
                // A slot reserved before another worker met a 429 is not worth sending
                // into the pause: everyone queued behind the storm would hit it too.
                if inner.limiter.paused_for(bucket).await?.is_some() {
                    slot = Slot::Stale;
                }
            }
        }
        let waited = started.elapsed();
        state.waited += waited;
        inner.stats.waited(waited);
        match decision {
            Decision::Proceed { .. } => Ok(slot),
            Decision::Defer { retry_in, paused } => {
                inner.stats.deferred();
                debug!(bucket = %bucket, retry_in_ms = retry_in.as_millis() as u64, paused, "deferring request");
                Err(ClientError::Deferred {
                    bucket: bucket.to_string(),
                    retry_in,
                    paused,
                })
            }
        }
    }
}

/// Whether a granted slot may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Fresh,
    /// A pause began while the caller waited for it: ask again.
    Stale,
}

/// Failures worth another attempt within the same call. Backend errors of the cache or
/// limiter are transient too, but they are returned at once: their backends reconnect on
/// their own schedule, and the caller's disposition (retry later) fits better.
fn retried_in_call(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Server { .. } | ClientError::Transport { .. } | ClientError::Malformed { .. }
    )
}

/// A transport error, described by kind. reqwest's message would carry the URL (query
/// values included); it never carries headers, so no token can leak through it.
fn transport(path: &str, e: &reqwest::Error) -> ClientError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "response body cut off"
    } else {
        "request failed"
    };
    let mut detail = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    ClientError::Transport {
        path: path.to_owned(),
        detail,
    }
}
