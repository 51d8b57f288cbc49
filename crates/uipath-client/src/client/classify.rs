//! What one HTTP answer means: success, a 401 worth one refresh, a 429 that pauses the
//! tenant, or a [`ClientError`] with its disposition.
//!
//! Pure functions of (status, headers, body), so every branch is unit-tested without a
//! server. Messages are taken from UiPath's envelopes (`message`, `errorMessage`, the
//! OAuth `error_description`, `WWW-Authenticate`), cut to a bounded length; no request
//! header is ever echoed, so no token can end up in an error.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::Value;

use crate::error::ClientError;

/// Longest server message kept in an error.
const MAX_MESSAGE: usize = 400;
/// Pause used when a 429 names no wait (UiPath's edge sometimes omits it).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Floor and ceiling of a pause: a `Retry-After: 0` must not turn into a hot loop, and a
/// nonsensical hour-long value is clamped rather than obeyed.
const MIN_RETRY_AFTER: Duration = Duration::from_millis(100);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The meaning of one response.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// 2xx: the body is to be decoded.
    Success,
    /// 401: the token was refused.
    Unauthorized { message: String },
    /// 429: pause the tenant's bucket for this long.
    Throttled { retry_after: Duration },
    /// Anything else: a final or transient error.
    Failed(ClientError),
}

/// Classifies a response to a request on `path` (with `folder` as its folder key, if any).
pub(crate) fn classify(
    path: &str,
    folder: Option<&str>,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Outcome {
    let path = path.to_owned();
    match status {
        200..=299 => Outcome::Success,
        401 => Outcome::Unauthorized {
            message: message(body)
                .or_else(|| challenge(headers))
                .unwrap_or_else(|| "no reason given".into()),
        },
        403 => Outcome::Failed(ClientError::Forbidden {
            path,
            message: message(body).unwrap_or_else(|| "access denied".into()),
        }),
        404 => Outcome::Failed(ClientError::NotFound { path }),
        429 => Outcome::Throttled {
            retry_after: retry_after(headers, body),
        },
        // A request timeout is the server giving up, not the request being wrong.
        408 | 500..=599 => Outcome::Failed(ClientError::Server { path, status }),
        _ => {
            let error_code = error_code(body);
            Outcome::Failed(match error_code {
                Some(1101) if status == 400 => ClientError::FolderRequired { path },
                Some(1100) if status == 400 => ClientError::FolderNotFound {
                    path,
                    folder: folder.unwrap_or("(none)").to_owned(),
                },
                _ => ClientError::BadRequest {
                    path,
                    status,
                    error_code,
                    message: message(body).unwrap_or_else(|| "no reason given".into()),
                },
            })
        }
    }
}

/// How long to pause after a 429: the `Retry-After` header in seconds, else a JSON body's
/// `retry_after` (UiPath's edge throttling puts it there), else one second.
pub(crate) fn retry_after(headers: &HeaderMap, body: &[u8]) -> Duration {
    let from_header = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok());
    let from_body = || {
        let v: Value = serde_json::from_slice(body).ok()?;
        let field = get_ci(&v, "retry_after").or_else(|| get_ci(&v, "retryAfter"))?;
        field
            .as_f64()
            .or_else(|| field.as_str().and_then(|s| s.trim().parse().ok()))
    };
    from_header
        .or_else(from_body)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())))
        .unwrap_or(DEFAULT_RETRY_AFTER)
        .clamp(MIN_RETRY_AFTER, MAX_RETRY_AFTER)
}

