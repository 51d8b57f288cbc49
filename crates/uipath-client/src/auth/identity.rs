//! Requests to the identity server and how their answers are read: the OAuth token
//! endpoint (form POST) and standalone Orchestrator's ROPC `Account/Authenticate` (JSON).
//!
//! Guarantees:
//! - every answer is classified once, here: a token, an OAuth `{"error": ...}` (left to
//!   the flow to interpret, since `invalid_grant` means "log in again" for a refresh token
//!   and something else for other grants), or a [`ClientError`];
//! - a token URL that is not a token endpoint (HTML, a non-JSON 200, 404, 405) is
//!   [`ClientError::WrongTokenUrl`], never a confusing parse error;
//! - 5xx and transport failures are retried a couple of times with exponential backoff and
//!   jitter ([`retrying`]); nothing else is;
//! - no secret is formatted into an error or a log line: request bodies are never echoed,
//!   and only non-secret fields of a response (`error`, `error_description`) are quoted.

use std::future::Future;
use std::time::Duration;

use backon::Retryable as _;
use fleet_core::{Backoff, Secret};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use super::clock::Clock;
use crate::error::ClientError;

/// The longest identity-server text quoted in an error (descriptions are short; a page
/// that is not is not worth quoting whole).
const MAX_QUOTED: usize = 300;

/// A successful token response.
pub(crate) struct Granted {
    pub access_token: Secret,
    /// Seconds, as sent; `None` when the server sent none (ROPC never does).
    pub expires_in: Option<u64>,
    pub refresh_token: Option<Secret>,
    /// The granted scopes, space-separated, when the server said.
    pub scope: Option<String>,
    /// When the request that got this token was sent (Unix ms): expiry counts from here,
    /// so it errs early by the request's round trip.
    pub sent_at_ms: u64,
}

/// Why a token request failed.
#[derive(Debug)]
pub(crate) enum TokenFailure {
    /// The identity server's OAuth error (RFC 6749 §5.2), for the flow to interpret.
    OAuth {
        error: String,
        description: Option<String>,
    },
    /// Everything else, already classified.
    Other(ClientError),
}

impl TokenFailure {
    /// Server errors and transport failures are worth another attempt; nothing else is.
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            TokenFailure::Other(ClientError::Server { .. } | ClientError::Transport { .. })
        )
    }

    /// `": description"` for the `detail` fields of [`ClientError`], or nothing.
    pub fn detail(description: &Option<String>) -> String {
        description
            .as_deref()
            .map(|d| format!(": {}", quote(d)))
            .unwrap_or_default()
    }
}

impl From<ClientError> for TokenFailure {
    fn from(e: ClientError) -> Self {
        TokenFailure::Other(e)
    }
}

/// Identity requests: three tries, 200 ms doubling to 2 s, with jitter.
const IDENTITY_RETRIES: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2))
    .with_retries(2)
    .with_jitter();

/// Runs `attempt` until it succeeds, fails for good, or has failed three times with a
/// retryable error (5xx, transport), sleeping with exponential backoff and jitter between.
pub(crate) async fn retrying<T, F, Fut>(what: &'static str, attempt: F) -> Result<T, TokenFailure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TokenFailure>>,
{
    retry_while(
        IDENTITY_RETRIES,
        attempt,
        TokenFailure::is_retryable,
        |e, after| {
            if let TokenFailure::Other(e) = e {
                tracing::warn!(error = %e, ?after, what, "identity request failed; retrying");
            }
        },
    )
    .await
}

/// Runs `attempt` under `policy` while `may_pass` says its error may pass, calling
/// `notify` before each retry: the one retry loop of the auth flows.
pub(crate) async fn retry_while<T, E, F, Fut>(
    policy: Backoff,
    attempt: F,
    may_pass: impl FnMut(&E) -> bool,
    notify: impl FnMut(&E, Duration),
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    attempt
        .retry(policy.builder())
        .sleep(tokio::time::sleep)
        .when(may_pass)
        .notify(notify)
        .await
}

/// POSTs a form to the token endpoint `url` and reads the answer.
pub(crate) async fn post_form(
    http: &reqwest::Client,
    clock: &dyn Clock,
    url: &Url,
    form: &[(&str, &str)],
    timeout: Duration,
) -> Result<Granted, TokenFailure> {
    let sent_at_ms = clock.now_ms();
    let request = http
        .post(url.clone())
        .header(ACCEPT, "application/json")
        .form(form);
    let (status, html, body) = exchange(request, url, timeout).await?;
    read_token_response(url, status, html, &body, sent_at_ms)
}

/// Sends one request to an identity endpoint `url` and reads the whole answer: its status,
/// whether it is an HTML page (a login page or proxy, not the API), and its body.
async fn exchange(
    request: reqwest::RequestBuilder,
    url: &Url,
    timeout: Duration,
) -> Result<(StatusCode, bool, bytes::Bytes), TokenFailure> {
    let response = request
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| transport(url, &e, timeout))?;
    let status = response.status();
    let html = is_html(&response);
    let body = response
        .bytes()
        .await
        .map_err(|e| transport(url, &e, timeout))?;
    Ok((status, html, body))
}

