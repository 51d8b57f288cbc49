//! The simulator's configuration: which organizations and tenants exist, their data, the
//! registered applications and users, the rate budget and the faults to inject.
//!
//! [`SimConfig::default`] is the documented demo data set that outside tools rely on:
//! organization `demo-org`, tenant `DefaultTenant`, and a confidential external application
//! `fleet-demo` / `fleet-demo-secret` granted every `OR.*.Read` scope the datasets need.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::DataConfig;
use crate::dataservice::DataServiceConfig;
use crate::faults::FaultConfig;
use crate::identity::{AppConfig, IdentityConfig, UserConfig};
use crate::ratelimit::RateLimitConfig;

/// The demo organization.
pub const DEMO_ORG: &str = "demo-org";
/// The demo tenant.
pub const DEMO_TENANT: &str = "DefaultTenant";
/// The demo confidential application (client credentials).
pub const DEMO_CLIENT_ID: &str = "fleet-demo";
/// Its secret. A simulator credential, published on purpose.
pub const DEMO_CLIENT_SECRET: &str = "fleet-demo-secret";
/// A non-confidential application for the authorization-code + PKCE login flow.
pub const DEMO_LOGIN_CLIENT_ID: &str = "fleet-login";
/// The auto-approving test user and its password (ROPC on standalone).
pub const DEMO_USER: &str = "demo-user";
pub const DEMO_PASSWORD: &str = "demo-password";

/// Every application scope the fleet's Orchestrator datasets need.
pub const OR_READ_SCOPES: &[&str] = &[
    "OR.Jobs.Read",
    "OR.Queues.Read",
    "OR.Folders.Read",
    "OR.Robots.Read",
    "OR.Execution.Read",
    "OR.Monitoring.Read",
    "OR.Audit.Read",
    "OR.Machines.Read",
    "OR.Users.Read",
];

/// The whole simulator configuration (TOML or JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Organizations and their tenants.
    pub orgs: Vec<OrgConfig>,
    /// Data of every tenant that does not set its own.
    pub data: DataConfig,
    /// Applications, users, personal access tokens and token lifetimes.
    pub identity: IdentityConfig,
    /// Data Service entities (same for every tenant, data differ per tenant).
    pub dataservice: DataServiceConfig,
    /// The cloud's Jobs/QueueItems budget per tenant.
    pub rate_limit: RateLimitConfig,
    /// Budgets for particular tenants, keyed `org/tenant`.
    pub tenant_rate_limits: BTreeMap<String, RateLimitConfig>,
    /// Faults injected from the start.
    pub faults: FaultConfig,
    /// Live mode: the tenants keep living in wall-clock time. Off by default (the frozen
    /// snapshot every library test relies on); the `uipath-sim` binary turns it on.
    pub live: LiveConfig,
}

/// `[live]`: a tenant that lives in real time.
///
/// When enabled, [`crate::server::Simulator::new`] extends every tenant's span to
/// `horizon_days` after today (keeping `span_start`, so a given day's records do not depend
/// on the start date) and every query answers as of the wall clock at the request — or as
/// of the instant in the `X-Sim-As-Of` header. Jobs and queue items move through their
/// states as time passes, and reference sets change now and then.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    pub enabled: bool,
    /// Days after today (UTC) the generated span extends to; queries past it see the
    /// span's end.
    pub horizon_days: u32,
    /// Mean seconds between reference-set changes of a tenant (a robot renamed, a machine
    /// removed or added, a queue's SLA changed, a trigger toggled, a user modified);
    /// 0 disables them.
    pub reference_change_secs: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            enabled: false,
            horizon_days: 3,
            reference_change_secs: 120,
        }
    }
}

impl LiveConfig {
    /// Live mode with the default cadence.
    pub fn on() -> LiveConfig {
        LiveConfig {
            enabled: true,
            ..LiveConfig::default()
        }
    }
}

/// One organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    pub name: String,
    pub tenants: Vec<TenantConfig>,
}

/// One tenant of an organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub name: String,
    /// This tenant's data; the top-level `data` when absent.
    #[serde(default)]
    pub data: Option<DataConfig>,
}

