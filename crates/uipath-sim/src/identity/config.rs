//! What the simulated identity server knows: external applications, users, personal access
//! tokens and token lifetimes.
//!
//! Guarantees: every field has a sane default (so a partial TOML/JSON file loads), and the
//! `Debug` output of every type here redacts client secrets, passwords and tokens, so a
//! config can be logged whole without leaking a credential.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Printed instead of a credential in `Debug` output.
const REDACTED: &str = "<redacted>";

/// The client id UiPath's "API access" page shows for Automation Cloud's Orchestrator,
/// the same for every user and tenant (docs/credentials.md).
pub const LEGACY_CLIENT_ID: &str = "8DEv1AMNXczW3y4U15LL3jYf62jK93n5";

/// The scope a machine's token carries. The simulator's own name: UiPath does not
/// document what a robot token holds, only that it is the robot's, not a user's.
pub const ROBOT_SCOPE: &str = "Orchestrator.Robot";

/// The identity server's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityConfig {
    /// Registered external applications.
    pub apps: Vec<AppConfig>,
    /// Users: the authorization-code flow approves as the first user of the app's
    /// organization; ROPC (`Account/Authenticate`) checks username and password.
    pub users: Vec<UserConfig>,
    /// Personal access tokens, accepted as bearer tokens as configured.
    pub personal_access_tokens: Vec<PatConfig>,
    /// Legacy "API access" User Keys, exchanged at `POST /oauth/token` (the simulator's
    /// stand-in for `https://account.uipath.com/oauth/token`).
    pub user_keys: Vec<UserKeyConfig>,
    /// The fixed client id the legacy endpoint expects (the one UiPath publishes for
    /// Automation Cloud's Orchestrator).
    pub user_key_client_id: String,
    /// Lifetime of tokens from the legacy endpoint (UiPath: 24 hours).
    pub user_key_token_ttl_secs: u64,
    /// Machines (Tenant > Machines) whose client id and secret robots use at the token
    /// endpoint. They get robot scopes only ([`ROBOT_SCOPE`]), which no list endpoint
    /// accepts: no public UiPath material says a machine token may read Jobs, QueueItems
    /// or logs (docs/credentials.md).
    pub machines: Vec<MachineConfig>,
    /// Lifetime of access tokens from the OAuth token endpoint (UiPath: one hour).
    pub access_token_ttl_secs: u64,
    /// Lifetime of each refresh token, renewed on every rotation (UiPath: 60 days).
    pub refresh_token_ttl_secs: u64,
    /// Lifetime of ROPC (`Account/Authenticate`) tokens (UiPath: 30 minutes).
    pub ropc_token_ttl_secs: u64,
    /// How long an authorization code may wait before it is exchanged.
    pub authorization_code_ttl_secs: u64,
    /// When false (Automation Cloud), `/identity/connect/token` (no underscore) answers 200
    /// with an HTML page, as the cloud's web front does for the classic wrong-URL mistake;
    /// when true (standalone Orchestrator) it is the token endpoint.
    pub standalone: bool,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            apps: Vec::new(),
            users: Vec::new(),
            personal_access_tokens: Vec::new(),
            user_keys: Vec::new(),
            user_key_client_id: LEGACY_CLIENT_ID.to_owned(),
            user_key_token_ttl_secs: 24 * 3600,
            machines: Vec::new(),
            access_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 60 * 24 * 3600,
            ropc_token_ttl_secs: 1800,
            authorization_code_ttl_secs: 300,
            standalone: false,
        }
    }
}

/// An external application registered in an organization.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AppConfig {
    pub client_id: String,
    /// `None` makes the app non-confidential: a public client that must use PKCE and can
    /// never use `client_credentials`.
    pub client_secret: Option<String>,
    /// The organization (logical name) the app is registered in.
    pub org: String,
    /// Application scopes, granted through `client_credentials`.
    pub app_scopes: Vec<String>,
    /// User scopes the app may request through the authorization-code flow.
    pub user_scopes: Vec<String>,
    /// Redirect URIs accepted by `/connect/authorize`, compared exactly.
    pub redirect_uris: Vec<String>,
    /// Fully qualified names of the folders the app may access; `None` = all.
    pub folders: Option<Vec<String>>,
}

impl AppConfig {
    /// Confidential apps hold a secret; only they may use `client_credentials`.
    pub fn is_confidential(&self) -> bool {
        self.client_secret.is_some()
    }
}

impl fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppConfig")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| REDACTED),
            )
            .field("org", &self.org)
            .field("app_scopes", &self.app_scopes)
            .field("user_scopes", &self.user_scopes)
            .field("redirect_uris", &self.redirect_uris)
            .field("folders", &self.folders)
            .finish()
    }
}

/// A user of an organization, with a home tenant (used by ROPC, which binds to a tenant).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UserConfig {
    pub username: String,
    pub password: String,
    pub org: String,
    pub tenant: String,
    /// Fully qualified names of the folders the user may access; `None` = all.
    pub folders: Option<Vec<String>>,
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfig")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("org", &self.org)
            .field("tenant", &self.tenant)
            .field("folders", &self.folders)
            .finish()
    }
}

/// A personal access token: an org-level, scoped bearer token belonging to a user.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PatConfig {
    pub token: String,
    pub user: String,
    pub org: String,
    pub scopes: Vec<String>,
    /// Counted from server start; `None` = never expires.
    pub expires_in_secs: Option<u64>,
}

