//! Where a UiPath source lives and how it authenticates.
//!
//! Three deployments (../shared/reference/uipath-api.md §1.1, §2):
//! - Automation Cloud: `https://cloud.uipath.com/{org}/{tenant}/orchestrator_/`, identity
//!   at `{base}/identity_/connect/token`, Data Service at `{base}/{org}/{tenant}/dataservice_/`;
//! - Automation Suite: the same shape on the customer's own host;
//! - standalone Orchestrator: `https://{host}/odata/...`, identity at
//!   `{host}/identity/connect/token` (no underscore), ROPC at `{host}/api/Account/Authenticate`.
//!
//! Five ways to authenticate: client credentials (application scopes), a refresh token
//! from a one-time `uipath-fleet login` (user scopes: the only way into Data Service), a
//! personal access token, standalone ROPC, and the legacy cloud User Key. A sixth,
//! `machine` (a robot's client id and secret), is recognised only to say what to create
//! instead (docs/credentials.md).

use std::time::Duration;

use fleet_core::Secret;
use serde::Deserialize;
use url::Url;

/// The cloud's base URL.
pub const CLOUD_BASE_URL: &str = "https://cloud.uipath.com";

/// Where the legacy User Key is exchanged for a token.
pub const USER_KEY_TOKEN_URL: &str = "https://account.uipath.com/oauth/token";

/// The client id UiPath's "API access" page shows next to the User Key: the same for every
/// user and tenant of Automation Cloud (docs/credentials.md).
pub const USER_KEY_CLIENT_ID: &str = "8DEv1AMNXczW3y4U15LL3jYf62jK93n5";

/// Where the source's APIs are.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Deployment {
    /// Automation Cloud (or Automation Suite: same URL shape, own host).
    Cloud {
        /// `https://cloud.uipath.com` unless Automation Suite, dedicated or gov cloud.
        #[serde(default = "cloud_base_url")]
        base_url: Url,
        /// Organization logical name (as in the URL).
        organization: String,
        /// Tenant logical name.
        tenant: String,
    },
    /// Standalone (MSI) Orchestrator.
    Standalone {
        base_url: Url,
        /// The tenancy name used by ROPC (`Default` on a single-tenant install).
        #[serde(default = "default_tenancy")]
        tenancy_name: String,
    },
}

fn cloud_base_url() -> Url {
    Url::parse(CLOUD_BASE_URL).expect("constant URL")
}

fn default_tenancy() -> String {
    "Default".into()
}

/// How the source authenticates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AuthConfig {
    /// A confidential external application with application scopes.
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
        /// Space-separated or listed scopes, e.g. `OR.Jobs.Read OR.Folders.Read`, or
        /// `OR.Default` for the app's fine-grained folder roles.
        scopes: Vec<String>,
    },
    /// User scopes through a refresh token obtained once by `uipath-fleet login`
    /// (authorization code + PKCE). The token rotates on every use; the fleet keeps the
    /// current one in its token cache.
    RefreshToken {
        client_id: String,
        /// Only for confidential applications.
        #[serde(default)]
        client_secret: Option<Secret>,
        /// Scopes asked for at login (`offline_access` is added automatically).
        scopes: Vec<String>,
        /// Where `uipath-fleet login` listens for the redirect (must be registered on
        /// the application; loopback, any port is accepted by UiPath for native apps).
        #[serde(default = "default_redirect")]
        redirect_uri: Url,
    },
    /// A personal access token (organization-level, scoped, expires as set by an admin).
    PersonalAccessToken { token: Secret },
    /// Standalone Orchestrator's `/api/Account/Authenticate` (tokens last 30 minutes).
    Ropc { username: String, password: Secret },
    /// The legacy "API access" User Key of Automation Cloud, exchanged at
    /// `https://account.uipath.com/oauth/token` (or `token_url`) for 24-hour tokens that
    /// carry all of the user's rights. The key does not rotate; the deployment's
    /// organization and tenant are the account and tenant logical names.
    UserKey {
        /// The User Key (UiPath's "refresh token" of this flow).
        #[serde(alias = "refresh_token")]
        user_key: Secret,
        #[serde(default = "user_key_client_id")]
        client_id: String,
    },
    /// A machine's client id and secret (Tenant > Machines): robot credentials, which
    /// cannot read the datasets. Accepted in the file only to be refused by `validate`
    /// with what to create instead.
    Machine {
        #[serde(default)]
        client_id: String,
        #[serde(default)]
        client_secret: Option<Secret>,
    },
}

