//! `/odata/AuditLogs`: the tenant-wide record of who changed what.
//!
//! One stream per tenant (audit logs are not folder-scoped), clustered in office hours.
//! Each entry draws an operation from a weighted list (starting jobs dominates, then
//! process updates, trigger toggles, asset edits, ...), a user of the tenant, and the
//! entity it touched from the tenant's reference sets, so `EntityId` and `DisplayName`
//! name things that exist.

use crate::data::entities::{opt_int, schema, RowBuf};
use crate::data::enums::{AUDIT_ACTION, AUDIT_COMPONENT, USER_TYPE};
use crate::data::hash::Draw;
use crate::data::pools::{AuditOp, AUDIT_OPS};
use crate::data::universe::tag;
use crate::data::{AsOf, EntityDef, EntityGen};
use crate::value::{Row, Schema, Val};

pub static AUDIT_LOG: Schema = schema!("AuditLogDto" {
    ServiceName: String,
    MethodName: String,
    Parameters: String,
    ExecutionTime: DateTime,
    Action: Enum(AUDIT_ACTION),
    Component: Enum(AUDIT_COMPONENT),
    DisplayName: String,
    EntityId: Int64,
    OperationText: String,
    UserName: String,
    UserType: Enum(USER_TYPE),
    ExternalClientId: String,
    UserId: Int64,
    UserIsDeleted: Bool,
    Id: Int64,
});

pub static AUDIT_LOGS: EntityDef = EntityDef {
    time_field: Some("ExecutionTime"),
    ..EntityDef::tenant_wide("AuditLogs", &AUDIT_LOG, "OR.Audit")
};

/// The entity an operation touched: its id and display name.
fn target(t: &AsOf<'_>, op: &AuditOp, d: Draw) -> (Option<i64>, String) {
    let f = d.below(10, t.folders.len() as u64) as usize;
    let pick = |n: usize| d.below(11, n.max(1) as u64) as usize;
    match op.component {
        "Jobs" | "Processes" | "Packages" => match t.releases[f].get(pick(t.releases[f].len())) {
            Some(r) => (Some(r.id), r.name.to_string()),
            None => (None, String::new()),
        },
        "Queues" => match t.queues[f].get(pick(t.queues[f].len())) {
            Some(q) => (Some(q.id), q.name.to_string()),
            None => (None, String::new()),
        },
        "Schedules" => match t.schedules[f].get(pick(t.schedules[f].len())) {
            Some(s) => (Some(s.id), s.name.clone()),
            None => (None, String::new()),
        },
        "Robots" => match t.robots[f].get(pick(t.robots[f].len())) {
            Some(r) => (Some(r.id), r.name.clone()),
            None => (None, String::new()),
        },
        "Machines" | "Sessions" => match t.machines.get(pick(t.machines.len())) {
            Some(m) => (Some(m.id), m.name.clone()),
            None => (None, String::new()),
        },
        "Users" => match t.users.get(pick(t.users.len())) {
            Some(u) => (Some(u.id), u.user_name.clone()),
            None => (None, String::new()),
        },
        "Folders" => (
            Some(t.folders[f].id),
            t.folders[f].fully_qualified_name.clone(),
        ),
        "Assets" => (
            Some(5_000 + d.below(12, 400) as i64),
            format!("Config_{}", d.below(13, 40)),
        ),
        _ => (None, "Tenant settings".to_string()),
    }
}

/// An operation drawn by weight.
fn pick_op(d: Draw) -> &'static AuditOp {
    let total: u64 = AUDIT_OPS.iter().map(|o| u64::from(o.weight)).sum();
    let mut x = d.below(1, total);
    for op in AUDIT_OPS {
        if x < u64::from(op.weight) {
            return op;
        }
        x -= u64::from(op.weight);
    }
    &AUDIT_OPS[0]
}

pub(crate) struct AuditLogs;

impl EntityGen for AuditLogs {
    fn def(&self) -> &'static EntityDef {
        &AUDIT_LOGS
    }

    fn len(&self, t: &AsOf<'_>, part: usize) -> u64 {
        if part == 0 {
            t.audit_logs.count_until(t.now_ms())
        } else {
            0
        }
    }

    fn time_at(&self, t: &AsOf<'_>, _part: usize, i: u64) -> i64 {
        t.audit_logs.time(i)
    }

    fn id_at(&self, t: &AsOf<'_>, _part: usize, i: u64) -> i64 {
        t.audit_logs.id(i)
    }

    fn row(&self, t: &AsOf<'_>, _part: usize, i: u64) -> Row {
        let tl = &t.audit_logs;
        let slot = tl.locate(i);
        let d = Draw::new(t.stream(tag::AUDIT_LOGS, 0), i);
        let op = pick_op(d);
        // The administrator does a good share of the changes.
        let user = match t.users.len() {
            0 => None,
            n if d.chance(2, 0.3) => t.users.first().filter(|_| n > 0),
            n => t.users.get(d.below(3, n as u64) as usize),
        };
        let (entity_id, display) = target(t, op, d);
        let user_name = user.map_or("system", |u| u.user_name.as_str());
        let mut r = RowBuf::new(&AUDIT_LOG);
        r.put(
            "ServiceName",
            Val::string(format!(
                "UiPath.Server.Configuration.OData.{}Controller",
                op.service
            )),
        );
        r.put("MethodName", Val::str(op.method));
        r.put(
            "Parameters",
            Val::string(match entity_id {
                Some(id) => format!(r#"{{"key":{id}}}"#),
                None => "{}".to_string(),
            }),
        );
        r.put("ExecutionTime", Val::DateTime(tl.time_in(slot, i)));
        r.put("Action", Val::str(op.action));
        r.put("Component", Val::str(op.component));
        r.put(
            "DisplayName",
            if display.is_empty() {
                Val::Null
            } else {
                Val::string(display.clone())
            },
        );
        r.put("EntityId", opt_int(entity_id));
        r.put(
            "OperationText",
            Val::string(format!("User {user_name} {} {display}", op.verb)),
        );
        r.put("UserName", Val::string(user_name.to_string()));
        r.put("UserType", Val::str(user.map_or("User", |u| u.kind)));
        r.put(
            "ExternalClientId",
            match user {
                Some(u) if u.kind == "DirectoryExternalApplication" => {
                    Val::string(u.key.to_string())
                }
                _ => Val::Null,
            },
        );
        r.put("UserId", opt_int(user.map(|u| u.id)));
        r.put("UserIsDeleted", Val::Bool(false));
        r.put("Id", Val::Int(tl.id_in(slot)));
        r.finish()
    }
}
