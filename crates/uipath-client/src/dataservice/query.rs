//! The `query` body that reads one page of a Data Service slice, and the cursor after it.
//!
//! Paging choice: **keyset on (time, Id)**, not `start`/`limit` offsets. The body filters
//! `T >= from AND T < to AND (T > t OR (T = t AND Id > id))` and sorts by `T` then `Id`,
//! always with `start = 0`. The API's comparison operators accept a uuid `Id` (the
//! simulator compares uuids the way it sorts them, which is how SQL Server treats one
//! `uniqueidentifier` column in both `ORDER BY` and `>`), and the cursor only ever sends
//! back an Id exactly as served, so client and server never need to agree on uuid order.
//! Offsets inside a time slice would skip records whenever an update moved one out of
//! the slice ahead of the reader; a keyset cannot.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::client::get_ci;
use crate::error::ClientError;
use crate::odata::{format_datetime, is_safe_datetime, Record};

/// Data Service serves at most this many records per page.
pub const MAX_LIMIT: u32 = 1000;

/// The system field a slice is cut on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DsTimeField {
    /// Last change: catches inserts and updates (the default, for incremental sync).
    #[default]
    UpdateTime,
    /// Creation: a record stays in one slice forever (for backfills of immutable data).
    CreateTime,
}

impl DsTimeField {
    pub fn as_str(self) -> &'static str {
        match self {
            DsTimeField::UpdateTime => "UpdateTime",
            DsTimeField::CreateTime => "CreateTime",
        }
    }
}

/// A part of a Data Service entity: a time range on `time_field`, `from` inclusive, `to`
/// exclusive (either may be open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataServiceSlice {
    /// The entity's name, as listed by `GET /api/Entity`.
    pub entity: String,
    pub time_field: DsTimeField,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Fields to return (`selectedFields`); `Id` and the time field are always added.
    pub select: Option<Vec<String>>,
    /// Records per page, at most [`MAX_LIMIT`] (the default).
    pub page_size: Option<u32>,
}

impl DataServiceSlice {
    pub fn new(entity: impl Into<String>) -> Self {
        DataServiceSlice {
            entity: entity.into(),
            time_field: DsTimeField::default(),
            from: None,
            to: None,
            select: None,
            page_size: None,
        }
    }

    pub fn range(mut self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        self.from = from;
        self.to = to;
        self
    }

    pub fn time_field(mut self, field: DsTimeField) -> Self {
        self.time_field = field;
        self
    }

    pub fn select<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.select = Some(fields.into_iter().map(Into::into).collect());
        self
    }

    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// `limit` of a full page.
    pub fn limit(&self) -> u32 {
        self.page_size.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT)
    }

    /// The path of the entity's `query` endpoint, relative to the Data Service root.
    pub(crate) fn query_path(&self) -> Result<String, ClientError> {
        check_name("entity", &self.entity)?;
        Ok(format!("EntityService/{}/query", self.entity))
    }

    /// The body reading the page at `cursor`.
    pub(crate) fn body(&self, cursor: &DsCursor) -> Result<Value, ClientError> {
        let t = self.time_field.as_str();
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from > to {
                return Err(ClientError::Config(format!(
                    "slice of {}: from {from} is after to {to}",
                    self.entity
                )));
            }
        }
        let cond = |op: &str, value: Value| json!({"fieldName": t, "operator": op, "value": value});
        let mut filters = Vec::new();
        let mut groups = Vec::new();
        match cursor {
            DsCursor::Start => {
                if let Some(from) = self.from {
                    filters.push(cond(">=", format_datetime(&from).into()));
                }
            }
            DsCursor::After { time, id } => {
                if !is_safe_datetime(time) || uuid::Uuid::parse_str(id).is_err() {
                    return Err(ClientError::Config(format!(
                        "cursor ({time}, {id}) is not a (datetime, uuid) pair"
                    )));
                }
                groups.push(json!({
                    "logicalOperator": 1,
                    "queryFilters": [cond(">", time.as_str().into())],
                    "filterGroups": [{
                        "logicalOperator": 0,
                        "queryFilters": [
                            cond("=", time.as_str().into()),
                            {"fieldName": "Id", "operator": ">", "value": id},
                        ],
                    }],
                }));
            }
        }
        if let Some(to) = self.to {
            filters.push(cond("<", format_datetime(&to).into()));
        }
        let mut body = json!({
            "filterGroup": {"logicalOperator": 0, "queryFilters": filters, "filterGroups": groups},
            "sortOptions": [
                {"fieldName": t, "isDescending": false},
                {"fieldName": "Id", "isDescending": false},
            ],
            "start": 0,
            "limit": self.limit(),
        });
        if let Some(select) = &self.select {
            let mut fields: Vec<&str> = Vec::new();
            for f in select.iter().map(String::as_str).chain(["Id", t]) {
                check_name("select", f)?;
                if !fields.iter().any(|x| x.eq_ignore_ascii_case(f)) {
                    fields.push(f);
                }
            }
            body["selectedFields"] = json!(fields);
        }
        Ok(body)
    }
}

