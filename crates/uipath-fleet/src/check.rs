//! `uipath-fleet check`: does each configured source work, per dataset, and if not, what
//! to change. Runs locally against the sources; no coordinator, RabbitMQ or Redis needed.
//!
//! Per source, in order:
//! 1. **token** — ask the identity server for a token with the configured scopes. An
//!    `invalid_client` (wrong id or secret), `unauthorized_client` (a user scope with
//!    client credentials), a missing login, ... ends the source's checks with the fix.
//!    An `invalid_scope` is narrowed down by asking for each configured scope alone, so
//!    the report names exactly the scopes the application was not granted; the rest of
//!    the checks then run with the scopes that were granted.
//! 2. **folder-access** — list the folders the credentials can see (folder-scoped datasets are
//!    read per folder).
//! 3. **dataservice** — list the Data Service entities the user sees, when an entity is to
//!    be read or the source asks for Data Service scopes.
//! 4. **each dataset** — for Orchestrator, the scope it needs (`OR.Queues.Read` for
//!    `queue-items`, ...) is compared with the configured and granted scopes; for a Data
//!    Service entity (`dataservice/Invoice`), a user token (not client credentials), the
//!    `DataService.Data.Read` scope and the entity among those listed. If that holds, one
//!    record is read (in the first visible folder for folder-scoped datasets) to prove it.
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
//! A source without scopes (a User Key carries its user's rights, a personal access token
//! its own) has no scopes to compare: each dataset is probed with a one-record read. A
//! machine's robot credentials end the source's checks with what to create instead.
//!
//! Tokens: kept in memory unless the configuration names a shared store (`[redis]`,
//! `[token_cache]`) or a source needs a stored login (`refresh-token`); then that store
//! is used, as the fleet would. Secrets never appear in the output: the client's errors
//! carry none, and nothing else here formats one.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use fleet_core::dataset::{self, DatasetDef};
use fleet_core::wire::FolderRef;
use fleet_core::{RateLimiter, Sealer, TokenCache};
use fleet_memory::{MemoryRateLimiter, MemoryTokenCache};
use fleet_reader::{DatasetRef, Sources};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uipath_client::auth::{TokenOptions, TokenProvider};
use uipath_client::client::ClientOptions;
use uipath_client::{AuthConfig, ClientError, SourceConfig, UipathClient};

use crate::client::show::table;
use crate::config::{ConfigError, FleetConfig};
use crate::token_store::TokenStore;

/// Every Data Service scope starts so (`DataService.Data.Read`, `DataService.Schema.Read`).
const DATASERVICE_SCOPE_PREFIX: &str = "DataService.";
/// The scope family of reading entity records.
const DATASERVICE_DATA: &str = "DataService.Data";

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

/// One line of the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub source: String,
    /// `token`, `folder-access`, or a dataset's name.
    pub check: String,
    pub ok: bool,
    /// `ok ...`, `missing scope X`, `forbidden in folder F`, `error: ...`.
    pub status: String,
    /// What to change; empty when ok.
    pub fix: String,
    /// Whether a failure here fails `check` (exit 1): false for datasets no backfill or
    /// sync of the configuration reads, checked only to inform.
    pub required: bool,
    /// About the source as a whole (a wrong organization or tenant), whatever the row's
    /// check: it counts even where the dataset would only inform.
    #[serde(skip)]
    about_source: bool,
}

impl Finding {
    fn ok(source: &str, check: &str, status: impl Into<String>) -> Finding {
        Finding {
            source: source.to_owned(),
            check: check.to_owned(),
            ok: true,
            status: status.into(),
            fix: String::new(),
            required: true,
            about_source: false,
        }
    }
    fn fail(
        source: &str,
        check: &str,
        status: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            source: source.to_owned(),
            check: check.to_owned(),
            ok: false,
            status: status.into(),
            fix: fix.into(),
            required: true,
            about_source: false,
        }
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

