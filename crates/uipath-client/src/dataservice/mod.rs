//! Paging of Data Service (Data Fabric) entities.
//!
//! Data Service takes user tokens only: a source reading it authenticates with a refresh
//! token (`auth.method = "refresh-token"`, after `uipath-fleet login`); an application
//! token is refused with 403 ([`crate::ClientError::Forbidden`]).
//!
//! - [`crate::UipathClient::dataservice_entities`]: the tenant's entities and their fields.
//! - [`crate::UipathClient::fetch_dataservice_page`]: one page of a [`DataServiceSlice`]
//!   through `POST EntityService/{Entity}/query`, keyset-paged on (time, Id) — see
//!   `query` for why not `start`/`limit` offsets.
//!
//! Relationship fields come back as the related record's Id (`expansionLevel=1`): an
//! extract keeps foreign keys, not copies of the related records. Answers are read with
//! case-insensitive keys (`TotalRecordCount`/`Value` in the docs, `totalRecordCount`/
//! `value` in the SDK).

mod query;

use fleet_core::Priority;
use serde::Serialize;
use serde_json::Value;

pub use query::{DataServiceSlice, DsCursor, DsTimeField, MAX_LIMIT};

use crate::client::{get_ci, Api, ApiRequest};
use crate::error::ClientError;
use crate::odata::Record;
use crate::UipathClient;

/// A Data Service entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DsEntity {
    pub id: String,
    pub name: String,
    pub display_name: String,
    /// As reported by the schema endpoint (may lag behind writes).
    pub record_count: Option<u64>,
    pub fields: Vec<DsField>,
}

/// One field of an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DsField {
    pub name: String,
    /// The SQL type name (`UNIQUEIDENTIFIER`, `NVARCHAR`, `DATETIMEOFFSET`, ...).
    pub sql_type: Option<String>,
    /// `Id`, `CreateTime`, `UpdateTime`, `CreatedBy`, `UpdatedBy`.
    pub is_system: bool,
    pub is_required: bool,
    /// A relationship to another entity (served as the related record's Id).
    pub is_foreign_key: bool,
}

/// One page of a Data Service slice.
#[derive(Debug, Clone, PartialEq)]
pub struct DsPage {
    pub records: Vec<Record>,
    /// Where the next page starts; `None` when this page finished the slice.
    pub next: Option<DsCursor>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    get_ci(v, key).and_then(Value::as_str).map(str::to_owned)
}

fn flag(v: &Value, key: &str) -> bool {
    get_ci(v, key).and_then(Value::as_bool).unwrap_or(false)
}

fn decode_entities(body: &[u8]) -> Result<Vec<DsEntity>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let list = v.as_array().ok_or("the entity list is not an array")?;
    list.iter()
        .map(|e| {
            let name = text(e, "name").ok_or("an entity has no name")?;
            let fields = get_ci(e, "fields")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|f| {
                    Ok(DsField {
                        name: text(f, "name")
                            .ok_or_else(|| format!("a field of {name} has no name"))?,
                        sql_type: get_ci(f, "sqlType").and_then(|t| text(t, "name")),
                        is_system: flag(f, "isSystemField"),
                        is_required: flag(f, "isRequired"),
                        is_foreign_key: flag(f, "isForeignKey"),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(DsEntity {
                id: text(e, "id").unwrap_or_default(),
                display_name: text(e, "displayName").unwrap_or_else(|| name.clone()),
                record_count: get_ci(e, "recordCount").and_then(Value::as_u64),
                name,
                fields,
            })
        })
        .collect()
}

impl UipathClient {
    /// The tenant's Data Service entities with their fields (`GET /api/Entity`).
    pub async fn dataservice_entities(&self) -> Result<Vec<DsEntity>, ClientError> {
        self.send(
            &ApiRequest::get(Api::DataService, "Entity"),
            decode_entities,
        )
        .await
    }

    /// Reads the page of `slice` at `cursor`.
    pub async fn fetch_dataservice_page(
        &self,
        slice: &DataServiceSlice,
        cursor: &DsCursor,
        priority: Priority,
    ) -> Result<DsPage, ClientError> {
        let request = ApiRequest::post(Api::DataService, slice.query_path()?, slice.body(cursor)?)
            .query("expansionLevel", "1")
            .priority(priority);
        let (limit, field) = (slice.limit(), slice.time_field);
        let (records, next) = self
            .send(&request, move |body| query::decode_page(body, field, limit))
            .await?;
        Ok(DsPage { records, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_lists_decode_with_their_fields() {
        let body = br#"[{"id":"e1","name":"Invoice","displayName":"Invoices","recordCount":5,
            "fields":[{"name":"Id","sqlType":{"name":"UNIQUEIDENTIFIER"},"isSystemField":true,"isRequired":true},
                      {"Name":"Customer","SqlType":{"Name":"UNIQUEIDENTIFIER"},"IsForeignKey":true}]}]"#;
        let list = decode_entities(body).unwrap();
        assert_eq!(list[0].name, "Invoice");
        assert_eq!(list[0].record_count, Some(5));
        assert_eq!(list[0].fields[1].name, "Customer");
        assert!(list[0].fields[1].is_foreign_key && !list[0].fields[1].is_system);
        assert_eq!(
            list[0].fields[0].sql_type.as_deref(),
            Some("UNIQUEIDENTIFIER")
        );
        assert!(decode_entities(br#"{"value":[]}"#).is_err());
    }
}
