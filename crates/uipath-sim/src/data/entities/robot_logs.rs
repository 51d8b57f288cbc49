//! `/odata/RobotLogs`: the log lines robots write while running jobs.
//!
//! Logs are their own stream per folder, ordered by `TimeStamp`. Each line belongs to a job
//! of the same folder created shortly before it (one still running at that moment when
//! there is one) and reads like part of that job's life: its start line, routine progress,
//! warnings, its end line, and for faulted jobs the error that ended them. Like
//! the real Elasticsearch-backed endpoint, `Id` is always 0, so the set has no id field and
//! can only be sliced by time; paging is capped by the 10,000-row window.

use crate::data::entities::jobs::{job_core, JobCore};
use crate::data::entities::{schema, RowBuf};
use crate::data::enums::{LOG_LEVEL, RUNTIME_TYPE};
use crate::data::hash::Draw;
use crate::data::pools::{LOG_INFO, LOG_TRACE, LOG_WARN};
use crate::data::universe::tag;
use crate::data::{AsOf, EntityDef, EntityGen};
use crate::value::{format_datetime, write_json_str, Row, Schema, Val};

pub static LOG: Schema = schema!("LogDto" {
    Level: Enum(LOG_LEVEL),
    WindowsIdentity: String,
    ProcessName: String,
    TimeStamp: DateTime,
    Message: String,
    JobKey: Guid,
    RawMessage: String,
    RobotName: String,
    HostMachineName: String,
    MachineId: Int64,
    MachineKey: Guid,
    RuntimeType: Enum(RUNTIME_TYPE),
    Id: Int64,
});

pub static ROBOT_LOGS: EntityDef = EntityDef {
    window: Some(10_000),
    id_field: None,
    time_field: Some("TimeStamp"),
    ..EntityDef::in_folders("RobotLogs", &LOG, "OR.Monitoring")
};

pub(crate) struct RobotLogs;

impl EntityGen for RobotLogs {
    fn def(&self) -> &'static EntityDef {
        &ROBOT_LOGS
    }

    fn len(&self, t: &AsOf<'_>, part: usize) -> u64 {
        t.robot_logs
            .get(part)
            .map_or(0, |tl| tl.count_until(t.now_ms()))
    }

    fn time_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        t.robot_logs[part].time(i)
    }

    fn id_at(&self, _t: &AsOf<'_>, _part: usize, _i: u64) -> i64 {
        0
    }

    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row {
        let at = t.robot_logs[part].time(i);
        let d = Draw::new(t.stream(tag::ROBOT_LOGS, part), i);
        let core = owning_job(t, part, at, d);
        let release = core.as_ref().map(|c| &t.releases[part][c.release]);
        let robot = core
            .as_ref()
            .and_then(|c| c.robot)
            .map(|k| &t.robots[part][k]);
        let machine = robot.and_then(|r| t.machines.get(r.machine));
        let name = release.map_or("Robot", |r| r.name.as_ref());

        // Start and end lines bracket a job's routine lines; faulted jobs end in an error.
        let (level, message): (&'static str, Val) = match (&core, d.below(3, 100)) {
            (Some(_), 0..=7) => ("Info", Val::string(format!("{name} execution started"))),
            (Some(c), 8..=15) if c.end.is_some() => match c.fault {
                Some(f) => (
                    "Error",
                    Val::string(format!("{name} execution ended in error: {}", f.info)),
                ),
                None => ("Info", Val::string(format!("{name} execution ended"))),
            },
            (Some(c), 16..=25) if c.fault.is_some() => {
                ("Error", Val::str(c.fault.map_or("", |f| f.title)))
            }
            (_, 26..=35) => ("Trace", Val::str(d.pick(4, LOG_TRACE))),
            (_, 36..=43) => ("Warn", Val::str(d.pick(4, LOG_WARN))),
            (_, 44) => (
                "Error",
                Val::str("Exception caught; retrying the transaction"),
            ),
            _ => ("Info", Val::str(d.pick(4, LOG_INFO))),
        };
        let runtime = match robot.map(|r| r.kind) {
            Some("NonProduction") => "NonProduction",
            Some("Attended") => "Attended",
            _ => "Unattended",
        };
        let raw = raw_message(&RawFields {
            message: message.as_str().unwrap_or(""),
            level,
            at,
            fingerprint: &d.uuid(5).to_string(),
            identity: robot.map_or("", |r| &r.username),
            machine: machine.map_or("", |m| &m.name),
            process: name,
            version: release.map_or("", |r| &r.version),
            job: &core.as_ref().map(|c| c.key.to_string()).unwrap_or_default(),
            robot: robot.map_or("", |r| &r.name),
            machine_id: machine.map_or(0, |m| m.id),
            folder_id: t.folders[part].id,
        });

        let mut r = RowBuf::new(&LOG);
        r.put("Level", Val::str(level));
        r.put(
            "WindowsIdentity",
            robot.map_or(Val::Null, |r| Val::string(r.username.clone())),
        );
        r.put(
            "ProcessName",
            release.map_or(Val::Null, |r| super::cow(&r.name)),
        );
        r.put("TimeStamp", Val::DateTime(at));
        r.put("Message", message);
        r.put(
            "JobKey",
            core.as_ref().map_or(Val::Null, |c| Val::Guid(c.key)),
        );
        r.put("RawMessage", Val::string(raw));
        r.put(
            "RobotName",
            robot.map_or(Val::Null, |r| Val::string(r.name.clone())),
        );
        r.put(
            "HostMachineName",
            machine.map_or(Val::Null, |m| Val::string(m.name.clone())),
        );
        r.put("MachineId", machine.map_or(Val::Null, |m| Val::Int(m.id)));
        r.put(
            "MachineKey",
            machine.map_or(Val::Null, |m| Val::Guid(m.key)),
        );
        r.put("RuntimeType", Val::str(runtime));
        r.put("Id", Val::Int(0));
        r.finish()
    }
}

