//! Enum value lists of the Orchestrator DTOs, in the order of UiPath's OpenAPI description.
//!
//! The order matters: it is the numeric value Orchestrator accepts in filters such as
//! `Status eq '0'`. The conformance test (`tests/openapi_conformance.rs`) checks every list
//! against the description, so these cannot drift from it silently.

/// `JobDto.State`.
pub const JOB_STATE: &[&str] = &[
    "Pending",
    "Running",
    "Stopping",
    "Terminating",
    "Faulted",
    "Successful",
    "Stopped",
    "Suspended",
    "Resumed",
];

/// `JobDto.JobPriority`.
pub const JOB_PRIORITY: &[&str] = &["Low", "Normal", "High"];

/// `JobDto.SourceType`.
pub const JOB_SOURCE_TYPE: &[&str] = &[
    "Manual",
    "Schedule",
    "Agent",
    "Queue",
    "StudioWeb",
    "IntegrationTrigger",
    "StudioDesktop",
    "AutomationOpsPipelines",
    "Apps",
    "SAP",
    "HttpTrigger",
    "HttpTriggerCallback",
    "RobotAPI",
    "CommandLine",
    "RobotNetAPI",
    "Autopilot",
    "TestManager",
    "AgentService",
    "ProcessOrchestration",
    "PluginEcosystem",
    "PerformanceTesting",
    "AgentHub",
    "ApiWorkflow",
];

/// `JobDto.Type`.
pub const JOB_TYPE: &[&str] = &["Unattended", "Attended", "ServerlessGeneric"];

/// `JobDto.StopStrategy`.
pub const STOP_STRATEGY: &[&str] = &["SoftStop", "Kill"];

/// `JobDto.RuntimeType`.
pub const RUNTIME_TYPE: &[&str] = &[
    "NonProduction",
    "Attended",
    "Unattended",
    "Development",
    "Studio",
    "RpaDeveloper",
    "StudioX",
    "CitizenDeveloper",
    "Headless",
    "StudioPro",
    "RpaDeveloperPro",
    "TestAutomation",
    "AutomationCloud",
    "Serverless",
    "AutomationKit",
    "ServerlessTestAutomation",
    "AutomationCloudTestAutomation",
    "AttendedStudioWeb",
    "Hosting",
    "AssistantWeb",
    "ProcessOrchestration",
    "AgentService",
    "AppTest",
    "PerformanceTest",
];

/// `JobDto.ProcessType`.
pub const PROCESS_TYPE: &[&str] = &[
    "Undefined",
    "Process",
    "ProcessOrchestration",
    "WebApp",
    "Agent",
    "TestAutomationProcess",
    "Api",
    "MCPServer",
    "BusinessRules",
    "CaseManagement",
];

/// `JobDto.RemoteControlAccess`.
pub const REMOTE_CONTROL_ACCESS: &[&str] = &["None", "ReadOnly", "Full"];

/// `JobDto.ServerlessJobType`.
pub const SERVERLESS_JOB_TYPE: &[&str] = &[
    "RobotJob",
    "WebApp",
    "LoadTest",
    "StudioWebDesigner",
    "PublishStudioProject",
    "JsApi",
    "PythonCodedAgent",
    "MCPServer",
];

/// `QueueItemDto.Status`.
pub const QUEUE_ITEM_STATUS: &[&str] = &[
    "New",
    "InProgress",
    "Failed",
    "Successful",
    "Abandoned",
    "Retried",
    "Deleted",
];

/// `QueueItemDto.ReviewStatus`.
pub const REVIEW_STATUS: &[&str] = &["None", "InReview", "Verified", "Retried"];

/// `QueueItemDto.ProcessingExceptionType`.
pub const EXCEPTION_TYPE: &[&str] = &["ApplicationException", "BusinessException"];

/// `QueueItemDto.Priority`.
pub const QUEUE_ITEM_PRIORITY: &[&str] = &["High", "Normal", "Low"];

