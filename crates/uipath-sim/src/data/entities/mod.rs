//! The thirteen Orchestrator entity sets the simulator serves, one [`EntityGen`] each.
//!
//! Each submodule holds an entity's schema (the fields of its DTO in UiPath's OpenAPI
//! description, with the navigation properties that list responses leave out omitted),
//! its static [`EntityDef`] and its generator. High-volume entities (Jobs, QueueItems,
//! QueueItemEvents, RobotLogs, AuditLogs) read their layout from the tenant's
//! [`crate::data::timeline::Timeline`]s; the small ones from the reference sets in
//! [`TenantData`]. Every generator honours the contract in [`crate::data`].

use crate::data::{EntityGen, TenantData};
use crate::value::{Row, Schema, Val};

mod audit_logs;
mod jobs;
mod machines;
mod nested;
mod processes;
mod queue_definitions;
mod queue_item_events;
mod queue_items;
mod reference;
mod robot_logs;
mod robots;
mod tenant_sets;

#[cfg(test)]
mod contract_tests;

pub use jobs::{job_arguments, JOBS};
pub use queue_items::QUEUE_ITEMS;

/// Builds a schema from `Name: Type` pairs; types are [`crate::value::FieldType`] variants.
macro_rules! schema {
    ($dto:literal { $($name:ident : $ty:expr),* $(,)? }) => {
        $crate::value::Schema {
            dto: $dto,
            fields: &[$($crate::value::Field {
                name: stringify!($name),
                ty: {
                    #[allow(unused_imports)]
                    use $crate::value::FieldType::*;
                    $ty
                },
            }),*],
        }
    };
}
pub(crate) use schema;

static ALL: [&dyn EntityGen; 13] = [
    &jobs::Jobs,
    &queue_items::QueueItems,
    &queue_item_events::QueueItemEvents,
    &queue_definitions::QueueDefinitions,
    &processes::Releases,
    &robots::Robots,
    &machines::Machines,
    &robots::Sessions,
    &tenant_sets::Folders,
    &tenant_sets::Users,
    &audit_logs::AuditLogs,
    &robot_logs::RobotLogs,
    &processes::ProcessSchedules,
];

/// Every entity set's generator.
pub fn all() -> &'static [&'static dyn EntityGen] {
    &ALL
}

/// The generator of an entity set by its URL segment, case-insensitively (Orchestrator's
/// routing ignores case: `/odata/jobs` works).
pub fn by_name(name: &str) -> Option<&'static dyn EntityGen> {
    ALL.iter()
        .copied()
        .find(|g| g.def().name.eq_ignore_ascii_case(name))
}

/// Number of partitions of an entity in a tenant: its folders, or 1 for tenant-level sets.
pub fn partitions(entity: &dyn EntityGen, tenant: &TenantData) -> usize {
    if entity.def().folder_scoped {
        tenant.folders.len()
    } else {
        1
    }
}

/// Collects a row's values in schema order. In debug builds each value is checked against
/// the name of the field it lands in, so a generator cannot shift columns unnoticed; in
/// release builds it is a plain push.
pub(crate) struct RowBuf {
    schema: &'static Schema,
    vals: Vec<Val>,
}

impl RowBuf {
    pub fn new(schema: &'static Schema) -> RowBuf {
        RowBuf {
            schema,
            vals: Vec::with_capacity(schema.fields.len()),
        }
    }

    #[inline]
    pub fn put(&mut self, name: &'static str, val: Val) {
        debug_assert_eq!(
            self.schema.fields.get(self.vals.len()).map(|f| f.name),
            Some(name),
            "{}: value out of schema order",
            self.schema.dto
        );
        self.vals.push(val);
    }

    pub fn finish(self) -> Row {
        debug_assert_eq!(
            self.vals.len(),
            self.schema.fields.len(),
            "{}: row too short",
            self.schema.dto
        );
        Row(self.vals)
    }
}

/// Shorthands for optional values.
pub(crate) fn opt_int(v: Option<i64>) -> Val {
    v.map_or(Val::Null, Val::Int)
}

pub(crate) fn opt_guid(v: Option<uuid::Uuid>) -> Val {
    v.map_or(Val::Null, Val::Guid)
}

/// A borrowed or owned name as a value, without copying borrowed text.
// Taking `&Cow` rather than `&str` is the point: a borrowed `'static` name stays borrowed.
#[allow(clippy::ptr_arg)]
pub(crate) fn cow(s: &std::borrow::Cow<'static, str>) -> Val {
    Val::Str(s.clone())
}

/// Lower-case hex of `bytes` bytes of `h` (trace and span ids).
pub(crate) fn hex(h: u64, h2: u64, bytes: usize) -> String {
    let mut s = format!("{h:016x}{h2:016x}");
    s.truncate(bytes * 2);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_the_thirteen_sets_with_unique_names() {
        let names: Vec<&str> = all().iter().map(|g| g.def().name).collect();
        assert_eq!(names.len(), 13);
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 13);
        assert_eq!(by_name("jobs").unwrap().def().name, "Jobs");
        assert_eq!(by_name("QUEUEITEMS").unwrap().def().name, "QueueItems");
        assert!(by_name("Assets").is_none());
    }

    #[test]
    fn defs_follow_the_fact_sheet() {
        let def = |n: &str| by_name(n).unwrap().def();
        for g in all() {
            let d = g.def();
            let expect_top = if d.name == "QueueItems" { 100 } else { 1000 };
            assert_eq!(d.max_top, expect_top, "{}", d.name);
            assert_eq!(
                d.rate_limited,
                matches!(d.name, "Jobs" | "QueueItems"),
                "{}",
                d.name
            );
            let tenant_level = matches!(d.name, "Machines" | "Folders" | "Users" | "AuditLogs");
            assert_eq!(d.folder_scoped, !tenant_level, "{}", d.name);
            for f in [d.id_field, d.time_field].into_iter().flatten() {
                assert!(d.schema.index_of(f).is_some(), "{}.{f}", d.name);
            }
            for (f, lag) in d.lagged {
                assert!(d.schema.index_of(f).is_some() && *lag > 0, "{}.{f}", d.name);
            }
        }
        assert_eq!(def("RobotLogs").window, Some(10_000));
        assert_eq!(def("RobotLogs").id_field, None);
        assert_eq!(def("AuditLogs").time_field, Some("ExecutionTime"));
        assert_eq!(def("Jobs").scope, "OR.Jobs");
        assert_eq!(def("ProcessSchedules").scope, "OR.Jobs");
        assert_eq!(def("Releases").scope, "OR.Execution");
        assert_eq!(def("Sessions").scope, "OR.Robots");
    }
}
