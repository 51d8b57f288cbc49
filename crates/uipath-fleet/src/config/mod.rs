//! The uipath-fleet configuration file (TOML): the sources to read, where the fleet keeps
//! its tokens, its shared backends and how its processes behave.
//!
//! ```toml
//! [[sources]]
//! name = "acme"
//! deployment = { kind = "cloud", organization = "acme", tenant = "Prod" }
//! auth = { method = "client-credentials", client_id = "...", client_secret = "...", scopes = ["OR.Jobs.Read", "OR.Folders.Read"] }
//!
//! [broker]                       # RabbitMQ: slice jobs, records, events
//! amqp_url = "amqp://fleet:PASSWORD@rabbitmq:5672/%2f"
//! prefix = "uipath-fleet"
//! [[broker.output_queues]]       # declared at start so no record is unroutable
//! name = "lake"
//! patterns = ["acme.#"]
//!
//! [redis]                        # ledger, token cache and rate limiter of the fleet
//! url = "redis://redis:6379"
//! prefix = "uipath-fleet"
//!
//! [limits.default]               # optional: the fleet's view of UiPath's budgets
//! jobs = { requests = 100, period_ms = 60000 }
//!
//! [worker]
//! concurrency = 4
//! output = "record"              # or "page"
//! listen = "0.0.0.0:9091"        # /healthz /readyz /metrics
//!
//! [token_cache]                  # optional with [redis]: tokens then live there
//! encryption_key = { env = "UIPATH_FLEET_TOKEN_KEY" }   # needed by refresh-token sources
//! ```
//!
//! Layering: defaults → this file → `UIPATH_FLEET_*` environment variables → flags (the
//! last two by clap, applied with [`crate::cli::BackendArgs::apply`] and friends before
//! [`FleetConfig::validate`] runs again).
//!
//! Guarantees: unknown fields are errors that name the field (`deny_unknown_fields`);
//! [`FleetConfig::validate`] fails on the first problem with the field's path; URLs that
//! may carry a password and other secrets are [`Secret`]s and never printed. Every
//! validation failure is a [`ConfigError`], so `main` can tell a configuration mistake
//! (exit 2) from a runtime failure (exit 1).

mod auth_fields;

use std::fmt;
use std::path::Path;

use anyhow::Context as _;
use fleet_core::LimiterConfig;
use serde::Deserialize;
use uipath_client::SourceConfig;

pub use fleet_assembly::{
    redact_url, BrokerConfig, EmbeddedSection, RedisConfig, TokenCacheConfig, DEFAULT_PREFIX,
};
pub use fleet_coordinator::CoordinatorSection;
pub use fleet_sink::SinkSection;
pub use fleet_worker::{WorkerSection, WorkerSettings};

/// A mistake in the configuration (file, environment or flags): the message names the
/// field and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A section's own error (each names `section.field`) as a [`ConfigError`], so `main`
/// tells a configuration mistake from a runtime failure.
macro_rules! section_errors {
    ($($error:ty),*) => {$(
        impl From<$error> for ConfigError {
            fn from(e: $error) -> ConfigError {
                ConfigError(e.to_string())
            }
        }
    )*};
}
section_errors!(
    fleet_worker::WorkerError,
    fleet_sink::SinkError,
    fleet_coordinator::CoordinatorError,
    fleet_assembly::Error
);

/// Fails with a [`ConfigError`] built like `format!`.
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err($crate::config::ConfigError(format!($($arg)*)))
    };
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// The UiPath tenants the fleet reads from.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Where access and refresh tokens are kept (default: Redis when `[redis]` is set,
    /// otherwise a local file).
    #[serde(default)]
    pub token_cache: TokenCacheConfig,
    /// RabbitMQ, for the distributed mode.
    #[serde(default)]
    pub broker: BrokerConfig,
    /// Redis, for the distributed mode: the ledger, the token cache, the rate limiter.
    #[serde(default)]
    pub redis: RedisConfig,
    /// The fleet's rate budgets per tenant and endpoint family (default: Automation
    /// Cloud's published limits).
    #[serde(default)]
    pub limits: LimiterConfig,
    /// How a `uipath-fleet worker` process behaves.
    #[serde(default)]
    pub worker: WorkerSection,
    /// The coordinator: its API address and token, planning settings; also where the
    /// client commands reach it.
    #[serde(default)]
    pub coordinator: CoordinatorSection,
    /// The file sink: where records are written (`uipath-fleet sink`, and the embedded
    /// fleet's output).
    #[serde(default)]
    pub sink: SinkSection,
    /// The embedded fleet of `uipath-fleet run`: state file, number of workers.
    #[serde(default)]
    pub embedded: EmbeddedSection,
    /// Backfills `uipath-fleet run` submits at start; each table has the fields of the
    /// API's `POST /v1/backfills` body.
    #[serde(default)]
    pub backfills: Vec<toml::Table>,
    /// Syncs `uipath-fleet run` submits at start; each table has the fields of the
    /// API's `POST /v1/syncs` body.
    #[serde(default)]
    pub syncs: Vec<toml::Table>,
}

