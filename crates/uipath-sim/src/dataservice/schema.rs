//! The runtime schema of one entity, built from its configuration: the fields in the order
//! records are written, what each holds, and the descriptor served by `GET /api/Entity`.
//!
//! Fields are ordered case-insensitively by name, system fields included, because that is
//! how Data Service writes records (`ClosingDate, CreatedBy, CreateTime, Id, ...` in
//! UiPath's documentation samples). Field lookups by name are case-insensitive too, as the
//! service's SQL backing is.

use serde_json::{json, Value};
use uuid::Uuid;

use super::config::{EntityConfig, FieldKind};
use super::generate::{combine, hash_str, uuid_of};
use crate::value::FieldType;

/// What a field holds. System fields have their own variants because their values follow
/// rules (Id order, UpdateTime ≥ CreateTime) rather than a generator's parameters.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Id,
    CreateTime,
    UpdateTime,
    CreatedBy,
    UpdatedBy,
    Text {
        values: Vec<String>,
        prefix: String,
    },
    Number {
        min: i64,
        max: i64,
    },
    /// Bounds in hundredths, so generated decimals have exactly two digits after the point.
    Decimal {
        min_cents: i64,
        max_cents: i64,
    },
    Boolean,
    DateTime,
    Choice {
        choices: Vec<String>,
    },
    /// `target` indexes the tenant's entity list; key and length let a generator pick a
    /// related record's Id without touching the target entity.
    Relation {
        target: usize,
        target_key: u64,
        target_len: u64,
    },
}

impl Kind {
    pub(crate) fn value_type(&self) -> FieldType {
        match self {
            Kind::Id | Kind::CreatedBy | Kind::UpdatedBy | Kind::Relation { .. } => FieldType::Guid,
            Kind::CreateTime | Kind::UpdateTime | Kind::DateTime => FieldType::DateTime,
            Kind::Text { .. } => FieldType::String,
            Kind::Number { .. } => FieldType::Int64,
            Kind::Decimal { .. } => FieldType::Double,
            Kind::Boolean => FieldType::Bool,
            Kind::Choice { .. } => FieldType::Int32,
        }
    }

    pub(crate) fn is_system(&self) -> bool {
        matches!(
            self,
            Kind::Id | Kind::CreateTime | Kind::UpdateTime | Kind::CreatedBy | Kind::UpdatedBy
        )
    }

    /// A short type name for error messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Kind::Id | Kind::CreatedBy | Kind::UpdatedBy => "uuid",
            Kind::Relation { .. } => "relationship",
            Kind::CreateTime | Kind::UpdateTime | Kind::DateTime => "date-time",
            Kind::Text { .. } => "text",
            Kind::Number { .. } => "number",
            Kind::Decimal { .. } => "decimal",
            Kind::Boolean => "boolean",
            Kind::Choice { .. } => "choice set",
        }
    }
}

/// One field of an entity.
#[derive(Debug, Clone)]
pub(crate) struct FieldSpec {
    pub name: String,
    pub kind: Kind,
    pub required: bool,
    pub null_percent: u8,
    /// Mixed into the record hash so each field draws independent values, and adding a
    /// field to the configuration does not change the values of the others.
    pub salt: u64,
    pub id: Uuid,
}

/// Positions of the system fields in [`EntitySchema::fields`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SystemIdx {
    pub id: usize,
    pub create_time: usize,
    pub update_time: usize,
    pub created_by: usize,
    pub updated_by: usize,
}

/// An entity's fields in record order.
#[derive(Debug)]
pub(crate) struct EntitySchema {
    pub name: String,
    pub display_name: String,
    pub id: Uuid,
    /// Seed of everything generated for this entity in this tenant.
    pub key: u64,
    pub fields: Vec<FieldSpec>,
    pub sys: SystemIdx,
}

