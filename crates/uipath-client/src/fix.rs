//! What to change when UiPath refuses: the one table from a [`ClientError`] to the fix
//! in words, read by `uipath-fleet check` ([`crate::check`]), the coordinator's preview
//! and its `GET /v1/datasets`. The error's own message says what went wrong; these say
//! where to fix it, naming the configuration key or the UiPath admin page.

use crate::{AuthConfig, ClientError};

/// Every Data Service scope starts so (`DataService.Data.Read`, `DataService.Schema.Read`).
pub const DATASERVICE_SCOPE_PREFIX: &str = "DataService.";
/// The scope family of reading entity records.
pub const DATASERVICE_DATA: &str = "DataService.Data";
/// Why Data Service entities cannot be listed, in general: what it needs.
pub const DATASERVICE_SIGN_IN: &str = "Data Service needs a user sign-in (auth.method = \"refresh-token\" and `uipath-fleet login`) with DataService.Schema.Read";

/// A failure in words: what is wrong and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// `missing scope X`, `forbidden in folder F: ...`, `error: ...`.
    pub status: String,
    /// What to change.
    pub fix: String,
    /// About the source as a whole (a wrong organization or tenant), not one dataset.
    pub about_source: bool,
}

impl Diagnosis {
    fn new(status: impl Into<String>, fix: impl Into<String>) -> Diagnosis {
        Diagnosis {
            status: status.into(),
            fix: fix.into(),
            about_source: false,
        }
    }
}

/// The error a client's retries ended with.
fn last(e: &ClientError) -> &ClientError {
    match e {
        ClientError::Exhausted { last, .. } => last.as_ref(),
        other => other,
    }
}

/// Whether `scopes` grant a dataset of scope family `family` (`OR.Queues` or
/// `OR.Queues.Read` do; `OR.Default` may, which only a read can tell).
pub fn grants(scopes: &[String], family: &str) -> Option<bool> {
    if scopes.iter().any(|s| s == "OR.Default") {
        return None;
    }
    Some(
        scopes
            .iter()
            .any(|s| s == family || s.strip_prefix(family).is_some_and(|rest| rest == ".Read")),
    )
}

/// The identity server refused `source` a token.
pub fn token(source: &str, e: &ClientError) -> Diagnosis {
    let fix = match e {
        ClientError::InvalidClient { .. } => format!(
            "check sources.{source}.auth.client_id and client_secret against the external application (Admin > External Applications); regenerate the secret if in doubt"
        ),
        ClientError::UnauthorizedClient { .. } => {
            "user scopes (Data Service) need method = \"refresh-token\" and `uipath-fleet login`".to_owned()
        }
        ClientError::LoginRequired { .. } => format!("run `uipath-fleet login --source {source}`"),
        ClientError::UserKeyRevoked { .. } => format!(
            "copy the tenant's current User Key (Admin > Tenants > API access) into sources.{source}.auth.user_key, or move to an external application (docs/credentials.md)"
        ),
        ClientError::WrongTokenUrl { .. } => format!("check sources.{source}.deployment and token_url"),
        ClientError::Transport { .. } | ClientError::Server { .. } => {
            format!("check that the identity server of sources.{source} is reachable")
        }
        _ => "see the status".to_owned(),
    };
    Diagnosis::new(format!("{}: {e}", e.kind()), fix)
}

/// An Orchestrator read of scope family `family` (in `folder`, if any) that failed;
/// `scopes` are those the source asks for, when its method has any.
pub fn read(
    source: &str,
    family: &str,
    folder: Option<&str>,
    scopes: Option<&[String]>,
    e: &ClientError,
) -> Diagnosis {
    let needed = format!("{family}.Read");
    let inner = last(e);
    match inner {
        ClientError::Forbidden { message, .. } if message.to_ascii_lowercase().contains("scope") => {
            let fix = match scopes {
                Some(s) if grants(s, family) == Some(true) => {
                    format!("grant {needed} to the external application (Admin > External Applications)")
                }
                _ => format!("add {needed} to sources.{source}.auth.scopes and grant it to the external application"),
            };
            Diagnosis::new(format!("missing scope {needed}"), fix)
        }
        ClientError::Forbidden { message, .. } => Diagnosis::new(
            match folder {
                Some(f) => format!("forbidden in folder {f}: {message}"),
                None => format!("forbidden: {message}"),
            },
            "give the application a role with read permission on it (in the folder, or tenant-wide)",
        ),
        ClientError::TenantNotFound { source_name: name, .. } => Diagnosis {
            about_source: true,
            ..Diagnosis::new(
                format!("error: {inner}"),
                format!("correct sources.{name}.deployment.organization or .tenant"),
            )
        },
        ClientError::FolderNotFound { .. } => Diagnosis::new(
            format!("forbidden in folder {}", folder.unwrap_or("?")),
            "assign the external application to the folder",
        ),
        other => Diagnosis::new(format!("error: {other}"), "see the status"),
    }
}

