//! Deterministic data: the organizations, tenants, folders and records the simulator serves.
//!
//! Nothing here is stored record by record. Every high-volume record is a pure function of
//! (seed, tenant, entity, partition, index), so a tenant with millions of jobs costs a few
//! kilobytes, any record can be produced in O(1), and two simulators with the same
//! configuration serve byte-identical data (tests use that to compute the ground truth a
//! consumer must see).
//!
//! The contract between a generator and the query engine ([`EntityGen`]):
//! - records of one partition (a folder, or the whole tenant for tenant-level entities) are
//!   numbered `0..len`;
//! - the id field (when there is one) is **strictly increasing** in the index;
//! - the primary time field is **non-decreasing** in the index;
//! - every "lagged" field is either null or within `[time, time + lag]` of the primary time.
//!
//! These three facts let the engine turn a `$filter` on time or id into an index range by
//! binary search, and serve a keyset page without generating the records before it.
//!
//! Generators read an [`AsOf`]: the tenant's data plus the instant a query is answered at
//! (the span's end for a frozen tenant, the wall clock or `X-Sim-As-Of` for a live one),
//! plus the live reference changes folded up to it. Records whose primary time is after
//! the instant do not exist (`len` is cut by binary search on the primary time), and
//! states, end times and `LastModificationTime` are as of it. `LastModificationTime`
//! follows ABP: null until a record's first change, then the time of its latest change
//! (always null when `DataConfig::stamp_modifications` is false).
//!
//! One entity bends the contract: QueueItemEvents are indexed by their item (three slots
//! per item, some empty: [`EntityGen::exists`], [`EntityGen::sparse`]), so they have no
//! time field; their `Timestamp` is a lagged field of the item's creation time, which is
//! enough for the engine to narrow and stream them.

pub mod activity;
pub mod catalog;
pub mod config;
pub mod entities;
pub mod enums;
pub mod hash;
pub mod live;
pub mod pools;
pub mod timeline;
pub mod universe;

pub use universe::{AsOf, DataConfig, FolderInfo, LiveData, TenantData};

use crate::value::{Row, Schema};

/// Static facts about an entity set, used by the query engine and the HTTP layer.
#[derive(Debug)]
pub struct EntityDef {
    /// The OData entity set name, as in the URL: `Jobs`, `QueueItems`, ...
    pub name: &'static str,
    pub schema: &'static Schema,
    /// The application scope family that grants read access (`OR.Jobs`); the token must
    /// carry it or its `.Read` variant.
    pub scope: &'static str,
    /// Folder-scoped entities need a folder header; partitions are the tenant's folders.
    pub folder_scoped: bool,
    /// Largest `$top` accepted (1000; 100 for QueueItems on Automation Cloud).
    pub max_top: u64,
    /// Counted against the tenant's shared Jobs/QueueItems request budget.
    pub rate_limited: bool,
    /// A hard paging window (`$skip + $top`), as Elasticsearch-backed RobotLogs have.
    pub window: Option<u64>,
    /// Field strictly increasing in the record index, if any.
    pub id_field: Option<&'static str>,
    /// Field non-decreasing in the record index, if any.
    pub time_field: Option<&'static str>,
    /// Fields that are null or within `[time, time + lag_ms]`.
    pub lagged: &'static [(&'static str, i64)],
}

impl EntityDef {
    /// A folder-scoped set with Orchestrator's usual facts: `$top` up to 1000, outside the
    /// shared request budget, no paging window, keyed by `Id`, no time field, nothing
    /// lagged. A set that differs overrides those fields (`..EntityDef::in_folders(..)`).
    pub const fn in_folders(
        name: &'static str,
        schema: &'static Schema,
        scope: &'static str,
    ) -> EntityDef {
        EntityDef {
            name,
            schema,
            scope,
            folder_scoped: true,
            max_top: 1000,
            rate_limited: false,
            window: None,
            id_field: Some("Id"),
            time_field: None,
            lagged: &[],
        }
    }

    /// A tenant-level set (no folder header), otherwise as [`EntityDef::in_folders`].
    pub const fn tenant_wide(
        name: &'static str,
        schema: &'static Schema,
        scope: &'static str,
    ) -> EntityDef {
        EntityDef {
            folder_scoped: false,
            ..EntityDef::in_folders(name, schema, scope)
        }
    }
}

/// A generator of one entity set's records.
pub trait EntityGen: Send + Sync {
    fn def(&self) -> &'static EntityDef;
    /// Number of generated records in a partition (`part` is the folder index for
    /// folder-scoped entities, 0 otherwise).
    /// Records that exist as of `tenant.now_ms()` are `0..len`.
    fn len(&self, tenant: &AsOf<'_>, part: usize) -> u64;
    /// The primary time (Unix ms) of record `i`; non-decreasing in `i`.
    fn time_at(&self, tenant: &AsOf<'_>, part: usize, i: u64) -> i64;
    /// The id of record `i`; strictly increasing in `i` (entities without an id return 0).
    fn id_at(&self, tenant: &AsOf<'_>, part: usize, i: u64) -> i64;
    /// The whole record `i` as of `tenant.now_ms()`, in schema order.
    fn row(&self, tenant: &AsOf<'_>, part: usize, i: u64) -> Row;
    /// Whether record `i < len` exists as of `tenant.now_ms()`. Only [`EntityGen::sparse`]
    /// generators (queue item events: one slot per possible transition) have gaps.
    fn exists(&self, _tenant: &AsOf<'_>, _part: usize, _i: u64) -> bool {
        true
    }
    /// The value of the lagged field that stands in for a missing time field (the
    /// `Timestamp` of a queue item event), computed without building the row, so the
    /// engine can skip records outside a window cheaply. `None` when not applicable.
    fn lagged_key(&self, _tenant: &AsOf<'_>, _part: usize, _i: u64) -> Option<i64> {
        None
    }
    /// True when some indices below `len` hold no record ([`EntityGen::exists`]), so a
    /// count cannot be read off an index range.
    fn sparse(&self) -> bool {
        false
    }
}