/// Where a Data Service slice read stands; serializable for checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DsCursor {
    #[default]
    Start,
    /// After the record whose time field was served as `time` and whose Id is `id`.
    After { time: String, id: String },
}

/// Decodes a `query` answer (`{"TotalRecordCount": n, "Value": [...]}`, keys in any case)
/// and computes the cursor after it; the error is a malformed-body detail.
pub(crate) fn decode_page(
    body: &[u8],
    time_field: DsTimeField,
    limit: u32,
) -> Result<(Vec<Record>, Option<DsCursor>), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let items = get_ci(&v, "value")
        .and_then(Value::as_array)
        .ok_or("no `value` array in the answer")?;
    let mut records = Vec::with_capacity(items.len());
    for (n, item) in items.iter().enumerate() {
        let record = item
            .as_object()
            .ok_or_else(|| format!("record {n} is not an object"))?;
        let id_ok = get_ci(item, "Id")
            .and_then(Value::as_str)
            .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok());
        if !id_ok {
            return Err(format!("record {n} has no uuid Id"));
        }
        records.push(record.clone());
    }
    if records.len() < limit as usize {
        return Ok((records, None));
    }
    let last = items.last().expect("a full page is not empty");
    let time = get_ci(last, time_field.as_str())
        .and_then(Value::as_str)
        .filter(|t| is_safe_datetime(t))
        .ok_or_else(|| format!("the last record has no datetime {}", time_field.as_str()))?;
    let id = get_ci(last, "Id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok((
        records,
        Some(DsCursor::After {
            time: time.to_owned(),
            id: id.to_owned(),
        }),
    ))
}

fn check_name(what: &str, name: &str) -> Result<(), ClientError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ClientError::Config(format!(
            "{what}: `{name}` is not a Data Service name"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const ID: &str = "0b7c5f0e-1111-4222-8333-444455556666";

    #[test]
    fn keyset_body_filters_past_the_cursor_inside_the_range() {
        let from = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2024, 2, 1, 0, 0, 0).unwrap();
        let slice = DataServiceSlice::new("Invoice")
            .range(Some(from), Some(to))
            .page_size(5000);
        let first = slice.body(&DsCursor::Start).unwrap();
        assert_eq!(first["limit"], 1000);
        assert_eq!(first["start"], 0);
        assert_eq!(
            first["filterGroup"]["queryFilters"],
            json!([
                {"fieldName": "UpdateTime", "operator": ">=", "value": "2024-01-01T00:00:00.000Z"},
                {"fieldName": "UpdateTime", "operator": "<", "value": "2024-02-01T00:00:00.000Z"},
            ])
        );
        assert_eq!(
            first["sortOptions"][1],
            json!({"fieldName": "Id", "isDescending": false})
        );
        let next = slice
            .body(&DsCursor::After {
                time: "2024-01-05T10:00:00.123Z".into(),
                id: ID.into(),
            })
            .unwrap();
        let group = &next["filterGroup"]["filterGroups"][0];
        assert_eq!(group["logicalOperator"], 1);
        assert_eq!(group["queryFilters"][0]["operator"], ">");
        assert_eq!(
            group["filterGroups"][0]["queryFilters"][1],
            json!({"fieldName": "Id", "operator": ">", "value": ID})
        );
        assert_eq!(
            next["filterGroup"]["queryFilters"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "only `< to`"
        );
    }

    #[test]
    fn select_adds_id_and_time_and_names_are_checked() {
        let slice = DataServiceSlice::new("Invoice")
            .time_field(DsTimeField::CreateTime)
            .select(["Amount", "id"]);
        let body = slice.body(&DsCursor::Start).unwrap();
        assert_eq!(
            body["selectedFields"],
            json!(["Amount", "id", "CreateTime"])
        );
        assert!(DataServiceSlice::new("In/voice").query_path().is_err());
        let bad = DsCursor::After {
            time: "yesterday".into(),
            id: ID.into(),
        };
        assert!(DataServiceSlice::new("Invoice").body(&bad).is_err());
    }

    #[test]
    fn pages_decode_in_either_letter_case() {
        let body = format!(
            r#"{{"totalRecordCount":2,"value":[{{"Id":"{ID}","UpdateTime":"2024-01-01T00:00:00.000Z"}}]}}"#
        );
        let (records, next) = decode_page(body.as_bytes(), DsTimeField::UpdateTime, 1).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(
            next,
            Some(DsCursor::After {
                time: "2024-01-01T00:00:00.000Z".into(),
                id: ID.into()
            })
        );
        let body = format!(r#"{{"TotalRecordCount":2,"Value":[{{"Id":"{ID}"}}]}}"#);
        assert_eq!(
            decode_page(body.as_bytes(), DsTimeField::UpdateTime, 2)
                .unwrap()
                .1,
            None
        );
        assert!(decode_page(br#"{"value":{"unexpected":1}}"#, DsTimeField::UpdateTime, 2).is_err());
        assert!(decode_page(br#"{"Value":[{"Id":42}]}"#, DsTimeField::UpdateTime, 2).is_err());
    }
}
