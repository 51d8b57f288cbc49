//! `/odata/Jobs`: process executions, the busiest entity of a tenant.
//!
//! A job's story is decided by hashes of its index: how it was started (trigger, queue
//! trigger, a user, an attended robot), which process and robot, how long it waited and
//! ran, and how it ended. The as-of instant (the end of the span when frozen, the request's
//! instant when live) then decides what is visible: jobs that would start later are
//! `Pending`, those still running are `Running`/`Suspended`/`Stopping`, the rest show their
//! final state. `LastModificationTime` is null while the job is `Pending` and then the time
//! of its latest transition (start, suspend, resume, stop request, end). Every later time
//! of a job (start, end, resume, last modification) lies within [`MAX_LAG_MS`] of its
//! creation.
//!
//! [`job_core`] is shared with queue items and robot logs, which point at jobs.

use uuid::Uuid;

use crate::data::entities::nested::{autopilot_off, AUTOPILOT, JOB_ERROR};
use crate::data::entities::{cow, hex, opt_guid, opt_int, schema, RowBuf};
use crate::data::enums::*;
use crate::data::hash::Draw;
use crate::data::pools::{JobFault, JOB_FAULTS};
use crate::data::universe::tag;
use crate::data::{AsOf, EntityDef, EntityGen};
use crate::value::{Row, Schema, Val};

/// Upper bound of every job time after `CreationTime`.
pub const MAX_LAG_MS: i64 = 86_400_000;
/// What a job's whole life is clamped to, leaving room below [`MAX_LAG_MS`].
const LIFE_MS: i64 = 23 * 3_600_000;

pub static JOB: Schema = schema!("JobDto" {
    Key: Guid, StartTime: DateTime, EndTime: DateTime, State: Enum(JOB_STATE),
    SubState: String, JobPriority: Enum(JOB_PRIORITY), SpecificPriorityValue: Int32,
    ResourceOverwrites: String, Source: String, SourceType: Enum(JOB_SOURCE_TYPE),
    BatchExecutionKey: Guid, Info: String, CreationTime: DateTime, StartingScheduleId: Int64,
    ReleaseName: String, Type: Enum(JOB_TYPE), InputArguments: String, InputFile: Guid,
    EnvironmentVariables: String, OutputArguments: String, OutputFile: Guid,
    HostMachineName: String, HasMediaRecorded: Bool, HasVideoRecorded: Bool,
    PersistenceId: Guid, ResumeVersion: Int32, StopStrategy: Enum(STOP_STRATEGY),
    RuntimeType: Enum(RUNTIME_TYPE), RequiresUserInteraction: Bool, ReleaseVersionId: Int64,
    EntryPointPath: String, OrganizationUnitId: Int64,
    OrganizationUnitFullyQualifiedName: String, Reference: String,
    ProcessType: Enum(PROCESS_TYPE), ProfilingOptions: String, ResumeOnSameContext: Bool,
    LocalSystemAccount: String, OrchestratorUserIdentity: String,
    RemoteControlAccess: Enum(REMOTE_CONTROL_ACCESS), StartingTriggerId: Guid,
    MaxExpectedRunningTimeSeconds: Int64, ServerlessJobType: Enum(SERVERLESS_JOB_TYPE),
    ParentJobKey: Guid, ResumeTime: DateTime, LastModificationTime: DateTime,
    JobError: Object(&JOB_ERROR), ErrorCode: String, FpsProperties: String, TraceId: String,
    ParentSpanId: String, RootSpanId: String, AutopilotForRobots: Object(&AUTOPILOT),
    FpsContext: String, Id: Int64,
});

pub static JOBS: EntityDef = EntityDef {
    rate_limited: true,
    time_field: Some("CreationTime"),
    lagged: &[
        ("StartTime", MAX_LAG_MS),
        ("EndTime", MAX_LAG_MS),
        ("ResumeTime", MAX_LAG_MS),
        ("LastModificationTime", MAX_LAG_MS),
    ],
    ..EntityDef::in_folders("Jobs", &JOB, "OR.Jobs")
};

/// How a job ends if the snapshot lets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Successful,
    Faulted,
    Stopped,
    /// Suspended (waiting for a resume trigger), resumed, then successful.
    Suspends,
}

/// Everything about job `i` of a folder that other entities need, without the row.
#[derive(Debug, Clone)]
pub(crate) struct JobCore {
    pub id: i64,
    pub key: Uuid,
    pub created: i64,
    /// Index into the folder's releases.
    pub release: usize,
    /// Index into the folder's robots, if the folder has any.
    pub robot: Option<usize>,
    pub schedule: Option<usize>,
    pub source_type: &'static str,
    pub outcome: Outcome,
    pub state: &'static str,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub suspended: Option<i64>,
    pub resumed: Option<i64>,
    /// `LastModificationTime`: null while the job was never changed (Pending), else the
    /// time of its latest transition as of now; always null when the tenant does not stamp
    /// modifications.
    pub last_modified: Option<i64>,
    pub kill: bool,
    pub fault: Option<&'static JobFault>,
    pub draw: Draw,
}

