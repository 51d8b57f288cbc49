//! `/odata/QueueDefinitions`: the queues of a folder, with their SLA and retry settings.
//!
//! Served from the tenant's reference sets; ordered by id and by `CreationTime`. A queue
//! points at the process that works it and, when one exists, at its queue trigger.

use crate::data::catalog::QueueInfo;
use crate::data::entities::reference::{in_folder, ReferenceSet};
use crate::data::entities::{cow, opt_int, schema, RowBuf};
use crate::data::{AsOf, EntityDef};
use crate::value::{Row, Schema, Val};

pub static QUEUE_DEFINITION: Schema = schema!("QueueDefinitionDto" {
    Key: Guid,
    Name: String,
    Description: String,
    MaxNumberOfRetries: Int32,
    AcceptAutomaticallyRetry: Bool,
    RetryAbandonedItems: Bool,
    EnforceUniqueReference: Bool,
    Encrypted: Bool,
    SpecificDataJsonSchema: String,
    OutputDataJsonSchema: String,
    AnalyticsDataJsonSchema: String,
    CreationTime: DateTime,
    ProcessScheduleId: Int64,
    SlaInMinutes: Int32,
    RiskSlaInMinutes: Int32,
    ReleaseId: Int64,
    IsProcessInCurrentFolder: Bool,
    FoldersCount: Int32,
    OrganizationUnitId: Int64,
    OrganizationUnitFullyQualifiedName: String,
    Tags: Json,
    Id: Int64,
});

pub static QUEUE_DEFINITIONS: EntityDef = EntityDef {
    time_field: Some("CreationTime"),
    ..EntityDef::in_folders("QueueDefinitions", &QUEUE_DEFINITION, "OR.Queues")
};

pub(crate) struct QueueDefinitions;

impl ReferenceSet for QueueDefinitions {
    type Entry = QueueInfo;

    fn def(&self) -> &'static EntityDef {
        &QUEUE_DEFINITIONS
    }

    fn entries<'t>(&self, t: &'t AsOf<'_>, part: usize) -> &'t [QueueInfo] {
        in_folder(&t.queues, part)
    }

    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row {
        let q = &t.queues[part][i as usize];
        let folder = &t.folders[part];
        let release = &t.releases[part][q.release];
        let trigger = t.schedules[part]
            .iter()
            .find(|s| s.queue == Some(i as usize));
        let mut r = RowBuf::new(&QUEUE_DEFINITION);
        r.put("Key", Val::Guid(q.key));
        r.put("Name", cow(&q.name));
        r.put("Description", Val::str(release.spec.description));
        r.put("MaxNumberOfRetries", Val::Int(i64::from(q.max_retries)));
        r.put("AcceptAutomaticallyRetry", Val::Bool(q.max_retries > 0));
        r.put("RetryAbandonedItems", Val::Bool(false));
        r.put("EnforceUniqueReference", Val::Bool(q.unique_reference));
        r.put("Encrypted", Val::Bool(false));
        r.put("SpecificDataJsonSchema", Val::Null);
        r.put("OutputDataJsonSchema", Val::Null);
        r.put("AnalyticsDataJsonSchema", Val::Null);
        r.put("CreationTime", Val::DateTime(q.created_ms));
        r.put("ProcessScheduleId", opt_int(trigger.map(|s| s.id)));
        let (sla, risk) = t
            .refs()
            .and_then(|st| st.queue_sla.get(&(part, i as usize)).copied())
            .unwrap_or((q.sla_minutes.unwrap_or(0), q.risk_sla_minutes.unwrap_or(0)));
        r.put("SlaInMinutes", Val::Int(i64::from(sla)));
        r.put("RiskSlaInMinutes", Val::Int(i64::from(risk)));
        r.put("ReleaseId", Val::Int(release.id));
        r.put("IsProcessInCurrentFolder", Val::Bool(true));
        r.put("FoldersCount", Val::Int(1));
        r.put("OrganizationUnitId", Val::Int(folder.id));
        r.put(
            "OrganizationUnitFullyQualifiedName",
            Val::string(folder.fully_qualified_name.clone()),
        );
        r.put("Tags", Val::Raw("[]".into()));
        r.put("Id", Val::Int(q.id));
        r.finish()
    }
}
