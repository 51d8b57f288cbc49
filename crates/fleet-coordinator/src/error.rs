//! [`CoordinatorError`]: every way an operation of the coordinator fails — an API call
//! (submit, progress, cancel, preview), a planning run, or the process itself — sorted
//! by whose fault it is. The API answers it as JSON (`api::ApiError`: 400 / 422 / 404 /
//! 502 with a hint / 503 / 500); the leader reads [`CoordinatorError::is_transient`] to
//! decide whether a plan is tried again or ends its request failed, with
//! [`CoordinatorError::cause`] at the head of the note.
//!
//! The crate's other errors are those of its tools, which run outside a coordinator
//! process: [`RemoteError`] (a call of the API's client, `crate::remote`) and
//! [`DlqError`] (reading and replaying dead letters, `crate::dlq`).

use fleet_core::plan::{FieldError, RequestError};
use fleet_core::{BrokerError, LedgerError};
use reqwest::{Method, StatusCode};
use uipath_client::ClientError;
use url::Url;

use crate::api::ApiError;

use uipath_client::fix::planning as source_hint;

/// Why an operation of the coordinator failed.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// The request itself is wrong (400 / 422).
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("no request {0}")]
    NotFound(String),
    /// A UiPath source failed or refused what the API asked of it (502), with a hint for
    /// the user.
    #[error("{error}")]
    Source {
        error: ClientError,
        hint: Option<String>,
    },
    /// A source refused or failed a planning call (folders, probe): the message names the
    /// source, what was asked (dataset, folder), the cause and what to do.
    #[error("planning stopped: source {source_name}, {what}: {error}; {}", source_hint(.error))]
    Planning {
        source_name: String,
        what: String,
        #[source]
        error: ClientError,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The request cannot be planned as asked (e.g. too many slices once widths are known).
    #[error("{0}")]
    Invalid(String),
    /// Another replica is planning this request right now.
    #[error("request {0} is being planned by another replica")]
    Busy(String),
    /// The process cannot start as configured.
    #[error("{0}")]
    Config(String),
    #[error("serving the API: {0}")]
    Io(#[from] std::io::Error),
}

impl CoordinatorError {
    /// Whether running the plan again later may succeed (the leader retries those): a
    /// tenant out of budget, or the fleet's own token cache or limiter away. A source
    /// that refused, or failed after the client's own retries, ends the request failed
    /// with the error (`uipath_client::fix::planning` says what to do); it is not retried forever.
    pub fn is_transient(&self) -> bool {
        use CoordinatorError as E;
        match self {
            E::Planning { error, .. } | E::Source { error, .. } => matches!(
                error,
                ClientError::Deferred { .. }
                    | ClientError::Throttled { .. }
                    | ClientError::Cache(_)
                    | ClientError::Limiter(_)
            ),
            E::Ledger(_) | E::Busy(_) => true,
            E::Broker(e) => e.is_transient(),
            E::Request(_) | E::NotFound(_) | E::Invalid(_) | E::Config(_) | E::Io(_) => false,
        }
    }

    /// The cause a failed request's note begins with (see `fleet_core::cause`): the
    /// source's error kind (`invalid_client`, `forbidden`, ...) or this error's kind.
    pub fn cause(&self) -> &'static str {
        match self {
            CoordinatorError::Planning { error, .. } | CoordinatorError::Source { error, .. } => {
                error.kind()
            }
            other => other.kind(),
        }
    }

    /// A short kind for metrics.
    pub fn kind(&self) -> &'static str {
        use CoordinatorError as E;
        match self {
            E::Request(_) => "request",
            E::NotFound(_) => "not_found",
            E::Source { .. } | E::Planning { .. } => "source",
            E::Ledger(_) => "ledger",
            E::Broker(_) => "broker",
            E::Invalid(_) => "invalid",
            E::Busy(_) => "busy",
            E::Config(_) => "config",
            E::Io(_) => "io",
        }
    }

    /// A planning error as the API answers it: a source's failure with what to do as
    /// the hint (502), a plan that cannot be made as a field error on `datasets` (422),
    /// a plan in progress elsewhere as an internal error. Other errors are unchanged.
    pub fn for_api(self) -> CoordinatorError {
        use CoordinatorError as E;
        match self {
            E::Planning {
                source_name,
                what,
                error,
            } => E::Source {
                hint: Some(format!(
                    "source {source_name}, {what}: {}",
                    source_hint(&error)
                )),
                error,
            },
            E::Invalid(message) => RequestError::Fields(vec![FieldError {
                field: "datasets".into(),
                message,
            }])
            .into(),
            E::Busy(id) => E::Config(format!("request {id} is being planned")),
            other => other,
        }
    }
}

/// Why a call to the coordinator failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The coordinator answered with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The coordinator could not be reached at all (not there, no answer in time).
    #[error("{0}")]
    Unreachable(String),
    #[error("building the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("reading the answer to {method} {path}")]
    Read {
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the answer to {method} {path} is not JSON; is {base} a uipath-fleet coordinator?")]
    NotJson {
        method: Method,
        path: String,
        base: Url,
        #[source]
        source: serde_json::Error,
    },
    /// JSON that is not the answer expected (`what`: "a request", ...).
    #[error("the coordinator's answer is not {what}; is it a uipath-fleet coordinator of the same version?")]
    Unexpected {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl RemoteError {
    /// Worth trying again soon: the coordinator is away, or cannot reach its backends or
    /// a source right now (a restart, a rollout).
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Unreachable(_) => true,
            RemoteError::Api(a) => {
                a.status == StatusCode::SERVICE_UNAVAILABLE || a.status == StatusCode::BAD_GATEWAY
            }
            _ => false,
        }
    }
}

/// Why reading or replaying dead letters failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// A ledger call failed (`what` it was doing).
    #[error("{what}")]
    Ledger {
        what: String,
        #[source]
        source: LedgerError,
    },
    /// A broker call failed (`what` it was doing).
    #[error("{what}")]
    Broker {
        what: String,
        #[source]
        source: BrokerError,
    },
    #[error("the dead-letter queue `{queue}` holds {depth} letters; this command reads at most {max} (it must hold them all to leave their order unchanged)", max = u16::MAX)]
    TooMany { queue: String, depth: u64 },
    #[error("no dead letter has message id {0}; nothing was replayed")]
    UnknownIds(String),
    #[error("no dead letter has message id `{0}`")]
    NoSuchLetter(String),
    #[error("the ledger refused to requeue slice {slice} (now {now}); the letter is kept, run the replay again")]
    Refused { slice: String, now: &'static str },
}