/// The human message of an error body, whichever envelope it came in.
fn message(body: &[u8]) -> Option<String> {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(v) => ["message", "errorMessage", "error_description"]
            .iter()
            .find_map(|k| get_ci(&v, k).and_then(Value::as_str).map(str::to_owned))
            .or_else(|| {
                // ABP's envelope: {"error":{"message":..,"details":..}}; OAuth: {"error":"code"}
                let error = get_ci(&v, "error")?;
                error.as_str().map(str::to_owned).or_else(|| {
                    get_ci(error, "message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
            })?,
        // Not JSON (an HTML error page, a proxy's text): keep its start.
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let text = text.trim();
    (!text.is_empty()).then(|| shorten(text))
}

/// The `error_description` of a `WWW-Authenticate: Bearer ...` challenge.
fn challenge(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(WWW_AUTHENTICATE)?.to_str().ok()?;
    let start = value.find("error_description=\"")? + "error_description=\"".len();
    let rest = &value[start..];
    Some(shorten(&rest[..rest.find('"').unwrap_or(rest.len())]))
}

fn error_code(body: &[u8]) -> Option<i64> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let code = get_ci(&v, "errorCode")?;
    code.as_i64().or_else(|| code.as_str()?.trim().parse().ok())
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// A key of a JSON object, ignoring letter case (.NET services bind and write JSON keys in
/// either case).
pub(crate) fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let map = v.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn run(status: u16, body: &str) -> Outcome {
        classify(
            "/odata/Jobs",
            Some("k-1"),
            status,
            &HeaderMap::new(),
            body.as_bytes(),
        )
    }

    fn failed(o: Outcome) -> ClientError {
        match o {
            Outcome::Failed(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn folder_errors_are_named_by_their_code() {
        let e = failed(run(
            400,
            r#"{"message":"An organization unit is required for this action.","errorCode":1101}"#,
        ));
        assert!(matches!(e, ClientError::FolderRequired { .. }), "{e:?}");
        let e = failed(run(
            400,
            r#"{"message":"Folder does not exist","errorCode":1100}"#,
        ));
        assert!(
            matches!(&e, ClientError::FolderNotFound { folder, .. } if folder == "k-1"),
            "{e:?}"
        );
        let e = failed(run(
            400,
            r#"{"message":"The query specified in the URI is not valid.","errorCode":0}"#,
        ));
        match e {
            ClientError::BadRequest {
                status,
                error_code,
                message,
                ..
            } => {
                assert_eq!((status, error_code), (400, Some(0)));
                assert!(message.contains("not valid"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forbidden_keeps_the_scope_text_and_not_found_is_final() {
        let e = failed(run(
            403,
            r#"{"errorMessage":"Scope(s) is(are) invalid. Expect to have 'OR.Audit' or 'OR.Audit.Read'."}"#,
        ));
        assert!(e.to_string().contains("OR.Audit.Read"), "{e}");
        assert!(matches!(failed(run(404, "")), ClientError::NotFound { .. }));
        let abp = r#"{"message":"You are not authorized!","error":{"code":0,"message":"You are not authorized!"}}"#;
        assert!(failed(run(403, abp)).to_string().contains("not authorized"));
    }

    #[test]
    fn server_errors_and_timeouts_are_transient() {
        for status in [408, 500, 502, 503, 504] {
            let e = failed(run(status, "<html>busy</html>"));
            assert!(matches!(e, ClientError::Server { status: s, .. } if s == status));
        }
    }

    #[test]
    fn unauthorized_reads_the_challenge_when_the_body_is_empty() {
        let mut h = HeaderMap::new();
        h.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer error=\"invalid_token\", error_description=\"the token was revoked\"",
            ),
        );
        match classify("/x", None, 401, &h, b"") {
            Outcome::Unauthorized { message } => assert_eq!(message, "the token was revoked"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_from_header_then_body_then_default() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(
            retry_after(&h, b"{\"retry_after\":3}"),
            Duration::from_secs(7)
        );
        assert_eq!(
            retry_after(&HeaderMap::new(), b"{\"retry_after\":3}"),
            Duration::from_secs(3)
        );
        assert_eq!(
            retry_after(&HeaderMap::new(), b"{\"Retry_After\":\"2.5\"}"),
            Duration::from_millis(2500)
        );
        assert_eq!(
            retry_after(&HeaderMap::new(), b"not json"),
            Duration::from_secs(1)
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("0"));
        assert_eq!(retry_after(&h, b""), MIN_RETRY_AFTER);
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h, b""), Duration::from_secs(1));
        match classify("/x", None, 429, &HeaderMap::new(), b"{}") {
            Outcome::Throttled { retry_after } => assert_eq!(retry_after, Duration::from_secs(1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn long_or_non_json_bodies_are_cut() {
        let long = "x".repeat(5000);
        let e = failed(run(400, &long));
        let ClientError::BadRequest {
            message,
            error_code,
            ..
        } = e
        else {
            panic!()
        };
        assert_eq!(error_code, None);
        assert_eq!(message.chars().count(), MAX_MESSAGE + 1);
    }
}