    let cache = token_cache(config).await?;
    let limiter: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new(config.limits.clone()));
    let mut findings = Vec::new();
    for source in sources {
        let (datasets, read) = if chosen.is_empty() {
            default_datasets(config, source)
        } else {
            (chosen.clone(), true)
        };
        let mut checked = tokio::select! {
            f = check_source(source, &datasets, cache.clone(), limiter.clone()) => f,
            () = shutdown.cancelled() => anyhow::bail!("check interrupted"),
        };
        if !read {
            // Nothing of the configuration reads these datasets: what fails among them
            // informs, it does not fail the check. The source's token still counts.
            let informs =
                |f: &Finding| !(f.about_source || matches!(f.check.as_str(), "token" | "client"));
            for f in checked.iter_mut().filter(|f| informs(f)) {
                f.required = false;
                if !f.ok {
                    f.status = format!("info: {}", f.status);
                }
            }
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

/// What to check of `source` when `--dataset` is not given, and whether the
/// configuration reads it: the datasets its `[[backfills]]` and `[[syncs]]` read (true);
/// without any, every Orchestrator dataset (unless the source asks only for Data Service
/// scopes, whose entities are then listed), to inform (false).
fn default_datasets(config: &FleetConfig, source: &SourceConfig) -> (Vec<DatasetRef>, bool) {
    let requested: Vec<DatasetRef> = config
        .requested_datasets(&source.name)
        .iter()
        .filter_map(|name| DatasetRef::parse(name))
        .collect();
    if !requested.is_empty() {
        return (requested, true);
    }
    let only_dataservice = configured_scopes(source).is_some_and(|scopes| {
        !scopes.is_empty()
            && scopes
                .iter()
                .all(|s| s.starts_with(DATASERVICE_SCOPE_PREFIX))
    });
    let all = if only_dataservice {
        Vec::new()
    } else {
        dataset::all()
            .iter()
            .map(DatasetRef::Orchestrator)
            .collect()
    };
    (all, false)
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

/// The scopes a source asks for, when its method has any.
fn configured_scopes(source: &SourceConfig) -> Option<&[String]> {
    match &source.auth {
        AuthConfig::ClientCredentials { scopes, .. } | AuthConfig::RefreshToken { scopes, .. } => {
            Some(scopes)
        }
        _ => None,
    }
}

fn with_scopes(source: &SourceConfig, only: &[String]) -> SourceConfig {
    let mut s = source.clone();
    if let AuthConfig::ClientCredentials { scopes, .. } | AuthConfig::RefreshToken { scopes, .. } =
        &mut s.auth
    {
        *scopes = only.to_vec();
    }
    s
}

/// A token for `source` from `cache`.
async fn token(source: &SourceConfig, cache: Arc<dyn TokenCache>) -> Result<(), ClientError> {
    let http = reqwest::Client::builder()
        .timeout(source.timeout())
        .build()
        .map_err(|e| ClientError::Config(format!("building the HTTP client: {e}")))?;
    let provider = TokenProvider::new(source, cache, http, TokenOptions::default())?;
    provider.bearer().await.map(|_| ())
}

/// Whether `scopes` grant a dataset of scope family `family` (`OR.Queues` or
/// `OR.Queues.Read` do; `OR.Default` may, which only a read can tell).
fn grants(scopes: &[String], family: &str) -> Option<bool> {
    if scopes.iter().any(|s| s == "OR.Default") {
        return None;
    }
    Some(
        scopes
            .iter()
            .any(|s| s == family || s.strip_prefix(family).is_some_and(|rest| rest == ".Read")),
    )
}

async fn check_source(
    source: &SourceConfig,
    datasets: &[DatasetRef],
    cache: Arc<dyn TokenCache>,
    limiter: Arc<dyn RateLimiter>,
) -> Vec<Finding> {
    let name = source.name.as_str();
    let mut findings = Vec::new();
    let configured: Option<Vec<String>> = configured_scopes(source).map(<[String]>::to_vec);
    // Scopes the application was refused (narrowed down from an invalid_scope).
    let mut refused: Vec<String> = Vec::new();
    let mut effective = source.clone();

    match token(source, cache.clone()).await {
        Ok(()) => findings.push(Finding::ok(
            name,
            "token",
            match &configured {
                Some(s) => format!("ok: granted {}", s.join(" ")),
                None => "ok".to_owned(),
            },
        )),
        Err(ClientError::InvalidScope { .. }) if is_application(source) => {
            let all = configured.clone().unwrap_or_default();
            let mut granted = Vec::new();
            for scope in &all {
                let alone = with_scopes(source, std::slice::from_ref(scope));
                let scratch: Arc<dyn TokenCache> = Arc::new(MemoryTokenCache::new(Sealer::plain()));
                match token(&alone, scratch).await {
                    Ok(()) => granted.push(scope.clone()),
                    Err(ClientError::InvalidScope { .. }) => refused.push(scope.clone()),
                    Err(e) => {
                        findings.push(token_failure(name, &e));
                        return findings;
                    }
                }
            }
            findings.push(Finding::fail(
                name,
                "token",
                format!(
                    "invalid_scope: not granted to the application: {}",
                    refused.join(", ")
                ),
                format!(
                    "grant {} to the external application (Admin > External Applications), or remove it from sources.{name}.auth.scopes",
                    refused.join(", ")
                ),
            ));
            if granted.is_empty() {
                return findings;
            }
            effective = with_scopes(source, &granted);
        }
        Err(e @ ClientError::MachineCredentials { .. }) => {
            let slugs: Vec<&str> = datasets
                .iter()
                .filter_map(|d| match d {
                    DatasetRef::Orchestrator(def) => Some(def.slug),
                    DatasetRef::DataService(_) => None,
                })
                .collect();
            findings.push(Finding::fail(
                name,
                "token",
                format!(
                    "{}: the identity server granted only robot scopes",
                    e.kind()
                ),
                uipath_client::source::machine_migration(&uipath_client::auth::scopes_for(&slugs)),
            ));
            return findings;
        }
        Err(e) => {
            findings.push(token_failure(name, &e));
            return findings;
        }
    }

    let client = match UipathClient::new(
        effective.clone(),
        cache,
        limiter,
        ClientOptions {
            attempts: 2,
            ..ClientOptions::default()
        },
    ) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            findings.push(Finding::fail(
                name,
                "client",
                format!("error: {e}"),
                "fix the source's configuration",
            ));
            return findings;
        }
    };
    let sources = Sources::new([client]);
    let scopes_now: Option<Vec<String>> = configured_scopes(&effective).map(<[String]>::to_vec);

    // Folders, when a folder-scoped dataset is to be read.
    let mut folder = None;
    let mut folder_problem: Option<Finding> = None;
    if datasets.iter().any(DatasetRef::folder_scoped) {
        match sources.folders(name).await {
            Ok(list) if list.is_empty() => {
                let f = Finding::fail(
                    name,
                    "folder-access",
                    "no folder visible",
                    "assign the external application to the folders to copy (Orchestrator > Folders > Assign account/group)",
                );
                folder_problem = Some(f.clone());
                findings.push(f);
            }
            Ok(list) => {
                let shown: Vec<&str> = list.iter().take(5).map(|f| f.path.as_str()).collect();
                let more = if list.len() > 5 { ", ..." } else { "" };
                findings.push(Finding::ok(
                    name,
                    "folder-access",
                    format!("ok: {} visible ({}{more})", list.len(), shown.join(", ")),
                ));
                folder = list.into_iter().next();
            }
            Err(e) => {
                let f = dataset_failure(name, "folder-access", "OR.Folders", None, &scopes_now, &e);
                folder_problem = Some(f.clone());
                findings.push(f);
            }
        }
    }

    // Data Service: the entities the signed-in user can see, when any is to be read or
    // the source asks for Data Service scopes.
    let wants_entities = datasets
        .iter()
        .any(|d| matches!(d, DatasetRef::DataService(_)))
        || scopes_now
            .as_ref()
            .is_some_and(|s| s.iter().any(|s| s.starts_with(DATASERVICE_SCOPE_PREFIX)));
    let mut entities: Option<Vec<String>> = None;
    if wants_entities {
        // With client credentials each entity's row says why it cannot be read.
        if !is_application(&effective) {
            match sources.entities(name).await {
                Ok(list) => {
                    let names: Vec<String> = list.into_iter().map(|e| e.name).collect();
                    let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
                    let more = if names.len() > 8 { ", ..." } else { "" };
                    findings.push(Finding::ok(
                        name,
                        "dataservice",
                        format!("ok: {} entities ({}{more})", names.len(), shown.join(", ")),
                    ));
                    entities = Some(names);
                }
                Err(e) => findings.push(dataservice_failure(name, "dataservice", &effective, &e)),
            }
        }
    }

    for dataset in datasets {
        let finding = match dataset {
            DatasetRef::Orchestrator(d) => {
                let place = folder.as_ref().filter(|_| d.folder_scoped);
                check_orchestrator(
                    &sources,
                    name,
                    d,
                    place,
                    folder_problem.as_ref(),
                    &refused,
                    &scopes_now,
                )
                .await
            }
            DatasetRef::DataService(entity) => {
                check_entity(&sources, name, &effective, entity, entities.as_deref()).await
            }
        };
        let stamps = match dataset {
            DatasetRef::Orchestrator(d) if d.slug == "jobs" && finding.ok => {
                Some(check_stamps(&sources, name, folder.as_ref()).await)
            }
            _ => None,
        };
        findings.push(finding);
        findings.extend(stamps);
    }
    findings
}

/// Syncs of Jobs, Releases, Robots and Users read windows of `LastModificationTime`:
/// a tenant that leaves it unset when a job ends would make them miss every change.
async fn check_stamps(sources: &Sources, name: &str, folder: Option<&FolderRef>) -> Finding {
    const CHECK: &str = "change-capture";
    match sources.modification_stamps(name, folder).await {
        Ok(s) if s.finished == 0 => Finding::ok(
            name,
            CHECK,
            "not verified: no finished job to compare LastModificationTime with EndTime",
        ),
        Ok(s) if s.misses_changes() => Finding::fail(
            name,
            CHECK,
            format!(
                "this tenant does not stamp modifications; syncs of this set will miss changes \
                 ({} of {} finished jobs have no LastModificationTime at or after their EndTime)",
                s.unstamped, s.finished
            ),
            "back-fill the recent days again periodically instead of relying on a sync of \
             jobs, releases, robots and users, and report the tenant's version to UiPath",
        ),
        Ok(s) => Finding::ok(
            name,
            CHECK,
            format!(
                "ok: modifications are stamped ({} finished jobs checked)",
                s.finished
            ),
        ),
        Err(e) => Finding::fail(
            name,
            CHECK,
            format!("error: {e}"),
            "see the jobs line above",
        ),
    }
}

/// One Orchestrator dataset: its scope, then one record read (in `folder` when the
/// dataset is folder-scoped).
async fn check_orchestrator(
    sources: &Sources,
    name: &str,
    d: &'static DatasetDef,
    folder: Option<&FolderRef>,
    folder_problem: Option<&Finding>,
    refused: &[String],
    scopes_now: &Option<Vec<String>>,
) -> Finding {
    let needed = format!("{}.Read", d.scope);
    if refused.iter().any(|s| s == d.scope || *s == needed) {
        return Finding::fail(
            name,
            d.slug,
            format!("missing scope {needed}"),
            format!("grant {needed} to the external application (Admin > External Applications)"),
        );
    }
    if let Some(scopes) = scopes_now {
        if grants(scopes, d.scope) == Some(false) {
            return Finding::fail(
                name,
                d.slug,
                format!("missing scope {needed}"),
                format!(
                    "add {needed} to sources.{name}.auth.scopes (and grant it to the application)"
                ),
            );
        }
    }
    if d.folder_scoped && folder.is_none() {
        let why = folder_problem
            .map(|f| f.status.clone())
            .unwrap_or_else(|| "no folder".into());
        return Finding::fail(
            name,
            d.slug,
            format!("not checked: folder-access: {why}"),
            "fix folder-access first",
        );
    }
    let dataset = DatasetRef::Orchestrator(d);
    match sources
        .sample(name, &dataset, folder, (None, None), &[], 1)
        .await
    {
        Ok(records) => {
            let place = folder
                .map(|f| format!(" in folder {}", f.path))
                .unwrap_or_default();
            let what = if records.is_empty() {
                "readable (no records)"
            } else {
                "readable"
            };
            Finding::ok(name, d.slug, format!("ok: {what}{place}"))
        }
        Err(e) => dataset_failure(
            name,
            d.slug,
            d.scope,
            folder.map(|f| f.path.as_str()),
            scopes_now,
            &e,
        ),
    }
}

/// One Data Service entity: a user token with `DataService.Data.Read`, the entity among
/// those the user sees, then one record read.
async fn check_entity(
    sources: &Sources,
    name: &str,
    source: &SourceConfig,
    entity: &str,
    entities: Option<&[String]>,
) -> Finding {
    let check = fleet_core::dataset::dataservice_name(entity);
    if let Some(f) = user_token_needed(name, source, &check) {
        return f;
    }
    if let Some(scopes) = configured_scopes(source) {
        if grants(scopes, DATASERVICE_DATA) == Some(false) {
            return Finding::fail(
                name,
                &check,
                format!("missing scope {DATASERVICE_DATA}.Read"),
                format!(
                    "add {DATASERVICE_DATA}.Read to sources.{name}.auth.scopes, then run `uipath-fleet login --source {name}` again (a refresh token keeps the scopes it was signed in with)"
                ),
            );
        }
    }
    if let Some(known) = entities {
        if !known.iter().any(|e| e.eq_ignore_ascii_case(entity)) {
            return no_entity(name, &check, entity, Some(known));
        }
    }
    let dataset = DatasetRef::DataService(entity.to_owned());
    match sources
        .sample(name, &dataset, None, (None, None), &[], 1)
        .await
    {
        Ok(records) if records.is_empty() => Finding::ok(name, &check, "ok: readable (no records)"),
        Ok(_) => Finding::ok(name, &check, "ok: readable"),
        Err(ClientError::NotFound { .. }) => no_entity(name, &check, entity, entities),
        Err(e) => dataservice_failure(name, &check, source, &e),
    }
}

/// An entity that is not there (or that the user cannot see).
fn no_entity(name: &str, check: &str, entity: &str, known: Option<&[String]>) -> Finding {
    let listed = match known {
        Some(list) if !list.is_empty() => format!(" (entities: {})", list.join(", ")),
        Some(_) => " (the user sees no entities)".to_owned(),
        None => String::new(),
    };
    Finding::fail(
        name,
        check,
        format!("no entity `{entity}`{listed}"),
        format!(
            "name an entity the user can read (`uipath-fleet datasets` lists them), or give the signed-in user access to `{entity}` in Data Service"
        ),
    )
}

/// Whether the source signs in as an application (client credentials), not as a user.
fn is_application(source: &SourceConfig) -> bool {
    matches!(source.auth, AuthConfig::ClientCredentials { .. })
}

/// Data Service takes only user tokens: a client-credentials source cannot read it.
fn user_token_needed(name: &str, source: &SourceConfig, check: &str) -> Option<Finding> {
    is_application(source).then(|| {
        Finding::fail(
            name,
            check,
            "not readable: Data Service accepts only user tokens",
            format!(
                "set sources.{name}.auth to method = \"refresh-token\" with scope {DATASERVICE_DATA}.Read and run `uipath-fleet login --source {name}`, or use a personal access token"
            ),
        )
    })
}

/// A Data Service read (or the entity list) that failed, in plain words.
fn dataservice_failure(name: &str, check: &str, source: &SourceConfig, e: &ClientError) -> Finding {
    let inner = match e {
        ClientError::Exhausted { last, .. } => last.as_ref(),
        other => other,
    };
    let login = match source.auth {
        AuthConfig::RefreshToken { .. } => {
            format!(", then run `uipath-fleet login --source {name}` again")
        }
        AuthConfig::PersonalAccessToken { .. } => {
            ", or create a personal access token that has it".to_owned()
        }
        _ => String::new(),
    };
    match inner {
        ClientError::Forbidden { message, .. } if message.contains(DATASERVICE_SCOPE_PREFIX) => {
            let scope = if message.contains("Schema") {
                format!("{DATASERVICE_DATA}.Read or DataService.Schema.Read")
            } else {
                format!("{DATASERVICE_DATA}.Read")
            };
            Finding::fail(
                name,
                check,
                format!("missing scope {scope}"),
                format!("add {DATASERVICE_DATA}.Read to sources.{name}.auth.scopes{login}"),
            )
        }
        ClientError::Forbidden { message, .. } => Finding::fail(
            name,
            check,
            format!("forbidden: {message}"),
            "give the signed-in user a Data Service role that reads the entity",
        ),
        other => Finding::fail(name, check, format!("error: {other}"), "see the status"),
    }
}

/// The token row for an identity-server refusal, with its fix.
fn token_failure(source: &str, e: &ClientError) -> Finding {
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
    Finding::fail(source, "token", format!("{}: {e}", e.kind()), fix)
}

/// A dataset (or the folder list) that could not be read, in plain words.
fn dataset_failure(
    source: &str,
    check: &str,
    family: &str,
    folder: Option<&str>,
    scopes: &Option<Vec<String>>,
    e: &ClientError,
) -> Finding {
    let needed = format!("{family}.Read");
    let inner = match e {
        ClientError::Exhausted { last, .. } => last.as_ref(),
        other => other,
    };
    match inner {
        ClientError::Forbidden { message, .. } if message.to_ascii_lowercase().contains("scope") => {
            let fix = match scopes {
                Some(s) if grants(s, family) == Some(true) => {
                    format!("grant {needed} to the external application (Admin > External Applications)")
                }
                _ => format!("add {needed} to sources.{source}.auth.scopes and grant it to the external application"),
            };
            Finding::fail(source, check, format!("missing scope {needed}"), fix)
        }
        ClientError::Forbidden { message, .. } => Finding::fail(
            source,
            check,
            match folder {
                Some(f) => format!("forbidden in folder {f}: {message}"),
                None => format!("forbidden: {message}"),
            },
            "give the application a role with read permission on it (in the folder, or tenant-wide)",
        ),
        ClientError::TenantNotFound { source_name: name, .. } => Finding {
            about_source: true,
            ..Finding::fail(
                source,
                check,
                format!("error: {inner}"),
                format!("correct sources.{name}.deployment.organization or .tenant"),
            )
        },
        ClientError::FolderNotFound { .. } => Finding::fail(
            source,
            check,
            format!("forbidden in folder {}", folder.unwrap_or("?")),
            "assign the external application to the folder",
        ),
        other => Finding::fail(source, check, format!("error: {other}"), "see the status"),
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
