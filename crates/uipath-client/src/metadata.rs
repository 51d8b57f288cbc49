//! The tenant's own field lists, as [`fleet_core::fields::Field`]s: Orchestrator's
//! `$metadata` (CSDL, asked for as XML with `$format=xml`) and Data Service's entity
//! schemas. The static fallback lives in `fleet_core::fields`; this is the live half of
//! the one field catalog.
//!
//! The CSDL reader follows OData v4's rules that matter for a field list: entity sets
//! name their entity type by qualified name (namespace or alias), a type's `BaseType`
//! fields come first, `Nullable` defaults to true, `Collection(T)` is a list of `T`, and a
//! type outside `Edm` is an enum, a complex type or an entity type of the document.
//! Anything else in the document (annotations, functions, containers' other members) is
//! ignored, so a newer Orchestrator with more in its metadata still reads.

use std::collections::HashMap;

use fleet_core::fields::{Field, FieldType};

use crate::client::{Api, ApiRequest};
use crate::dataservice::DsEntity;
use crate::error::ClientError;
use crate::UipathClient;

/// What a tenant's `$metadata` says: each entity set's fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantMetadata {
    sets: HashMap<String, Vec<Field>>,
}

impl TenantMetadata {
    /// The fields of an entity set (`Jobs`), as the tenant declares them.
    pub fn entity_set(&self, name: &str) -> Option<&[Field]> {
        self.sets.get(name).map(Vec::as_slice)
    }

    /// The entity sets the document declares.
    pub fn entity_sets(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }

    /// Reads a CSDL XML document. The error says what is wrong with it.
    pub fn parse_csdl(xml: &str) -> Result<TenantMetadata, String> {
        let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
        let mut aliases: HashMap<String, String> = HashMap::new();
        let mut types: HashMap<String, Declared> = HashMap::new();
        let mut sets: Vec<(String, String)> = Vec::new();
        for schema in doc.descendants().filter(|n| n.has_tag_name_local("Schema")) {
            let Some(ns) = schema.attribute("Namespace") else {
                continue;
            };
            if let Some(alias) = schema.attribute("Alias") {
                aliases.insert(alias.to_owned(), ns.to_owned());
            }
            for node in schema.children().filter(roxmltree::Node::is_element) {
                let kind = match node.tag_name().name() {
                    "EntityType" => Kind::Entity,
                    "ComplexType" => Kind::Complex,
                    "EnumType" => Kind::Enum,
                    "TypeDefinition" => Kind::Definition,
                    "EntityContainer" => {
                        for set in node
                            .children()
                            .filter(|n| n.has_tag_name_local("EntitySet"))
                        {
                            if let (Some(name), Some(ty)) =
                                (set.attribute("Name"), set.attribute("EntityType"))
                            {
                                sets.push((name.to_owned(), ty.to_owned()));
                            }
                        }
                        continue;
                    }
                    _ => continue,
                };
                let Some(name) = node.attribute("Name") else {
                    continue;
                };
                let members = node
                    .children()
                    .filter(|n| {
                        n.has_tag_name_local("Property")
                            || n.has_tag_name_local("NavigationProperty")
                    })
                    .filter_map(|n| {
                        Some(Member {
                            name: n.attribute("Name")?.to_owned(),
                            ty: n.attribute("Type")?.to_owned(),
                            nullable: n.attribute("Nullable") != Some("false"),
                            navigation: n.tag_name().name() == "NavigationProperty",
                        })
                    })
                    .collect();
                types.insert(
                    format!("{ns}.{name}"),
                    Declared {
                        kind,
                        base: node.attribute("BaseType").map(str::to_owned),
                        underlying: node.attribute("UnderlyingType").map(str::to_owned),
                        members,
                    },
                );
            }
        }
        if sets.is_empty() {
            return Err("no EntitySet in the document; is this an OData $metadata?".into());
        }
        let resolver = Resolver { aliases, types };
        let mut out = HashMap::new();
        for (set, ty) in sets {
            let fields = resolver.fields_of(&ty);
            out.insert(set, fields);
        }
        Ok(TenantMetadata { sets: out })
    }
}

