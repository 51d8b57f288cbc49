//! `/odata/Releases` (processes deployed to a folder) and `/odata/ProcessSchedules`
//! (their triggers), served from the tenant's reference sets.
//!
//! Both are per folder and ordered by id; releases also by `CreationTime` (set up in the
//! tenant's first hours). Process schedules have no creation time in their DTO, so they
//! are sliced by id only.

use crate::data::catalog::next_occurrence;
use crate::data::catalog::{ReleaseInfo, ScheduleInfo};
use crate::data::entities::nested::{
    autopilot_off, ARGUMENTS, ENTRY_POINT, PROCESS_SETTINGS, VIDEO_RECORDING,
};
use crate::data::entities::reference::{in_folder, ReferenceSet};
use crate::data::entities::{cow, opt_int, schema, RowBuf};
use crate::data::enums::*;
use crate::data::hash::{mix2, uuid_from};
use crate::data::{AsOf, EntityDef};
use crate::value::{Row, Schema, Val};

pub static RELEASE: Schema = schema!("ReleaseDto" {
    Key: String, ProcessKey: String, ProcessVersion: String, IsLatestVersion: Bool,
    IsProcessDeleted: Bool, Description: String, Name: String, EntryPointId: Int64,
    EntryPointPath: String, EntryPoint: Object(&ENTRY_POINT), InputArguments: String,
    EnvironmentVariables: String, ProcessType: Enum(PROCESS_TYPE),
    SupportsMultipleEntryPoints: Bool, RequiresUserInteraction: Bool, IsConversational: Bool,
    MinRequiredRobotVersion: String, IsAttended: Bool, IsCompiled: Bool,
    AutomationHubIdeaUrl: String, Arguments: Object(&ARGUMENTS),
    ProcessSettings: Object(&PROCESS_SETTINGS), VideoRecordingSettings: Object(&VIDEO_RECORDING),
    AutoUpdate: Bool, HiddenForAttendedUser: Bool, FeedId: Guid, JobPriority: Enum(JOB_PRIORITY),
    SpecificPriorityValue: Int32, FolderKey: Guid, OrganizationUnitId: Int64,
    OrganizationUnitFullyQualifiedName: String, TargetFramework: Enum(RELEASE_TARGET_FRAMEWORK),
    RobotSize: Enum(ROBOT_SIZE), Tags: Json, RemoteControlAccess: Enum(REMOTE_CONTROL_ACCESS),
    LastModificationTime: DateTime, LastModifierUserId: Int64, CreationTime: DateTime,
    CreatorUserId: Int64, Id: Int64,
});

pub static RELEASES: EntityDef = EntityDef {
    time_field: Some("CreationTime"),
    ..EntityDef::in_folders("Releases", &RELEASE, "OR.Execution")
};

pub static PROCESS_SCHEDULE: Schema = schema!("ProcessScheduleDto" {
    Key: Guid, Enabled: Bool, Name: String, ReleaseId: Int64, ReleaseKey: String,
    ReleaseName: String, EntryPointPath: String, PackageName: String, EnvironmentName: String,
    EnvironmentId: String, JobPriority: Enum(JOB_PRIORITY), SpecificPriorityValue: Int32,
    RuntimeType: Enum(RUNTIME_TYPE), StartProcessCron: String, StartProcessCronDetails: String,
    StartProcessCronSummary: String, StartProcessNextOccurrence: DateTime, StartStrategy: Int32,
    ExecutorRobots: Json, StopProcessExpression: String, StopStrategy: Enum(STOP_STRATEGY),
    KillProcessExpression: String, ExternalJobKey: String, ExternalJobKeyScheduler: Guid,
    TimeZoneId: String, TimeZoneIana: String, UseCalendar: Bool, CalendarId: Int64,
    CalendarName: String, CalendarKey: Guid, StopProcessDate: DateTime, InputArguments: String,
    InputFile: Guid, QueueDefinitionId: Int64, QueueDefinitionName: String,
    ActivateOnJobComplete: Bool, ItemsActivationThreshold: Int64,
    ItemsPerJobActivationTarget: Int64, MaxJobsForActivation: Int32, ResumeOnSameContext: Bool,
    Description: String, MachineRobots: Json, Tags: Json, AlertPendingExpression: String,
    AlertRunningExpression: String, RunAsMe: Bool, ConsecutiveJobFailuresThreshold: Int32,
    JobFailuresGracePeriodInHours: Int32, IsConnected: Bool, Id: Int64,
});

pub static PROCESS_SCHEDULES: EntityDef =
    EntityDef::in_folders("ProcessSchedules", &PROCESS_SCHEDULE, "OR.Jobs");

