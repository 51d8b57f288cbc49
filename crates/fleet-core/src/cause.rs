//! Why something failed, as the ledger keeps it, and whether running it again may help.
//!
//! A failed slice's `last_error` and a failed request's `note` begin with the failure's
//! **cause**: a stable kind such as `invalid_client` or `bad_request` (the client
//! error's kind, or the worker's dead-letter reason), then `": "` and the readable
//! text. [`cause_of`] reads it back; [`may_pass`] says whether the cause can be gone by
//! the next run without the request changing — credentials fixed, a scope or folder
//! role granted, the network or the API back, a rate limit over — which is what
//! `uipath-fleet run` retries when it meets the failure again.
//!
//! The kinds are the ones listed in `docs/messages.md` ("Reasons the workers give");
//! an unknown kind is treated as lasting, so a new kind is never retried by accident.

/// The separator between the cause and the readable text.
pub const SEPARATOR: &str = ": ";

/// `"<cause>: <text>"`, the form stored in `last_error` and `note`.
pub fn with_cause(cause: &str, text: &str) -> String {
    format!("{cause}{SEPARATOR}{text}")
}

/// The cause a stored error text begins with: the text before the first `": "` when it
/// is a kind (lowercase letters, digits and `_`), else `None`.
pub fn cause_of(text: &str) -> Option<&str> {
    let (head, _) = text.split_once(SEPARATOR)?;
    let is_kind = !head.is_empty()
        && head
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    is_kind.then_some(head)
}

/// Whether a failure of this cause may be gone when the same work runs again unchanged.
///
/// Yes for credentials and permissions (`invalid_client`, `unauthorized_client`,
/// `invalid_scope`, `login_required`, `wrong_token_url`, `token_rejected`,
/// `ropc_failed`, `unauthorized`, `forbidden`, `folder_not_found`, `tenant_not_found`:
/// fixed in the configuration or in UiPath), and for passing trouble that outlasted the retries
/// (`throttled`, `deferred`, `server_error`, `transport`, `malformed`, `token_cache`,
/// `rate_limiter`, `unroutable`, `ledger`, `broker`). No for what the same request
/// meets again (`bad_request`, `not_found`, `folder_required`, `window_exceeded`,
/// `invalid`, `config`) and for jobs the fleet cannot read (`malformed_job`,
/// `version`, `unknown_*`).
pub fn may_pass(cause: &str) -> bool {
    matches!(
        cause,
        "invalid_client"
            | "unauthorized_client"
            | "invalid_scope"
            | "login_required"
            | "wrong_token_url"
            | "token_rejected"
            | "ropc_failed"
            | "unauthorized"
            | "forbidden"
            | "folder_not_found"
            | "tenant_not_found"
            | "throttled"
            | "deferred"
            | "server_error"
            | "transport"
            | "malformed"
            | "token_cache"
            | "rate_limiter"
            | "unroutable"
            | "ledger"
            | "broker"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_read_back_and_sorted() {
        let stored = with_cause("invalid_client", "source acme: client `x`: wrong secret");
        assert_eq!(cause_of(&stored), Some("invalid_client"));
        assert!(may_pass("invalid_client"));
        assert!(may_pass("forbidden"));
        assert!(may_pass("transport"));
        assert!(!may_pass("bad_request"));
        assert!(!may_pass("window_exceeded"));
        assert!(!may_pass("something_new"));
        // Text without a cause in front is not read as one.
        assert_eq!(cause_of("Source acme: it broke"), None);
        assert_eq!(cause_of("no separator"), None);
        assert_eq!(cause_of(": empty"), None);
    }
}
