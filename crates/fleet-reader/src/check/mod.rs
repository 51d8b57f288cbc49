//! Does a source work, per dataset, and if not, what to change: the probing behind
//! `uipath-fleet check`, returning [`Finding`]s for the caller to print.
//!
//! Per source, in order ([`check_source`]):
//! 1. **token** — ask the identity server for a token with the configured scopes. An
//!    `invalid_client` (wrong id or secret), `unauthorized_client` (a user scope with
//!    client credentials), a missing login, ... ends the source's checks with the fix.
//!    An `invalid_scope` is narrowed down by asking for each configured scope alone, so
//!    the report names exactly the scopes the application was not granted; the rest of
//!    the checks then run with the scopes that were granted. A machine's robot
//!    credentials end the source's checks with what to create instead.
//! 2. **folder-access** — list the folders the credentials can see (folder-scoped
//!    datasets are read per folder).
//! 3. **dataservice** — list the Data Service entities the user sees, when an entity is to
//!    be read or the source asks for Data Service scopes.
//! 4. **each dataset** — for Orchestrator, the scope it needs (`OR.Queues.Read` for
//!    `queue-items`, ...) is compared with the configured and granted scopes; for a Data
//!    Service entity (`dataservice/Invoice`), a user token (not client credentials), the
//!    `DataService.Data.Read` scope and the entity among those listed. If that holds, one
//!    record is read (in the first visible folder for folder-scoped datasets) to prove it.
//!    A source without scopes (a User Key carries its user's rights, a personal access
//!    token its own) has no scopes to compare: each dataset is probed with that read.
//!    After a readable `jobs`, **change-capture**: whether the tenant stamps
//!    `LastModificationTime`.
//!
//! What to change for each error comes from [`uipath_client::fix`]. Secrets never appear in a
//! finding: the client's errors carry none, and nothing else here formats one.

mod datasets;

use std::sync::Arc;

use fleet_core::dataset;
use fleet_core::{RateLimiter, TokenCache};
use serde::Serialize;

use crate::{DatasetRef, Sources};
use uipath_client::auth::{TokenOptions, TokenProvider};
use uipath_client::client::ClientOptions;
use uipath_client::fix::{self, Diagnosis, DATASERVICE_SCOPE_PREFIX};
use uipath_client::{AuthConfig, ClientError, SourceConfig, UipathClient};

/// One line of the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub source: String,
    /// `token`, `folder-access`, `dataservice`, `change-capture`, or a dataset's name.
    pub check: String,
    pub ok: bool,
    /// `ok ...`, `missing scope X`, `forbidden in folder F`, `error: ...`.
    pub status: String,
    /// What to change; empty when ok.
    pub fix: String,
    /// Whether a failure here fails the check: false for datasets nothing reads,
    /// checked only to inform ([`Finding::inform`]).
    pub required: bool,
    /// About the source as a whole (a wrong organization or tenant), whatever the row's
    /// check: it counts even where the dataset would only inform.
    #[serde(skip)]
    about_source: bool,
}

impl Finding {
    fn ok(source: &str, check: &str, status: impl Into<String>) -> Finding {
        Finding {
            source: source.to_owned(),
            check: check.to_owned(),
            ok: true,
            status: status.into(),
            fix: String::new(),
            required: true,
            about_source: false,
        }
    }

    fn fail(
        source: &str,
        check: &str,
        status: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            ok: false,
            fix: fix.into(),
            ..Finding::ok(source, check, status)
        }
    }

    fn diagnosed(source: &str, check: &str, d: Diagnosis) -> Finding {
        Finding {
            about_source: d.about_source,
            ..Finding::fail(source, check, d.status, d.fix)
        }
    }

    /// Marks the finding as informing only, unless it is about the source as a whole
    /// (its token, its client, its organization or tenant): those still count.
    pub fn inform(&mut self) {
        if self.about_source || matches!(self.check.as_str(), "token" | "client") {
            return;
        }
        self.required = false;
        if !self.ok {
            self.status = format!("info: {}", self.status);
        }
    }
}

/// The fleet's backends a check reads through.
#[derive(Clone)]
pub struct Backends {
    /// Where tokens are kept (the fleet's own store when it has one).
    pub cache: Arc<dyn TokenCache>,
    pub limiter: Arc<dyn RateLimiter>,
    /// A fresh throw-away cache, for the tokens of one scope each that narrow down an
    /// `invalid_scope` (they must not land in the fleet's store).
    pub scratch: fn() -> Arc<dyn TokenCache>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends").finish_non_exhaustive()
    }
}

/// What to check of `source` when no dataset is named, and whether anything reads it:
/// `requested` (the datasets the configuration's requests read of it; true); without
/// any, every Orchestrator dataset (unless the source asks only for Data Service
/// scopes), to inform (false).
pub fn default_datasets(source: &SourceConfig, requested: &[String]) -> (Vec<DatasetRef>, bool) {
    let requested: Vec<DatasetRef> = requested
        .iter()
        .filter_map(|name| DatasetRef::parse(name))
        .collect();
    if !requested.is_empty() {
        return (requested, true);
    }
    let only_dataservice = configured_scopes(source).is_some_and(|scopes| {
        !scopes.is_empty()
            && scopes
                .iter()
                .all(|s| s.starts_with(DATASERVICE_SCOPE_PREFIX))
    });
    let all = if only_dataservice {
        Vec::new()
    } else {
        dataset::all()
            .iter()
            .map(DatasetRef::Orchestrator)
            .collect()
    };
    (all, false)
}