/// Priority levels as the fine-grained 1–100 value Orchestrator pairs with them.
pub(crate) fn priority_value(p: &str) -> i64 {
    match p {
        "High" => 75,
        "Low" => 15,
        _ => 45,
    }
}

const INPUT_SCHEMA: &str = r#"[{"name":"in_BatchSize","type":"System.Int32","required":false,"hasDefault":true},{"name":"in_Mode","type":"System.String","required":false,"hasDefault":true}]"#;
const OUTPUT_SCHEMA: &str = r#"[{"name":"out_Processed","type":"System.Int32","required":false,"hasDefault":false},{"name":"out_Failed","type":"System.Int32","required":false,"hasDefault":false}]"#;

pub(crate) struct Releases;

impl ReferenceSet for Releases {
    type Entry = ReleaseInfo;

    fn def(&self) -> &'static EntityDef {
        &RELEASES
    }

    fn entries<'t>(&self, t: &'t AsOf<'_>, part: usize) -> &'t [ReleaseInfo] {
        in_folder(&t.releases, part)
    }

    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row {
        let rel = &t.releases[part][i as usize];
        let folder = &t.folders[part];
        let user_id = |k: usize| opt_int(t.users.get(k).map(|u| u.id));
        let mut r = RowBuf::new(&RELEASE);
        r.put("Key", Val::string(rel.key.to_string()));
        r.put("ProcessKey", cow(&rel.name));
        r.put("ProcessVersion", Val::string(rel.version.clone()));
        r.put("IsLatestVersion", Val::Bool(true));
        r.put("IsProcessDeleted", Val::Bool(false));
        r.put("Description", Val::str(rel.spec.description));
        r.put("Name", cow(&rel.name));
        r.put("EntryPointId", Val::Int(rel.version_id * 2));
        r.put("EntryPointPath", Val::str("Main.xaml"));
        r.put(
            "EntryPoint",
            Val::Object(Box::new(Row(vec![
                Val::Guid(uuid_from(mix2(t.seed, rel.id as u64))),
                Val::str("Main.xaml"),
                Val::str(INPUT_SCHEMA),
                Val::str(OUTPUT_SCHEMA),
                Val::Int(rel.version_id * 2),
            ]))),
        );
        r.put("InputArguments", Val::Null);
        r.put("EnvironmentVariables", Val::str(""));
        r.put("ProcessType", Val::str("Process"));
        r.put("SupportsMultipleEntryPoints", Val::Bool(false));
        r.put("RequiresUserInteraction", Val::Bool(true));
        r.put("IsConversational", Val::Bool(false));
        r.put("MinRequiredRobotVersion", Val::str("21.10.0"));
        r.put("IsAttended", Val::Bool(false));
        r.put("IsCompiled", Val::Bool(true));
        r.put("AutomationHubIdeaUrl", Val::Null);
        r.put(
            "Arguments",
            Val::Object(Box::new(Row(vec![
                Val::str(INPUT_SCHEMA),
                Val::str(OUTPUT_SCHEMA),
            ]))),
        );
        r.put(
            "ProcessSettings",
            Val::Object(Box::new(Row(vec![
                Val::Bool(false),
                Val::Int(0),
                Val::Int(0),
                Val::Int(0),
                Val::Bool(false),
                Val::Bool(false),
                autopilot_off(),
            ]))),
        );
        r.put(
            "VideoRecordingSettings",
            Val::Object(Box::new(Row(vec![
                Val::str("None"),
                Val::str("None"),
                Val::Int(180),
            ]))),
        );
        r.put("AutoUpdate", Val::Bool(false));
        r.put("HiddenForAttendedUser", Val::Bool(false));
        r.put("FeedId", Val::Guid(uuid_from(mix2(t.seed, 0xFEED))));
        r.put("JobPriority", Val::str(rel.priority));
        r.put(
            "SpecificPriorityValue",
            Val::Int(priority_value(rel.priority)),
        );
        r.put("FolderKey", Val::Guid(folder.key));
        r.put("OrganizationUnitId", Val::Int(folder.id));
        r.put(
            "OrganizationUnitFullyQualifiedName",
            Val::string(folder.fully_qualified_name.clone()),
        );
        r.put("TargetFramework", Val::str("Windows"));
        r.put("RobotSize", Val::Null);
        r.put("Tags", Val::Raw("[]".into()));
        r.put("RemoteControlAccess", Val::str("None"));
        r.put(
            "LastModificationTime",
            Val::opt_datetime(
                Some(rel.modified_ms).filter(|&m| t.stamp_modifications && m <= t.now_ms()),
            ),
        );
        r.put("LastModifierUserId", user_id(rel.creator));
        r.put("CreationTime", Val::DateTime(rel.created_ms));
        r.put("CreatorUserId", user_id(rel.creator));
        r.put("Id", Val::Int(rel.id));
        r.finish()
    }
}

