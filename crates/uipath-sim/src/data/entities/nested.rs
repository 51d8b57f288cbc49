//! Schemas of the nested objects the entity sets embed (`JobError`, `ProcessingException`,
//! `UpdateInfo`, a release's settings, ...), and builders for their common values.
//!
//! As for the top-level DTOs, each lists fields of the DTO of the same name in UiPath's
//! OpenAPI description, in its order; fields we cannot fill sensibly are left out.

use crate::data::entities::schema;
use crate::data::enums::{EXCEPTION_TYPE, UPDATE_REASON, UPDATE_STATUS};
use crate::value::{Row, Schema, Val};

pub static JOB_ERROR: Schema = schema!("JobErrorDto" {
    code: String,
    title: String,
    detail: String,
    category: String,
    status: Int32,
    timestamp: DateTime,
});

pub static AUTOPILOT: Schema = schema!("AutopilotForRobotsSettingsDto" {
    Enabled: Bool,
    HealingEnabled: Bool,
});

pub static PROCESSING_EXCEPTION: Schema = schema!("ProcessingExceptionDto" {
    Reason: String,
    Details: String,
    Type: Enum(EXCEPTION_TYPE),
    AssociatedImageFilePath: String,
    CreationTime: DateTime,
});

pub static QUEUE_ITEM_ERROR: Schema = schema!("QueueItemErrorDto" {
    Code: String,
    Title: String,
    Detail: String,
    Category: String,
    Status: Int32,
    Timestamp: DateTime,
});

pub static UPDATE_INFO: Schema = schema!("UpdateInfoDto" {
    updateStatus: Enum(UPDATE_STATUS),
    reason: Enum(UPDATE_REASON),
    targetUpdateVersion: String,
    isCommunity: Bool,
    statusInfo: String,
});

pub static ENTRY_POINT: Schema = schema!("EntryPointDto" {
    UniqueId: Guid,
    Path: String,
    InputArguments: String,
    OutputArguments: String,
    Id: Int64,
});

pub static ARGUMENTS: Schema = schema!("ArgumentMetadata" {
    Input: String,
    Output: String,
});

pub static PROCESS_SETTINGS: Schema = schema!("ProcessSettingsDto" {
    ErrorRecordingEnabled: Bool,
    Duration: Int32,
    Frequency: Int32,
    Quality: Int32,
    AutoStartProcess: Bool,
    AlwaysRunning: Bool,
    AutopilotForRobots: Object(&AUTOPILOT),
});

pub static VIDEO_RECORDING: Schema = schema!("VideoRecordingSettingsDto" {
    VideoRecordingType: Enum(crate::data::enums::VIDEO_RECORDING_TYPE),
    QueueItemVideoRecordingType: Enum(crate::data::enums::VIDEO_RECORDING_TYPE),
    MaxDurationSeconds: Int32,
});

pub static UPDATE_POLICY: Schema = schema!("UpdatePolicyDto" {
    Type: Enum(crate::data::enums::UPDATE_POLICY_TYPE),
    SpecificVersion: String,
});

/// Autopilot switched off, as on most tenants.
pub fn autopilot_off() -> Val {
    Val::Object(Box::new(Row(vec![Val::Bool(false), Val::Bool(false)])))
}

/// A robot installation that is on the version its machine's policy asks for.
pub fn update_info_compliant() -> Val {
    Val::Object(Box::new(Row(vec![
        Val::str("Compliant"),
        Val::Null,
        Val::Null,
        Val::Bool(false),
        Val::Null,
    ])))
}

/// An update policy that keeps robots on the latest patch.
pub fn update_policy_latest_patch() -> Val {
    Val::Object(Box::new(Row(vec![Val::str("LatestPatch"), Val::Null])))
}