fn user_key_client_id() -> String {
    USER_KEY_CLIENT_ID.to_owned()
}

/// What to do instead of using a machine's robot credentials: an external application
/// with `scopes` (space-separated), the ones the configured datasets need.
pub fn machine_migration(scopes: &str) -> String {
    format!("a machine's client id and secret (Tenant > Machines) are robot credentials, and no UiPath documentation lets them read Jobs, QueueItems or logs. Create an external application instead: Admin > External Applications > Add application, type Confidential, add Orchestrator API Access application scopes {scopes}; then set auth = {{ method = \"client-credentials\", client_id = <its App ID>, client_secret = <its App Secret>, scopes = [...] }} (see docs/credentials.md)")
}

fn default_redirect() -> Url {
    Url::parse("http://127.0.0.1:8765/callback").expect("constant URL")
}

/// One UiPath source: a tenant the fleet reads from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The fleet's name for this source (used in routing keys, record ids, metrics).
    pub name: String,
    pub deployment: Deployment,
    pub auth: AuthConfig,
    /// Overrides the token endpoint derived from the deployment.
    #[serde(default)]
    pub token_url: Option<Url>,
    /// Per-request timeout in seconds (default 60).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    60
}

impl SourceConfig {
    /// Checks what can be checked without a network; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "sources.name: `{name}` must be non-empty letters, digits, '-' or '_'"
            ));
        }
        let base = match &self.deployment {
            Deployment::Cloud {
                base_url,
                organization,
                tenant,
            } => {
                if organization.trim().is_empty() || organization.contains('/') {
                    return Err(format!("sources.{name}.deployment.organization: must be the organization's logical name"));
                }
                if tenant.trim().is_empty() || tenant.contains('/') {
                    return Err(format!(
                        "sources.{name}.deployment.tenant: must be the tenant's logical name"
                    ));
                }
                base_url
            }
            Deployment::Standalone { base_url, .. } => base_url,
        };
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(format!(
                "sources.{name}.deployment.base_url: `{base}` must be an http(s) URL"
            ));
        }
        match &self.auth {
            AuthConfig::ClientCredentials {
                client_id,
                client_secret,
                scopes,
            } => {
                if client_id.is_empty() || client_secret.is_empty() {
                    return Err(format!(
                        "sources.{name}.auth: client_id and client_secret are required"
                    ));
                }
                if scopes.is_empty() {
                    return Err(format!("sources.{name}.auth.scopes: list the application scopes, e.g. [\"OR.Jobs.Read\", \"OR.Folders.Read\"]"));
                }
                if let Some(s) = scopes
                    .iter()
                    .find(|s| s.eq_ignore_ascii_case("offline_access"))
                {
                    return Err(format!("sources.{name}.auth.scopes: `{s}` is only for the login flow; the identity server rejects it with invalid_scope for client credentials"));
                }
                if let Some(s) = scopes.iter().find(|s| s.starts_with("DataService.")) {
                    return Err(format!("sources.{name}.auth.scopes: `{s}` is a user scope, which client credentials cannot get (unauthorized_client); use method = \"refresh-token\" and run `uipath-fleet login`"));
                }
            }
            AuthConfig::RefreshToken {
                client_id, scopes, ..
            } => {
                if client_id.is_empty() {
                    return Err(format!("sources.{name}.auth.client_id: required"));
                }
                if scopes.is_empty() {
                    return Err(format!(
                        "sources.{name}.auth.scopes: list the user scopes to ask for at login"
                    ));
                }
            }
            AuthConfig::PersonalAccessToken { token } => {
                if token.is_empty() {
                    return Err(format!("sources.{name}.auth.token: required"));
                }
            }
            AuthConfig::UserKey {
                user_key,
                client_id,
            } => {
                if !matches!(self.deployment, Deployment::Cloud { .. }) {
                    return Err(format!("sources.{name}.auth: a User Key exists only in Automation Cloud (Admin > Tenants > API access); on standalone Orchestrator use client credentials or ROPC"));
                }
                if user_key.is_empty() {
                    return Err(format!("sources.{name}.auth.user_key: required (the User Key from the API access page; a string, {{ env = \"VARIABLE\" }} or {{ file = \"/path\" }})"));
                }
                if client_id.is_empty() {
                    return Err(format!("sources.{name}.auth.client_id: leave it out for the documented client id {USER_KEY_CLIENT_ID}"));
                }
            }
            AuthConfig::Machine { .. } => {
                let scopes = crate::auth::scopes_for(&[]);
                return Err(format!(
                    "sources.{name}.auth: method = \"machine\" is not supported: {}",
                    machine_migration(&scopes)
                ));
            }
            AuthConfig::Ropc { username, .. } => {
                if !matches!(self.deployment, Deployment::Standalone { .. }) {
                    return Err(format!("sources.{name}.auth: ROPC (/api/Account/Authenticate) exists only on standalone Orchestrator; use client credentials on Automation Cloud"));
                }
                if username.is_empty() {
                    return Err(format!("sources.{name}.auth.username: required"));
                }
            }
        }
        Ok(())
    }

    fn base(&self) -> &Url {
        match &self.deployment {
            Deployment::Cloud { base_url, .. } | Deployment::Standalone { base_url, .. } => {
                base_url
            }
        }
    }

    fn join(&self, path: &str) -> Url {
        let mut url = self.base().clone();
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{trimmed}/{}", path.trim_start_matches('/')));
        url
    }

    /// Orchestrator's root, ending in `/`: `odata/Jobs` is joined onto it.
    pub fn orchestrator_url(&self) -> Url {
        match &self.deployment {
            Deployment::Cloud {
                organization,
                tenant,
                ..
            } => self.join(&format!("{organization}/{tenant}/orchestrator_/")),
            Deployment::Standalone { .. } => self.join("/"),
        }
    }

    /// Data Service's API root, ending in `/` (`EntityService/{Entity}/read` is joined
    /// onto it); `None` on standalone Orchestrator.
    pub fn dataservice_url(&self) -> Option<Url> {
        match &self.deployment {
            Deployment::Cloud {
                organization,
                tenant,
                ..
            } => Some(self.join(&format!("{organization}/{tenant}/dataservice_/api/"))),
            Deployment::Standalone { .. } => None,
        }
    }

    /// The token endpoint: configured, or derived from the deployment.
    pub fn token_url(&self) -> Url {
        if let Some(url) = &self.token_url {
            return url.clone();
        }
        if matches!(self.auth, AuthConfig::UserKey { .. }) {
            return Url::parse(USER_KEY_TOKEN_URL).expect("constant URL");
        }
        match &self.deployment {
            Deployment::Cloud { .. } => self.join("identity_/connect/token"),
            Deployment::Standalone { .. } => self.join("identity/connect/token"),
        }
    }

    /// The authorization endpoint for the login flow (beside the token endpoint).
    pub fn authorize_url(&self) -> Url {
        let mut url = self.token_url();
        let path = url.path().trim_end_matches("/token").to_owned();
        url.set_path(&format!("{path}/authorize"));
        url
    }

    /// Standalone ROPC endpoint.
    pub fn ropc_url(&self) -> Url {
        self.join("api/Account/Authenticate")
    }

    /// The tenant as UiPath's rate budget counts it: `host/org/tenant` (cloud) or
    /// `host/tenancy` (standalone). Used as the limiter's bucket tenant.
    pub fn tenant_key(&self) -> String {
        let host = self
            .base()
            .host_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let port = self
            .base()
            .port()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        match &self.deployment {
            Deployment::Cloud {
                organization,
                tenant,
                ..
            } => format!(
                "{host}{port}/{}/{}",
                organization.to_ascii_lowercase(),
                tenant.to_ascii_lowercase()
            ),
            Deployment::Standalone { tenancy_name, .. } => {
                format!("{host}{port}/{}", tenancy_name.to_ascii_lowercase())
            }
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(auth: AuthConfig) -> SourceConfig {
        SourceConfig {
            name: "acme".into(),
            deployment: Deployment::Cloud {
                base_url: cloud_base_url(),
                organization: "acme".into(),
                tenant: "Prod".into(),
            },
            auth,
            token_url: None,
            timeout_secs: 60,
        }
    }

    fn cc(scopes: &[&str]) -> AuthConfig {
        AuthConfig::ClientCredentials {
            client_id: "id".into(),
            client_secret: Secret::new("s"),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn cloud_urls() {
        let s = cloud(cc(&["OR.Jobs.Read"]));
        s.validate().unwrap();
        assert_eq!(
            s.orchestrator_url().as_str(),
            "https://cloud.uipath.com/acme/Prod/orchestrator_/"
        );
        assert_eq!(
            s.orchestrator_url().join("odata/Jobs").unwrap().as_str(),
            "https://cloud.uipath.com/acme/Prod/orchestrator_/odata/Jobs"
        );
        assert_eq!(
            s.token_url().as_str(),
            "https://cloud.uipath.com/identity_/connect/token"
        );
        assert_eq!(
            s.authorize_url().as_str(),
            "https://cloud.uipath.com/identity_/connect/authorize"
        );
        assert_eq!(
            s.dataservice_url().unwrap().as_str(),
            "https://cloud.uipath.com/acme/Prod/dataservice_/api/"
        );
        assert_eq!(s.tenant_key(), "cloud.uipath.com/acme/prod");
    }

    #[test]
    fn standalone_urls() {
        let s = SourceConfig {
            name: "onprem".into(),
            deployment: Deployment::Standalone {
                base_url: Url::parse("http://127.0.0.1:9000").unwrap(),
                tenancy_name: "Default".into(),
            },
            auth: AuthConfig::Ropc {
                username: "admin".into(),
                password: Secret::new("p"),
            },
            token_url: None,
            timeout_secs: 60,
        };
        s.validate().unwrap();
        assert_eq!(s.orchestrator_url().as_str(), "http://127.0.0.1:9000/");
        assert_eq!(
            s.token_url().as_str(),
            "http://127.0.0.1:9000/identity/connect/token"
        );
        assert_eq!(
            s.ropc_url().as_str(),
            "http://127.0.0.1:9000/api/Account/Authenticate"
        );
        assert_eq!(s.dataservice_url(), None);
        assert_eq!(s.tenant_key(), "127.0.0.1:9000/default");
    }

    #[test]
    fn classic_mistakes_are_named() {
        let e = cloud(cc(&["OR.Jobs.Read", "offline_access"]))
            .validate()
            .unwrap_err();
        assert!(
            e.contains("offline_access") && e.contains("invalid_scope"),
            "{e}"
        );
        let e = cloud(cc(&["DataService.Data.Read"]))
            .validate()
            .unwrap_err();
        assert!(e.contains("uipath-fleet login"), "{e}");
        let e = cloud(AuthConfig::Ropc {
            username: "u".into(),
            password: Secret::new("p"),
        })
        .validate()
        .unwrap_err();
        assert!(e.contains("standalone"), "{e}");
    }

    #[test]
    fn parses_from_toml_shape() {
        let s: SourceConfig = serde_json::from_value(serde_json::json!({
            "name": "acme",
            "deployment": {"kind": "cloud", "organization": "acme", "tenant": "Prod"},
            "auth": {"method": "client-credentials", "client_id": "a", "client_secret": "b", "scopes": ["OR.Jobs.Read"]}
        }))
        .unwrap();
        assert_eq!(s.timeout_secs, 60);
        assert!(!format!("{s:?}").contains("\"b\""));
    }

    #[test]
    fn a_user_key_defaults_to_the_published_client_and_endpoint() {
        let s: SourceConfig = serde_json::from_value(serde_json::json!({
            "name": "acme",
            "deployment": {"kind": "cloud", "organization": "acme", "tenant": "Prod"},
            "auth": {"method": "user-key", "refresh_token": "k-123"}
        }))
        .unwrap();
        assert_eq!(
            s.auth,
            AuthConfig::UserKey {
                user_key: Secret::new("k-123"),
                client_id: USER_KEY_CLIENT_ID.into()
            }
        );
        assert_eq!(s.token_url().as_str(), USER_KEY_TOKEN_URL);
        assert_eq!(s.validate(), Ok(()));
        assert!(!format!("{s:?}").contains("k-123"));
        let mut standalone = s.clone();
        standalone.deployment = Deployment::Standalone {
            base_url: Url::parse("https://orch.local").unwrap(),
            tenancy_name: "Default".into(),
        };
        assert!(standalone
            .validate()
            .unwrap_err()
            .contains("only in Automation Cloud"));
    }

    #[test]
    fn machine_credentials_are_refused_with_what_to_create() {
        let s = cloud(AuthConfig::Machine {
            client_id: "m".into(),
            client_secret: Some(Secret::new("robot-secret")),
        });
        let e = s.validate().unwrap_err();
        assert!(
            e.contains("External Applications") && e.contains("OR.Jobs.Read"),
            "{e}"
        );
        assert!(!e.contains("robot-secret"), "{e}");
    }
}
