//! `$metadata`: the simulated Orchestrator describes what it serves as CSDL — XML on
//! request, JSON by default — with every entity set, its type's fields in schema order,
//! their EDM types and the key; a token is required, no scope or folder.

mod common;

use common::Client;
use serde_json::Value;
use uipath_sim::data::entities::all;
use uipath_sim::value::FieldType;

fn edm(ty: FieldType) -> Option<&'static str> {
    Some(match ty {
        FieldType::Int64 => "Edm.Int64",
        FieldType::Int32 => "Edm.Int32",
        FieldType::Double => "Edm.Double",
        FieldType::Bool => "Edm.Boolean",
        FieldType::String => "Edm.String",
        FieldType::DateTime => "Edm.DateTimeOffset",
        FieldType::Guid => "Edm.Guid",
        FieldType::Json => "Edm.Untyped",
        FieldType::Enum(_) | FieldType::Object(_) => return None,
    })
}

#[tokio::test]
async fn metadata_declares_every_entity_set_as_it_is_served() {
    let c = Client::demo().await;
    // Any valid token of the tenant will do: the document needs no scope.
    let token = c.token("OR.Folders.Read").await;
    let resp = c
        .get("$metadata", &token, None, &[("$format", "xml")])
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("xml"));
    let text = resp.text().await.unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let by_name = |tag: &str, name: &str| {
        doc.descendants()
            .find(|n| n.tag_name().name() == tag && n.attribute("Name") == Some(name))
    };
    for g in all() {
        let def = g.def();
        let set = by_name("EntitySet", def.name).unwrap_or_else(|| panic!("{}", def.name));
        let ty = set.attribute("EntityType").unwrap();
        assert_eq!(ty.rsplit('.').next(), Some(def.schema.dto));
        let entity = by_name("EntityType", def.schema.dto).unwrap();
        let props: Vec<_> = entity
            .children()
            .filter(|n| n.tag_name().name() == "Property")
            .collect();
        let names: Vec<&str> = props.iter().map(|p| p.attribute("Name").unwrap()).collect();
        let expected: Vec<&str> = def.schema.fields.iter().map(|f| f.name).collect();
        assert_eq!(names, expected, "{}", def.name);
        for (p, f) in props.iter().zip(def.schema.fields) {
            let ty = p.attribute("Type").unwrap();
            match (edm(f.ty), f.ty) {
                (Some(e), _) => assert_eq!(ty, e, "{}.{}", def.name, f.name),
                (None, FieldType::Enum(values)) => {
                    let decl = by_name("EnumType", ty.rsplit('.').next().unwrap()).unwrap();
                    let members: Vec<&str> = decl
                        .children()
                        .filter_map(|m| m.attribute("Name"))
                        .collect();
                    assert_eq!(members, values, "{}.{}", def.name, f.name);
                }
                (None, _) => {
                    let name = ty.rsplit('.').next().unwrap();
                    assert!(
                        by_name("ComplexType", name).is_some(),
                        "{}.{}",
                        def.name,
                        f.name
                    );
                }
            }
            let key = def.id_field == Some(f.name);
            assert_eq!(
                p.attribute("Nullable") == Some("false"),
                key,
                "{}.{}",
                def.name,
                f.name
            );
        }
    }

    // JSON CSDL by default, the same sets.
    let resp = c.get("$metadata", &token, None, &[]).await;
    assert_eq!(resp.status(), 200);
    let json: Value = resp.json().await.unwrap();
    let container = json["$EntityContainer"].as_str().unwrap();
    let (ns, name) = container.rsplit_once('.').unwrap();
    for g in all() {
        assert_eq!(json[ns][name][g.def().name]["$Collection"], true);
    }
    assert_eq!(json[ns]["JobDto"]["Id"]["$Type"], "Edm.Int64");

    // Without a token: 401, as every OData read.
    let resp = c.http.get(c.odata_url("$metadata")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let stats = c.stats().await;
    assert_eq!(stats["requests"]["odata/$metadata"]["200"], 2, "{stats}");
}