trait LocalName {
    fn has_tag_name_local(&self, name: &str) -> bool;
}

impl LocalName for roxmltree::Node<'_, '_> {
    fn has_tag_name_local(&self, name: &str) -> bool {
        self.is_element() && self.tag_name().name() == name
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Entity,
    Complex,
    Enum,
    Definition,
}

struct Member {
    name: String,
    ty: String,
    nullable: bool,
    navigation: bool,
}

struct Declared {
    kind: Kind,
    base: Option<String>,
    underlying: Option<String>,
    members: Vec<Member>,
}

struct Resolver {
    aliases: HashMap<String, String>,
    types: HashMap<String, Declared>,
}

impl Resolver {
    /// `Alias.Name` → `Namespace.Name`.
    fn qualified<'a>(&'a self, name: &'a str) -> std::borrow::Cow<'a, str> {
        if let Some((prefix, rest)) = name.rsplit_once('.') {
            if let Some(ns) = self.aliases.get(prefix) {
                return format!("{ns}.{rest}").into();
            }
        }
        name.into()
    }

    fn declared(&self, name: &str) -> Option<&Declared> {
        self.types.get(self.qualified(name).as_ref())
    }

    /// A structured type's fields, its base type's first (a cycle stops the walk).
    fn fields_of(&self, ty: &str) -> Vec<Field> {
        let mut chain = Vec::new();
        let mut next = Some(ty.to_owned());
        while let Some(name) = next.take() {
            let Some(d) = self.declared(&name) else { break };
            if chain.len() > 16 {
                break;
            }
            chain.push(d);
            next = d.base.clone();
        }
        let mut out: Vec<Field> = Vec::new();
        for d in chain.into_iter().rev() {
            for m in &d.members {
                let (ty, collection) = self.member_type(m);
                out.retain(|f| f.name != m.name);
                out.push(Field::new(m.name.clone(), ty, collection, m.nullable));
            }
        }
        out
    }

    fn member_type(&self, m: &Member) -> (FieldType, bool) {
        let (inner, collection) = match m
            .ty
            .strip_prefix("Collection(")
            .and_then(|t| t.strip_suffix(')'))
        {
            Some(inner) => (inner, true),
            None => (m.ty.as_str(), false),
        };
        if m.navigation {
            return (FieldType::Navigation, collection);
        }
        (self.type_of(inner, 0), collection)
    }