/// The per-tenant key of an entity: equal inputs give equal data, whatever the letter case
/// of the org and tenant names.
pub(crate) fn entity_key(tenant_key: u64, name: &str) -> u64 {
    hash_str(tenant_key, &name.to_ascii_lowercase())
}

impl EntitySchema {
    /// Builds the schema of `config`; `all` is the tenant's whole entity list (relationship
    /// targets are looked up in it by name; the configuration has been validated).
    pub(crate) fn build(config: &EntityConfig, all: &[EntityConfig], tenant_key: u64) -> Self {
        let key = entity_key(tenant_key, &config.name);
        let system = [
            ("Id", Kind::Id),
            ("CreateTime", Kind::CreateTime),
            ("UpdateTime", Kind::UpdateTime),
            ("CreatedBy", Kind::CreatedBy),
            ("UpdatedBy", Kind::UpdatedBy),
        ];
        let mut fields: Vec<FieldSpec> = system
            .into_iter()
            .map(|(name, kind)| spec(key, name, kind, true, 0))
            .collect();
        for f in &config.fields {
            let kind = match &f.kind {
                FieldKind::Text { values, prefix } => Kind::Text {
                    values: values.clone(),
                    prefix: if prefix.is_empty() {
                        format!("{}-", f.name)
                    } else {
                        prefix.clone()
                    },
                },
                FieldKind::Number { min, max } => Kind::Number {
                    min: *min,
                    max: *max,
                },
                FieldKind::Decimal { min, max } => Kind::Decimal {
                    min_cents: (min * 100.0).ceil() as i64,
                    max_cents: (max * 100.0).floor() as i64,
                },
                FieldKind::Boolean => Kind::Boolean,
                FieldKind::DateTime => Kind::DateTime,
                FieldKind::ChoiceSet { choices } => Kind::Choice {
                    choices: choices.clone(),
                },
                FieldKind::Relationship { entity } => {
                    let target = all
                        .iter()
                        .position(|e| e.name.eq_ignore_ascii_case(entity))
                        .expect("validated: relationship targets exist");
                    Kind::Relation {
                        target,
                        target_key: entity_key(tenant_key, &all[target].name),
                        target_len: all[target].records,
                    }
                }
            };
            fields.push(spec(key, &f.name, kind, f.required, f.null_percent));
        }
        fields.sort_by_key(|f| f.name.to_ascii_lowercase());
        let at = |k: fn(&Kind) -> bool| {
            fields
                .iter()
                .position(|f| k(&f.kind))
                .expect("system field")
        };
        let sys = SystemIdx {
            id: at(|k| matches!(k, Kind::Id)),
            create_time: at(|k| matches!(k, Kind::CreateTime)),
            update_time: at(|k| matches!(k, Kind::UpdateTime)),
            created_by: at(|k| matches!(k, Kind::CreatedBy)),
            updated_by: at(|k| matches!(k, Kind::UpdatedBy)),
        };
        EntitySchema {
            name: config.name.clone(),
            display_name: config.display_name.clone(),
            id: uuid_of(combine(key, 0x656e_7469_7479)),
            key,
            fields,
            sys,
        }
    }

    /// Position of a field by name, ignoring letter case.
    pub(crate) fn field(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// A short reference to this entity, as nested in field descriptors.
    fn reference(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "displayName": self.display_name,
            "entityType": "Entity",
            "isRbacEnabled": false,
        })
    }

    /// The descriptor served by `GET /api/Entity` and its siblings, in the shape UiPath's
    /// SDKs parse (`id`, `name`, `displayName`, `entityType`, `fields[]` with `sqlType`,
    /// `isRequired`, `isSystemField`, `fieldDisplayType`, `referenceEntity`, ...).
    pub(crate) fn descriptor(&self, all: &[&EntitySchema], record_count: u64) -> Value {
        let fields: Vec<Value> = self
            .fields
            .iter()
            .map(|f| field_descriptor(f, all))
            .collect();
        // A rough size, so storage figures move with the record count like the real ones.
        let mb = record_count as f64 * 0.0005;
        json!({
            "id": self.id,
            "name": self.name,
            "displayName": self.display_name,
            "entityType": "Entity",
            "description": "",
            "isRbacEnabled": false,
            "recordCount": record_count,
            "storageSizeInMB": mb,
            "usedStorageSizeInMB": mb,
            "attachmentSizeInBytes": 0,
            "folderId": Uuid::nil(),
            "fields": fields,
            "externalFields": [],
        })
    }
}