/// Classifies a token endpoint's answer.
fn read_token_response(
    url: &Url,
    status: StatusCode,
    html: bool,
    body: &[u8],
    sent_at_ms: u64,
) -> Result<Granted, TokenFailure> {
    let json = classify_status(url, status, html, body)?;
    if let Some(error) = json.get("error").and_then(Value::as_str) {
        return Err(TokenFailure::OAuth {
            error: error.to_owned(),
            description: json
                .get("error_description")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    if !status.is_success() {
        let message = ["errorMessage", "message"]
            .iter()
            .find_map(|f| json.get(*f).and_then(Value::as_str))
            .map(|m| format!(": {}", quote(m)))
            .unwrap_or_default();
        return Err(ClientError::TokenRejected {
            error: format!("HTTP {}", status.as_u16()),
            detail: message,
        }
        .into());
    }
    let Some(access_token) = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return Err(ClientError::Malformed {
            path: url.path().to_owned(),
            detail: "a 200 token response without access_token".into(),
        }
        .into());
    };
    Ok(Granted {
        access_token: Secret::new(access_token),
        expires_in: json.get("expires_in").and_then(number),
        refresh_token: json
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        scope: json.get("scope").and_then(Value::as_str).map(str::to_owned),
        sent_at_ms,
    })
}

/// Exchanges a legacy User Key at account.uipath.com's `/oauth/token`: a JSON body and
/// the tenant's logical name in `X-UIPATH-TenantName`. Refusals come back as OAuth errors
/// (`invalid_grant` for a revoked key, with HTTP 403 from that server).
pub(crate) async fn post_user_key(
    http: &reqwest::Client,
    clock: &dyn Clock,
    url: &Url,
    client_id: &str,
    key: &Secret,
    tenant: &str,
    timeout: Duration,
) -> Result<Granted, TokenFailure> {
    let body = serde_json::json!({
        "grant_type": "refresh_token",
        "client_id": client_id,
        "refresh_token": key.expose(),
    });
    let sent_at_ms = clock.now_ms();
    let request = http
        .post(url.clone())
        .header(ACCEPT, "application/json")
        .header("X-UIPATH-TenantName", tenant)
        .json(&body);
    let (status, html, bytes) = exchange(request, url, timeout).await?;
    let mut granted = read_token_response(url, status, html, &bytes, sent_at_ms)?;
    // This flow's `scope` is OpenID's (`openid profile ...`), not Orchestrator's: the token
    // carries the user's rights, so nothing should compare it with dataset scopes.
    granted.scope = None;
    // The key does not rotate; a refresh token in the answer is not ours to keep.
    granted.refresh_token = None;
    Ok(granted)
}

/// Logs in at standalone Orchestrator's `Account/Authenticate` (JSON body, ABP envelope
/// answer whose `result` is the bearer token).
pub(crate) async fn post_ropc(
    http: &reqwest::Client,
    clock: &dyn Clock,
    url: &Url,
    tenancy: &str,
    username: &str,
    password: &Secret,
    timeout: Duration,
) -> Result<Granted, TokenFailure> {
    let body = serde_json::json!({
        "TenancyName": tenancy,
        "UsernameOrEmailAddress": username,
        "Password": password.expose(),
    });
    let sent_at_ms = clock.now_ms();
    let request = http
        .post(url.clone())
        .header(ACCEPT, "application/json")
        .json(&body);
    let (status, html, bytes) = exchange(request, url, timeout).await?;
    let json = classify_status(url, status, html, &bytes)?;
    let token = json
        .get("result")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let success = json
        .get("success")
        .and_then(Value::as_bool)
        .unwrap_or(status.is_success());
    match token {
        Some(token) if status.is_success() && success => Ok(Granted {
            access_token: Secret::new(token),
            expires_in: None,
            refresh_token: None,
            scope: None,
            sent_at_ms,
        }),
        _ if status.is_success() && success => Err(ClientError::Malformed {
            path: url.path().to_owned(),
            detail: "a successful Account/Authenticate answer without a token in `result`".into(),
        }
        .into()),
        _ => {
            let error = json.get("error");
            let text = |f: &str| error.and_then(|e| e.get(f)).and_then(Value::as_str);
            let message = match (text("message"), text("details")) {
                (Some(m), Some(d)) => format!("{} ({})", quote(m), quote(d)),
                (Some(m), None) => quote(m),
                _ => format!("HTTP {}", status.as_u16()),
            };
            Err(ClientError::RopcFailed { message }.into())
        }
    }
}

/// What the status and body say before the fields are read: a server error, the wrong
/// URL, or a JSON object to look into.
fn classify_status(
    url: &Url,
    status: StatusCode,
    html: bool,
    body: &[u8],
) -> Result<Value, ClientError> {
    if status.is_server_error() {
        return Err(ClientError::Server {
            path: url.path().to_owned(),
            status: status.as_u16(),
        });
    }
    let wrong = |what: String| ClientError::WrongTokenUrl {
        url: without_query(url),
        what,
    };
    if matches!(status.as_u16(), 404 | 405) {
        return Err(wrong(format!("HTTP {}", status.as_u16())));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(json @ Value::Object(_)) if !html => Ok(json),
        _ if html || looks_like_html(body) => Err(wrong(format!(
            "HTTP {} with an HTML page instead of JSON",
            status.as_u16()
        ))),
        _ => Err(wrong(format!(
            "HTTP {} with a body that is not a JSON object",
            status.as_u16()
        ))),
    }
}

fn is_html(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("html"))
}

fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(256)]).to_ascii_lowercase();
    let head = head.trim_start();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

