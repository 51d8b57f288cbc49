//! The typed configuration of the simulated Data Service: which entities a tenant has, how
//! many records each holds, their custom fields and the span their records were created in.
//!
//! The default is three demo entities (see `demo`) covering every field kind the simulator
//! supports. [`DataServiceConfig::validate`] checks the
//! whole configuration up front so a bad file fails at startup with a message naming the
//! entity and field, never later in a request.

use serde::{Deserialize, Serialize};

/// Records per entity above this are refused: the simulator keeps a per-entity index in
/// memory and scans all records for a query, which stays fast only at this size.
pub const MAX_RECORDS: u64 = 1_000_000;

/// The system fields every record carries; custom fields may not reuse these names.
pub const SYSTEM_FIELDS: [&str; 5] = ["Id", "CreateTime", "UpdateTime", "CreatedBy", "UpdatedBy"];

/// Data Service configuration shared by every tenant (each tenant's data differs through
/// its org and tenant names).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DataServiceConfig {
    /// Seed of every generated value.
    pub seed: u64,
    /// The entities each tenant has, in the order `GET /api/Entity` lists them.
    pub entities: Vec<EntityConfig>,
}

/// One entity (a table) and the records generated for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntityConfig {
    /// The entity name used in URLs (`EntityService/{name}/read`).
    pub name: String,
    /// The human-readable name served in schema descriptors.
    pub display_name: String,
    /// Number of generated records.
    pub records: u64,
    /// Custom fields, besides the system fields every record has.
    pub fields: Vec<CustomField>,
    /// Generated records were created in `[span_start, span_end)` (RFC 3339), evenly
    /// spread and non-decreasing in record order; updates also fall before `span_end`.
    pub span_start: String,
    pub span_end: String,
}

/// A custom field of an entity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomField {
    pub name: String,
    /// What the field holds and how its values are generated.
    #[serde(flatten)]
    pub kind: FieldKind,
    /// Required fields are never null and must be given on insert.
    #[serde(default)]
    pub required: bool,
    /// Percentage (0–100) of generated records where an optional field is null.
    #[serde(default)]
    pub null_percent: u8,
}

/// The kind of a custom field, with its generation parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    /// Text: drawn from `values` when it is non-empty, else `{prefix}{index:06}` (unique).
    Text {
        #[serde(default)]
        values: Vec<String>,
        #[serde(default)]
        prefix: String,
    },
    /// A whole number in `[min, max]`.
    Number {
        min: i64,
        max: i64,
    },
    /// A decimal with two digits after the point in `[min, max]`.
    Decimal {
        min: f64,
        max: f64,
    },
    Boolean,
    /// A date-time up to 60 days after the record's creation.
    DateTime,
    /// A single-choice set; records hold the choice's number (its position in `choices`).
    ChoiceSet {
        choices: Vec<String>,
    },
    /// A many-to-one relationship: records hold the Id of a record of `entity`.
    Relationship {
        entity: String,
    },
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("data service entity #{index}: the name must be letters and digits, starting with a letter (got {name:?})")]
    BadEntityName { index: usize, name: String },
    #[error("data service entity {0:?} is defined twice (names are case-insensitive)")]
    DuplicateEntity(String),
    #[error("data service entity {entity:?}: field name {field:?} must be letters and digits, starting with a letter, and not a system field")]
    BadFieldName { entity: String, field: String },
    #[error("data service entity {entity:?}: field {field:?} is defined twice (names are case-insensitive)")]
    DuplicateField { entity: String, field: String },
    #[error("data service entity {entity:?}: {what}")]
    Invalid { entity: String, what: String },
}

impl Default for DataServiceConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            entities: super::demo::entities(),
        }
    }
}

