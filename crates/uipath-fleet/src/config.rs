//! The uipath-fleet configuration file (TOML): the sources to read and where the fleet
//! keeps its tokens.
//!
//! ```toml
//! [[sources]]
//! name = "acme"
//! deployment = { kind = "cloud", organization = "acme", tenant = "Prod" }
//! auth = { method = "refresh-token", client_id = "...", scopes = ["DataService.Data.Read"] }
//!
//! [token_cache]
//! redis_url = "redis://127.0.0.1:6379"   # or: file = "/var/lib/uipath-fleet/tokens.json"
//! encryption_key_env = "UIPATH_FLEET_TOKEN_KEY"
//! ```
//!
//! Guarantees: unknown fields are errors that name the field (`deny_unknown_fields`);
//! [`FleetConfig::validate`] checks every source and fails on the first problem with the
//! field's path; secrets in the file are `Secret`s and never printed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::Deserialize;
use uipath_client::SourceConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// The UiPath tenants the fleet reads from.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Where access and refresh tokens are kept (default: a local file).
    #[serde(default)]
    pub token_cache: TokenCacheConfig,
}

/// Where the fleet keeps its tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenCacheConfig {
    /// Keep tokens in Redis, shared by every process of the fleet (`redis://host:port`).
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key the token cache writes.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Without Redis: the file refresh tokens are kept in. Default
    /// `$XDG_STATE_HOME/uipath-fleet/tokens.json` or `~/.local/state/uipath-fleet/tokens.json`.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// The environment variable holding the token encryption key (32 random bytes,
    /// base64; `head -c32 /dev/urandom | base64`). When set, tokens are stored encrypted.
    #[serde(default)]
    pub encryption_key_env: Option<String>,
}

fn default_prefix() -> String {
    "uipath-fleet".into()
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        TokenCacheConfig {
            redis_url: None,
            prefix: default_prefix(),
            file: None,
            encryption_key_env: None,
        }
    }
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

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> anyhow::Result<FleetConfig> {
        let config: FleetConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what can be checked without a network, naming the field.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (i, source) in self.sources.iter().enumerate() {
            source.validate().map_err(anyhow::Error::msg)?;
            if self.sources[..i].iter().any(|s| s.name == source.name) {
                bail!(
                    "sources.name: `{}` is used twice; source names must be unique",
                    source.name
                );
            }
        }
        let cache = &self.token_cache;
        if cache.redis_url.is_some() && cache.file.is_some() {
            bail!("token_cache: set either redis_url or file, not both");
        }
        if let Some(url) = &cache.redis_url {
            let ok = url::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss") && u.host().is_some());
            if !ok {
                bail!("token_cache.redis_url: expected redis://HOST:PORT (or rediss://)");
            }
        }
        if cache.prefix.is_empty() || cache.prefix.contains(char::is_whitespace) {
            bail!("token_cache.prefix: must be non-empty and without spaces");
        }
        if let Some(var) = &cache.encryption_key_env {
            if var.is_empty() || var.contains('=') {
                bail!(
                    "token_cache.encryption_key_env: `{var}` is not an environment variable name"
                );
            }
        }
        Ok(())
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
    use super::*;

    const SOURCE: &str = r#"
[[sources]]
name = "acme"
deployment = { kind = "cloud", base_url = "http://127.0.0.1:1", organization = "acme", tenant = "Prod" }
auth = { method = "refresh-token", client_id = "app", scopes = ["DataService.Data.Read"] }
"#;

    #[test]
    fn parses_the_documented_shape_with_defaults() {
        let c = FleetConfig::parse(SOURCE).unwrap();
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.token_cache.prefix, "uipath-fleet");
        assert!(c.token_cache.redis_url.is_none());
        assert_eq!(c.source("acme").unwrap().name, "acme");
        let e = c.source("nope").unwrap_err().to_string();
        assert!(e.contains("acme"), "{e}");
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            FleetConfig::parse(&format!("{SOURCE}\n[token_cache]\nredis = \"x\"\n")).unwrap_err();
        assert!(format!("{e:#}").contains("redis"), "{e:#}");
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
    }
}