/// `QueueItemEventDto.Action`.
pub const QUEUE_ITEM_EVENT_ACTION: &[&str] = &["Create", "Edit", "Delete", "Status", "Retry"];

/// `ReleaseDto.TargetFramework`.
pub const RELEASE_TARGET_FRAMEWORK: &[&str] = &["Legacy", "Windows", "Portable"];

/// `ReleaseDto.RobotSize`.
pub const ROBOT_SIZE: &[&str] = &["Small", "Standard", "Medium", "Large"];

/// `RobotDto.HostingType`.
pub const HOSTING_TYPE: &[&str] = &["Standard", "Floating"];

/// `RobotDto.ProvisionType`.
pub const PROVISION_TYPE: &[&str] = &["Manual", "Automatic"];

/// `RobotDto.CredentialType`.
pub const CREDENTIAL_TYPE: &[&str] =
    &["Default", "SmartCard", "NCipher", "SafeNet", "NoCredential"];

/// `MachineDto.Type`.
pub const MACHINE_TYPE: &[&str] = &["Standard", "Template"];

/// `MachineDto.Scope`.
pub const MACHINE_SCOPE: &[&str] = &[
    "Default",
    "Shared",
    "PersonalWorkspace",
    "Cloud",
    "Serverless",
    "AutomationCloudRobot",
    "ElasticRobot",
    "ProcessOrchestration",
    "AgentService",
];

/// `MachineDto.EndpointDetectionStatus`.
pub const ENDPOINT_DETECTION_STATUS: &[&str] = &["NotAvailable", "Mixed", "Enabled"];

/// `MachineDto.AutomationType`.
pub const AUTOMATION_TYPE: &[&str] = &["Any", "Foreground", "Background"];

/// `MachineDto.TargetFramework`.
pub const MACHINE_TARGET_FRAMEWORK: &[&str] = &["Any", "Windows", "Portable"];

/// `MachineDto.ServerlessLicensingModel`.
pub const SERVERLESS_LICENSING_MODEL: &[&str] = &["RobotUnits", "LicenseSlots"];

/// `UpdateInfoDto.updateStatus`.
pub const UPDATE_STATUS: &[&str] = &[
    "None",
    "InProgress",
    "Failed",
    "NonCompliant",
    "Compliant",
    "NotApplicable",
    "Scheduled",
    "FailedRescheduled",
];

/// `UpdateInfoDto.reason`.
pub const UPDATE_REASON: &[&str] = &[
    "NonCompliantWithDifferentVersion",
    "NonCompliantWithoutTargetVersion",
    "NotApplicableForOlderSessions",
    "NotApplicableForMachineType",
    "NotApplicableTemplateWithoutRobotSessions",
    "NotApplicableForPlatform",
    "NotApplicableForTargetFramework",
];

/// `SessionDto.State`.
pub const SESSION_STATE: &[&str] = &["Available", "Busy", "Disconnected", "Unknown"];

/// `SessionDto.LicenseErrorCode`.
pub const LICENSE_ERROR_CODE: &[&str] = &[
    "NoLicense",
    "LicenseExpired",
    "LicenseUnregistered",
    "NoAvailableLicenses",
    "NotEnoughAvailableSlots",
    "NotEnoughRuntimeLicenses",
    "LicenseIsAlreadyInUse",
    "InvalidRequest",
    "SlotsExceedLicenseLimit",
    "RuntimeDisabled",
    "ExternalNotSupported",
    "UsageExceedsLicenseLimit",
    "LicenseNotCompatible",
];

/// `SessionDto.RobotSessionType`.
pub const ROBOT_SESSION_TYPE: &[&str] = &["LongLived", "Ephemeral"];

/// `SessionDto.Source`.
pub const SESSION_SOURCE: &[&str] = &["Assistant", "StudioWeb", "StudioDesktop"];

/// `SessionDto.Platform`.
pub const PLATFORM: &[&str] = &["Unknown", "Windows", "Linux", "OSX"];