/// A TOML error as "line N, column M (`key`): message". The TOML crate's own rendering
/// quotes the whole source line, which may hold an inline secret (`auth = { ...,
/// client_secret = "..." }`); this quotes only the key the error points at.
fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim_end();
    let Some(span) = e.span() else {
        return ConfigError(message.to_owned());
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    // The key is the last `name =` before the error on its line, if any.
    let key = before[line_start..].rsplit('=').nth(1).and_then(|left| {
        let name = left
            .trim_end()
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .next()?;
        (!name.is_empty()).then(|| name.to_owned())
    });
    match key {
        Some(key) => ConfigError(format!("line {line}, column {column} (`{key}`): {message}")),
        None => ConfigError(format!("line {line}, column {column}: {message}")),
    }
}

/// A `[[backfills]]` or `[[syncs]]` table as the JSON body the API takes. TOML dates
/// (`from = 2024-01-01`) become the strings the API reads.
pub fn request_body(table: &toml::Table) -> Vec<u8> {
    fn json(value: &toml::Value) -> serde_json::Value {
        match value {
            toml::Value::String(s) => serde_json::Value::String(s.clone()),
            toml::Value::Integer(n) => serde_json::Value::from(*n),
            toml::Value::Float(f) => serde_json::Value::from(*f),
            toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
            toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
            toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(json).collect()),
            toml::Value::Table(t) => {
                serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), json(v))).collect())
            }
        }
    }
    let object: serde_json::Map<String, serde_json::Value> =
        table.iter().map(|(k, v)| (k.clone(), json(v))).collect();
    serde_json::to_vec(&object).expect("JSON values serialize")
}

