//! `/odata/Robots` and `/odata/Sessions`: the robots of a folder and their connections.
//!
//! Robots come from the tenant's reference sets, ordered by id and `CreationTime`.
//! Sessions are a snapshot at the end of the span: one per slot of
//! `sessions_per_folder`, each belonging to one of the folder's robots, reporting a few
//! seconds before the snapshot when connected and hours or days before when not. Their DTO
//! has no creation time, so they are sliced by id only.

use crate::data::catalog::RobotInfo;
use crate::data::entities::nested::{update_info_compliant, UPDATE_INFO};
use crate::data::entities::reference::{in_folder, ReferenceSet};
use crate::data::entities::{opt_int, schema, RowBuf};
use crate::data::enums::*;
use crate::data::hash::{mix2, Draw};
use crate::data::universe::tag;
use crate::data::{AsOf, EntityDef, EntityGen};
use crate::value::{Row, Schema, Val};

pub static ROBOT: Schema = schema!("RobotDto" {
    LicenseKey: String, MachineName: String, MachineId: Int64, Name: String, Username: String,
    ExternalName: String, Description: String, Type: Enum(RUNTIME_TYPE),
    HostingType: Enum(HOSTING_TYPE), ProvisionType: Enum(PROVISION_TYPE), Password: String,
    CredentialStoreId: Int64, UserId: Int64, Enabled: Bool, CredentialType: Enum(CREDENTIAL_TYPE),
    RobotEnvironments: String, ExecutionSettings: Json, IsExternalLicensed: Bool,
    LimitConcurrentExecution: Bool, LastModificationTime: DateTime, LastModifierUserId: Int64,
    CreationTime: DateTime, CreatorUserId: Int64, Id: Int64,
});

pub static ROBOTS: EntityDef = EntityDef {
    time_field: Some("CreationTime"),
    ..EntityDef::in_folders("Robots", &ROBOT, "OR.Robots")
};

pub static SESSION: Schema = schema!("SessionDto" {
    HostMachineName: String, MachineId: Int64, MachineName: String, State: Enum(SESSION_STATE),
    ReportingTime: DateTime, Info: String, IsUnresponsive: Bool,
    LicenseErrorCode: Enum(LICENSE_ERROR_CODE), OrganizationUnitId: Int64, FolderName: String,
    RobotSessionType: Enum(ROBOT_SESSION_TYPE), Version: String, Source: Enum(SESSION_SOURCE),
    DebugModeExpirationDate: DateTime, UpdateInfo: Object(&UPDATE_INFO), InstallationId: Guid,
    Platform: Enum(PLATFORM), EndpointDetection: String, Id: Int64,
});

pub static SESSIONS: EntityDef = EntityDef::in_folders("Sessions", &SESSION, "OR.Robots");

pub(crate) struct Robots;

impl ReferenceSet for Robots {
    type Entry = RobotInfo;

    fn def(&self) -> &'static EntityDef {
        &ROBOTS
    }

    fn entries<'t>(&self, t: &'t AsOf<'_>, part: usize) -> &'t [RobotInfo] {
        in_folder(&t.robots, part)
    }

    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row {
        let robot = &t.robots[part][i as usize];
        let machine = t.machines.get(robot.machine);
        let user = t.users.get(robot.user);
        let admin = t.users.first().map(|u| u.id);
        let mut r = RowBuf::new(&ROBOT);
        r.put("LicenseKey", Val::Null);
        r.put(
            "MachineName",
            machine.map_or(Val::Null, |m| Val::string(m.name.clone())),
        );
        r.put("MachineId", opt_int(machine.map(|m| m.id)));
        let renamed = t
            .refs()
            .and_then(|st| st.robot_names.get(&(part, i as usize)));
        r.put(
            "Name",
            Val::string(renamed.map_or_else(|| robot.name.clone(), |(n, _)| n.clone())),
        );
        r.put("Username", Val::string(robot.username.clone()));
        r.put("ExternalName", Val::Null);
        r.put("Description", Val::Null);
        r.put("Type", Val::str(robot.kind));
        r.put(
            "HostingType",
            Val::str(if robot.kind == "Attended" {
                "Floating"
            } else {
                "Standard"
            }),
        );
        r.put("ProvisionType", Val::str("Manual"));
        r.put("Password", Val::Null);
        r.put("CredentialStoreId", Val::Null);
        r.put("UserId", opt_int(user.map(|u| u.id)));
        r.put("Enabled", Val::Bool(true));
        r.put("CredentialType", Val::str("Default"));
        r.put("RobotEnvironments", Val::str(""));
        r.put("ExecutionSettings", Val::Raw("{}".into()));
        r.put("IsExternalLicensed", Val::Bool(false));
        r.put("LimitConcurrentExecution", Val::Bool(false));
        // Never changed unless renamed (live mode): ABP leaves the stamp null until then.
        r.put(
            "LastModificationTime",
            Val::opt_datetime(renamed.map(|(_, at)| *at).filter(|_| t.stamp_modifications)),
        );
        r.put("LastModifierUserId", opt_int(admin));
        r.put("CreationTime", Val::DateTime(robot.created_ms));
        r.put("CreatorUserId", opt_int(admin));
        r.put("Id", Val::Int(robot.id));
        r.finish()
    }
}