fn number(v: &Value) -> Option<u64> {
    // Some servers send `expires_in` as a string.
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A transport failure, described by its cause chain (which never holds the body).
fn transport(url: &Url, e: &reqwest::Error, timeout: Duration) -> TokenFailure {
    let detail = if e.is_timeout() {
        format!("the identity server did not answer within {timeout:?}")
    } else {
        let mut detail = format!("request to the identity server failed: {}", strip_url(e));
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        detail
    };
    TokenFailure::Other(ClientError::Transport {
        path: url.path().to_owned(),
        detail,
    })
}

fn strip_url(e: &reqwest::Error) -> String {
    // The URL is already the error's `path`; `without_url` needs ownership, so trim it.
    let text = e.to_string();
    match e.url() {
        Some(u) => text.replace(&format!(" ({u})"), "").replace(u.as_str(), ""),
        None => text,
    }
}

/// The URL without query or fragment (a token URL has none, but a misconfigured one
/// might carry something that should not be repeated in an error).
pub(crate) fn without_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    u.to_string()
}

/// Server text fit for an error message: bounded and on one line.
fn quote(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_QUOTED)
        .collect();
    if text.chars().count() > MAX_QUOTED {
        format!("{one_line}…")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://cloud.uipath.com/identity_/connect/token").unwrap()
    }

    fn read(status: u16, html: bool, body: &str) -> Result<Granted, TokenFailure> {
        read_token_response(
            &url(),
            StatusCode::from_u16(status).unwrap(),
            html,
            body.as_bytes(),
            1_000,
        )
    }

    #[test]
    fn a_token_response_is_read_with_its_send_time() {
        let g = read(
            200,
            false,
            r#"{"access_token":"abc","expires_in":"3600","token_type":"Bearer","scope":"A B","refresh_token":"r"}"#,
        )
        .unwrap();
        assert_eq!(g.access_token.expose(), "abc");
        assert_eq!(g.expires_in, Some(3600));
        assert_eq!(g.refresh_token.unwrap().expose(), "r");
        assert_eq!(g.scope.as_deref(), Some("A B"));
        assert_eq!(g.sent_at_ms, 1_000);
    }

    #[test]
    fn wrong_urls_are_named() {
        for (status, html, body) in [
            (200, true, "<html>You need to enable JavaScript</html>"),
            (200, false, "<!DOCTYPE html><html></html>"),
            (200, false, "ok"),
            (404, false, r#"{"error":"x"}"#),
            (405, false, ""),
        ] {
            match read(status, html, body) {
                Err(TokenFailure::Other(ClientError::WrongTokenUrl { url, what })) => {
                    assert_eq!(url, "https://cloud.uipath.com/identity_/connect/token");
                    assert!(what.contains(&status.to_string()), "{what}");
                }
                other => panic!("{status} {body}: {:?}", other.err()),
            }
        }
    }

    #[test]
    fn oauth_errors_server_errors_and_missing_tokens() {
        match read(
            400,
            false,
            r#"{"error":"invalid_scope","error_description":"scope X"}"#,
        ) {
            Err(TokenFailure::OAuth { error, description }) => {
                assert_eq!(error, "invalid_scope");
                assert_eq!(description.as_deref(), Some("scope X"));
            }
            other => panic!("{:?}", other.err()),
        }
        let e = read(503, true, "<html>busy</html>").err().unwrap();
        assert!(e.is_retryable(), "{e:?}");
        assert!(matches!(
            read(200, false, r#"{"token_type":"Bearer"}"#)
                .err()
                .unwrap(),
            TokenFailure::Other(ClientError::Malformed { .. })
        ));
        assert!(matches!(
            read(401, false, r#"{"errorMessage":"nope"}"#)
                .err()
                .unwrap(),
            TokenFailure::Other(ClientError::TokenRejected { .. })
        ));
    }

    #[test]
    fn quotes_are_bounded() {
        let long = "x".repeat(1000);
        assert_eq!(quote(&long).chars().count(), MAX_QUOTED + 1);
        assert_eq!(quote("a\nb"), "a b");
    }
}