impl FleetConfig {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<FleetConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration file {}", path.display()))?;
        let config = Self::parse(&text)
            .with_context(|| format!("in the configuration file {}", path.display()))?;
        Ok(config)
    }

    /// Parses and validates TOML text. A syntax error or an unknown field is reported
    /// with its line and the field's name.
    pub fn parse(text: &str) -> anyhow::Result<FleetConfig> {
        let config: FleetConfig = toml::from_str(text)
            .map_err(|e| auth_fields::missing(text).unwrap_or_else(|| syntax_error(text, &e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what can be checked without a network, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, source) in self.sources.iter().enumerate() {
            if matches!(source.auth, uipath_client::AuthConfig::Machine { .. }) {
                // Named here rather than in the client: only the fleet knows which datasets
                // the source is read for, and so which scopes the replacement needs.
                let datasets = self.requested_datasets(&source.name);
                let slugs: Vec<&str> = datasets.iter().map(String::as_str).collect();
                invalid!(
                    "sources.{}.auth: method = \"machine\" is not supported: {}",
                    source.name,
                    uipath_client::source::machine_migration(&uipath_client::auth::scopes_for(
                        &slugs
                    ))
                );
            }
            source.validate().map_err(ConfigError)?;
            if self.sources[..i].iter().any(|s| s.name == source.name) {
                invalid!(
                    "sources.name: `{}` is used twice; source names must be unique",
                    source.name
                );
            }
        }
        self.token_cache.validate(self.redis.url.is_some())?;
        self.broker.validate()?;
        self.redis.validate()?;
        self.limits
            .validate()
            .map_err(|e| ConfigError(format!("limits: {e}")))?;
        self.worker.validate()?;
        self.coordinator.validate()?;
        self.sink.validate()?;
        self.embedded.validate()?;
        self.validate_requests()?;
        Ok(())
    }

    /// The datasets the `[[backfills]]` and `[[syncs]]` read from `source`, normalized as
    /// the API normalizes them (`QueueItems` → `queue-items`), each once, in the order
    /// they first appear. Requests that do not parse add nothing (`validate` reports them).
    pub fn requested_datasets(&self, source: &str) -> Vec<String> {
        use fleet_core::plan::{BackfillRequest, SyncRequest};
        let catalog = self.request_catalog();
        let backfills = self.backfills.iter().filter_map(|t| {
            BackfillRequest::parse(&request_body(t), &catalog)
                .ok()
                .map(|r| (r.sources, r.datasets))
        });
        let syncs = self.syncs.iter().filter_map(|t| {
            SyncRequest::parse(&request_body(t), &catalog)
                .ok()
                .map(|r| (r.sources, r.datasets))
        });
        let mut out: Vec<String> = Vec::new();
        for (sources, datasets) in backfills.chain(syncs) {
            if sources.iter().any(|s| s == source) {
                for d in datasets {
                    if !out.contains(&d) {
                        out.push(d);
                    }
                }
            }
        }
        out
    }

    /// What the API checks a request against: this file's sources and slice limit, now.
    fn request_catalog(&self) -> fleet_core::plan::request::Catalog {
        fleet_core::plan::request::Catalog {
            sources: self.sources.iter().map(|s| s.name.clone()).collect(),
            now: chrono::Utc::now(),
            max_slices: self.coordinator.max_slices,
        }
    }

    /// `[[backfills]]` and `[[syncs]]` are checked as the API would check them, so a
    /// mistake is found by `validate` and at start rather than after connecting.
    fn validate_requests(&self) -> Result<(), ConfigError> {
        use fleet_core::plan::request::Catalog;
        use fleet_core::plan::{BackfillRequest, RequestError, SyncRequest};
        let catalog = self.request_catalog();
        type Check = fn(&[u8], &Catalog) -> Result<(), RequestError>;
        let checks: [(&str, &[toml::Table], Check); 2] = [
            ("backfills", &self.backfills, |body, c| {
                BackfillRequest::parse(body, c).map(|_| ())
            }),
            ("syncs", &self.syncs, |body, c| {
                SyncRequest::parse(body, c).map(|_| ())
            }),
        ];
        for (section, tables, parse) in checks {
            for (i, table) in tables.iter().enumerate() {
                let body = request_body(table);
                match parse(&body, &catalog) {
                    Ok(()) => {}
                    Err(RequestError::Syntax(e)) => invalid!("{section}[{i}]: {e}"),
                    Err(RequestError::Fields(fields)) => {
                        let list: Vec<String> = fields
                            .iter()
                            .map(|f| format!("{section}[{i}].{}: {}", f.field, f.message))
                            .collect();
                        return Err(ConfigError(list.join("; ")));
                    }
                }
            }
        }
        Ok(())
    }

    /// The token cache in effect: `[token_cache]` as written, with Redis (`redis.url`,
    /// `redis.prefix`) filled in when `[redis]` is configured and the section names no
    /// store of its own — so `login` stores the refresh token where the fleet reads it.
    pub fn effective_token_cache(&self) -> TokenCacheConfig {
        let mut cache = self.token_cache.clone();
        cache.refresh_tokens = self
            .sources
            .iter()
            .any(|s| matches!(s.auth, uipath_client::AuthConfig::RefreshToken { .. }));
        if cache.redis_url.is_none() && cache.file.is_none() {
            if let Some(url) = &self.redis.url {
                cache.redis_url = Some(url.clone());
                if cache.prefix.is_none() {
                    cache.prefix = Some(self.redis.prefix().to_owned());
                }
            }
        }
        cache
    }

    /// The source called `name`.
    pub fn source(&self, name: &str) -> anyhow::Result<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
            anyhow::anyhow!(
                "no source named `{name}` in the configuration (sources: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use fleet_core::Secret;

    use super::*;

    pub(crate) const SOURCE: &str = r#"
[[sources]]
name = "acme"
deployment = { kind = "cloud", base_url = "http://127.0.0.1:1", organization = "acme", tenant = "Prod" }
auth = { method = "refresh-token", client_id = "app", scopes = ["DataService.Data.Read"] }
"#;

    #[test]
    fn parses_the_documented_shape_with_defaults() {
        let c = FleetConfig::parse(SOURCE).unwrap();
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.token_cache.prefix(), "uipath-fleet");
        assert!(c.token_cache.redis_url.is_none());
        assert!(c.effective_token_cache().redis_url.is_none());
        assert_eq!(c.source("acme").unwrap().name, "acme");
        let e = c.source("nope").unwrap_err().to_string();
        assert!(e.contains("acme"), "{e}");
        assert_eq!(c.limits, LimiterConfig::default());
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            FleetConfig::parse(&format!("{SOURCE}\n[token_cache]\nredis = \"x\"\n")).unwrap_err();
        assert!(format!("{e:#}").contains("redis"), "{e:#}");
        assert!(e.downcast_ref::<ConfigError>().is_some());
        let e = FleetConfig::parse(&format!(
            "{SOURCE}\n[token_cache]\nredis_url = \"http://x\"\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("token_cache.redis_url"), "{e}");
        let e = FleetConfig::parse(&format!("{SOURCE}{SOURCE}")).unwrap_err();
        assert!(e.to_string().contains("used twice"), "{e}");
        let e = FleetConfig::parse(&SOURCE.replace("client_id = \"app\"", "client_id = \"\""))
            .unwrap_err();
        assert!(e.to_string().contains("client_id"), "{e}");
        let e = FleetConfig::parse(&format!(
            "{SOURCE}\n[limits.default]\njobs = {{ requests = 0, period_ms = 60000 }}\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("limits: default.jobs"), "{e}");
        let e = FleetConfig::parse(&format!("{SOURCE}\n[limits]\nheadrom = 0.5\n")).unwrap_err();
        assert!(e.to_string().contains("headrom"), "{e}");
    }

    #[test]
    fn syntax_errors_name_the_key_and_never_quote_the_line() {
        let text = "[[sources]]\nname = \"acme\"\ndeployment = { kind = \"cloud\", organization = \"o\", tenant = \"t\" }\nauth = { method = \"client-credentials\", client_id = \"c\", client_secret = \"hunter2\", scopes = 7 }\n";
        let e = format!("{:#}", FleetConfig::parse(text).unwrap_err());
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("line 4"), "{e}");
        let e = format!(
            "{:#}",
            FleetConfig::parse("[worker]\nconcurency = 2\n").unwrap_err()
        );
        assert!(e.contains("line 2") && e.contains("concurency"), "{e}");
        let e = format!(
            "{:#}",
            FleetConfig::parse("[worker]\nconcurrency = \"x\"\n").unwrap_err()
        );
        assert!(e.contains("(`concurrency`)"), "{e}");
    }

    #[test]
    fn the_token_cache_follows_redis_unless_told_otherwise() {
        let redis = "\n[redis]\nurl = \"redis://:pw@127.0.0.1:6379\"\nprefix = \"fleet-a\"\n";
        let c = FleetConfig::parse(&format!("{SOURCE}{redis}")).unwrap();
        let cache = c.effective_token_cache();
        assert_eq!(
            cache.redis_url.as_ref().map(Secret::expose),
            Some("redis://:pw@127.0.0.1:6379")
        );
        assert_eq!(cache.prefix(), "fleet-a");
        assert!(
            !format!("{c:?}").contains("pw@"),
            "the password is never printed"
        );

        let own = "\n[token_cache]\nredis_url = \"redis://10.0.0.9:6379\"\n";
        let c = FleetConfig::parse(&format!("{SOURCE}{redis}{own}")).unwrap();
        let cache = c.effective_token_cache();
        assert_eq!(
            cache.redis_url.as_ref().map(Secret::expose),
            Some("redis://10.0.0.9:6379")
        );
        assert_eq!(
            cache.prefix(),
            "uipath-fleet",
            "an explicit store keeps its prefix"
        );

        let file = "\n[token_cache]\nfile = \"/tmp/t.json\"\n";
        let e = FleetConfig::parse(&format!("{SOURCE}{redis}{file}")).unwrap_err();
        assert!(e.to_string().contains("token_cache.file"), "{e}");
    }
}
