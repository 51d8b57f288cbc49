//! The HTTP side of the client commands: one [`Api`] per invocation, talking JSON to a
//! coordinator's `/v1` routes with the bearer token.
//!
//! Guarantees: the token is sent only in the `Authorization` header and never appears in
//! an error or in `Debug`; a coordinator that is not there is reported as such with how
//! to start one; an error answer (`{"error", "fields", "hint"}`) becomes an
//! [`ApiError`] whose text names each wrong field.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use fleet_core::Secret;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

/// How long one call may take (a preview or a submission with `$count` probes reads
/// UiPath before answering).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A coordinator's API.
pub struct Api {
    http: reqwest::Client,
    base: Url,
    token: Option<Secret>,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// An error the coordinator answered with.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub fields: Vec<FieldError>,
    pub hint: Option<String>,
}

/// One wrong field of a request.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    fields: Vec<FieldError>,
    #[serde(default)]
    hint: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.status {
            StatusCode::UNAUTHORIZED => "the coordinator refused the API token (401)",
            StatusCode::NOT_FOUND => "not found (404)",
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
                "the coordinator rejected the request"
            }
            StatusCode::BAD_GATEWAY => "a UiPath source failed (502)",
            StatusCode::SERVICE_UNAVAILABLE => {
                "the coordinator cannot reach RabbitMQ or Redis (503)"
            }
            _ => "the coordinator answered with an error",
        };
        write!(f, "{what}: {}", self.error)?;
        for field in &self.fields {
            write!(f, "\n  {}: {}", field.field, field.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        } else if self.status == StatusCode::UNAUTHORIZED {
            write!(
                f,
                "\n  hint: pass the coordinator's token with --api-token, UIPATH_FLEET_API_TOKEN or coordinator.api_token"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// A call that could not reach the coordinator at all.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

impl Api {
    /// An API at `base` (`http://host:port/`, any path prefix kept).
    pub fn new(base: Url, token: Option<Secret>) -> anyhow::Result<Api> {
        let mut base = base;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Api { http, base, token })
    }

    /// The coordinator's address, for messages.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `v1/<segments...>`, each segment escaped.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v1");
            for s in segments {
                path.push(s);
            }
        }
        url
    }

    /// Calls `method url` with an optional JSON body; returns the status and the JSON of
    /// a successful answer, or an [`ApiError`] / [`Unreachable`] error.
    pub async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let path = url.path().to_owned();
        let mut request = self.http.request(method.clone(), url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(Unreachable(format!(
                    "no coordinator at {}: start one with `uipath-fleet coordinator` or `uipath-fleet run` (or point --coordinator / UIPATH_FLEET_COORDINATOR at it)",
                    self.base
                ))
                .into())
            }
            Err(e) if e.is_timeout() => {
                return Err(Unreachable(format!(
                    "the coordinator at {} did not answer {method} {path} in time",
                    self.base
                ))
                .into())
            }
            Err(e) => {
                return Err(Unreachable(format!(
                    "calling {method} {path} on the coordinator at {}: {}",
                    self.base,
                    e.without_url()
                ))
                .into())
            }
        };
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer to {method} {path}"))?;
        if status.is_success() {
            let value = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "the answer to {method} {path} is not JSON; is {} a uipath-fleet coordinator?",
                    self.base
                )
            })?;
            return Ok((status, value));
        }
        let error = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => ApiError {
                status,
                error: body.error,
                fields: body.fields,
                hint: body.hint,
            },
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

    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Value> {
        let mut url = self.url(segments);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(self.call(Method::GET, url, None).await?.1)
    }

    pub async fn post(
        &self,
        segments: &[&str],
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::POST, self.url(segments), Some(body))
            .await
    }

    /// `POST` with query parameters (e.g. `?dry_run=true`).
    pub async fn post_query(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut url = self.url(segments);
        url.query_pairs_mut().extend_pairs(query);
        self.call(Method::POST, url, Some(body)).await
    }

    pub async fn delete(&self, segments: &[&str]) -> anyhow::Result<Value> {
        Ok(self.call(Method::DELETE, self.url(segments), None).await?.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_escape_ids_and_keep_a_path_prefix() {
        let api = Api::new(
            Url::parse("http://h:1/fleet").unwrap(),
            Some(Secret::new("tok3n")),
        )
        .unwrap();
        assert_eq!(
            api.url(&["requests", "a/b c"]).as_str(),
            "http://h:1/fleet/v1/requests/a%2Fb%20c"
        );
        assert!(!format!("{api:?}").contains("tok3n"));
        let api = Api::new(Url::parse("http://h:1").unwrap(), None).unwrap();
        assert_eq!(api.url(&["datasets"]).as_str(), "http://h:1/v1/datasets");
    }

    #[test]
    fn errors_name_each_field_and_the_hint() {
        let e = ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: "invalid request".into(),
            fields: vec![FieldError {
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
