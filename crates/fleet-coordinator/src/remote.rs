//! A client of a coordinator's HTTP API: [`ApiClient`] talks JSON to the `/v1` routes
//! with the bearer token and decodes the answers into the very types the server builds
//! ([`crate::api::views`]). The `uipath-fleet` client commands are its arguments and
//! its tables around it.
//!
//! Guarantees: the token is sent only in the `Authorization` header and never appears in
//! an error or in `Debug`; a coordinator that is not there is reported as such with how
//! to start one; an error answer becomes an [`ApiError`] whose text names each wrong
//! field.

use std::fmt;
use std::time::{Duration, Instant};

use fleet_core::Secret;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use url::Url;

pub use crate::api::views::{
    CancelView, DatasetsView, DryRun, PreviewView, RequestList, RequestView, SubmittedView,
};
pub use crate::api::ApiError;
pub use crate::error::RemoteError;

/// How long one call may take (a preview or a submission with `$count` probes reads
/// UiPath before answering).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the coordinator may be unreachable while a request is watched.
const WATCH_PATIENCE: Duration = Duration::from_secs(30);

/// A decoded answer, with its JSON as it came (what `--json` prints) and its status.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub status: StatusCode,
    pub json: Value,
    pub view: T,
}

impl<T> Answer<T> {
    /// A submission made a new request (not 200: an identical earlier one).
    pub fn created(&self) -> bool {
        self.status != StatusCode::OK
    }
}

