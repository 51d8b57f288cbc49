//! The Orchestrator datasets the fleet copies, and the facts that decide how each is read:
//! whether it needs a folder, the scope that grants it, the field a slice is cut on, the
//! key that makes paging stable, the page cap and the endpoint family it is budgeted in,
//! and how a sync finds what changed ([`ChangeMode`]) and how consumers order the versions
//! of one record ([`VersionOrder`]). Facts from ../shared/reference/uipath-api.md §3–§5. Data Service entities are dynamic
//! (their names come from the tenant) and are described by `uipath-client`.

use crate::ratelimit::EndpointFamily;
use crate::wire::ReadMode;

/// How a sync window finds the records of a dataset that changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeMode {
    /// Windows on the modification time `field`. Orchestrator leaves it null until a
    /// record's first change, so a never-modified record belongs to the window of its
    /// creation time (the dataset's `time_field`): one filter covers both.
    Modified { field: &'static str },
    /// No modification time: the window reads the dataset `events` (by their time field)
    /// and then the current state of the records their `key` field names.
    Feed {
        events: &'static str,
        key: &'static str,
    },
    /// Rows never change once written: windows on the time field, as backfills read them.
    Append,
    /// Read whole at every window; only records whose content changed since the stream's
    /// previous snapshot are published, and a tombstone for a key that disappeared. The
    /// `volatile` fields change on every heartbeat and are left out of the comparison.
    Snapshot { volatile: &'static [&'static str] },
}

/// What orders the versions of one record, so a consumer can keep the newest: compare
/// the `order` values of two versions of the same key (see `docs/messages.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOrder {
    /// The record's modification time (`LastModificationTime`, Data Service `UpdateTime`),
    /// or its creation time while it was never modified.
    Modified,
    /// SQL Server's `RowVersion`: a database-wide counter stamped on every change.
    RowVersion,
    /// The event's own time: immutable rows have one version.
    EventTime,
    /// When the fleet read it (snapshot sets have no version of their own).
    ObservedAt,
}

impl VersionOrder {
    /// The name consumers see in `order_by`.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOrder::Modified => "modified",
            VersionOrder::RowVersion => "row-version",
            VersionOrder::EventTime => "event-time",
            VersionOrder::ObservedAt => "observed-at",
        }
    }
}

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
    /// How a sync window finds what changed.
    pub change: ChangeMode,
    /// What orders two versions of one record.
    pub order: VersionOrder,
}

impl DatasetDef {
    /// How a job of `lane` reads this dataset: backfills read history by the time field
    /// (or whole), syncs read what changed.
    pub fn read_mode(&self, lane: crate::wire::Lane) -> ReadMode {
        if lane == crate::wire::Lane::Backfill {
            return ReadMode::Created;
        }
        match self.change {
            ChangeMode::Modified { .. } => ReadMode::Modified,
            ChangeMode::Feed { .. } => ReadMode::Feed,
            ChangeMode::Append => ReadMode::Created,
            ChangeMode::Snapshot { .. } => ReadMode::Snapshot,
        }
    }

    /// Whether a sync reads the whole set at every window (a snapshot diff), so its
    /// windows are not cut into time slices.
    pub fn sync_reads_whole(&self) -> bool {
        matches!(self.change, ChangeMode::Snapshot { .. })
    }
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
        change: ChangeMode::Append,
        order: VersionOrder::EventTime,
    }
}

const MODIFIED: ChangeMode = ChangeMode::Modified {
    field: "LastModificationTime",
};

const fn snapshot(volatile: &'static [&'static str]) -> ChangeMode {
    ChangeMode::Snapshot { volatile }
}

