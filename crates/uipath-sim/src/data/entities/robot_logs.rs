//! `/odata/RobotLogs`: the log lines robots write while running jobs.
//!
//! Logs are their own stream per folder, ordered by `TimeStamp`. Each line belongs to a job
//! of the same folder created shortly before it and reads like that job's life: the start
//! line, routine progress, warnings, and for faulted jobs the error that ended them. Like
//! the real Elasticsearch-backed endpoint, `Id` is always 0, so the set has no id field and
//! can only be sliced by time; paging is capped by the 10,000-row window.

use crate::data::entities::jobs::job_core;
use crate::data::entities::{schema, RowBuf};
use crate::data::enums::{LOG_LEVEL, RUNTIME_TYPE};
use crate::data::hash::Draw;
use crate::data::pools::{LOG_INFO, LOG_TRACE, LOG_WARN};
use crate::data::universe::tag;
use crate::data::{EntityDef, EntityGen, TenantData};
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
    name: "RobotLogs",
    schema: &LOG,
    scope: "OR.Monitoring",
    folder_scoped: true,
    max_top: 1000,
    rate_limited: false,
    window: Some(10_000),
    id_field: None,
    time_field: Some("TimeStamp"),
    lagged: &[],
};

pub(crate) struct RobotLogs;

impl EntityGen for RobotLogs {
    fn def(&self) -> &'static EntityDef {
        &ROBOT_LOGS
    }

    fn len(&self, t: &TenantData, part: usize) -> u64 {
        t.robot_logs.get(part).map_or(0, |tl| tl.len())
    }

    fn time_at(&self, t: &TenantData, part: usize, i: u64) -> i64 {
        t.robot_logs[part].time(i)
    }

    fn id_at(&self, _t: &TenantData, _part: usize, _i: u64) -> i64 {
        0
    }

    fn row(&self, t: &TenantData, part: usize, i: u64) -> Row {
        let at = t.robot_logs[part].time(i);
        let d = Draw::new(t.stream(tag::ROBOT_LOGS, part), i);
        let jobs = &t.jobs[part];
        let created = jobs.count_until(at);
        let job = match created {
            0 if jobs.is_empty() => None,
            0 => Some(0),
            n => Some(n - 1 - d.below(1, 4).min(n - 1)),
        };
        let core = job.map(|k| job_core(t, part, k));
        let release = core.as_ref().map(|c| &t.releases[part][c.release]);
        let robot = core
            .as_ref()
            .and_then(|c| c.robot)
            .map(|k| &t.robots[part][k]);
        let machine = robot.and_then(|r| t.machines.get(r.machine));
        let name = release.map_or("Robot", |r| r.name.as_ref());

        // The line's place in the job's life decides what it says.
        let (level, message): (&'static str, Val) = match &core {
            Some(c) if c.start.is_none_or(|s| at < s) => {
                ("Info", Val::string(format!("{name} execution started")))
            }
            Some(c) if c.end.is_some_and(|e| at >= e) => match c.fault {
                Some(f) => (
                    "Error",
                    Val::string(format!("{name} execution ended in error: {}", f.info)),
                ),
                None => ("Info", Val::string(format!("{name} execution ended"))),
            },
            Some(c) if c.fault.is_some() && d.chance(2, 0.2) => {
                ("Error", Val::str(c.fault.map_or("", |f| f.title)))
            }
            _ => match d.below(3, 100) {
                0..=79 => ("Info", Val::str(d.pick(4, LOG_INFO))),
                80..=89 => ("Trace", Val::str(d.pick(4, LOG_TRACE))),
                90..=97 => ("Warn", Val::str(d.pick(4, LOG_WARN))),
                _ => (
                    "Error",
                    Val::str("Exception caught; retrying the transaction"),
                ),
            },
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
    use crate::data::DataConfig;

    #[test]
    fn raw_message_is_json_matching_the_row() {
        let t = TenantData::build("acme", "prod", &DataConfig::default());
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