/// A coordinator's API.
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    token: Option<Secret>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl ApiClient {
    /// An API at `base` (`http://host:port/`, any path prefix kept).
    pub fn new(base: Url, token: Option<Secret>) -> Result<ApiClient, RemoteError> {
        let mut base = base;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(RemoteError::Client)?;
        Ok(ApiClient { http, base, token })
    }

    /// The coordinator's address, for messages.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `v1/<segments...>`, each segment escaped, with `query`.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v1");
            for s in segments {
                path.push(s);
            }
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Calls `method url` with an optional JSON body; the status and the JSON of a
    /// successful answer.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), RemoteError> {
        let path = url.path().to_owned();
        let mut request = self.http.request(method.clone(), url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            RemoteError::Unreachable(if e.is_connect() {
                format!(
                    "no coordinator at {}: start one with `uipath-fleet coordinator` or `uipath-fleet run` (or point --coordinator / UIPATH_FLEET_COORDINATOR at it)",
                    self.base
                )
            } else if e.is_timeout() {
                format!(
                    "the coordinator at {} did not answer {method} {path} in time",
                    self.base
                )
            } else {
                format!(
                    "calling {method} {path} on the coordinator at {}: {}",
                    self.base,
                    e.without_url()
                )
            })
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|source| RemoteError::Read {
            method: method.clone(),
            path: path.clone(),
            source,
        })?;
        if status.is_success() {
            let value = serde_json::from_slice(&bytes).map_err(|source| RemoteError::NotJson {
                method,
                path,
                base: self.base.clone(),
                source,
            })?;
            return Ok((status, value));
        }
        let error = match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(body) => ApiError { status, ..body },
            Err(_) => ApiError {
                status,
                error: format!(
                    "{method} {path}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).trim()
                ),
                fields: Vec::new(),
                hint: None,
            },
        };
        Err(error.into())
    }

    /// Calls and decodes the answer as `T` (`what` it should be, for the error).
    async fn answer<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &'static str,
    ) -> Result<Answer<T>, RemoteError> {
        let (status, json) = self.call(method, url, body).await?;
        let view =
            T::deserialize(&json).map_err(|source| RemoteError::Unexpected { what, source })?;
        Ok(Answer { status, json, view })
    }

    /// `GET /v1/datasets`, with `source`'s Data Service entities.
    pub async fn datasets(
        &self,
        source: Option<&str>,
    ) -> Result<Answer<DatasetsView>, RemoteError> {
        let query: Vec<(&str, &str)> = source.map(|s| ("source", s)).into_iter().collect();
        let url = self.url(&["datasets"], &query);
        self.answer(Method::GET, url, None, "a list of datasets")
            .await
    }

    /// `POST /v1/preview`.
    pub async fn preview(&self, body: &Value) -> Result<Answer<PreviewView>, RemoteError> {
        let url = self.url(&["preview"], &[]);
        self.answer(Method::POST, url, Some(body), "a preview")
            .await
    }

    /// `POST /v1/backfills?dry_run=true`: the estimate, nothing stored.
    pub async fn dry_run(&self, body: &Value) -> Result<Answer<DryRun>, RemoteError> {
        let url = self.url(&["backfills"], &[("dry_run", "true")]);
        self.answer(Method::POST, url, Some(body), "an estimate")
            .await
    }

    /// `POST /v1/backfills`.
    pub async fn backfill(&self, body: &Value) -> Result<Answer<SubmittedView>, RemoteError> {
        let url = self.url(&["backfills"], &[]);
        self.answer(Method::POST, url, Some(body), "a request")
            .await
    }

    /// `POST /v1/syncs`.
    pub async fn sync(&self, body: &Value) -> Result<Answer<RequestView>, RemoteError> {
        let url = self.url(&["syncs"], &[]);
        self.answer(Method::POST, url, Some(body), "a request")
            .await
    }

    /// `GET /v1/requests?limit=`, newest first.
    pub async fn requests(&self, limit: usize) -> Result<Answer<RequestList>, RemoteError> {
        let limit = limit.to_string();
        let url = self.url(&["requests"], &[("limit", &limit)]);
        self.answer(Method::GET, url, None, "a list of requests")
            .await
    }

    /// `GET /v1/requests/{id}`.
    pub async fn request(&self, id: &str) -> Result<Answer<RequestView>, RemoteError> {
        let url = self.url(&["requests", id], &[]);
        self.answer(Method::GET, url, None, "a request").await
    }

    /// `DELETE /v1/requests/{id}`.
    pub async fn cancel(&self, id: &str) -> Result<Answer<CancelView>, RemoteError> {
        let url = self.url(&["requests", id], &[]);
        self.answer(Method::DELETE, url, None, "a request").await
    }

    /// Reads request `id` every `poll`, showing each view to `seen`, until it ends
    /// (`Some(last view)`) or `shutdown` (`None`). A coordinator that is briefly away
    /// (restart, rollout) is waited for, up to half a minute.
    pub async fn watch(
        &self,
        id: &str,
        poll: Duration,
        shutdown: &CancellationToken,
        seen: &mut dyn FnMut(&RequestView),
    ) -> Result<Option<RequestView>, RemoteError> {
        let mut last_ok = Instant::now();
        loop {
            match self.request(id).await {
                Ok(answer) => {
                    last_ok = Instant::now();
                    seen(&answer.view);
                    if answer.view.is_terminal() {
                        return Ok(Some(answer.view));
                    }
                }
                Err(e) if e.is_transient() && last_ok.elapsed() < WATCH_PATIENCE => {
                    warn!(error = %e, "cannot read the request's progress; trying again");
                }
                Err(e) => return Err(e),
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = shutdown.cancelled() => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_escape_ids_and_keep_a_path_prefix() {
        let api = ApiClient::new(
            Url::parse("http://h:1/fleet").unwrap(),
            Some(Secret::new("tok3n")),
        )
        .unwrap();
        assert_eq!(
            api.url(&["requests", "a/b c"], &[]).as_str(),
            "http://h:1/fleet/v1/requests/a%2Fb%20c"
        );
        assert!(!format!("{api:?}").contains("tok3n"));
        let api = ApiClient::new(Url::parse("http://h:1").unwrap(), None).unwrap();
        assert_eq!(
            api.url(&["datasets"], &[]).as_str(),
            "http://h:1/v1/datasets"
        );
    }

    #[test]
    fn errors_name_each_field_and_the_hint() {
        let e = ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: "invalid request".into(),
            fields: vec![fleet_core::plan::FieldError {
                field: "to".into(),
                message: "must be after `from`".into(),
            }],
            hint: Some("try again".into()),
        };
        assert_eq!(
            e.to_string(),
            "the coordinator rejected the request: invalid request\n  to: must be after `from`\n  hint: try again"
        );
    }
}