/// The key of job `i` of folder `f`, without computing anything else.
pub(crate) fn job_key(t: &AsOf<'_>, f: usize, i: u64) -> Uuid {
    Draw::new(t.stream(tag::JOBS, f), i).uuid(1)
}

pub(crate) fn job_core(t: &AsOf<'_>, f: usize, i: u64) -> JobCore {
    let tl = &t.jobs[f];
    let slot = tl.locate(i);
    let created = tl.time_in(slot, i);
    let d = Draw::new(t.stream(tag::JOBS, f), i);
    let releases = &t.releases[f];
    let schedules = &t.schedules[f];
    let robots = &t.robots[f];

    // Triggers start most jobs; the rest come from people, attended robots and apps.
    let schedule = (!schedules.is_empty() && d.chance(2, 0.6))
        .then(|| d.below(3, schedules.len() as u64) as usize);
    let source_type = match schedule {
        Some(s) if schedules[s].queue.is_some() => "Queue",
        Some(_) => "Schedule",
        None => [
            "Manual",
            "Manual",
            "Manual",
            "Agent",
            "Agent",
            "Apps",
            "RobotAPI",
            "StudioWeb",
        ][d.below(4, 8) as usize],
    };
    let release = match schedule {
        Some(s) => schedules[s].release.min(releases.len().saturating_sub(1)),
        None => d.skewed(5, releases.len()),
    };
    let robot = (!robots.is_empty()).then(|| d.below(6, robots.len() as u64) as usize);
    let spec = releases.get(release).map(|r| r.spec);
    let fault_rate = releases.get(release).map_or(0.05, |r| r.fault_rate);

    let u = d.unit(7);
    let outcome = if u < fault_rate {
        Outcome::Faulted
    } else if u < fault_rate + 0.04 {
        Outcome::Stopped
    } else if u < fault_rate + 0.055 {
        Outcome::Suspends
    } else {
        Outcome::Successful
    };
    // Waiting for a robot: usually seconds, sometimes minutes, rarely hours.
    let wait = match d.below(8, 100) {
        0..=84 => d.range(9, 400, 20_000),
        85..=96 => d.range(9, 20_000, 1_200_000),
        _ => d.range(9, 1_200_000, 10_800_000),
    };
    let mean = i64::from(spec.map_or(300, |s| s.mean_secs)) * 1000;
    let spread = d.unit(10);
    let mut run = (mean as f64 * (0.3 + 1.7 * spread * spread)) as i64;
    if outcome == Outcome::Faulted {
        run = (run as f64 * (0.05 + 0.9 * d.unit(11))) as i64;
    }
    let run = run.clamp(1_500, LIFE_MS - wait);
    let start = created + wait;
    let (suspended, resumed) = if outcome == Outcome::Suspends {
        let at = start + run / 3;
        let pause = d
            .range(12, 600_000, 4 * 3_600_000)
            .min((LIFE_MS - wait - run).max(0));
        (Some(at), Some(at + pause))
    } else {
        (None, None)
    };
    let end = start + run + resumed.zip(suspended).map_or(0, |(r, s)| r - s);
    let kill = outcome == Outcome::Stopped && d.chance(13, 0.3);
    let stop_requested = end - d.range(14, 500, 30_000).min(run - 1);

    let now = t.now_ms();
    let (state, start, end, last_modified) = if start > now {
        ("Pending", None, None, None)
    } else if end <= now {
        let state = match outcome {
            Outcome::Successful | Outcome::Suspends => "Successful",
            Outcome::Faulted => "Faulted",
            Outcome::Stopped => "Stopped",
        };
        (state, Some(start), Some(end), Some(end))
    } else {
        match (suspended, resumed) {
            (Some(s), Some(r)) if s <= now && now < r => ("Suspended", Some(start), None, Some(s)),
            (_, Some(r)) if r <= now => ("Running", Some(start), None, Some(r)),
            _ if outcome == Outcome::Stopped && stop_requested <= now => (
                if kill { "Terminating" } else { "Stopping" },
                Some(start),
                None,
                Some(stop_requested),
            ),
            _ => ("Running", Some(start), None, Some(start)),
        }
    };
    let last_modified = last_modified.filter(|_| t.stamp_modifications);
    let resumed = resumed.filter(|&r| r <= now);
    let suspended = suspended.filter(|&s| s <= now);
    let fault =
        (state == "Faulted").then(|| &JOB_FAULTS[d.below(15, JOB_FAULTS.len() as u64) as usize]);
    JobCore {
        id: tl.id_in(slot),
        key: d.uuid(1),
        created,
        release,
        robot,
        schedule,
        source_type,
        outcome,
        state,
        start,
        end,
        suspended,
        resumed,
        last_modified,
        kill,
        fault,
        draw: d,
    }
}

