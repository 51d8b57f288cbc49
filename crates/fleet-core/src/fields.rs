//! The field catalog: per dataset, its fields with their OData (EDM) types, whether they
//! may be null, and which are structured values or links to other entities. **The one
//! owner of field knowledge**: the coordinator checks `select` against it at submit, and
//! sinks that need column types read it too.
//!
//! Two layers, the tenant first:
//! - **the tenant's own metadata** — Orchestrator's `$metadata` (CSDL) and Data Service's
//!   entity schemas — read by `uipath-client` into [`Field`] lists. UiPath adds fields
//!   between releases, so what a tenant says it has is the truth for that tenant;
//! - **the built-in list** ([`orchestrator`]), generated from UiPath's OpenAPI
//!   description of Orchestrator v20.0 (`tests/field_catalog.rs` regenerates it from
//!   `../shared/reference/uipath-orchestrator-openapi.yaml` and fails when the committed
//!   table differs), used when the tenant's metadata cannot be read. Data Service entities
//!   are the tenant's own and have no built-in list.
//!
//! How a `select` is judged against both is [`select`].

pub mod select;

mod openapi;

use std::borrow::Cow;

/// The type of a field, as OData's CSDL names it (`Edm.*`), plus the three shapes that
/// are not primitive values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Boolean,
    Byte,
    Int16,
    Int32,
    Int64,
    Single,
    Double,
    Decimal,
    String,
    Guid,
    /// A point in time with an offset (UiPath serves UTC, `…Z`).
    DateTimeOffset,
    Date,
    TimeOfDay,
    Duration,
    /// Base64 text on the wire (`RowVersion`).
    Binary,
    /// An enumeration, served as its member's name.
    Enum,
    /// A structured value of its own fields (a complex type: `JobError`,
    /// `ProcessingException`), served inline.
    Complex,
    /// A link to another entity (`Robot` of a job): absent from list answers unless
    /// `$expand`ed.
    Navigation,
    /// Anything else: free-form JSON (`Edm.Untyped`, open objects), or a type the catalog
    /// does not know.
    Json,
}

impl FieldType {
    /// The CSDL name of a primitive type (`Edm.Int64`); `None` for the other shapes.
    pub fn edm_name(self) -> Option<&'static str> {
        Some(match self {
            FieldType::Boolean => "Edm.Boolean",
            FieldType::Byte => "Edm.Byte",
            FieldType::Int16 => "Edm.Int16",
            FieldType::Int32 => "Edm.Int32",
            FieldType::Int64 => "Edm.Int64",
            FieldType::Single => "Edm.Single",
            FieldType::Double => "Edm.Double",
            FieldType::Decimal => "Edm.Decimal",
            FieldType::String => "Edm.String",
            FieldType::Guid => "Edm.Guid",
            FieldType::DateTimeOffset => "Edm.DateTimeOffset",
            FieldType::Date => "Edm.Date",
            FieldType::TimeOfDay => "Edm.TimeOfDay",
            FieldType::Duration => "Edm.Duration",
            FieldType::Binary => "Edm.Binary",
            FieldType::Enum | FieldType::Complex | FieldType::Navigation | FieldType::Json => {
                return None
            }
        })
    }

    /// A name for people and APIs: the CSDL name of a primitive (`Edm.Int64`), else
    /// `Enum`, `Complex`, `Navigation` or `Json`.
    pub fn label(self) -> &'static str {
        self.edm_name().unwrap_or(match self {
            FieldType::Enum => "Enum",
            FieldType::Complex => "Complex",
            FieldType::Navigation => "Navigation",
            _ => "Json",
        })
    }

    /// The type a CSDL `Type` attribute names, for primitives (`Edm.String`); `None` for
    /// a name outside the `Edm` namespace (an enum, complex or entity type of the
    /// service, which only the document's own declarations can tell apart).
    pub fn from_edm(name: &str) -> Option<FieldType> {
        Some(match name {
            "Edm.Boolean" => FieldType::Boolean,
            "Edm.Byte" | "Edm.SByte" => FieldType::Byte,
            "Edm.Int16" => FieldType::Int16,
            "Edm.Int32" => FieldType::Int32,
            "Edm.Int64" => FieldType::Int64,
            "Edm.Single" => FieldType::Single,
            "Edm.Double" => FieldType::Double,
            "Edm.Decimal" => FieldType::Decimal,
            "Edm.String" => FieldType::String,
            "Edm.Guid" => FieldType::Guid,
            "Edm.DateTimeOffset" | "Edm.DateTime" => FieldType::DateTimeOffset,
            "Edm.Date" => FieldType::Date,
            "Edm.TimeOfDay" => FieldType::TimeOfDay,
            "Edm.Duration" => FieldType::Duration,
            "Edm.Binary" => FieldType::Binary,
            _ if name.starts_with("Edm.") => FieldType::Json,
            _ => return None,
        })
    }
}

/// One field of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name as served (case matters: OData names are case-sensitive).
    pub name: Cow<'static, str>,
    pub ty: FieldType,
    /// A list of `ty` values (`Collection(…)` in CSDL, an array in OpenAPI).
    pub collection: bool,
    /// Whether the value may be null. The built-in list says `false` only for keys and
    /// the fields UiPath's description marks required, so it errs on the nullable side.
    pub nullable: bool,
}