impl Default for SimConfig {
    fn default() -> Self {
        let scopes = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut user_scopes = scopes(OR_READ_SCOPES);
        user_scopes.extend(scopes(&[
            "DataService.Schema.Read",
            "DataService.Data.Read",
            "DataService.Data.Write",
        ]));
        SimConfig {
            orgs: vec![OrgConfig {
                name: DEMO_ORG.into(),
                tenants: vec![TenantConfig {
                    name: DEMO_TENANT.into(),
                    data: None,
                }],
            }],
            data: DataConfig::default(),
            identity: IdentityConfig {
                apps: vec![
                    AppConfig {
                        client_id: DEMO_CLIENT_ID.into(),
                        client_secret: Some(DEMO_CLIENT_SECRET.into()),
                        org: DEMO_ORG.into(),
                        app_scopes: scopes(OR_READ_SCOPES),
                        user_scopes: Vec::new(),
                        redirect_uris: Vec::new(),
                        folders: None,
                    },
                    AppConfig {
                        client_id: DEMO_LOGIN_CLIENT_ID.into(),
                        client_secret: None,
                        org: DEMO_ORG.into(),
                        app_scopes: Vec::new(),
                        user_scopes,
                        redirect_uris: vec!["http://127.0.0.1:8765/callback".into()],
                        folders: None,
                    },
                ],
                users: vec![UserConfig {
                    username: DEMO_USER.into(),
                    password: DEMO_PASSWORD.into(),
                    org: DEMO_ORG.into(),
                    tenant: DEMO_TENANT.into(),
                    folders: None,
                }],
                ..IdentityConfig::default()
            },
            dataservice: DataServiceConfig::default(),
            rate_limit: RateLimitConfig::default(),
            tenant_rate_limits: BTreeMap::new(),
            faults: FaultConfig::default(),
            live: LiveConfig::default(),
        }
    }
}

impl SimConfig {
    /// Checks the configuration, naming the first bad field.
    pub fn validate(&self) -> Result<(), String> {
        if self.orgs.is_empty() {
            return Err("orgs: at least one organization is required".into());
        }
        for (i, org) in self.orgs.iter().enumerate() {
            if org.name.is_empty() || org.name.contains('/') {
                return Err(format!(
                    "orgs[{i}].name must be a non-empty name without '/'"
                ));
            }
            if org.tenants.is_empty() {
                return Err(format!(
                    "orgs[{i}].tenants: at least one tenant is required"
                ));
            }
            for (j, t) in org.tenants.iter().enumerate() {
                if t.name.is_empty() || t.name.contains('/') {
                    return Err(format!(
                        "orgs[{i}].tenants[{j}].name must be a non-empty name without '/'"
                    ));
                }
            }
        }
        self.rate_limit
            .validate()
            .map_err(|e| format!("rate_limit.{e}"))?;
        for (k, rl) in &self.tenant_rate_limits {
            if !k.contains('/') {
                return Err(format!(
                    "tenant_rate_limits: key '{k}' must be 'org/tenant'"
                ));
            }
            rl.validate()
                .map_err(|e| format!("tenant_rate_limits.{k}.{e}"))?;
        }
        self.data.validate().map_err(|e| format!("data: {e}"))?;
        for org in &self.orgs {
            for t in &org.tenants {
                if let Some(d) = &t.data {
                    d.validate()
                        .map_err(|e| format!("orgs.{}.tenants.{}.data: {e}", org.name, t.name))?;
                }
            }
        }
        self.identity
            .validate()
            .map_err(|e| format!("identity: {e}"))?;
        self.dataservice
            .validate()
            .map_err(|e| format!("dataservice: {e}"))?;
        if self.live.enabled && !(1..=3650).contains(&self.live.horizon_days) {
            return Err("live.horizon_days must be within 1..=3650".into());
        }
        self.faults.validate().map_err(|e| format!("faults.{e}"))
    }

    /// This configuration with live mode on (`[live] enabled = true`, default cadence).
    pub fn live(mut self) -> SimConfig {
        self.live.enabled = true;
        self
    }

    /// Parses a TOML configuration.
    pub fn from_toml(text: &str) -> Result<SimConfig, String> {
        let config: SimConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_and_stamp_settings_parse_and_unknown_fields_are_refused() {
        let c = SimConfig::from_toml(
            "[live]\nenabled = true\nreference_change_secs = 3\n\n[data]\nstamp_modifications = false\n",
        )
        .unwrap();
        assert!(c.live.enabled);
        assert_eq!(c.live.reference_change_secs, 3);
        assert_eq!(c.live.horizon_days, 3);
        assert!(!c.data.stamp_modifications);
        assert!(!SimConfig::default().live.enabled);
        assert!(SimConfig::default().live().live.enabled);
        assert!(SimConfig::from_toml("[live]\nenable = true\n").is_err());
        assert!(SimConfig::from_toml("[live]\nenabled = true\nhorizon_days = 0\n").is_err());
    }
}
