//! The reads of a check once a token was granted: folders, Data Service entities, then
//! each dataset (its scope, then one record) and whether the tenant stamps changes.

use fleet_core::dataset::DatasetDef;
use fleet_core::wire::FolderRef;

use super::{is_application, Finding};
use crate::{DatasetRef, Sources};
use uipath_client::fix::{self, grants, DATASERVICE_DATA, DATASERVICE_SCOPE_PREFIX};
use uipath_client::{ClientError, SourceConfig};

/// One source's reads, with what its token check learned.
pub(super) struct Probe<'a> {
    pub(super) sources: Sources,
    pub(super) name: &'a str,
    /// The source as read: only the scopes granted.
    pub(super) source: &'a SourceConfig,
    /// The scopes it asks for, when its method has any.
    pub(super) scopes: Option<&'a [String]>,
    /// Scopes the application was refused.
    pub(super) refused: &'a [String],
}

impl Probe<'_> {
    pub(super) async fn run(&self, datasets: &[DatasetRef], findings: &mut Vec<Finding>) {
        let name = self.name;
        // Folders, when a folder-scoped dataset is to be read.
        let mut folder = None;
        let mut folder_problem: Option<Finding> = None;
        if datasets.iter().any(DatasetRef::folder_scoped) {
            match self.sources.folders(name).await {
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
                    let d = fix::read(name, "OR.Folders", None, self.scopes, &e);
                    let f = Finding::diagnosed(name, "folder-access", d);
                    folder_problem = Some(f.clone());
                    findings.push(f);
                }
            }
        }
        let entities = self.entities(datasets, findings).await;
        for dataset in datasets {
            let finding = match dataset {
                DatasetRef::Orchestrator(d) => {
                    let place = folder.as_ref().filter(|_| d.folder_scoped);
                    self.orchestrator(d, place, folder_problem.as_ref()).await
                }
                DatasetRef::DataService(entity) => self.entity(entity, entities.as_deref()).await,
            };
            let stamps = match dataset {
                DatasetRef::Orchestrator(d) if d.slug == "jobs" && finding.ok => {
                    Some(self.stamps(folder.as_ref()).await)
                }
                _ => None,
            };
            findings.push(finding);
            findings.extend(stamps);
        }
    }

    /// Data Service: the entities the signed-in user can see, when any is to be read or
    /// the source asks for Data Service scopes.
    async fn entities(
        &self,
        datasets: &[DatasetRef],
        findings: &mut Vec<Finding>,
    ) -> Option<Vec<String>> {
        let name = self.name;
        let wants_entities = datasets
            .iter()
            .any(|d| matches!(d, DatasetRef::DataService(_)))
            || self
                .scopes
                .is_some_and(|s| s.iter().any(|s| s.starts_with(DATASERVICE_SCOPE_PREFIX)));
        // With client credentials each entity's row says why it cannot be read.
        if !wants_entities || is_application(self.source) {
            return None;
        }
        match self.sources.entities(name).await {
            Ok(list) => {
                let names: Vec<String> = list.into_iter().map(|e| e.name).collect();
                let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
                let more = if names.len() > 8 { ", ..." } else { "" };
                findings.push(Finding::ok(
                    name,
                    "dataservice",
                    format!("ok: {} entities ({}{more})", names.len(), shown.join(", ")),
                ));
                Some(names)
            }
            Err(e) => {
                let d = fix::dataservice(name, &self.source.auth, &e);
                findings.push(Finding::diagnosed(name, "dataservice", d));
                None
            }
        }
    }

    /// Syncs of Jobs, Releases, Robots and Users read windows of `LastModificationTime`:
    /// a tenant that leaves it unset when a job ends would make them miss every change.
    async fn stamps(&self, folder: Option<&FolderRef>) -> Finding {
        const CHECK: &str = "change-capture";
        let name = self.name;
        match self.sources.modification_stamps(name, folder).await {
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
    async fn orchestrator(
        &self,
        d: &'static DatasetDef,
        folder: Option<&FolderRef>,
        folder_problem: Option<&Finding>,
    ) -> Finding {
        let name = self.name;
        let needed = format!("{}.Read", d.scope);
        if self.refused.iter().any(|s| s == d.scope || *s == needed) {
            return Finding::fail(
                name,
                d.slug,
                format!("missing scope {needed}"),
                format!(
                    "grant {needed} to the external application (Admin > External Applications)"
                ),
            );
        }
        if self
            .scopes
            .is_some_and(|s| grants(s, d.scope) == Some(false))
        {
            return Finding::fail(
                name,
                d.slug,
                format!("missing scope {needed}"),
                format!(
                    "add {needed} to sources.{name}.auth.scopes (and grant it to the application)"
                ),
            );
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
        match self
            .sources
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
            Err(e) => {
                let folder = folder.map(|f| f.path.as_str());
                Finding::diagnosed(
                    name,
                    d.slug,
                    fix::read(name, d.scope, folder, self.scopes, &e),
                )
            }
        }
    }

    /// One Data Service entity: a user token with `DataService.Data.Read`, the entity
    /// among those the user sees, then one record read.
    async fn entity(&self, entity: &str, entities: Option<&[String]>) -> Finding {
        let name = self.name;
        let check = fleet_core::dataset::dataservice_name(entity);
        if is_application(self.source) {
            // Data Service takes only user tokens: a client-credentials source cannot
            // read it.
            return Finding::fail(
                name,
                &check,
                "not readable: Data Service accepts only user tokens",
                format!(
                    "set sources.{name}.auth to method = \"refresh-token\" with scope {DATASERVICE_DATA}.Read and run `uipath-fleet login --source {name}`, or use a personal access token"
                ),
            );
        }
        if self
            .scopes
            .is_some_and(|s| grants(s, DATASERVICE_DATA) == Some(false))
        {
            return Finding::fail(
                name,
                &check,
                format!("missing scope {DATASERVICE_DATA}.Read"),
                format!(
                    "add {DATASERVICE_DATA}.Read to sources.{name}.auth.scopes, then run `uipath-fleet login --source {name}` again (a refresh token keeps the scopes it was signed in with)"
                ),
            );
        }
        if let Some(known) = entities {
            if !known.iter().any(|e| e.eq_ignore_ascii_case(entity)) {
                return no_entity(name, &check, entity, Some(known));
            }
        }
        let dataset = DatasetRef::DataService(entity.to_owned());
        match self
            .sources
            .sample(name, &dataset, None, (None, None), &[], 1)
            .await
        {
            Ok(records) if records.is_empty() => {
                Finding::ok(name, &check, "ok: readable (no records)")
            }
            Ok(_) => Finding::ok(name, &check, "ok: readable"),
            Err(ClientError::NotFound { .. }) => no_entity(name, &check, entity, entities),
            Err(e) => {
                Finding::diagnosed(name, &check, fix::dataservice(name, &self.source.auth, &e))
            }
        }
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
