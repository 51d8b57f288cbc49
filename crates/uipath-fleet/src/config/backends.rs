//! `[broker]` and `[redis]`: the backends a distributed fleet shares.
//!
//! Both sections are optional in the file (the embedded mode and `login` need neither);
//! a subcommand that needs them asks with [`BrokerConfig::amqp_config`] and
//! [`RedisConfig::url_for`], which say which field, variable or flag is missing. URLs are
//! [`Secret`]s because they may carry a password; [`redact_url`] is the one way to show one.

use fleet_amqp::{AmqpConfig, OutputQueue};
use fleet_core::Secret;
use serde::Deserialize;

use super::{invalid, ConfigError};

/// The prefix of queue, exchange and key names when none is configured.
pub const DEFAULT_PREFIX: &str = "uipath-fleet";

/// `[broker]`: RabbitMQ.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// `amqp://user:password@host:port/vhost` (the default vhost `/` is `%2f`). Also
    /// `UIPATH_FLEET_AMQP_URL` or `--amqp-url`.
    #[serde(default)]
    pub amqp_url: Option<Secret>,
    /// Every queue and exchange name starts with `<prefix>.` (default `uipath-fleet`), so
    /// several fleets can share one RabbitMQ.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Queues declared and bound to the records exchange at start, so records published
    /// before a consumer first connects are kept rather than refused as unroutable.
    #[serde(default)]
    pub output_queues: Vec<OutputQueueConfig>,
}

/// One `[[broker.output_queues]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputQueueConfig {
    /// The queue is `<prefix>.out.<name>`.
    pub name: String,
    /// Topic patterns over `<source>.<dataset>` routing keys, e.g. `acme.#`, `*.jobs`.
    pub patterns: Vec<String>,
}

/// `[redis]`: the fleet's ledger, token cache and rate limiter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]` or `rediss://`. Also `UIPATH_FLEET_REDIS_URL`
    /// or `--redis-url`.
    #[serde(default)]
    pub url: Option<Secret>,
    /// Every key starts with `<prefix>:` (default `uipath-fleet`).
    #[serde(default)]
    pub prefix: Option<String>,
}

impl BrokerConfig {
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(DEFAULT_PREFIX)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.amqp_url {
            let ok = url::Url::parse(url.expose())
                .is_ok_and(|u| matches!(u.scheme(), "amqp" | "amqps") && u.host().is_some());
            if !ok {
                invalid!(
                    "broker.amqp_url: expected amqp://USER:PASSWORD@HOST:PORT/VHOST (or amqps://)"
                );
            }
        }
        check_prefix("broker.prefix", self.prefix())?;
        if self.prefix().starts_with("amq.") {
            invalid!("broker.prefix: names starting with `amq.` are reserved by RabbitMQ");
        }
        for (i, q) in self.output_queues.iter().enumerate() {
            if q.name.is_empty() || q.name.contains(char::is_whitespace) {
                invalid!("broker.output_queues[{i}].name: must be non-empty and without spaces");
            }
            if q.patterns.is_empty() || q.patterns.iter().any(|p| p.is_empty()) {
                invalid!(
                    "broker.output_queues[{i}].patterns: give at least one non-empty pattern, e.g. [\"#\"]"
                );
            }
        }
        Ok(())
    }

    /// The broker settings for a process that needs RabbitMQ, named `connection_name` in
    /// RabbitMQ's connection list.
    pub fn amqp_config(&self, connection_name: &str) -> Result<AmqpConfig, ConfigError> {
        let Some(url) = &self.amqp_url else {
            invalid!(
                "broker.amqp_url: required to run a fleet process; set it in [broker], \
                 UIPATH_FLEET_AMQP_URL or --amqp-url"
            );
        };
        let mut config = AmqpConfig::new(url.expose(), self.prefix());
        config.connection_name = connection_name.to_owned();
        config.output_queues = self
            .output_queues
            .iter()
            .map(|q| OutputQueue {
                name: q.name.clone(),
                patterns: q.patterns.clone(),
            })
            .collect();
        config
            .validate()
            .map_err(|e| ConfigError(format!("broker: {e}")))?;
        Ok(config)
    }
}

impl RedisConfig {
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(DEFAULT_PREFIX)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.url {
            check_redis_url("redis.url", url)?;
        }
        check_prefix("redis.prefix", self.prefix())
    }

    /// The URL, for a process that needs Redis.
    pub fn url_for(&self) -> Result<&Secret, ConfigError> {
        match &self.url {
            Some(url) => Ok(url),
            None => invalid!(
                "redis.url: required to run a fleet process (ledger, token cache, rate limiter); \
                 set it in [redis], UIPATH_FLEET_REDIS_URL or --redis-url"
            ),
        }
    }
}

pub(super) fn check_redis_url(field: &str, url: &Secret) -> Result<(), ConfigError> {
    let ok = url::Url::parse(url.expose())
        .is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss") && u.host().is_some());
    if !ok {
        invalid!("{field}: expected redis://HOST:PORT (or rediss://)");
    }
    Ok(())
}

pub(super) fn check_prefix(field: &str, prefix: &str) -> Result<(), ConfigError> {
    if prefix.is_empty() || prefix.contains(char::is_whitespace) {
        invalid!("{field}: must be non-empty and without spaces");
    }
    Ok(())
}

/// `scheme://user:***@host...`: a URL fit for logs and messages.
pub use fleet_assembly::redact_url;

#[cfg(test)]
mod tests {
    use super::super::tests::SOURCE;
    use super::super::FleetConfig;
    use super::*;

    #[test]
    fn broker_and_redis_sections_parse_and_explain_mistakes() {
        let text = format!(
            "{SOURCE}
[broker]
amqp_url = \"amqp://fleet:s3cret@rabbit:5672/%2f\"
prefix = \"fleet-a\"
[[broker.output_queues]]
name = \"lake\"
patterns = [\"acme.#\"]
[redis]
url = \"redis://:s3cret@redis:6379\"
"
        );
        let c = FleetConfig::parse(&text).unwrap();
        let amqp = c.broker.amqp_config("w1").unwrap();
        assert_eq!(amqp.prefix, "fleet-a");
        assert_eq!(amqp.output_queues.len(), 1);
        assert_eq!(c.redis.prefix(), "uipath-fleet");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(
            redact_url(c.redis.url_for().unwrap()),
            "redis://:***@redis:6379"
        );

        let e = |t: &str| {
            FleetConfig::parse(&format!("{SOURCE}{t}"))
                .unwrap_err()
                .to_string()
        };
        assert!(e("[broker]\namqp_url = \"http://x\"\n").contains("broker.amqp_url"));
        assert!(e("[broker]\nprefix = \"amq.x\"\n").contains("broker.prefix"));
        assert!(e("[broker]\nurl = \"amqp://x\"\n").contains("url"));
        assert!(e("[redis]\nurl = \"amqp://x\"\n").contains("redis.url"));
        assert!(e("[[broker.output_queues]]\nname = \"q\"\npatterns = []\n")
            .contains("broker.output_queues[0].patterns"));

        let bare = FleetConfig::parse(SOURCE).unwrap();
        let missing = bare.broker.amqp_config("w").unwrap_err().to_string();
        assert!(missing.contains("UIPATH_FLEET_AMQP_URL"), "{missing}");
        let missing = bare.redis.url_for().unwrap_err().to_string();
        assert!(missing.contains("--redis-url"), "{missing}");
    }
}
