//! The operation behind each Data Service endpoint, free of HTTP: each takes the decoded
//! request, answers with the JSON body to send and how many records it carries, or with
//! the [`ApiError`] that decides the status.
//!
//! CPU-heavy work (query scans of up to ~100k generated records) happens here; the HTTP
//! layer runs these functions on the blocking pool.

use serde_json::Value;
use uuid::Uuid;

use super::coerce::apply_body;
use super::generate::Updates;
use super::query::parse_query;
use super::schema::Kind;
use super::store::Rec;
use super::DataService;
use crate::value::{Row, Val};

/// Why a request was refused; decides the HTTP status. Messages are shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
}

/// A successful answer: the JSON body and the number of records in it (for stats).
#[derive(Debug)]
pub(crate) struct Served {
    pub body: Vec<u8>,
    pub records: u64,
}

impl Served {
    fn json(value: &Value) -> Served {
        Served {
            body: serde_json::to_vec(value).expect("json values serialize"),
            records: 0,
        }
    }
}

fn record_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id.trim())
        .map_err(|_| ApiError::BadRequest(format!("'{id}' is not a record Id (a uuid)")))
}

fn json_body(body: &[u8], what: &str) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the {what} body is not valid JSON: {e}")))
}

impl DataService {
    fn find(&self, entity: &str) -> Result<usize, ApiError> {
        self.entity(entity)
            .ok_or_else(|| ApiError::NotFound(format!("entity '{entity}' does not exist")))
    }

    fn descriptor(&self, entity: usize) -> Value {
        let all: Vec<_> = self.entities.iter().map(|e| &e.schema).collect();
        let e = &self.entities[entity];
        e.schema.descriptor(&all, e.count())
    }

    /// `GET /api/Entity`: every entity's descriptor.
    pub(crate) fn list_entities(&self) -> Served {
        Served::json(&Value::Array(
            (0..self.entities.len())
                .map(|i| self.descriptor(i))
                .collect(),
        ))
    }

    /// `GET /api/Entity/{id}` and `GET /api/Entity/{name}/metadata` (either accepts a name
    /// or an Id).
    pub(crate) fn describe_entity(&self, entity: &str) -> Result<Served, ApiError> {
        Ok(Served::json(&self.descriptor(self.find(entity)?)))
    }

    fn page(
        &self,
        entity: usize,
        total: u64,
        recs: Vec<Rec>,
        select: Option<&[usize]>,
        level: u8,
        updates: &Updates,
    ) -> Served {
        let e = &self.entities[entity];
        let rows: Vec<Row> = recs
            .into_iter()
            .map(|r| e.materialize(r, updates))
            .collect();
        Served {
            body: self.write_page(entity, total, &rows, select, level),
            records: rows.len() as u64,
        }
    }

    /// `GET .../EntityService/{Entity}/read`: a page in Id order.
    pub(crate) fn read(
        &self,
        entity: &str,
        start: u64,
        limit: u64,
        level: u8,
        at: i64,
    ) -> Result<Served, ApiError> {
        let entity = self.find(entity)?;
        let (total, recs) = self.entities[entity].read_page(start, limit);
        let updates = self.entities[entity].generator.updates(at);
        Ok(self.page(entity, total, recs, None, level, &updates))
    }

    /// `GET .../EntityService/{Entity}/read/{id}`.
    pub(crate) fn read_one(
        &self,
        entity: &str,
        id: &str,
        level: u8,
        at: i64,
    ) -> Result<Served, ApiError> {
        let entity = self.find(entity)?;
        let id = record_id(id)?;
        let updates = self.entities[entity].generator.updates(at);
        let row = self.entities[entity]
            .get(id, &updates)
            .ok_or_else(|| ApiError::NotFound(format!("record {id} does not exist")))?;
        Ok(self.one(entity, &row, level))
    }

