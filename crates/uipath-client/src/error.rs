//! Every failure the client can meet, each with a [`Disposition`]: what the caller should
//! do next. Callers match on the disposition, never on message text.
//!
//! Messages name the cause and the fix, and never contain a secret: no token, refresh
//! token, client secret or password is ever formatted into an error.

use std::time::Duration;

use fleet_core::{CacheError, LimiterError};

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Transient: try again later, after `after` when the server said so.
    Retry { after: Option<Duration> },
    /// The access token was refused: invalidate it, get a fresh one and retry once. (The
    /// client already did this once before returning it.)
    RefreshAndRetry,
    /// The tenant's budget is exhausted or paused for `after`: serve other work and come
    /// back then. Nothing was sent.
    Defer { after: Duration },
    /// The slice is too big for the API (a paging window): split it and read the parts.
    Split,
    /// Permanent until someone changes something (credentials, scopes, folder, request):
    /// stop and report the reason.
    GiveUp,
}

/// A failure of the UiPath client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    // ---- identity server -------------------------------------------------------------
    #[error("the identity server rejected client `{client_id}` (invalid_client): check the external application's client id and secret")]
    InvalidClient { client_id: String },

    #[error("client `{client_id}` may not get scopes `{scopes}` with client credentials (unauthorized_client): Data Service scopes and other user scopes need the login flow — set auth.method = \"refresh-token\" and run `uipath-fleet login`")]
    UnauthorizedClient { client_id: String, scopes: String },

    #[error("the identity server refused scopes `{scopes}` (invalid_scope{detail}): grant them to the external application in Admin > External Applications, and never ask for offline_access with client credentials")]
    InvalidScope { scopes: String, detail: String },

    #[error("no usable refresh token for client `{client_id}` ({reason}): run `uipath-fleet login` again")]
    LoginRequired { client_id: String, reason: String },

    #[error("`{url}` does not behave like a token endpoint ({what}); Automation Cloud's is https://cloud.uipath.com/identity_/connect/token, standalone Orchestrator's is https://HOST/identity/connect/token, and the request must be form-encoded")]
    WrongTokenUrl { url: String, what: String },

    #[error("the identity server refused the request: {error}{detail}")]
    TokenRejected { error: String, detail: String },

    #[error("standalone authentication (/api/Account/Authenticate) failed: {message}")]
    RopcFailed { message: String },

    /// The legacy endpoint refused the User Key (`invalid_grant`): revoked ("Revoke
    /// Access" issues a new key), or UiPath no longer honours keys.
    #[error("the User Key of tenant `{tenant}` was refused (invalid_grant: revoked, replaced by a newer key, or no longer accepted by UiPath): copy the current key from Admin > Tenants > API access into the source's auth.user_key, or better, move to an external application (method = \"client-credentials\", see docs/credentials.md)")]
    UserKeyRevoked { tenant: String },

    /// The identity server granted robot scopes instead of the ones asked for: the client
    /// id and secret are a machine's.
    #[error("client `{client_id}` got only robot scopes ({granted}) instead of {scopes}: {migration}", migration = crate::source::machine_migration(scopes))]
    MachineCredentials {
        client_id: String,
        scopes: String,
        granted: String,
    },

    // ---- API ------------------------------------------------------------------------
    #[error("{path}: unauthorized (HTTP 401) even with a freshly issued token: {message}")]
    Unauthorized { path: String, message: String },

    #[error("{path}: forbidden (HTTP 403): {message} — grant the missing scope or folder role to the application")]
    Forbidden { path: String, message: String },

    #[error("{path}: a folder is required (errorCode 1101); folder-scoped datasets are read per folder with X-UIPATH-FolderKey")]
    FolderRequired { path: String },

    #[error("{path}: folder {folder} does not exist or the application has no access to it (errorCode 1100); assign the application to the folder or remove it from the source")]
    FolderNotFound { path: String, folder: String },

    #[error("{path}: bad request (HTTP {status}{code}): {message}", code = error_code.map(|c| format!(", errorCode {c}")).unwrap_or_default())]
    BadRequest {
        path: String,
        status: u16,
        error_code: Option<i64>,
        message: String,
    },

    #[error("{path}: not found (HTTP 404)")]
    NotFound { path: String },

    /// A 404 on an OData collection of Automation Cloud: such a path exists on every
    /// tenant, so the URL's organization or tenant is wrong.
    #[error("{path}: not found (HTTP 404): Automation Cloud has no organization `{organization}` with a tenant `{tenant}` ({url}) — one of the two names in the URL is wrong. Take both from the address of Orchestrator in your browser (https://cloud.uipath.com/ORGANIZATION/TENANT/orchestrator_/; the organization's URL name, not its display name) or from Admin > Tenants, and set sources.{source_name}.deployment.organization and .tenant")]
    TenantNotFound {
        path: String,
        url: String,
        /// The source's name in the configuration (not an error source).
        source_name: String,
        organization: String,
        tenant: String,
    },

    #[error("{path}: throttled (HTTP 429), retry after {retry_after:?}; every worker of the tenant now pauses")]
    Throttled { path: String, retry_after: Duration },

    #[error("the rate budget of {bucket} has no slot for {retry_in:?}{why}; deferring", why = if *paused { " (paused after a 429)" } else { "" })]
    Deferred {
        bucket: String,
        retry_in: Duration,
        paused: bool,
    },

    #[error("{path}: server error (HTTP {status})")]
    Server { path: String, status: u16 },

    #[error("{path}: {detail}")]
    Transport { path: String, detail: String },

    #[error("{path}: malformed response: {detail}")]
    Malformed { path: String, detail: String },

    #[error(
        "{dataset}: the slice holds more than the API's paging window of {window} rows; split it"
    )]
    WindowExceeded { dataset: String, window: u32 },

    #[error("gave up after {attempts} attempts: {last}")]
    Exhausted {
        attempts: u32,
        #[source]
        last: Box<ClientError>,
    },

    #[error(transparent)]
    Cache(#[from] CacheError),

    #[error(transparent)]
    Limiter(#[from] LimiterError),

    #[error("configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// What the caller should do next.
    pub fn disposition(&self) -> Disposition {
        use ClientError::*;
        match self {
            InvalidClient { .. }
            | UnauthorizedClient { .. }
            | InvalidScope { .. }
            | LoginRequired { .. }
            | WrongTokenUrl { .. }
            | TokenRejected { .. }
            | RopcFailed { .. }
            | UserKeyRevoked { .. }
            | MachineCredentials { .. }
            | Forbidden { .. }
            | FolderRequired { .. }
            | FolderNotFound { .. }
            | BadRequest { .. }
            | NotFound { .. }
            | TenantNotFound { .. }
            | Config(_) => Disposition::GiveUp,
            Unauthorized { .. } => Disposition::RefreshAndRetry,
            Throttled { retry_after, .. } => Disposition::Retry {
                after: Some(*retry_after),
            },
            Deferred { retry_in, .. } => Disposition::Defer { after: *retry_in },
            Server { .. } | Transport { .. } | Malformed { .. } => {
                Disposition::Retry { after: None }
            }
            WindowExceeded { .. } => Disposition::Split,
            // A page that stays malformed after retries is a bad page, not bad luck.
            Exhausted { last, .. } => match last.disposition() {
                Disposition::Retry { .. } if matches!(**last, Malformed { .. }) => {
                    Disposition::GiveUp
                }
                other => other,
            },
            // A backend hiccup (Redis reconnecting) is transient.
            Cache(CacheError::Backend(_)) | Limiter(_) => Disposition::Retry { after: None },
            Cache(CacheError::Seal(_)) => Disposition::GiveUp,
        }
    }

    /// A short, fixed label for metrics (never a message).
    pub fn kind(&self) -> &'static str {
        use ClientError::*;
        match self {
            InvalidClient { .. } => "invalid_client",
            UnauthorizedClient { .. } => "unauthorized_client",
            InvalidScope { .. } => "invalid_scope",
            LoginRequired { .. } => "login_required",
            WrongTokenUrl { .. } => "wrong_token_url",
            TokenRejected { .. } => "token_rejected",
            UserKeyRevoked { .. } => "user_key_revoked",
            MachineCredentials { .. } => "machine_credentials",
            RopcFailed { .. } => "ropc_failed",
            Unauthorized { .. } => "unauthorized",
            Forbidden { .. } => "forbidden",
            FolderRequired { .. } => "folder_required",
            FolderNotFound { .. } => "folder_not_found",
            BadRequest { .. } => "bad_request",
            NotFound { .. } => "not_found",
            TenantNotFound { .. } => "tenant_not_found",
            Throttled { .. } => "throttled",
            Deferred { .. } => "deferred",
            Server { .. } => "server_error",
            Transport { .. } => "transport",
            Malformed { .. } => "malformed",
            WindowExceeded { .. } => "window_exceeded",
            Exhausted { last, .. } => last.kind(),
            Cache(_) => "token_cache",
            Limiter(_) => "rate_limiter",
            Config(_) => "config",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions() {
        let p = || "/odata/Jobs".to_string();
        assert_eq!(
            ClientError::Forbidden {
                path: p(),
                message: "x".into()
            }
            .disposition(),
            Disposition::GiveUp
        );
        assert_eq!(
            ClientError::Unauthorized {
                path: p(),
                message: "x".into()
            }
            .disposition(),
            Disposition::RefreshAndRetry
        );
        assert_eq!(
            ClientError::Throttled {
                path: p(),
                retry_after: Duration::from_secs(3)
            }
            .disposition(),
            Disposition::Retry {
                after: Some(Duration::from_secs(3))
            }
        );
        let malformed = ClientError::Malformed {
            path: p(),
            detail: "eof".into(),
        };
        assert_eq!(malformed.disposition(), Disposition::Retry { after: None });
        let exhausted = ClientError::Exhausted {
            attempts: 4,
            last: Box::new(malformed),
        };
        assert_eq!(exhausted.disposition(), Disposition::GiveUp);
        let exhausted = ClientError::Exhausted {
            attempts: 4,
            last: Box::new(ClientError::Server {
                path: p(),
                status: 503,
            }),
        };
        assert_eq!(exhausted.disposition(), Disposition::Retry { after: None });
        assert_eq!(
            ClientError::WindowExceeded {
                dataset: "robot-logs".into(),
                window: 10_000
            }
            .disposition(),
            Disposition::Split
        );
        let e = ClientError::BadRequest {
            path: p(),
            status: 400,
            error_code: Some(1009),
            message: "take".into(),
        };
        assert!(e.to_string().contains("errorCode 1009"), "{e}");
    }
}