impl fmt::Debug for PatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatConfig")
            .field("token", &REDACTED)
            .field("user", &self.user)
            .field("org", &self.org)
            .field("scopes", &self.scopes)
            .field("expires_in_secs", &self.expires_in_secs)
            .finish()
    }
}

/// A legacy User Key: a long-lived key that acts with all of its user's rights in one
/// tenant. It does not rotate; it is revoked from the control API.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UserKeyConfig {
    pub key: String,
    pub user: String,
    pub org: String,
    /// The tenant logical name the key was issued for (`X-UIPATH-TenantName`).
    pub tenant: String,
}

impl fmt::Debug for UserKeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserKeyConfig")
            .field("key", &REDACTED)
            .field("user", &self.user)
            .field("org", &self.org)
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// A machine's robot credentials.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineConfig {
    pub client_id: String,
    pub client_secret: String,
    pub org: String,
}

impl fmt::Debug for MachineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MachineConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("org", &self.org)
            .finish()
    }
}

/// A configuration the identity server cannot serve faithfully.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityConfigError {
    #[error("identity.apps[{index}]: client_id is empty; give every app a unique client_id")]
    EmptyClientId { index: usize },
    #[error("identity.apps: client_id `{0}` is registered twice; client ids must be unique")]
    DuplicateClientId(String),
    #[error("identity.apps[{index}]: redirect_uri `{uri}` is not an absolute URL")]
    BadRedirectUri { index: usize, uri: String },
    #[error("identity.users: `{0}` appears twice in the same organization")]
    DuplicateUser(String),
    #[error("identity.personal_access_tokens[{index}]: the token is empty")]
    EmptyPat { index: usize },
    #[error("identity.{0} is 0; token lifetimes must be at least one second")]
    ZeroTtl(&'static str),
}

impl IdentityConfig {
    /// Checks what would otherwise fail confusingly at request time. Never names a secret.
    pub fn validate(&self) -> Result<(), IdentityConfigError> {
        let mut ids = HashSet::new();
        for (index, app) in self.apps.iter().enumerate() {
            if app.client_id.is_empty() {
                return Err(IdentityConfigError::EmptyClientId { index });
            }
            if !ids.insert(app.client_id.as_str()) {
                return Err(IdentityConfigError::DuplicateClientId(
                    app.client_id.clone(),
                ));
            }
            if let Some(uri) = app
                .redirect_uris
                .iter()
                .find(|u| url::Url::parse(u).is_err())
            {
                return Err(IdentityConfigError::BadRedirectUri {
                    index,
                    uri: uri.clone(),
                });
            }
        }
        let mut users = HashSet::new();
        for user in &self.users {
            let key = (
                user.org.to_ascii_lowercase(),
                user.username.to_ascii_lowercase(),
            );
            if !users.insert(key) {
                return Err(IdentityConfigError::DuplicateUser(user.username.clone()));
            }
        }
        if let Some(index) = self
            .personal_access_tokens
            .iter()
            .position(|p| p.token.is_empty())
        {
            return Err(IdentityConfigError::EmptyPat { index });
        }
        for (name, ttl) in [
            ("access_token_ttl_secs", self.access_token_ttl_secs),
            ("refresh_token_ttl_secs", self.refresh_token_ttl_secs),
            ("ropc_token_ttl_secs", self.ropc_token_ttl_secs),
            ("user_key_token_ttl_secs", self.user_key_token_ttl_secs),
            (
                "authorization_code_ttl_secs",
                self.authorization_code_ttl_secs,
            ),
        ] {
            if ttl == 0 {
                return Err(IdentityConfigError::ZeroTtl(name));
            }
        }
        Ok(())
    }

    /// The app with this client id.
    pub(crate) fn app(&self, client_id: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|a| a.client_id == client_id)
    }

    /// The machine with this client id.
    pub(crate) fn machine(&self, client_id: &str) -> Option<&MachineConfig> {
        self.machines.iter().find(|m| m.client_id == client_id)
    }

    /// The user who approves authorization requests for apps of `org`: the first configured.
    pub(crate) fn approving_user(&self, org: &str) -> Option<&UserConfig> {
        self.users.iter().find(|u| u.org.eq_ignore_ascii_case(org))
    }

    /// The user `username` of `org` (user names are case-insensitive, as in UiPath).
    pub(crate) fn user(&self, org: &str, username: &str) -> Option<&UserConfig> {
        self.users
            .iter()
            .find(|u| u.org.eq_ignore_ascii_case(org) && u.username.eq_ignore_ascii_case(username))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_uipath_lifetimes() {
        let c: IdentityConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c.access_token_ttl_secs, 3600);
        assert_eq!(c.refresh_token_ttl_secs, 5_184_000);
        assert_eq!(c.ropc_token_ttl_secs, 1800);
        assert!(!c.standalone);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn validate_names_the_problem() {
        let app = AppConfig {
            client_id: "a".into(),
            ..AppConfig::default()
        };
        let c = IdentityConfig {
            apps: vec![app.clone(), app],
            ..IdentityConfig::default()
        };
        assert_eq!(
            c.validate(),
            Err(IdentityConfigError::DuplicateClientId("a".into()))
        );
        let c = IdentityConfig {
            ropc_token_ttl_secs: 0,
            ..IdentityConfig::default()
        };
        assert_eq!(
            c.validate(),
            Err(IdentityConfigError::ZeroTtl("ropc_token_ttl_secs"))
        );
    }
}
