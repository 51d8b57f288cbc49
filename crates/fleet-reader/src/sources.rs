//! [`Sources`]: the configured UiPath sources by the fleet's names for them.

use std::collections::BTreeMap;
use std::sync::Arc;

use uipath_client::{ClientError, Deployment, UipathClient};

/// The sources by name.
#[derive(Clone, Default)]
pub struct Sources {
    clients: BTreeMap<String, Arc<UipathClient>>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.clients.keys()).finish()
    }
}

impl Sources {
    pub fn new(clients: impl IntoIterator<Item = Arc<UipathClient>>) -> Sources {
        Sources {
            clients: clients
                .into_iter()
                .map(|c| (c.source().name.clone(), c))
                .collect(),
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.clients.keys().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<UipathClient>> {
        self.clients.get(name)
    }

    /// Whether no source is configured.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<UipathClient>)> {
        self.clients.iter()
    }

    pub(crate) fn client(&self, name: &str) -> Result<&Arc<UipathClient>, ClientError> {
        self.clients.get(name).ok_or_else(|| ClientError::NotFound {
            path: format!("source {name}"),
        })
    }

    /// The tenant as record headers name it: `organization/tenant` on Automation Cloud and
    /// Automation Suite, the tenancy name on standalone Orchestrator.
    pub fn tenant_label(&self, source: &str) -> Option<String> {
        let config = self.clients.get(source)?.source();
        Some(match &config.deployment {
            Deployment::Cloud {
                organization,
                tenant,
                ..
            } => format!("{organization}/{tenant}"),
            Deployment::Standalone { tenancy_name, .. } => tenancy_name.clone(),
        })
    }
}