static DATASETS: [DatasetDef; 13] = [
    DatasetDef {
        family: EndpointFamily::Jobs,
        change: MODIFIED,
        order: VersionOrder::Modified,
        ..def("jobs", "Jobs", true, "OR.Jobs", Some("CreationTime"))
    },
    DatasetDef {
        family: EndpointFamily::QueueItems,
        max_page: 100,
        change: ChangeMode::Feed {
            events: "queue-item-events",
            key: "QueueItemId",
        },
        order: VersionOrder::RowVersion,
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
    DatasetDef {
        change: snapshot(&[]),
        order: VersionOrder::ObservedAt,
        ..def(
            "queue-definitions",
            "QueueDefinitions",
            true,
            "OR.Queues",
            Some("CreationTime"),
        )
    },
    DatasetDef {
        change: MODIFIED,
        order: VersionOrder::Modified,
        ..def(
            "releases",
            "Releases",
            true,
            "OR.Execution",
            Some("CreationTime"),
        )
    },
    DatasetDef {
        // The next occurrence moves every time the trigger fires.
        change: snapshot(&["StartProcessNextOccurrence"]),
        order: VersionOrder::ObservedAt,
        ..def(
            "process-schedules",
            "ProcessSchedules",
            true,
            "OR.Jobs",
            None,
        )
    },
    DatasetDef {
        change: MODIFIED,
        order: VersionOrder::Modified,
        ..def("robots", "Robots", true, "OR.Robots", Some("CreationTime"))
    },
    DatasetDef {
        // A session reports every few seconds; its heartbeat is not a change.
        change: snapshot(&["ReportingTime"]),
        order: VersionOrder::ObservedAt,
        ..def("sessions", "Sessions", true, "OR.Robots", None)
    },
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
    DatasetDef {
        change: snapshot(&[]),
        order: VersionOrder::ObservedAt,
        ..def("machines", "Machines", false, "OR.Machines", None)
    },
    DatasetDef {
        change: snapshot(&[]),
        order: VersionOrder::ObservedAt,
        ..def("folders", "Folders", false, "OR.Folders", None)
    },
    DatasetDef {
        change: MODIFIED,
        order: VersionOrder::Modified,
        ..def("users", "Users", false, "OR.Users", Some("CreationTime"))
    },
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

/// The prefix that names a Data Service entity as a dataset: `dataservice/Invoice`. The
/// one definition; build and read such names with [`dataservice_name`] and [`parse_name`].
pub const DATASERVICE_PREFIX: &str = "dataservice/";

/// A dataset name, read: a dataset of the catalog, or a Data Service entity (whose names
/// come from the tenant, so nothing more is known here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetName<'a> {
    Orchestrator(&'static DatasetDef),
    DataService(&'a str),
}

/// Reads a dataset name: `dataservice/<Entity>` (a non-empty entity, case kept) or a
/// catalog dataset by slug or entity set name ([`by_name`]); `None` for anything else.
/// Requests are normalized and checked further by the planner's request reader.
pub fn parse_name(name: &str) -> Option<DatasetName<'_>> {
    match name.strip_prefix(DATASERVICE_PREFIX) {
        Some("") => None,
        Some(entity) => Some(DatasetName::DataService(entity)),
        None => by_name(name).map(DatasetName::Orchestrator),
    }
}

/// The entity of a Data Service dataset name (`dataservice/Invoice` → `Invoice`).
pub fn dataservice_entity(name: &str) -> Option<&str> {
    match parse_name(name)? {
        DatasetName::DataService(entity) => Some(entity),
        DatasetName::Orchestrator(_) => None,
    }
}

/// The dataset name of a Data Service entity (`Invoice` → `dataservice/Invoice`).
pub fn dataservice_name(entity: &str) -> String {
    format!("{DATASERVICE_PREFIX}{entity}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_read_one_way() {
        assert_eq!(
            parse_name("dataservice/Invoice"),
            Some(DatasetName::DataService("Invoice"))
        );
        assert_eq!(dataservice_entity("dataservice/Invoice"), Some("Invoice"));
        assert_eq!(dataservice_name("Invoice"), "dataservice/Invoice");
        assert_eq!(parse_name("dataservice/"), None);
        assert_eq!(dataservice_entity("jobs"), None);
        assert!(matches!(
            parse_name("QueueItems"),
            Some(DatasetName::Orchestrator(d)) if d.slug == "queue-items"
        ));
        assert_eq!(parse_name("nonsense"), None);
    }

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

    #[test]
    fn every_set_says_how_a_sync_sees_its_changes() {
        use crate::wire::Lane;
        for d in all() {
            // Backfills always read history the way they always did.
            assert_eq!(d.read_mode(Lane::Backfill), ReadMode::Created, "{}", d.slug);
            match d.change {
                // A modification window needs the creation time for never-modified rows.
                ChangeMode::Modified { .. } => {
                    assert!(d.time_field.is_some() && d.id_field.is_some(), "{}", d.slug);
                    assert_eq!(d.order, VersionOrder::Modified, "{}", d.slug);
                }
                ChangeMode::Feed { events, key } => {
                    let ev = by_name(events).expect("the feed is a dataset");
                    assert_eq!(ev.change, ChangeMode::Append);
                    assert_eq!(ev.folder_scoped, d.folder_scoped);
                    assert!(!key.is_empty());
                }
                ChangeMode::Append => assert!(d.time_field.is_some(), "{}", d.slug),
                ChangeMode::Snapshot { .. } => {
                    assert!(
                        d.id_field.is_some(),
                        "{}: a snapshot diff needs keys",
                        d.slug
                    );
                    assert_eq!(d.order, VersionOrder::ObservedAt, "{}", d.slug);
                }
            }
        }
        let mode = |n: &str| by_name(n).unwrap().read_mode(Lane::Sync);
        assert_eq!(mode("jobs"), ReadMode::Modified);
        assert_eq!(mode("users"), ReadMode::Modified);
        assert_eq!(mode("queue-items"), ReadMode::Feed);
        assert_eq!(mode("audit-logs"), ReadMode::Created);
        assert_eq!(mode("queue-definitions"), ReadMode::Snapshot);
        assert_eq!(mode("sessions"), ReadMode::Snapshot);
        assert!(by_name("machines").unwrap().sync_reads_whole());
    }
}