/// Session ids: tenant-wide in folder order, so increasing within a folder.
fn session_id(t: &AsOf<'_>, part: usize, i: u64) -> i64 {
    let base = 10_000 + (mix2(t.seed, tag::SESSIONS) % 90_000) as i64;
    base + (part * t.sessions_per_folder) as i64 + i as i64
}

pub(crate) struct Sessions;

impl EntityGen for Sessions {
    fn def(&self) -> &'static EntityDef {
        &SESSIONS
    }

    fn len(&self, t: &AsOf<'_>, part: usize) -> u64 {
        if part < t.folders.len() && !t.robots[part].is_empty() {
            t.sessions_per_folder as u64
        } else {
            0
        }
    }

    fn time_at(&self, _t: &AsOf<'_>, _part: usize, _i: u64) -> i64 {
        0
    }

    fn id_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        session_id(t, part, i)
    }

    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row {
        let robots = &t.robots[part];
        let robot = &robots[i as usize % robots.len()];
        let machine = t.machines.get(robot.machine);
        let d = Draw::new(t.stream(tag::SESSIONS, part), i);
        let state = [
            "Available",
            "Available",
            "Available",
            "Busy",
            "Busy",
            "Disconnected",
            "Unknown",
        ][d.below(1, 7) as usize];
        let connected = matches!(state, "Available" | "Busy");
        let ago = if connected {
            d.range(2, 1_000, 60_000)
        } else {
            d.range(2, 3_600_000, 5 * 86_400_000)
        };
        let mut r = RowBuf::new(&SESSION);
        r.put(
            "HostMachineName",
            machine.map_or(Val::Null, |m| Val::string(m.name.clone())),
        );
        r.put("MachineId", opt_int(machine.map(|m| m.id)));
        r.put(
            "MachineName",
            machine.map_or(Val::Null, |m| Val::string(m.name.clone())),
        );
        r.put("State", Val::str(state));
        r.put("ReportingTime", Val::DateTime(t.now_ms() - ago));
        r.put("Info", Val::Null);
        r.put("IsUnresponsive", Val::Bool(state == "Unknown"));
        r.put("LicenseErrorCode", Val::Null);
        r.put("OrganizationUnitId", Val::Int(t.folders[part].id));
        r.put(
            "FolderName",
            Val::string(t.folders[part].display_name.clone()),
        );
        r.put("RobotSessionType", Val::str("LongLived"));
        r.put(
            "Version",
            Val::str(machine.map_or("24.10.3", |m| m.robot_version)),
        );
        r.put("Source", Val::Null);
        r.put("DebugModeExpirationDate", Val::Null);
        r.put("UpdateInfo", update_info_compliant());
        r.put("InstallationId", Val::Guid(d.uuid(3)));
        r.put("Platform", Val::str("Windows"));
        r.put("EndpointDetection", Val::Null);
        r.put("Id", Val::Int(session_id(t, part, i)));
        r.finish()
    }
}
