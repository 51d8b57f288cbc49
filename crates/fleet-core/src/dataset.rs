//! The Orchestrator datasets the fleet copies, and the facts that decide how each is read:
//! whether it needs a folder, the scope that grants it, the field a slice is cut on, the
//! key that makes paging stable, the page cap and the endpoint family it is budgeted in.
//! Facts from ../shared/reference/uipath-api.md §3–§5. Data Service entities are dynamic
//! (their names come from the tenant) and are described by `uipath-client`.

use crate::ratelimit::EndpointFamily;

/// One Orchestrator OData entity set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetDef {
    /// The fleet's name for it (kebab-case, used in config, routing keys and ids).
    pub slug: &'static str,
    /// The OData entity set, as in `/odata/{entity}`.
    pub entity: &'static str,
    /// Needs a folder header (`X-UIPATH-FolderKey`).
    pub folder_scoped: bool,
    /// The scope family that grants read access (the `.Read` variant suffices).
    pub scope: &'static str,
    /// The datetime field slices are cut on; `None` for small reference sets read whole.
    pub time_field: Option<&'static str>,
    /// The unique, sortable key used as the keyset tie-break; `None` where the API has no
    /// usable one (RobotLogs), which forces `$skip` paging inside a bounded window.
    pub id_field: Option<&'static str>,
    /// The largest `$top` the cloud accepts.
    pub max_page: u32,
    /// Rows reachable by `$skip + $top` in one query, where the API caps it.
    pub window: Option<u32>,
    pub family: EndpointFamily,
}

const fn def(
    slug: &'static str,
    entity: &'static str,
    folder_scoped: bool,
    scope: &'static str,
    time_field: Option<&'static str>,
) -> DatasetDef {
    DatasetDef {
        slug,
        entity,
        folder_scoped,
        scope,
        time_field,
        id_field: Some("Id"),
        max_page: 1000,
        window: None,
        family: EndpointFamily::Other,
    }
}

static DATASETS: [DatasetDef; 13] = [
    DatasetDef {
        family: EndpointFamily::Jobs,
        ..def("jobs", "Jobs", true, "OR.Jobs", Some("CreationTime"))
    },
    DatasetDef {
        family: EndpointFamily::QueueItems,
        max_page: 100,
        ..def(
            "queue-items",
            "QueueItems",
            true,
            "OR.Queues",
            Some("CreationTime"),
        )
    },
    def(
        "queue-item-events",
        "QueueItemEvents",
        true,
        "OR.Queues",
        Some("Timestamp"),
    ),
    def(
        "queue-definitions",
        "QueueDefinitions",
        true,
        "OR.Queues",
        Some("CreationTime"),
    ),
    def(
        "releases",
        "Releases",
        true,
        "OR.Execution",
        Some("CreationTime"),
    ),
    def(
        "process-schedules",
        "ProcessSchedules",
        true,
        "OR.Jobs",
        None,
    ),
    def("robots", "Robots", true, "OR.Robots", Some("CreationTime")),
    def("sessions", "Sessions", true, "OR.Robots", None),
    DatasetDef {
        id_field: None,
        window: Some(10_000),
        ..def(
            "robot-logs",
            "RobotLogs",
            true,
            "OR.Monitoring",
            Some("TimeStamp"),
        )
    },
    def(
        "audit-logs",
        "AuditLogs",
        false,
        "OR.Audit",
        Some("ExecutionTime"),
    ),
    def("machines", "Machines", false, "OR.Machines", None),
    def("folders", "Folders", false, "OR.Folders", None),
    def("users", "Users", false, "OR.Users", Some("CreationTime")),
];

/// Every Orchestrator dataset.
pub fn all() -> &'static [DatasetDef] {
    &DATASETS
}

/// A dataset by slug (`queue-items`) or entity set name (`QueueItems`), any case.
pub fn by_name(name: &str) -> Option<&'static DatasetDef> {
    DATASETS
        .iter()
        .find(|d| d.slug.eq_ignore_ascii_case(name) || d.entity.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_follows_the_fact_sheet() {
        assert_eq!(all().len(), 13);
        assert_eq!(by_name("QueueItems").unwrap().max_page, 100);
        assert_eq!(
            by_name("queue-items").unwrap().family,
            EndpointFamily::QueueItems
        );
        assert_eq!(by_name("JOBS").unwrap().family, EndpointFamily::Jobs);
        let logs = by_name("robot-logs").unwrap();
        assert_eq!((logs.id_field, logs.window), (None, Some(10_000)));
        for d in all() {
            let tenant_level = matches!(d.entity, "Machines" | "Folders" | "Users" | "AuditLogs");
            assert_eq!(d.folder_scoped, !tenant_level, "{}", d.slug);
        }
        assert!(by_name("Assets").is_none());
    }
}