/// The job a line at `at` belongs to: among the few jobs created last before it, one
/// still running at `at` if there is one, else the newest. Lines before the folder's first
/// job belong to that job; a folder without jobs has none.
fn owning_job(t: &AsOf<'_>, part: usize, at: i64, d: Draw) -> Option<JobCore> {
    let jobs = &t.jobs[part];
    let created = jobs.count_until(at);
    if created == 0 {
        return (!jobs.is_empty()).then(|| job_core(t, part, 0));
    }
    let newest = created - 1;
    (0..4u64.min(created))
        .map(|back| job_core(t, part, newest - back))
        .find(|c| c.start.is_some_and(|s| s <= at) && c.end.is_none_or(|e| at <= e))
        .or_else(|| Some(job_core(t, part, newest - d.below(1, 2).min(newest))))
}

struct RawFields<'a> {
    message: &'a str,
    level: &'static str,
    at: i64,
    fingerprint: &'a str,
    identity: &'a str,
    machine: &'a str,
    process: &'a str,
    version: &'a str,
    job: &'a str,
    robot: &'a str,
    machine_id: i64,
    folder_id: i64,
}

/// The robot's structured log record, as Orchestrator stores it in `RawMessage`.
fn raw_message(f: &RawFields) -> String {
    let level = match f.level {
        "Info" => "Information",
        "Warn" => "Warning",
        other => other,
    };
    let mut out = Vec::with_capacity(512);
    let field = |out: &mut Vec<u8>, key: &str, val: &str| {
        out.extend_from_slice(if out.is_empty() { b"{\"" } else { b",\"" });
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        write_json_str(out, val);
    };
    field(&mut out, "message", f.message);
    field(&mut out, "level", level);
    field(
        &mut out,
        "logType",
        if f.level == "Trace" {
            "Default"
        } else {
            "User"
        },
    );
    field(&mut out, "timeStamp", &format_datetime(f.at));
    field(&mut out, "fingerprint", f.fingerprint);
    field(&mut out, "windowsIdentity", f.identity);
    field(&mut out, "machineName", f.machine);
    field(&mut out, "processName", f.process);
    field(&mut out, "processVersion", f.version);
    field(&mut out, "jobId", f.job);
    field(&mut out, "robotName", f.robot);
    field(&mut out, "fileName", "Main");
    out.extend_from_slice(
        format!(
            ",\"machineId\":{},\"organizationUnitId\":{}}}",
            f.machine_id, f.folder_id
        )
        .as_bytes(),
    );
    String::from_utf8(out).expect("JSON written from UTF-8 strings")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataConfig, TenantData};

    #[test]
    fn raw_message_is_json_matching_the_row() {
        let t = TenantData::build("acme", "prod", &DataConfig::default());
        let t = t.at_end();
        let logs = RobotLogs;
        let mut errors = 0;
        for i in (0..logs.len(&t, 0)).step_by(7) {
            let row = logs.row(&t, 0, i);
            let raw: serde_json::Value =
                serde_json::from_str(row.get(6).as_str().unwrap()).unwrap();
            assert_eq!(raw["message"], row.get(4).as_str().unwrap());
            assert_eq!(raw["processName"], row.get(2).as_str().unwrap_or(""));
            errors += usize::from(row.get(0).as_str() == Some("Error"));
        }
        assert!(errors > 0);
    }
}