impl Field {
    /// A field of the built-in list.
    pub const fn fixed(name: &'static str, ty: FieldType, nullable: bool) -> Field {
        Field {
            name: Cow::Borrowed(name),
            ty,
            collection: false,
            nullable,
        }
    }

    /// A list-valued field of the built-in list.
    pub const fn list(name: &'static str, ty: FieldType) -> Field {
        Field {
            name: Cow::Borrowed(name),
            ty,
            collection: true,
            nullable: true,
        }
    }

    /// A field read from a tenant's metadata.
    pub fn new(name: impl Into<String>, ty: FieldType, collection: bool, nullable: bool) -> Field {
        Field {
            name: Cow::Owned(name.into()),
            ty,
            collection,
            nullable,
        }
    }
}

/// The built-in fields of an Orchestrator dataset, by slug (`jobs`) or entity set name
/// (`Jobs`), any case; `None` for anything else (Data Service entities included).
pub fn orchestrator(dataset: &str) -> Option<&'static [Field]> {
    let def = crate::dataset::by_name(dataset)?;
    openapi::TABLE
        .iter()
        .find(|(set, _, _)| *set == def.entity)
        .map(|(_, _, fields)| *fields)
}

/// The name of the OpenAPI DTO the built-in list of an entity set came from (`JobDto`).
pub fn orchestrator_dto(dataset: &str) -> Option<&'static str> {
    let def = crate::dataset::by_name(dataset)?;
    openapi::TABLE
        .iter()
        .find(|(set, _, _)| *set == def.entity)
        .map(|(_, dto, _)| *dto)
}

/// What a name is in a field list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The field, spelled exactly so.
    Found(&'a Field),
    /// Not a field; the closest name, when one is close (a different case, or a typo of
    /// a letter or two).
    Missing { closest: Option<&'a str> },
}

/// Looks `name` up in `fields`: exact match, else the closest name if one is close.
pub fn lookup<'a>(fields: &'a [Field], name: &str) -> Lookup<'a> {
    if let Some(f) = fields.iter().find(|f| f.name == name) {
        return Lookup::Found(f);
    }
    Lookup::Missing {
        closest: closest(fields.iter().map(|f| f.name.as_ref()), name),
    }
}

/// The candidate nearest `name`: one that differs only in case, else the one at the
/// smallest edit distance if that is at most a third of the name (at least 1).
pub fn closest<'a>(
    candidates: impl Iterator<Item = &'a str> + Clone,
    name: &str,
) -> Option<&'a str> {
    if let Some(c) = candidates.clone().find(|c| c.eq_ignore_ascii_case(name)) {
        return Some(c);
    }
    let lower = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .map(|c| (strsim::levenshtein(&c.to_ascii_lowercase(), &lower), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dataset_has_its_built_in_fields_with_types() {
        for d in crate::dataset::all() {
            let fields = orchestrator(d.slug).unwrap_or_else(|| panic!("{} has no fields", d.slug));
            if let Some(time) = d.time_field {
                let f = fields.iter().find(|f| f.name == time).expect(time);
                assert_eq!(f.ty, FieldType::DateTimeOffset, "{}.{time}", d.slug);
            }
            if let Some(id) = d.id_field {
                let f = fields.iter().find(|f| f.name == id).expect(id);
                assert_eq!(
                    (f.ty, f.nullable),
                    (FieldType::Int64, false),
                    "{}.{id}",
                    d.slug
                );
            }
            let mut names: Vec<&str> = fields.iter().map(|f| f.name.as_ref()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), fields.len(), "{}: a name twice", d.slug);
        }
        let jobs = orchestrator("Jobs").unwrap();
        let ty = |n: &str| jobs.iter().find(|f| f.name == n).map(|f| f.ty);
        assert_eq!(ty("State"), Some(FieldType::Enum));
        assert_eq!(ty("Key"), Some(FieldType::Guid));
        assert_eq!(ty("Robot"), Some(FieldType::Navigation));
        assert_eq!(ty("JobError"), Some(FieldType::Complex));
        assert_eq!(orchestrator_dto("jobs"), Some("JobDto"));
        let qi = orchestrator("queue-items").unwrap();
        let rv = qi.iter().find(|f| f.name == "RowVersion").unwrap();
        assert_eq!(rv.ty, FieldType::Binary);
        assert!(orchestrator("dataservice/Invoice").is_none());
    }

    #[test]
    fn lookups_are_exact_and_suggest_near_names() {
        let jobs = orchestrator("jobs").unwrap();
        assert!(matches!(lookup(jobs, "State"), Lookup::Found(f) if f.name == "State"));
        assert_eq!(
            lookup(jobs, "state"),
            Lookup::Missing {
                closest: Some("State")
            }
        );
        assert_eq!(
            lookup(jobs, "CreationTme"),
            Lookup::Missing {
                closest: Some("CreationTime")
            }
        );
        assert_eq!(
            lookup(jobs, "NoSuchField"),
            Lookup::Missing { closest: None }
        );
    }
}
