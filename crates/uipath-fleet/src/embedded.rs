//! The fleet in one process ([`fleet_assembly::embedded`]) as the configuration asks
//! for it: [`options`] maps `[embedded]`, `[worker]`, `[coordinator]`, `[sink]`,
//! `[token_cache]` and `[limits]` — or `[broker]` and `[redis]` for the distributed
//! variant — into the library's [`FleetOptions`]; [`submit_configured`] submits the
//! file's `[[backfills]]` and `[[syncs]]`.

use fleet_assembly::embedded::{EmbeddedBackends, FleetBackends, FleetOptions};
use fleet_core::ledger::RequestKind;

pub use fleet_assembly::embedded::{EmbeddedFleet, StopSummary, Submitted, LEDGER_FILE};

use crate::backends::backend_options;
use crate::config::{request_body, ConfigError, FleetConfig};

/// Whether `config` asks for the distributed variant (RabbitMQ and Redis).
pub fn is_distributed(config: &FleetConfig) -> bool {
    config.broker.amqp_url.is_some() || config.redis.url.is_some()
}

/// The fleet `config` describes.
pub fn options(config: &FleetConfig) -> Result<FleetOptions, ConfigError> {
    let settings = config.worker.settings()?;
    let backends = if is_distributed(config) {
        FleetBackends::Distributed {
            backends: backend_options(config, "uipath-fleet run")?,
            connect_timeout: config.coordinator.connect_timeout,
        }
    } else {
        FleetBackends::Embedded(EmbeddedBackends {
            state_dir: config.embedded.state_dir.clone(),
            out_dir: config.sink.dir.clone(),
            sink: config.sink.sink_options(),
            tokens: (&config.effective_token_cache()).into(),
            limits: config.limits.clone(),
        })
    };
    Ok(FleetOptions {
        sources: config.sources.clone(),
        coordinator: config.coordinator.settings_with(&config.limits),
        worker: settings.worker,
        client: settings.client,
        workers: config.embedded.workers,
        api: config.embedded.api.then_some(config.coordinator.listen),
        backends,
    })
}

/// Starts the fleet `config` describes (see [`EmbeddedFleet::start`]); `None` when
/// `shutdown` interrupted the start.
pub async fn start(
    config: &FleetConfig,
    shutdown: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<Option<EmbeddedFleet>> {
    Ok(EmbeddedFleet::start(&options(config)?, shutdown).await?)
}

/// Submits every `[[backfills]]` and `[[syncs]]` table of `config`. An identical
/// request submitted earlier (a restart) is returned as it stands. A table the API
/// refuses is a configuration error naming `backfills[i].<field>`.
pub async fn submit_configured(
    fleet: &EmbeddedFleet,
    config: &FleetConfig,
) -> anyhow::Result<Vec<Submitted>> {
    let mut out = Vec::new();
    for (kind, list, tables) in [
        (RequestKind::Backfill, "backfills", &config.backfills),
        (RequestKind::Sync, "syncs", &config.syncs),
    ] {
        for (i, table) in tables.iter().enumerate() {
            let origin = format!("{list}[{i}]");
            out.push(fleet.submit(kind, &origin, &request_body(table)).await?);
        }
    }
    Ok(out)
}
