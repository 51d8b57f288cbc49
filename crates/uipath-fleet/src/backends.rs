//! The fleet's backends as the configuration names them (`[broker]`, `[redis]`,
//! `[token_cache]`, `[limits]`), mapped into [`fleet_assembly`]'s options; connecting,
//! retrying and redacting are the library's.

use std::net::SocketAddr;
use std::time::Duration;

use fleet_assembly::{BackendOptions, ProcessOptions};

use crate::config::{ConfigError, FleetConfig};

/// The backends `config` names, for a process shown as `process` in RabbitMQ's
/// connection list. Missing settings are [`ConfigError`]s.
pub fn backend_options(config: &FleetConfig, process: &str) -> Result<BackendOptions, ConfigError> {
    Ok(BackendOptions {
        amqp: config.broker.amqp_config(process)?,
        redis_url: config.redis.url_for()?.clone(),
        redis_prefix: config.redis.prefix().to_owned(),
        limits: config.limits.clone(),
        tokens: (&config.effective_token_cache()).into(),
    })
}

/// A worker or coordinator process of `config`: its backends, sources and listener.
pub fn process_options(
    config: &FleetConfig,
    process: &str,
    connect_timeout: Duration,
    listen: SocketAddr,
) -> Result<ProcessOptions, ConfigError> {
    Ok(ProcessOptions {
        backends: backend_options(config, process)?,
        connect_timeout,
        sources: config.sources.clone(),
        listen,
    })
}