/// The scopes a source asks for, when its method has any.
fn configured_scopes(source: &SourceConfig) -> Option<&[String]> {
    match &source.auth {
        AuthConfig::ClientCredentials { scopes, .. } | AuthConfig::RefreshToken { scopes, .. } => {
            Some(scopes)
        }
        _ => None,
    }
}

fn with_scopes(source: &SourceConfig, only: &[String]) -> SourceConfig {
    let mut s = source.clone();
    if let AuthConfig::ClientCredentials { scopes, .. } | AuthConfig::RefreshToken { scopes, .. } =
        &mut s.auth
    {
        *scopes = only.to_vec();
    }
    s
}

/// Whether the source signs in as an application (client credentials), not as a user.
fn is_application(source: &SourceConfig) -> bool {
    matches!(source.auth, AuthConfig::ClientCredentials { .. })
}

/// A token for `source` from `cache`.
async fn token(source: &SourceConfig, cache: Arc<dyn TokenCache>) -> Result<(), ClientError> {
    let http = reqwest::Client::builder()
        .timeout(source.timeout())
        .build()
        .map_err(|e| ClientError::Config(format!("building the HTTP client: {e}")))?;
    let provider = TokenProvider::new(source, cache, http, TokenOptions::default())?;
    provider.bearer().await.map(|_| ())
}

/// The token row, and the source as the rest of the checks read it (with only the
/// scopes granted); `None` when the checks end here.
async fn check_token(
    source: &SourceConfig,
    datasets: &[DatasetRef],
    backends: &Backends,
    findings: &mut Vec<Finding>,
    refused: &mut Vec<String>,
) -> Option<SourceConfig> {
    let name = source.name.as_str();
    let configured = configured_scopes(source);
    match token(source, backends.cache.clone()).await {
        Ok(()) => findings.push(Finding::ok(
            name,
            "token",
            match configured {
                Some(s) => format!("ok: granted {}", s.join(" ")),
                None => "ok".to_owned(),
            },
        )),
        Err(ClientError::InvalidScope { .. }) if is_application(source) => {
            let mut granted = Vec::new();
            for scope in configured.unwrap_or_default() {
                let alone = with_scopes(source, std::slice::from_ref(scope));
                match token(&alone, (backends.scratch)()).await {
                    Ok(()) => granted.push(scope.clone()),
                    Err(ClientError::InvalidScope { .. }) => refused.push(scope.clone()),
                    Err(e) => {
                        findings.push(Finding::diagnosed(name, "token", fix::token(name, &e)));
                        return None;
                    }
                }
            }
            findings.push(Finding::fail(
                name,
                "token",
                format!(
                    "invalid_scope: not granted to the application: {}",
                    refused.join(", ")
                ),
                format!(
                    "grant {} to the external application (Admin > External Applications), or remove it from sources.{name}.auth.scopes",
                    refused.join(", ")
                ),
            ));
            if granted.is_empty() {
                return None;
            }
            return Some(with_scopes(source, &granted));
        }
        Err(e @ ClientError::MachineCredentials { .. }) => {
            let slugs: Vec<&str> = datasets
                .iter()
                .filter_map(|d| match d {
                    DatasetRef::Orchestrator(def) => Some(def.slug),
                    DatasetRef::DataService(_) => None,
                })
                .collect();
            findings.push(Finding::fail(
                name,
                "token",
                format!(
                    "{}: the identity server granted only robot scopes",
                    e.kind()
                ),
                uipath_client::source::machine_migration(&uipath_client::auth::scopes_for(&slugs)),
            ));
            return None;
        }
        Err(e) => {
            findings.push(Finding::diagnosed(name, "token", fix::token(name, &e)));
            return None;
        }
    }
    Some(source.clone())
}

/// Every check of `source` for `datasets`, in the order of the module's docs.
pub async fn check_source(
    source: &SourceConfig,
    datasets: &[DatasetRef],
    backends: &Backends,
) -> Vec<Finding> {
    let name = source.name.as_str();
    let mut findings = Vec::new();
    // Scopes the application was refused (narrowed down from an invalid_scope).
    let mut refused: Vec<String> = Vec::new();
    let Some(effective) =
        check_token(source, datasets, backends, &mut findings, &mut refused).await
    else {
        return findings;
    };
    let client = match UipathClient::new(
        effective.clone(),
        backends.cache.clone(),
        backends.limiter.clone(),
        ClientOptions {
            attempts: 2,
            ..ClientOptions::default()
        },
    ) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            findings.push(Finding::fail(
                name,
                "client",
                format!("error: {e}"),
                "fix the source's configuration",
            ));
            return findings;
        }
    };
    let probe = datasets::Probe {
        sources: Sources::new([client]),
        name,
        source: &effective,
        scopes: configured_scopes(&effective),
        refused: &refused,
    };
    probe.run(datasets, &mut findings).await;
    findings
}