    fn one(&self, entity: usize, row: &Row, level: u8) -> Served {
        let mut body = Vec::with_capacity(512);
        self.write_record(&mut body, entity, row, None, level);
        Served { body, records: 1 }
    }

    /// A record just written, echoed back: not serving data, so it does not count in stats.
    fn echo(&self, entity: usize, row: &Row, level: u8) -> Served {
        Served {
            records: 0,
            ..self.one(entity, row, level)
        }
    }

    /// `POST .../EntityService/{Entity}/query`.
    pub(crate) fn query(
        &self,
        entity: &str,
        body: &[u8],
        level: u8,
        at: i64,
    ) -> Result<Served, ApiError> {
        let entity = self.find(entity)?;
        let body = json_body(body, "query")?;
        let query =
            parse_query(&self.entities[entity].schema, &body).map_err(ApiError::BadRequest)?;
        let updates = self.entities[entity].generator.updates(at);
        let (total, recs) = self.entities[entity].query(&query, &updates);
        Ok(self.page(
            entity,
            total,
            recs,
            query.select.as_deref(),
            level,
            &updates,
        ))
    }

    /// Checks that every relationship field of `row` points at an existing record.
    fn check_relations(&self, entity: usize, row: &Row) -> Result<(), ApiError> {
        for (idx, spec) in self.entities[entity].schema.fields.iter().enumerate() {
            if let (Kind::Relation { target, .. }, Val::Guid(id)) = (&spec.kind, row.get(idx)) {
                if self.entities[*target]
                    .get(*id, &Updates::default())
                    .is_none()
                {
                    let target = &self.entities[*target].schema.name;
                    return Err(ApiError::BadRequest(format!(
                        "field '{}': no {target} record has Id {id}",
                        spec.name
                    )));
                }
            }
        }
        Ok(())
    }

    fn apply(&self, entity: usize, row: &mut Row, body: &[u8]) -> Result<(), ApiError> {
        let Value::Object(body) = json_body(body, "record")? else {
            return Err(ApiError::BadRequest(
                "the record body must be a JSON object".into(),
            ));
        };
        apply_body(&self.entities[entity].schema, row, &body).map_err(ApiError::BadRequest)?;
        self.check_relations(entity, row)
    }

    /// `POST .../EntityService/{Entity}/insert`: stores a record and returns it.
    pub(crate) fn insert(
        &self,
        entity: &str,
        body: &[u8],
        user: Uuid,
        now: i64,
        level: u8,
    ) -> Result<Served, ApiError> {
        let entity = self.find(entity)?;
        let e = &self.entities[entity];
        let mut row = Row(vec![Val::Null; e.schema.fields.len()]);
        self.apply(entity, &mut row, body)?;
        let row = e.insert(row, user, now);
        Ok(self.echo(entity, &row, level))
    }

    /// `POST .../EntityService/{Entity}/update/{id}`: changes the fields given in the body
    /// and returns the updated record.
    pub(crate) fn update(
        &self,
        entity: &str,
        id: &str,
        body: &[u8],
        user: Uuid,
        now: i64,
        level: u8,
    ) -> Result<Served, ApiError> {
        let entity = self.find(entity)?;
        let id = record_id(id)?;
        let e = &self.entities[entity];
        let missing = || ApiError::NotFound(format!("record {id} does not exist"));
        let mut row = e.get(id, &e.generator.updates(now)).ok_or_else(missing)?;
        self.apply(entity, &mut row, body)?;
        let row = e.update(id, row, user, now).ok_or_else(missing)?;
        Ok(self.echo(entity, &row, level))
    }

    /// `POST .../EntityService/{Entity}/delete/{id}`.
    pub(crate) fn delete(&self, entity: &str, id: &str) -> Result<Served, ApiError> {
        let entity = self.find(entity)?;
        let id = record_id(id)?;
        if !self.entities[entity].delete(id) {
            return Err(ApiError::NotFound(format!("record {id} does not exist")));
        }
        Ok(Served {
            body: Vec::new(),
            records: 0,
        })
    }
}
