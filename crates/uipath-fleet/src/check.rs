//! `uipath-fleet check`: does each configured source work, per dataset, and if not, what
//! to change. Runs locally against the sources; no coordinator, RabbitMQ or Redis needed.
//! The probing (token, scopes, folders, Data Service entities, one read per dataset) is
//! `fleet_reader::check`; this is the command around it.
//!
//! The datasets checked are `--dataset`, else those the configuration's `[[backfills]]`
//! and `[[syncs]]` read from the source, else every Orchestrator dataset (none for a
//! source that asks only for Data Service scopes).
//!
//! The result is a table on stdout (or `--json`): source, check, status (`ok`,
//! `missing scope X`, `forbidden in folder F`, `error: ...`) and the fix. Exit 1 when a
//! check failed that matters to the configuration: a source's token, or a dataset it
//! reads (or `--dataset` named). A source none of whose datasets the configuration reads
//! is still checked for every dataset, but those rows only inform (`info: ...`,
//! `"required": false`). Exit 0 otherwise.
//!
//! Tokens: kept in memory unless the configuration names a shared store (`[redis]`,
//! `[token_cache]`) or a source needs a stored login (`refresh-token`); then that store
//! is used, as the fleet would. Secrets never appear in the output.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use fleet_core::dataset;
use fleet_core::{RateLimiter, Sealer, TokenCache};
use fleet_memory::{MemoryRateLimiter, MemoryTokenCache};
use fleet_reader::check::{self, Backends};
use fleet_reader::DatasetRef;
use tokio_util::sync::CancellationToken;
use uipath_client::{AuthConfig, SourceConfig};

use crate::client::show::table;
use crate::config::{ConfigError, FleetConfig};
use fleet_assembly::token_store::TokenStore;

/// Flags of `uipath-fleet check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The configuration file (TOML) with `[[sources]]`.
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: Option<std::path::PathBuf>,

    /// Check only this source.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,

    /// Check only these datasets (repeat, or separate with commas; default: all).
    #[arg(long = "dataset", value_name = "NAME", value_delimiter = ',')]
    pub datasets: Vec<String>,

    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

impl CheckArgs {
    /// The configuration file the command reads, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }
}

/// Runs `uipath-fleet check`.
pub async fn run(
    args: &CheckArgs,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let sources: Vec<&SourceConfig> = match &args.source {
        Some(name) => vec![config
            .source(name)
            .map_err(|e| ConfigError(format!("--source: {e}")))?],
        None => config.sources.iter().collect(),
    };
    if sources.is_empty() {
        return Err(ConfigError(
            "sources: no [[sources]] configured; pass --config FILE with at least one source"
                .into(),
        )
        .into());
    }
    let mut chosen: Vec<DatasetRef> = Vec::new();
    for name in &args.datasets {
        match DatasetRef::parse(name) {
            Some(d) if !chosen.contains(&d) => chosen.push(d),
            Some(_) => {}
            None => {
                let known: Vec<&str> = dataset::all().iter().map(|d| d.slug).collect();
                return Err(ConfigError(format!(
                    "--dataset: unknown dataset `{name}`; known: {}, or dataservice/<Entity>",
                    known.join(", ")
                ))
                .into());
            }
        }
    }

    let backends = Backends {
        cache: token_cache(config).await?,
        limiter: Arc::new(MemoryRateLimiter::new(config.limits.clone())) as Arc<dyn RateLimiter>,
        scratch: || Arc::new(MemoryTokenCache::new(Sealer::plain())),
    };
    let mut findings = Vec::new();
    for source in sources {
        let (datasets, read) = if chosen.is_empty() {
            check::default_datasets(source, &config.requested_datasets(&source.name))
        } else {
            (chosen.clone(), true)
        };
        let mut checked = tokio::select! {
            f = check::check_source(source, &datasets, &backends) => f,
            () = shutdown.cancelled() => anyhow::bail!("check interrupted"),
        };
        if !read {
            // Nothing of the configuration reads these datasets: what fails among them
            // informs, it does not fail the check. The source's token still counts.
            checked.iter_mut().for_each(check::Finding::inform);
        }
        findings.extend(checked);
    }

    if args.json {
        serde_json::to_writer_pretty(&mut *out, &findings)?;
        writeln!(out)?;
    } else {
        let mut rows = vec![vec![
            "SOURCE".to_owned(),
            "CHECK".to_owned(),
            "STATUS".to_owned(),
            "FIX".to_owned(),
        ]];
        for f in &findings {
            rows.push(vec![
                f.source.clone(),
                f.check.clone(),
                f.status.clone(),
                f.fix.clone(),
            ]);
        }
        table(out, &rows)?;
    }
    let failed = findings.iter().filter(|f| !f.ok && f.required).count();
    let notes = findings.iter().filter(|f| !f.ok && !f.required).count();
    if notes > 0 && !args.json {
        writeln!(
            out,
            "\n{notes} info line(s) about datasets no [[backfills]] or [[syncs]] of this configuration reads: not counted as failures (check one with --dataset NAME)"
        )?;
    }
    out.flush()?;
    if failed > 0 {
        anyhow::bail!("{failed} of {} checks failed", findings.len());
    }
    Ok(())
}

/// Memory unless the configuration names a shared store or a source needs a login.
async fn token_cache(config: &FleetConfig) -> anyhow::Result<Arc<dyn TokenCache>> {
    let needs_store = config.redis.url.is_some()
        || config.token_cache.redis_url.is_some()
        || config.token_cache.file.is_some()
        || config
            .sources
            .iter()
            .any(|s| matches!(s.auth, AuthConfig::RefreshToken { .. }));
    if needs_store {
        Ok(TokenStore::open(&config.effective_token_cache())
            .await?
            .cache)
    } else {
        Ok(Arc::new(MemoryTokenCache::new(Sealer::plain())))
    }
}