/// `FolderDto.FolderType`.
pub const FOLDER_TYPE: &[&str] = &[
    "Standard",
    "Personal",
    "Virtual",
    "Solution",
    "DebugSolution",
];

/// `FolderDto.PermissionModel`.
pub const PERMISSION_MODEL: &[&str] = &["InheritFromTenant", "FineGrained"];

/// `FolderDto.FeedType`.
pub const FEED_TYPE: &[&str] = &[
    "Undefined",
    "Processes",
    "Libraries",
    "PersonalWorkspace",
    "FolderHierarchy",
];

/// `UserDto.Type`.
pub const USER_TYPE: &[&str] = &[
    "User",
    "Robot",
    "DirectoryUser",
    "DirectoryGroup",
    "DirectoryRobot",
    "DirectoryExternalApplication",
];

/// `AuditLogDto.Action`.
pub const AUDIT_ACTION: &[&str] = &[
    "Unknown",
    "Create",
    "Update",
    "Delete",
    "StartJob",
    "StopJob",
    "Associate",
    "Upload",
    "ChangeStatus",
    "Import",
    "ChangePassword",
    "Register",
    "Toggle",
    "ResetPassword",
    "PasswordResetAttempt",
    "Download",
    "Acknowledge",
    "Activate",
    "Assign",
    "BulkUpload",
    "UpdateFeature",
    "ResumeJob",
    "Start",
    "End",
    "Skip",
    "Unassign",
    "Deactivate",
    "CreateBlobFileSas",
    "DeleteBlobFile",
    "Move",
    "Set",
    "StartDelete",
    "ExploreStart",
    "ExploreEnd",
    "Save",
    "Convert",
    "Forward",
    "BulkComplete",
    "BulkSave",
    "ForceStopJob",
    "MigrateFolder",
    "EditTaskMetadata",
    "Archive",
    "StartMigrateFolders",
    "ToggleUserFolderSubscription",
    "StartUninstall",
    "StartInstall",
    "VideoAccess",
    "AutomaticallyExploreEnd",
    "InstallState",
    "FinishInstall",
    "FinishUninstall",
];

/// `AuditLogDto.Component`.
pub const AUDIT_COMPONENT: &[&str] = &[
    "Unknown",
    "Assets",
    "Environments",
    "Processes",
    "Queues",
    "Robots",
    "Roles",
    "Schedules",
    "Users",
    "Comments",
    "Units",
    "Jobs",
    "Settings",
    "Packages",
    "License",
    "Tenant",
    "Machines",
    "Libraries",
    "Webhooks",
    "ExecutionMedia",
    "Monitoring",
    "CredentialStores",
    "DefaultCredentialStores",
    "TaskCatalogs",
    "Tasks",
    "Maintenance",
    "Folders",
    "DirectoryService",
    "Buckets",
    "Secrets",
    "PersonalWorkspaces",
    "CloudSubscriptions",
    "CloudSnapshots",
    "Sessions",
    "CredentialsProxies",
    "StudioWeb",
    "AutomationSolutions",
    "RemoteControl",
    "TaskSolutions",
    "TaskDefinitions",
    "HttpTriggers",
    "AutopilotForRobotsData",
    "BusinessRules",
    "IntegrationTriggers",
    "JobAttachments",
    "TestSets",
    "TestSetSchedules",
    "TestDataQueues",
    "TestDataQueueItems",
];

/// `LogDto.Level`.
pub const LOG_LEVEL: &[&str] = &["Trace", "Debug", "Info", "Warn", "Error", "Fatal"];

/// `VideoRecordingSettingsDto.VideoRecordingType` (and `QueueItemVideoRecordingType`).
pub const VIDEO_RECORDING_TYPE: &[&str] = &["None", "Failed", "All"];

/// `UpdatePolicyDto.Type`.
pub const UPDATE_POLICY_TYPE: &[&str] =
    &["None", "SpecificVersion", "LatestVersion", "LatestPatch"];