/// The arguments of job `i` of folder `f` as JSON text: `(InputArguments, OutputArguments)`.
/// List responses serve them as null (as Orchestrator does); a single-job GET
/// (`/odata/Jobs({id})`) may use these.
pub fn job_arguments(t: &AsOf<'_>, f: usize, i: u64) -> (String, Option<String>) {
    let c = job_core(t, f, i);
    let input = format!(
        "{{\"in_BatchSize\":{},\"in_Mode\":\"{}\"}}",
        5 + c.draw.below(40, 50),
        if c.draw.chance(41, 0.8) {
            "Production"
        } else {
            "Catch-up"
        }
    );
    let output = (c.state == "Successful").then(|| {
        format!(
            "{{\"out_Processed\":{},\"out_Failed\":{}}}",
            c.draw.below(42, 200),
            c.draw.below(43, 5)
        )
    });
    (input, output)
}

pub(crate) struct Jobs;

impl EntityGen for Jobs {
    fn def(&self) -> &'static EntityDef {
        &JOBS
    }

    fn len(&self, t: &AsOf<'_>, part: usize) -> u64 {
        t.jobs.get(part).map_or(0, |tl| tl.count_until(t.now_ms()))
    }

    fn time_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        t.jobs[part].time(i)
    }

    fn id_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        t.jobs[part].id(i)
    }

    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row {
        let c = job_core(t, part, i);
        let d = c.draw;
        let folder = &t.folders[part];
        let rel = &t.releases[part][c.release];
        let robot = c.robot.map(|r| &t.robots[part][r]);
        let machine = robot.and_then(|r| t.machines.get(r.machine));
        let schedule = c.schedule.map(|s| &t.schedules[part][s]);
        let attended = c.source_type == "Agent";
        let persisted = c.outcome == Outcome::Suspends && c.suspended.is_some();
        let mut r = RowBuf::new(&JOB);
        r.put("Key", Val::Guid(c.key));
        r.put("StartTime", Val::opt_datetime(c.start));
        r.put("EndTime", Val::opt_datetime(c.end));
        r.put("State", Val::str(c.state));
        r.put("SubState", Val::Null);
        r.put("JobPriority", Val::str(rel.priority));
        r.put(
            "SpecificPriorityValue",
            Val::Int(super::processes::priority_value(rel.priority)),
        );
        r.put("ResourceOverwrites", Val::Null);
        r.put(
            "Source",
            match (schedule, c.source_type) {
                (Some(s), _) => Val::string(s.name.clone()),
                (None, "Manual") => t
                    .users
                    .get(rel.creator)
                    .map_or(Val::str("Manual"), |u| Val::string(u.user_name.clone())),
                (None, "Agent") => Val::str("Agent"),
                (None, "Apps") => Val::str("Apps"),
                (None, "RobotAPI") => Val::str("Robot API"),
                (None, other) => Val::str(other),
            },
        );
        r.put("SourceType", Val::str(c.source_type));
        r.put("BatchExecutionKey", Val::Guid(d.uuid(20)));
        r.put(
            "Info",
            match (c.state, c.fault) {
                (_, Some(fault)) => Val::str(fault.info),
                ("Successful", _) => Val::str("Job completed"),
                ("Stopped", _) if c.kill => Val::str("Job was killed by the user"),
                ("Stopped", _) => Val::str("Job was stopped by the user"),
                ("Suspended", _) => Val::str("Job suspended, waiting for a resume trigger"),
                _ => Val::Null,
            },
        );
        r.put("CreationTime", Val::DateTime(c.created));
        r.put("StartingScheduleId", opt_int(schedule.map(|s| s.id)));
        r.put("ReleaseName", cow(&rel.name));
        r.put(
            "Type",
            Val::str(if attended { "Attended" } else { "Unattended" }),
        );
        r.put("InputArguments", Val::Null);
        r.put("InputFile", Val::Null);
        r.put("EnvironmentVariables", Val::Null);
        r.put("OutputArguments", Val::Null);
        r.put("OutputFile", Val::Null);
        r.put(
            "HostMachineName",
            machine
                .filter(|_| c.start.is_some())
                .map_or(Val::Null, |m| Val::string(m.name.clone())),
        );
        r.put(
            "HasMediaRecorded",
            Val::Bool(c.state == "Faulted" && d.chance(21, 0.2)),
        );
        r.put("HasVideoRecorded", Val::Bool(false));
        r.put("PersistenceId", opt_guid(persisted.then(|| d.uuid(22))));
        r.put("ResumeVersion", opt_int(c.resumed.map(|_| 1)));
        r.put(
            "StopStrategy",
            match c.state {
                "Stopped" | "Stopping" | "Terminating" => {
                    Val::str(if c.kill { "Kill" } else { "SoftStop" })
                }
                _ => Val::Null,
            },
        );
        r.put(
            "RuntimeType",
            Val::str(match robot.map(|r| r.kind) {
                _ if attended => "Attended",
                Some("NonProduction") => "NonProduction",
                _ => "Unattended",
            }),
        );
        r.put("RequiresUserInteraction", Val::Bool(!d.chance(23, 0.15)));
        r.put("ReleaseVersionId", Val::Int(rel.version_id));
        r.put("EntryPointPath", Val::str("Main.xaml"));
        r.put("OrganizationUnitId", Val::Int(folder.id));
        r.put(
            "OrganizationUnitFullyQualifiedName",
            Val::string(folder.fully_qualified_name.clone()),
        );
        r.put("Reference", Val::str(""));
        r.put("ProcessType", Val::str("Process"));
        r.put("ProfilingOptions", Val::Null);
        r.put("ResumeOnSameContext", Val::Bool(false));
        r.put("LocalSystemAccount", Val::str(""));
        r.put("OrchestratorUserIdentity", Val::Null);
        r.put("RemoteControlAccess", Val::str("None"));
        r.put(
            "StartingTriggerId",
            opt_guid(schedule.filter(|s| s.queue.is_some()).map(|s| s.key)),
        );
        r.put("MaxExpectedRunningTimeSeconds", Val::Null);
        r.put("ServerlessJobType", Val::Null);
        r.put("ParentJobKey", Val::Null);
        r.put("ResumeTime", Val::opt_datetime(c.resumed));
        r.put("LastModificationTime", Val::opt_datetime(c.last_modified));
        r.put(
            "JobError",
            match (c.fault, c.end) {
                (Some(f), Some(end)) => Val::Object(Box::new(Row(vec![
                    Val::str(f.code),
                    Val::str(f.title),
                    Val::str(f.info),
                    Val::str(f.category),
                    Val::Null,
                    Val::DateTime(end),
                ]))),
                _ => Val::Null,
            },
        );
        r.put(
            "ErrorCode",
            if c.fault.is_some() {
                Val::str("Robot")
            } else {
                Val::Null
            },
        );
        r.put("FpsProperties", Val::Null);
        r.put("TraceId", Val::string(hex(d.bits(24), d.bits(25), 16)));
        r.put("ParentSpanId", Val::Null);
        r.put("RootSpanId", Val::Null);
        r.put("AutopilotForRobots", autopilot_off());
        r.put("FpsContext", Val::Null);
        r.put("Id", Val::Int(c.id));
        r.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataConfig, TenantData};

    #[test]
    fn states_look_like_a_real_tenant() {
        let t = TenantData::build("acme", "prod", &DataConfig::default());
        let t = t.at_end();
        let mut counts = std::collections::BTreeMap::new();
        let mut n = 0;
        for f in 0..t.folders.len() {
            for i in 0..Jobs.len(&t, f) {
                *counts.entry(job_core(&t, f, i).state).or_insert(0) += 1;
                n += 1;
            }
        }
        let share = |s: &str| f64::from(*counts.get(s).unwrap_or(&0)) / f64::from(n);
        assert!(share("Successful") > 0.75, "{counts:?}");
        assert!((0.02..0.15).contains(&share("Faulted")), "{counts:?}");
        assert!(share("Stopped") > 0.01, "{counts:?}");
        // Only the last hours before the snapshot still have jobs in flight.
        assert!(share("Running") + share("Pending") < 0.01, "{counts:?}");
    }

    #[test]
    fn in_flight_jobs_are_the_recent_ones() {
        let t = TenantData::build("acme", "prod", &DataConfig::default());
        let t = t.at_end();
        for f in 0..t.folders.len() {
            for i in 0..Jobs.len(&t, f) {
                let c = job_core(&t, f, i);
                if matches!(c.state, "Running" | "Pending" | "Suspended") {
                    assert!(t.now_ms() - c.created < MAX_LAG_MS, "{c:?}");
                    assert!(c.end.is_none());
                }
                if c.state == "Faulted" {
                    assert!(c.fault.is_some() && c.end.is_some());
                }
            }
        }
    }

    #[test]
    fn arguments_are_json() {
        let t = TenantData::build("acme", "prod", &DataConfig::default());
        let t = t.at_end();
        let (input, output) = job_arguments(&t, 0, 0);
        serde_json::from_str::<serde_json::Value>(&input).unwrap();
        if let Some(o) = output {
            serde_json::from_str::<serde_json::Value>(&o).unwrap();
        }
        assert_eq!(job_key(&t, 0, 3), job_core(&t, 0, 3).key);
    }
}
