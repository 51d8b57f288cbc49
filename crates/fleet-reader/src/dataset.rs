//! A dataset as the fleet reads it.

use fleet_core::dataset::{self, DatasetDef, DatasetName};

/// A dataset as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetRef {
    Orchestrator(&'static DatasetDef),
    DataService(String),
}

impl DatasetRef {
    /// Resolve a normalized dataset name (a slug or `dataservice/<Entity>`).
    pub fn parse(name: &str) -> Option<DatasetRef> {
        Some(match dataset::parse_name(name)? {
            DatasetName::Orchestrator(d) => DatasetRef::Orchestrator(d),
            DatasetName::DataService(entity) => DatasetRef::DataService(entity.to_owned()),
        })
    }

    pub fn folder_scoped(&self) -> bool {
        matches!(self, DatasetRef::Orchestrator(d) if d.folder_scoped)
    }

    /// Whether slices are cut on a time field (otherwise the set is read whole).
    pub fn timed(&self) -> bool {
        match self {
            DatasetRef::Orchestrator(d) => d.time_field.is_some(),
            DatasetRef::DataService(_) => true,
        }
    }

    /// The scope that reads it, as a fix names it: `OR.Jobs.Read`, or Data Service's
    /// user scope.
    pub fn read_scope(&self) -> String {
        match self {
            DatasetRef::Orchestrator(d) => format!("{}.Read", d.scope),
            DatasetRef::DataService(_) => {
                "DataService.Data.Read (user scope: use the login flow)".to_owned()
            }
        }
    }
}