pub(crate) struct ProcessSchedules;

impl ReferenceSet for ProcessSchedules {
    type Entry = ScheduleInfo;

    fn def(&self) -> &'static EntityDef {
        &PROCESS_SCHEDULES
    }

    fn entries<'t>(&self, t: &'t AsOf<'_>, part: usize) -> &'t [ScheduleInfo] {
        in_folder(&t.schedules, part)
    }

    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row {
        let s = &t.schedules[part][i as usize];
        let rel = &t.releases[part][s.release];
        let queue = s.queue.map(|q| &t.queues[part][q]);
        let timed = queue.is_none();
        let enabled = t
            .refs()
            .and_then(|st| st.schedule_enabled.get(&(part, i as usize)).copied())
            .unwrap_or(s.enabled);
        let mut r = RowBuf::new(&PROCESS_SCHEDULE);
        r.put("Key", Val::Guid(s.key));
        r.put("Enabled", Val::Bool(enabled));
        r.put("Name", Val::string(s.name.clone()));
        r.put("ReleaseId", Val::Int(rel.id));
        r.put("ReleaseKey", Val::string(rel.key.to_string()));
        r.put("ReleaseName", cow(&rel.name));
        r.put("EntryPointPath", Val::str("Main.xaml"));
        r.put("PackageName", cow(&rel.name));
        r.put("EnvironmentName", Val::str(""));
        r.put("EnvironmentId", Val::str(""));
        r.put("JobPriority", Val::str(rel.priority));
        r.put(
            "SpecificPriorityValue",
            Val::Int(priority_value(rel.priority)),
        );
        r.put("RuntimeType", Val::str("Unattended"));
        r.put(
            "StartProcessCron",
            if timed {
                Val::str(s.cron.expression)
            } else {
                Val::str("")
            },
        );
        r.put("StartProcessCronDetails", Val::Null);
        r.put(
            "StartProcessCronSummary",
            if timed {
                Val::str(s.cron.summary)
            } else {
                Val::Null
            },
        );
        r.put(
            "StartProcessNextOccurrence",
            Val::opt_datetime((timed && enabled).then(|| next_occurrence(s.cron, t.now_ms()))),
        );
        r.put("StartStrategy", Val::Int(1));
        r.put("ExecutorRobots", Val::Raw("[]".into()));
        r.put("StopProcessExpression", Val::str(""));
        r.put("StopStrategy", Val::Null);
        r.put("KillProcessExpression", Val::Null);
        r.put(
            "ExternalJobKey",
            Val::string(uuid_from(mix2(s.key.as_u128() as u64, 1)).to_string()),
        );
        r.put("ExternalJobKeyScheduler", Val::Null);
        r.put("TimeZoneId", Val::str("UTC"));
        r.put("TimeZoneIana", Val::str("Etc/UTC"));
        r.put("UseCalendar", Val::Bool(false));
        r.put("CalendarId", Val::Null);
        r.put("CalendarName", Val::Null);
        r.put("CalendarKey", Val::Null);
        r.put("StopProcessDate", Val::Null);
        r.put("InputArguments", Val::str("{}"));
        r.put("InputFile", Val::Null);
        r.put("QueueDefinitionId", opt_int(queue.map(|q| q.id)));
        r.put(
            "QueueDefinitionName",
            queue.map_or(Val::Null, |q| cow(&q.name)),
        );
        r.put("ActivateOnJobComplete", Val::Bool(!timed));
        r.put("ItemsActivationThreshold", opt_int((!timed).then_some(1)));
        r.put(
            "ItemsPerJobActivationTarget",
            opt_int((!timed).then_some(10)),
        );
        r.put("MaxJobsForActivation", opt_int((!timed).then_some(2)));
        r.put("ResumeOnSameContext", Val::Bool(false));
        r.put("Description", Val::Null);
        r.put("MachineRobots", Val::Raw("[]".into()));
        r.put("Tags", Val::Raw("[]".into()));
        r.put("AlertPendingExpression", Val::Null);
        r.put("AlertRunningExpression", Val::Null);
        r.put("RunAsMe", Val::Bool(false));
        r.put("ConsecutiveJobFailuresThreshold", Val::Int(0));
        r.put("JobFailuresGracePeriodInHours", Val::Int(0));
        r.put("IsConnected", Val::Bool(false));
        r.put("Id", Val::Int(s.id));
        r.finish()
    }
}