fn spec(entity_key: u64, name: &str, kind: Kind, required: bool, null_percent: u8) -> FieldSpec {
    let salt = hash_str(0x0066_6965_6c64, &name.to_ascii_lowercase());
    FieldSpec {
        name: name.into(),
        kind,
        required,
        null_percent,
        salt,
        id: uuid_of(combine(entity_key, salt)),
    }
}

fn field_descriptor(f: &FieldSpec, all: &[&EntitySchema]) -> Value {
    let (sql_type, display_type) = match &f.kind {
        Kind::Id | Kind::CreatedBy | Kind::UpdatedBy => {
            (json!({"name": "UNIQUEIDENTIFIER"}), "Basic")
        }
        Kind::CreateTime | Kind::UpdateTime | Kind::DateTime => {
            (json!({"name": "DATETIMEOFFSET"}), "Basic")
        }
        Kind::Text { .. } => (json!({"name": "NVARCHAR", "LengthLimit": 200}), "Basic"),
        Kind::Number { min, max } => (
            json!({"name": "BIGINT", "MinValue": min, "MaxValue": max}),
            "Basic",
        ),
        Kind::Decimal {
            min_cents,
            max_cents,
        } => (
            json!({"name": "DECIMAL", "DecimalPrecision": 2, "MinValue": min_cents / 100, "MaxValue": max_cents / 100}),
            "Basic",
        ),
        Kind::Boolean => (json!({"name": "BIT"}), "Basic"),
        Kind::Choice { .. } => (json!({"name": "INT"}), "ChoiceSetSingle"),
        Kind::Relation { .. } => (json!({"name": "UNIQUEIDENTIFIER"}), "Relationship"),
    };
    let reference_entity = match &f.kind {
        Kind::Relation { target, .. } => all.get(*target).map_or(Value::Null, |t| t.reference()),
        _ => Value::Null,
    };
    let choice_set = match &f.kind {
        Kind::Choice { choices } => json!({
            "id": uuid_of(f.salt ^ 0x6368_6f69_6365),
            "name": format!("{}Choices", f.name),
            "displayName": format!("{} choices", f.name),
            "entityType": "ChoiceSet",
            "isRbacEnabled": false,
            "choices": choices.iter().enumerate()
                .map(|(n, c)| json!({"numberId": n, "name": c, "displayName": c}))
                .collect::<Vec<_>>(),
        }),
        _ => Value::Null,
    };
    let choiceset_id = choice_set.get("id").cloned().unwrap_or(Value::Null);
    json!({
        "id": f.id,
        "name": f.name,
        "displayName": f.name,
        "description": "",
        "isPrimaryKey": matches!(f.kind, Kind::Id),
        "isForeignKey": matches!(f.kind, Kind::Relation { .. }),
        "isExternalField": false,
        "isHiddenField": false,
        "isUnique": matches!(f.kind, Kind::Id),
        "referenceName": Value::Null,
        "referenceEntity": reference_entity,
        "referenceChoiceset": choice_set,
        "referenceField": Value::Null,
        "referenceType": "ManyToOne",
        "sqlType": sql_type,
        "isRequired": f.required,
        "isSystemField": f.kind.is_system(),
        "fieldDisplayType": display_type,
        "choicesetId": choiceset_id,
        "defaultValue": Value::Null,
        "isAttachment": false,
        "isRbacEnabled": false,
    })
}
