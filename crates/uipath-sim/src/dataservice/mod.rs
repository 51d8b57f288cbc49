//! The simulated Data Service (Data Fabric): entity schemas and records for each tenant,
//! served over the `EntityService` and `Entity` APIs with the real service's paging,
//! query language and access rules.
//!
//! One [`DataService`] holds one tenant's entities; [`router`] mounts every tenant at
//! `/{org}/{tenant}/dataservice_/api/...` and, identically, at `.../datafabric_/api/...`
//! (the newer SDK prefix). What a caller can rely on:
//! - **Records are deterministic**: two services built from the same configuration, org
//!   and tenant serve byte-identical JSON until something is written.
//! - **`read` is ordered by Id** (canonical lowercase uuid text, which is also uuid byte
//!   order) and an update never moves a record, so offset paging skips nothing that was
//!   not inserted or deleted meanwhile.
//! - **Only user principals get in** (Data Service scopes are user scopes): an application
//!   token is refused with 403, a missing or foreign-org token with 401.
//!
//! Module map: `config` and `demo` (typed configuration, default entities), `schema`
//! (fields, descriptors), `generate` (deterministic values), `store` (generated records +
//! runtime overlay), `query` (query bodies) and `filter` (evaluating them), `coerce`
//! (client JSON to typed values), `render` (JSON out), `ops` (the operation behind each
//! endpoint), `access` (bearer tokens and scopes), `http` (routes).

mod access;
mod coerce;
mod config;
mod demo;
mod filter;
mod generate;
mod http;
mod ops;
mod query;
mod render;
mod schema;
mod store;

use std::sync::Arc;

use uuid::Uuid;

pub use config::{
    ConfigError, CustomField, DataServiceConfig, EntityConfig, FieldKind, MAX_RECORDS,
    SYSTEM_FIELDS,
};
pub use http::router;

use crate::auth::{Principal, TokenRejection};
use generate::{hash_str, uuid_of, Generator};
use schema::EntitySchema;
use store::Entity;

/// Resolves a bearer token to the principal it stands for (wired to the identity server).
pub type Verifier = Arc<dyn Fn(&str) -> Result<Principal, TokenRejection> + Send + Sync>;

/// One tenant's Data Service: its entities and their records.
#[derive(Debug)]
pub struct DataService {
    org: String,
    tenant: String,
    entities: Vec<Entity>,
}

impl DataService {
    /// Builds the tenant's entities. Nothing is generated yet; records are produced when
    /// read.
    ///
    /// # Panics
    /// When `config` is invalid; call [`DataServiceConfig::validate`] at startup to report
    /// that as an error instead.
    pub fn new(config: &DataServiceConfig, org: &str, tenant: &str) -> Self {
        if let Err(e) = config.validate() {
            panic!("invalid data service configuration: {e}");
        }
        let tenant_key = hash_str(
            hash_str(config.seed, &org.to_ascii_lowercase()),
            &tenant.to_ascii_lowercase(),
        );
        let entities = config
            .entities
            .iter()
            .map(|c| {
                let schema = EntitySchema::build(c, &config.entities, tenant_key);
                let start = coerce::parse_datetime(&c.span_start).expect("validated span_start");
                let end = coerce::parse_datetime(&c.span_end).expect("validated span_end");
                let generator = Generator::new(schema.key, tenant_key, c.records, start, end);
                Entity::new(schema, generator)
            })
            .collect();
        DataService {
            org: org.to_owned(),
            tenant: tenant.to_owned(),
            entities,
        }
    }

    /// Live mode: from `epoch_ms` on, one generated record of each entity is updated per
    /// `period_ms` (its `UpdateTime` advanced, `UpdatedBy` and custom fields redrawn),
    /// visible to reads as of that instant or later.
    pub fn set_live(&mut self, epoch_ms: i64, period_ms: i64) {
        for e in &mut self.entities {
            let g = std::mem::replace(&mut e.generator, Generator::new(0, 0, 0, 0, 1));
            e.generator = g.with_live(epoch_ms, period_ms);
        }
    }

    pub fn org(&self) -> &str {
        &self.org
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The entity names, in configuration order.
    pub fn entity_names(&self) -> Vec<String> {
        self.entities
            .iter()
            .map(|e| e.schema.name.clone())
            .collect()
    }

    /// The current number of records of an entity (by name, any letter case).
    pub fn record_count(&self, entity: &str) -> Option<u64> {
        self.entity(entity).map(|i| self.entities[i].count())
    }

    /// An entity's position, by name (any letter case) or by its Id.
    fn entity(&self, name_or_id: &str) -> Option<usize> {
        let id = Uuid::parse_str(name_or_id).ok();
        self.entities
            .iter()
            .position(|e| e.schema.name.eq_ignore_ascii_case(name_or_id) || Some(e.schema.id) == id)
    }
}

/// The Id Data Service records for a user in `CreatedBy`/`UpdatedBy`: a uuid derived from
/// the user name (letter case ignored), the same in every org and tenant.
pub fn user_id(user_name: &str) -> Uuid {
    uuid_of(hash_str(0x7573_6572_6964, &user_name.to_ascii_lowercase()))
}