impl DataServiceConfig {
    /// Checks names, spans, ranges and relationship targets; the first problem found is
    /// returned with the entity and field it concerns.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for (index, e) in self.entities.iter().enumerate() {
            if !is_name(&e.name) {
                return Err(ConfigError::BadEntityName {
                    index,
                    name: e.name.clone(),
                });
            }
            if !seen.insert(e.name.to_ascii_lowercase()) {
                return Err(ConfigError::DuplicateEntity(e.name.clone()));
            }
        }
        for e in &self.entities {
            let invalid = |what: String| ConfigError::Invalid {
                entity: e.name.clone(),
                what,
            };
            if e.records > MAX_RECORDS {
                return Err(invalid(format!("records must be at most {MAX_RECORDS}")));
            }
            let start = super::coerce::parse_datetime(&e.span_start).ok_or_else(|| {
                invalid(format!(
                    "span_start {:?} is not an RFC 3339 date-time",
                    e.span_start
                ))
            })?;
            let end = super::coerce::parse_datetime(&e.span_end).ok_or_else(|| {
                invalid(format!(
                    "span_end {:?} is not an RFC 3339 date-time",
                    e.span_end
                ))
            })?;
            if end <= start {
                return Err(invalid("span_end must be after span_start".into()));
            }
            let mut fields = std::collections::HashSet::new();
            for f in &e.fields {
                let reserved = SYSTEM_FIELDS
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&f.name));
                if !is_name(&f.name) || reserved {
                    return Err(ConfigError::BadFieldName {
                        entity: e.name.clone(),
                        field: f.name.clone(),
                    });
                }
                if !fields.insert(f.name.to_ascii_lowercase()) {
                    return Err(ConfigError::DuplicateField {
                        entity: e.name.clone(),
                        field: f.name.clone(),
                    });
                }
                if f.null_percent > 100 {
                    return Err(invalid(format!(
                        "field {}: null_percent must be 0..=100",
                        f.name
                    )));
                }
                let bad = match &f.kind {
                    FieldKind::Number { min, max } if min > max => Some("min must not exceed max"),
                    FieldKind::Decimal { min, max }
                        if !(min <= max && min.is_finite() && max.is_finite()) =>
                    {
                        Some("min and max must be finite with min <= max")
                    }
                    FieldKind::ChoiceSet { choices } if choices.is_empty() => {
                        Some("choices must not be empty")
                    }
                    FieldKind::Relationship { entity }
                        if !seen.contains(&entity.to_ascii_lowercase()) =>
                    {
                        Some("the related entity is not defined")
                    }
                    _ => None,
                };
                if let Some(what) = bad {
                    return Err(invalid(format!("field {}: {what}", f.name)));
                }
            }
        }
        Ok(())
    }
}

/// Data Service names: a letter, then letters and digits (the rule UiPath's UI enforces).
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: FieldKind) -> CustomField {
        CustomField {
            name: name.into(),
            kind,
            required: false,
            null_percent: 0,
        }
    }

    #[test]
    fn the_default_configuration_is_valid_and_round_trips_through_json() {
        let config = DataServiceConfig::default();
        config.validate().unwrap();
        let json = serde_json::to_string(&config).unwrap();
        let back: DataServiceConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        assert!(
            json.contains(r#""type":"relationship","entity":"Customer""#),
            "{json}"
        );
    }

    #[test]
    fn validation_names_the_entity_and_field_at_fault() {
        let mut config = DataServiceConfig::default();
        config.entities[1]
            .fields
            .push(field("UpdateTime", FieldKind::Boolean));
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("Invoice") && err.contains("UpdateTime"),
            "{err}"
        );

        let mut config = DataServiceConfig::default();
        config.entities[0].fields.push(field(
            "Owner",
            FieldKind::Relationship {
                entity: "Nope".into(),
            },
        ));
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("Customer") && err.contains("Owner"), "{err}");

        let mut config = DataServiceConfig::default();
        config.entities[2].span_end = "yesterday".into();
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("span_end"));

        let mut config = DataServiceConfig::default();
        config.entities.push(config.entities[0].clone());
        assert_eq!(
            config.validate(),
            Err(ConfigError::DuplicateEntity("Customer".into()))
        );
    }
}