    fn type_of(&self, name: &str, depth: u8) -> FieldType {
        if let Some(t) = FieldType::from_edm(name) {
            return t;
        }
        match self.declared(name) {
            Some(d) => match d.kind {
                Kind::Enum => FieldType::Enum,
                Kind::Complex => FieldType::Complex,
                Kind::Entity => FieldType::Navigation,
                Kind::Definition => match &d.underlying {
                    Some(u) if depth < 4 => self.type_of(u, depth + 1),
                    _ => FieldType::Json,
                },
            },
            None => FieldType::Json,
        }
    }
}

/// A Data Service entity's fields, typed from their SQL types.
pub fn dataservice_fields(entity: &DsEntity) -> Vec<Field> {
    entity
        .fields
        .iter()
        .map(|f| {
            let sql = f
                .sql_type
                .as_deref()
                .unwrap_or_default()
                .to_ascii_uppercase();
            let ty = match sql.as_str() {
                "UNIQUEIDENTIFIER" => FieldType::Guid,
                "NVARCHAR" | "VARCHAR" | "NCHAR" | "CHAR" | "NTEXT" | "TEXT" => FieldType::String,
                "DATETIMEOFFSET" | "DATETIME" | "DATETIME2" => FieldType::DateTimeOffset,
                "DATE" => FieldType::Date,
                "BIGINT" => FieldType::Int64,
                "INT" => FieldType::Int32,
                "SMALLINT" => FieldType::Int16,
                "TINYINT" => FieldType::Byte,
                "BIT" => FieldType::Boolean,
                "DECIMAL" | "NUMERIC" | "MONEY" => FieldType::Decimal,
                "FLOAT" | "REAL" => FieldType::Double,
                _ => FieldType::Json,
            };
            let nullable = !(f.is_required || f.name == "Id");
            Field::new(f.name.clone(), ty, false, nullable)
        })
        .collect()
}

impl UipathClient {
    /// The tenant's Orchestrator `$metadata`, read as CSDL XML. Not rate-limited by
    /// UiPath (only list reads of Jobs and QueueItems are), and needs no folder.
    pub async fn orchestrator_metadata(&self) -> Result<TenantMetadata, ClientError> {
        let request = ApiRequest::get(Api::Orchestrator, "odata/$metadata").query("$format", "xml");
        self.send(&request, |body| {
            let text =
                std::str::from_utf8(body).map_err(|_| "$metadata is not UTF-8".to_owned())?;
            TenantMetadata::parse_csdl(text)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="UiPath.Server" Alias="Srv" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EnumType Name="JobState"><Member Name="Pending" Value="0"/></EnumType>
      <ComplexType Name="JobError"><Property Name="Code" Type="Edm.String"/></ComplexType>
      <EntityType Name="Entity" Abstract="true">
        <Key><PropertyRef Name="Id"/></Key>
        <Property Name="Id" Type="Edm.Int64" Nullable="false"/>
      </EntityType>
      <EntityType Name="JobDto" BaseType="Srv.Entity">
        <Property Name="Key" Type="Edm.Guid"/>
        <Property Name="State" Type="UiPath.Server.JobState"/>
        <Property Name="JobError" Type="Srv.JobError"/>
        <Property Name="Tags" Type="Collection(Edm.String)"/>
        <Property Name="Count" Type="Edm.Int32" Nullable="false"/>
        <NavigationProperty Name="Robot" Type="Srv.RobotDto"/>
        <Annotation Term="Core.Description" String="ignored"/>
      </EntityType>
      <EntityType Name="RobotDto" BaseType="Srv.Entity"/>
      <EntityContainer Name="Default">
        <EntitySet Name="Jobs" EntityType="UiPath.Server.JobDto"/>
        <EntitySet Name="Robots" EntityType="Srv.RobotDto"/>
        <FunctionImport Name="Whatever" Function="Srv.F"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"#;

    #[test]
    fn csdl_gives_each_entity_set_its_typed_fields() {
        let m = TenantMetadata::parse_csdl(DOC).unwrap();
        let jobs = m.entity_set("Jobs").unwrap();
        let got: Vec<(&str, FieldType, bool, bool)> = jobs
            .iter()
            .map(|f| (f.name.as_ref(), f.ty, f.collection, f.nullable))
            .collect();
        assert_eq!(
            got,
            [
                ("Id", FieldType::Int64, false, false),
                ("Key", FieldType::Guid, false, true),
                ("State", FieldType::Enum, false, true),
                ("JobError", FieldType::Complex, false, true),
                ("Tags", FieldType::String, true, true),
                ("Count", FieldType::Int32, false, false),
                ("Robot", FieldType::Navigation, false, true),
            ]
        );
        assert_eq!(m.entity_set("Robots").unwrap().len(), 1);
        assert!(m.entity_set("Nope").is_none());
    }

    #[test]
    fn a_document_that_is_not_csdl_is_refused_with_the_reason() {
        assert!(TenantMetadata::parse_csdl("{\"value\":[]}")
            .unwrap_err()
            .contains("not XML"));
        assert!(TenantMetadata::parse_csdl("<a/>")
            .unwrap_err()
            .contains("no EntitySet"));
    }
}
