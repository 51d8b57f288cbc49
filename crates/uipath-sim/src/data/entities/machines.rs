//! `/odata/Machines`: the tenant's machines and machine templates (tenant-level).
//!
//! Served from the tenant's reference sets, ordered by id. The DTO is
//! `ExtendedMachineDto`: every `MachineDto` field plus `UpdateInfo`. The robots connected
//! to a machine are listed in `RobotUsers` and summarized by version in `RobotVersions`.

use crate::data::catalog::MachineInfo;
use crate::data::entities::nested::{
    update_info_compliant, update_policy_latest_patch, UPDATE_INFO, UPDATE_POLICY,
};
use crate::data::entities::{schema, RowBuf};
use crate::data::enums::*;
use crate::data::{AsOf, EntityDef, EntityGen};
use crate::value::{write_json_str, Row, Schema, Val};

pub static MACHINE: Schema = schema!("ExtendedMachineDto" {
    LicenseKey: String, Name: String, Description: String, Type: Enum(MACHINE_TYPE),
    Scope: Enum(MACHINE_SCOPE), NonProductionSlots: Int32, UnattendedSlots: Int32,
    HeadlessSlots: Int32, TestAutomationSlots: Int32, HostingSlots: Int32, AppTestSlots: Int32,
    PerformanceTestSlots: Int32, AutomationCloudSlots: Int32,
    AutomationCloudTestAutomationSlots: Int32, Key: Guid,
    EndpointDetectionStatus: Enum(ENDPOINT_DETECTION_STATUS), RobotVersions: Json,
    RobotUsers: Json, AutomationType: Enum(AUTOMATION_TYPE),
    TargetFramework: Enum(MACHINE_TARGET_FRAMEWORK),
    ServerlessLicensingModel: Enum(SERVERLESS_LICENSING_MODEL),
    UpdatePolicy: Object(&UPDATE_POLICY), ClientSecret: String, Tags: Json, Id: Int64,
    UpdateInfo: Object(&UPDATE_INFO),
});

pub static MACHINES: EntityDef = EntityDef::tenant_wide("Machines", &MACHINE, "OR.Machines");

pub(crate) struct Machines;

/// Machine `i` among those present as of now: (catalog index, machine).
fn present<'a>(t: &'a AsOf<'_>, i: u64) -> (Option<usize>, &'a MachineInfo) {
    match t.refs() {
        Some(st) => st.machines(t).nth(i as usize).expect("index below len"),
        None => (Some(i as usize), &t.machines[i as usize]),
    }
}

impl EntityGen for Machines {
    fn def(&self) -> &'static EntityDef {
        &MACHINES
    }

    fn len(&self, t: &AsOf<'_>, part: usize) -> u64 {
        if part == 0 {
            t.refs()
                .map_or(t.machines.len(), |st| st.machines(t).count()) as u64
        } else {
            0
        }
    }

    fn time_at(&self, _t: &AsOf<'_>, _part: usize, _i: u64) -> i64 {
        0
    }

    fn id_at(&self, t: &AsOf<'_>, _part: usize, i: u64) -> i64 {
        present(t, i).1.id
    }

    fn row(&self, t: &AsOf<'_>, _part: usize, i: u64) -> Row {
        // `i` is the index among the machines present as of now; robots point at catalog
        // indices (added machines have none).
        let (k, m) = present(t, i);
        let i = k.unwrap_or(usize::MAX) as u64;
        // The robots that run on this machine, across all folders.
        let mut users = Vec::with_capacity(128);
        let mut count = 0;
        for robot in t
            .robots
            .iter()
            .flatten()
            .filter(|r| r.machine == i as usize)
        {
            users.extend_from_slice(if count == 0 {
                b"[{\"UserName\":"
            } else {
                b",{\"UserName\":"
            });
            write_json_str(&mut users, &robot.username);
            users.extend_from_slice(
                format!(",\"RobotId\":{},\"HasTriggers\":false}}", robot.id).as_bytes(),
            );
            count += 1;
        }
        let robot_users = if count == 0 {
            "[]".to_string()
        } else {
            users.push(b']');
            String::from_utf8(users).expect("JSON written from UTF-8 strings")
        };
        let versions = if count == 0 {
            "[]".to_string()
        } else {
            format!(
                r#"[{{"Count":{count},"Version":"{}","MachineId":{}}}]"#,
                m.robot_version, m.id
            )
        };
        let mut r = RowBuf::new(&MACHINE);
        r.put("LicenseKey", Val::Null);
        r.put("Name", Val::string(m.name.clone()));
        r.put("Description", Val::Null);
        r.put(
            "Type",
            Val::str(if m.template { "Template" } else { "Standard" }),
        );
        r.put("Scope", Val::str("Default"));
        r.put("NonProductionSlots", Val::Int(0));
        r.put("UnattendedSlots", Val::Int(i64::from(m.unattended_slots)));
        r.put("HeadlessSlots", Val::Int(0));
        r.put("TestAutomationSlots", Val::Int(0));
        r.put("HostingSlots", Val::Int(0));
        r.put("AppTestSlots", Val::Int(0));
        r.put("PerformanceTestSlots", Val::Int(0));
        r.put("AutomationCloudSlots", Val::Int(0));
        r.put("AutomationCloudTestAutomationSlots", Val::Int(0));
        r.put("Key", Val::Guid(m.key));
        r.put("EndpointDetectionStatus", Val::str("NotAvailable"));
        r.put("RobotVersions", Val::Raw(versions.into()));
        r.put("RobotUsers", Val::Raw(robot_users.into()));
        r.put("AutomationType", Val::str("Any"));
        r.put("TargetFramework", Val::str("Any"));
        r.put("ServerlessLicensingModel", Val::Null);
        r.put("UpdatePolicy", update_policy_latest_patch());
        r.put("ClientSecret", Val::Null);
        r.put("Tags", Val::Raw("[]".into()));
        r.put("Id", Val::Int(m.id));
        r.put("UpdateInfo", update_info_compliant());
        r.finish()
    }
}