/// A Data Service read (or the entity list) of `source`, signing in with `auth`, that
/// failed.
pub fn dataservice(source: &str, auth: &AuthConfig, e: &ClientError) -> Diagnosis {
    let login = match auth {
        AuthConfig::RefreshToken { .. } => {
            format!(", then run `uipath-fleet login --source {source}` again")
        }
        AuthConfig::PersonalAccessToken { .. } => {
            ", or create a personal access token that has it".to_owned()
        }
        _ => String::new(),
    };
    match last(e) {
        ClientError::Forbidden { message, .. } if message.contains(DATASERVICE_SCOPE_PREFIX) => {
            let scope = if message.contains("Schema") {
                format!("{DATASERVICE_DATA}.Read or DataService.Schema.Read")
            } else {
                format!("{DATASERVICE_DATA}.Read")
            };
            Diagnosis::new(
                format!("missing scope {scope}"),
                format!("add {DATASERVICE_DATA}.Read to sources.{source}.auth.scopes{login}"),
            )
        }
        ClientError::Forbidden { message, .. } => Diagnosis::new(
            format!("forbidden: {message}"),
            "give the signed-in user a Data Service role that reads the entity",
        ),
        other => Diagnosis::new(format!("error: {other}"), "see the status"),
    }
}

/// What to do when a preview failed, if the error says; `scope` is the scope that
/// reads the dataset (`OR.Jobs.Read`, or Data Service's user scope).
pub fn preview(error: &ClientError, scope: &str) -> Option<String> {
    match error {
        ClientError::Forbidden { .. } | ClientError::InvalidScope { .. } => Some(format!(
            "the application needs scope {scope} and a role on the folder; add it under Admin > External Applications"
        )),
        ClientError::FolderNotFound { .. } => {
            Some("assign the application to the folder in Orchestrator".to_owned())
        }
        ClientError::UnauthorizedClient { .. } | ClientError::LoginRequired { .. } => {
            Some("run `uipath-fleet login` for this source".to_owned())
        }
        _ => None,
    }
}

/// What to do when planning a request failed on `error` (a folder listing or `$count`
/// probe refused or failed after the client's retries): the fix, then submitting again.
pub fn planning(error: &ClientError) -> &'static str {
    use ClientError as E;
    match error {
        E::Forbidden { .. } | E::InvalidScope { .. } => {
            "grant the application the dataset's read scope and a role on the folder (Admin > External Applications, Orchestrator > Folders), then submit again with `--rerun`"
        }
        E::FolderNotFound { .. } | E::FolderRequired { .. } | E::NotFound { .. } => {
            "the folder or tenant is gone or not assigned to the application: assign it (Orchestrator > Folders > Assign Account/Group) or check the source's organization and tenant, then submit again with `--rerun`"
        }
        E::InvalidClient { .. }
        | E::UnauthorizedClient { .. }
        | E::LoginRequired { .. }
        | E::Unauthorized { .. }
        | E::TokenRejected { .. }
        | E::RopcFailed { .. }
        | E::UserKeyRevoked { .. }
        | E::MachineCredentials { .. }
        | E::WrongTokenUrl { .. } => {
            "fix the source's credentials (`uipath-fleet check` says which), then submit again with `--rerun`"
        }
        _ => "UiPath did not answer after the client's retries; check that the source is reachable (`uipath-fleet check`), then submit again with `--rerun`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_families_are_granted_by_the_family_or_its_read_scope() {
        let s = |list: &[&str]| list.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(grants(&s(&["OR.Jobs.Read"]), "OR.Jobs"), Some(true));
        assert_eq!(grants(&s(&["OR.Jobs"]), "OR.Jobs"), Some(true));
        assert_eq!(grants(&s(&["OR.JobsX.Read"]), "OR.Jobs"), Some(false));
        assert_eq!(grants(&s(&["OR.Queues.Read"]), "OR.Jobs"), Some(false));
        assert_eq!(grants(&s(&["OR.Default"]), "OR.Jobs"), None);
    }
}
