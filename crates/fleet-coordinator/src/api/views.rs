//! What the API answers with, as types: the server builds them, the client
//! ([`crate::remote`]) decodes the very same types. One definition of every answer, so
//! a field added here is on the wire and in the client at once.
//!
//! Decoding is lenient where an older or newer coordinator may differ: unknown fields are
//! ignored, and lists and optional parts may be absent.

use fleet_core::dataset::{self, DatasetDef};
use fleet_core::fields;
use fleet_core::ledger::{Progress, RequestRecord, StreamState};
use serde::{Deserialize, Serialize};
use uipath_client::dataservice::DsEntity;
use uipath_client::{AuthConfig, Deployment, UipathClient};

use crate::estimate::Estimate;

/// A request with its progress (`GET /v1/requests/{id}`, and each of `GET
/// /v1/requests`'s `requests`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestView {
    #[serde(flatten)]
    pub request: RequestRecord,
    pub progress: ProgressView,
    /// Sync streams with their planned end and watermark.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamView>,
}

impl RequestView {
    /// Completed, failed or cancelled: nothing more will happen.
    pub fn is_terminal(&self) -> bool {
        self.request.state.is_terminal()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProgressView {
    /// Slices that count toward the request (split parents excluded).
    #[serde(default)]
    pub total: u64,
    /// Slices in a terminal state.
    #[serde(default)]
    pub done: u64,
    #[serde(default)]
    pub percent: f64,
    #[serde(flatten)]
    pub counts: Progress,
}

impl From<Progress> for ProgressView {
    fn from(p: Progress) -> Self {
        let (total, done) = (p.total(), p.done());
        ProgressView {
            total,
            done,
            percent: if total == 0 {
                0.0
            } else {
                (done as f64 * 1000.0 / total as f64).round() / 10.0
            },
            counts: p,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamView {
    pub stream: String,
    #[serde(flatten)]
    pub state: StreamState,
}

/// `GET /v1/requests`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestList {
    #[serde(default)]
    pub requests: Vec<RequestView>,
}

/// `DELETE /v1/requests/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelView {
    /// Slices the cancel dropped.
    #[serde(default)]
    pub cancelled_slices: u64,
    pub request: RequestView,
}

/// A submitted backfill (`POST /v1/backfills`): the request, and for a new one its
/// estimate or why it has none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmittedView {
    #[serde(flatten)]
    pub request: RequestView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_error: Option<String>,
}

/// A dry run's answer (`POST /v1/backfills?dry_run=true`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DryRun {
    /// Always true: nothing was stored.
    pub dry_run: bool,
    /// The id the request would have.
    pub id: String,
    pub estimate: Estimate,
}

/// A preview: a few records of a dataset, read without publishing anything.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreviewView {
    pub source: String,
    pub dataset: String,
    #[serde(default)]
    pub records: Vec<serde_json::Value>,
    /// Folders read (folder-scoped datasets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<String>,
    /// Said when there is nothing to show, and why that may be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `GET /v1/datasets`: the Orchestrator datasets, and with `?source=` that source's Data
/// Service entities (or why they could not be listed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetsView {
    #[serde(default)]
    pub datasets: Vec<DatasetView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataservice: Option<Vec<EntityView>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataservice_error: Option<ProblemView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetView {
    pub name: String,
    pub entity: String,
    #[serde(default)]
    pub folder_scoped: bool,
    /// The read scope (`OR.Jobs.Read`).
    pub scope: String,
    #[serde(default)]
    pub time_field: Option<String>,
    #[serde(default)]
    pub key_field: Option<String>,
    #[serde(default)]
    pub max_page: u32,
    #[serde(default)]
    pub paging_window: Option<u32>,
    #[serde(default)]
    pub fields: Vec<FieldView>,
}

impl From<&DatasetDef> for DatasetView {
    fn from(d: &DatasetDef) -> DatasetView {
        DatasetView {
            name: d.slug.to_owned(),
            entity: d.entity.to_owned(),
            folder_scoped: d.folder_scoped,
            scope: format!("{}.Read", d.scope),
            time_field: d.time_field.map(str::to_owned),
            key_field: d.id_field.map(str::to_owned),
            max_page: d.max_page,
            paging_window: d.window,
            fields: fields::orchestrator(d.slug)
                .unwrap_or_default()
                .iter()
                .map(|f| FieldView {
                    name: f.name.to_string(),
                    ty: f.ty.label().to_owned(),
                    collection: f.collection,
                    nullable: f.nullable,
                })
                .collect(),
        }
    }
}

/// One field of an Orchestrator dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldView {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub collection: bool,
    #[serde(default)]
    pub nullable: bool,
}

/// One Data Service entity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntityView {
    /// `dataservice/<Entity>`.
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub records: Option<u64>,
    #[serde(default)]
    pub fields: Vec<EntityFieldView>,
}

impl From<&DsEntity> for EntityView {
    fn from(e: &DsEntity) -> EntityView {
        EntityView {
            name: dataset::dataservice_name(&e.name),
            display_name: e.display_name.clone(),
            records: e.record_count,
            fields: e
                .fields
                .iter()
                .map(|f| EntityFieldView {
                    name: f.name.clone(),
                    ty: f.sql_type.clone(),
                    system: f.is_system,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntityFieldView {
    pub name: String,
    /// The SQL type name.
    #[serde(rename = "type", default)]
    pub ty: Option<String>,
    #[serde(default)]
    pub system: bool,
}

/// Something that could not be read, and what to do about it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProblemView {
    pub error: String,
    #[serde(default)]
    pub hint: Option<String>,
}

/// `GET /v1/sources`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourcesView {
    #[serde(default)]
    pub sources: Vec<SourceView>,
}

/// A configured source, without its secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceView {
    pub name: String,
    /// `cloud` or `standalone`.
    pub deployment: String,
    pub orchestrator_url: String,
    pub location: Location,
    /// The auth method's name (`client-credentials`, ...).
    pub auth: String,
}

/// Where a source's tenant is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Location {
    Cloud {
        organization: String,
        tenant: String,
    },
    Standalone {
        tenancy_name: String,
    },
}

impl SourceView {
    pub fn new(name: &str, client: &UipathClient) -> SourceView {
        let s = client.source();
        let (deployment, location) = match &s.deployment {
            Deployment::Cloud {
                organization,
                tenant,
                ..
            } => (
                "cloud",
                Location::Cloud {
                    organization: organization.clone(),
                    tenant: tenant.clone(),
                },
            ),
            Deployment::Standalone { tenancy_name, .. } => (
                "standalone",
                Location::Standalone {
                    tenancy_name: tenancy_name.clone(),
                },
            ),
        };
        let auth = match &s.auth {
            AuthConfig::ClientCredentials { .. } => "client-credentials",
            AuthConfig::RefreshToken { .. } => "refresh-token",
            AuthConfig::PersonalAccessToken { .. } => "personal-access-token",
            AuthConfig::Ropc { .. } => "ropc",
            AuthConfig::UserKey { .. } => "user-key",
            AuthConfig::Machine { .. } => "machine",
        };
        SourceView {
            name: name.to_owned(),
            deployment: deployment.to_owned(),
            orchestrator_url: s.orchestrator_url().as_str().to_owned(),
            location,
            auth: auth.to_owned(),
        }
    }
}
