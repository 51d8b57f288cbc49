//! Deterministic record generation: every value of generated record `i` is a pure function
//! of (seed, org, tenant, entity, i, field), so no record is stored and any field of any
//! record is produced in O(1) — a filter reads only the fields it tests.
//!
//! Guarantees (relied on by the store and asserted by the tests below):
//! - `CreateTime` is non-decreasing in `i` and inside `[span_start, span_end)`;
//! - `UpdateTime` is `CreateTime` for about 30% of records (never updated) and otherwise
//!   within `(CreateTime, CreateTime + 30 days]`, capped below `span_end`;
//! - Ids are v4-shaped uuids, distinct within an entity (checked when the index is built).
//! - In live mode ([`Generator::with_live`]) one record per slot of the period from the live
//!   epoch is updated: read as of an instant at or after the slot's time, its `UpdateTime`
//!   is that time and its `UpdatedBy` and custom fields are redrawn ([`Updates`]).
//!
//! The hashing is SplitMix64 and FNV-1a written out here rather than a `rand` generator,
//! because generated data must not change when a dependency changes its algorithms.

use uuid::Uuid;

use super::schema::{FieldSpec, Kind};
use crate::value::{Row, Val};

/// Generated records are updated at most this long after creation.
pub(crate) const MAX_UPDATE_LAG_MS: i64 = 30 * 86_400_000;
/// Share of generated records never updated after creation (UpdateTime = CreateTime).
const NEVER_UPDATED_PERCENT: u64 = 30;
/// Custom date-time fields fall this far after creation at most.
const DATETIME_FIELD_SPREAD_MS: u64 = 60 * 86_400_000;
/// Generated records are created and updated by this many distinct users per tenant.
const USERS: u64 = 8;

const ID_SALT: u64 = 0x4964;
const CREATE_SALT: u64 = 0x4372_6561_7465;
const UPDATE_SALT: u64 = 0x5570_6461_7465;
const CREATED_BY_SALT: u64 = 0x0043_7265_6174_6f72;
const UPDATED_BY_SALT: u64 = 0x0055_7064_6174_6f72;

/// The simulator's one mixer (SplitMix64's output function).
pub(crate) use crate::data::hash::mix;

/// Hash of two words, for deriving keys (entity, record, field) from their parents.
pub(crate) const fn combine(a: u64, b: u64) -> u64 {
    mix(a ^ mix(b))
}

/// FNV-1a of `s`, seeded and finalized.
pub(crate) fn hash_str(seed: u64, s: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ mix(seed);
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// A v4-shaped uuid drawn from `h`.
pub(crate) fn uuid_of(h: u64) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&mix(h).to_be_bytes());
    bytes[8..].copy_from_slice(&mix(h ^ 0x5555_5555_5555_5555).to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The Id of generated record `i` of the entity with key `entity_key`.
pub(crate) fn record_id(entity_key: u64, i: u64) -> Uuid {
    uuid_of(combine(combine(entity_key, i), ID_SALT))
}

/// Generates the records of one entity in one tenant.
#[derive(Debug)]
pub(crate) struct Generator {
    key: u64,
    tenant_key: u64,
    pub len: u64,
    start: i64,
    end: i64,
    /// Live mode: (epoch, period) of the live updates.
    live: Option<(i64, i64)>,
}

/// Live updates of generated records as of an instant: record → (updated at, slot). In
/// live mode one record of each entity is updated per slot of the period from the epoch:
/// its `UpdateTime` becomes the slot's instant, `UpdatedBy` a user of the slot, and its
/// custom (non-relation) fields are redrawn.
#[derive(Debug, Default)]
pub(crate) struct Updates(std::collections::HashMap<u64, (i64, u64)>);

impl Updates {
    pub(crate) fn get(&self, i: u64) -> Option<(i64, u64)> {
        self.0.get(&i).copied()
    }
}

impl Generator {
    pub(crate) fn new(key: u64, tenant_key: u64, len: u64, start: i64, end: i64) -> Self {
        Generator {
            key,
            tenant_key,
            len,
            start,
            end,
            live: None,
        }
    }

    /// Turns on live updates from `epoch_ms`, one record per `period_ms`.
    pub(crate) fn with_live(mut self, epoch_ms: i64, period_ms: i64) -> Self {
        self.live = (period_ms > 0).then_some((epoch_ms, period_ms));
        self
    }

    /// The live updates that happened up to `now` (latest per record).
    pub(crate) fn updates(&self, now: i64) -> Updates {
        let mut out = Updates::default();
        let Some((epoch, period)) = self.live else {
            return out;
        };
        if now < epoch || self.len == 0 {
            return out;
        }
        for k in 0..=((now - epoch) / period) as u64 {
            let h = combine(combine(self.key, 0x4c69_7665), k);
            let at = epoch + k as i64 * period + (h % period as u64) as i64;
            if at > now {
                break;
            }
            out.0.insert(mix(h) % self.len, (at, k));
        }
        out
    }

    fn rkey(&self, i: u64) -> u64 {
        combine(self.key, i)
    }

    pub(crate) fn id(&self, i: u64) -> Uuid {
        record_id(self.key, i)
    }

    /// Record `i` lands in its own slot `[start + span·i/len, start + span·(i+1)/len)`,
    /// which keeps creation times non-decreasing while still looking irregular.
    pub(crate) fn create_time(&self, i: u64) -> i64 {
        let span = (self.end - self.start) as i128;
        let len = self.len.max(1) as i128;
        let slot_start = span * i as i128 / len;
        let slot_end = span * (i as i128 + 1) / len;
        let width = (slot_end - slot_start).max(1) as u64;
        self.start + slot_start as i64 + (combine(self.rkey(i), CREATE_SALT) % width) as i64
    }

    pub(crate) fn update_time(&self, i: u64) -> i64 {
        let created = self.create_time(i);
        let h = combine(self.rkey(i), UPDATE_SALT);
        if h % 100 < NEVER_UPDATED_PERCENT {
            return created;
        }
        let lag = 1 + (mix(h) % MAX_UPDATE_LAG_MS as u64) as i64;
        (created + lag).min(self.end - 1).max(created)
    }

    fn user(&self, h: u64) -> Uuid {
        user_pool_member(self.tenant_key, h % USERS)
    }

    /// Field `f` of record `i` (as generated, without live updates).
    #[cfg(test)]
    pub(crate) fn value(&self, f: &FieldSpec, i: u64) -> Val {
        self.value_at(f, i, None)
    }

    /// Field `f` of record `i` after the live update `update` (at, slot), if any.
    pub(crate) fn value_at(&self, f: &FieldSpec, i: u64, update: Option<(i64, u64)>) -> Val {
        let mut h = combine(self.rkey(i), f.salt);
        match (&f.kind, update) {
            (Kind::UpdateTime, Some((at, _))) => return Val::DateTime(at),
            (Kind::UpdatedBy, Some((_, k))) => {
                return Val::Guid(self.user(combine(self.rkey(i), k ^ UPDATED_BY_SALT)))
            }
            (Kind::Id | Kind::CreateTime | Kind::CreatedBy | Kind::Relation { .. }, _) => {}
            (_, Some((_, k))) => h = combine(h, k),
            _ => {}
        }
        match &f.kind {
            Kind::Id => return Val::Guid(self.id(i)),
            Kind::CreateTime => return Val::DateTime(self.create_time(i)),
            Kind::UpdateTime => return Val::DateTime(self.update_time(i)),
            Kind::CreatedBy => return Val::Guid(self.user(combine(self.rkey(i), CREATED_BY_SALT))),
            Kind::UpdatedBy => {
                let salt = if self.update_time(i) == self.create_time(i) {
                    CREATED_BY_SALT
                } else {
                    UPDATED_BY_SALT
                };
                return Val::Guid(self.user(combine(self.rkey(i), salt)));
            }
            _ => {}
        }
        if !f.required && h % 100 < u64::from(f.null_percent) {
            return Val::Null;
        }
        let v = mix(h);
        match &f.kind {
            Kind::Text { values, .. } if !values.is_empty() => {
                Val::string(values[(v % values.len() as u64) as usize].clone())
            }
            Kind::Text { prefix, .. } => Val::string(format!("{prefix}{i:06}")),
            Kind::Number { min, max } => {
                let width = (*max as i128 - *min as i128 + 1) as u128;
                Val::Int((*min as i128 + (v as u128 % width) as i128) as i64)
            }
            Kind::Decimal {
                min_cents,
                max_cents,
            } => {
                let width = (max_cents - min_cents + 1).max(1) as u64;
                Val::Float((min_cents + (v % width) as i64) as f64 / 100.0)
            }
            Kind::Boolean => Val::Bool(v & 1 == 1),
            Kind::DateTime => {
                Val::DateTime(self.create_time(i) + (v % DATETIME_FIELD_SPREAD_MS) as i64)
            }
            Kind::Choice { choices } => Val::Int((v % choices.len().max(1) as u64) as i64),
            Kind::Relation {
                target_key,
                target_len,
                ..
            } if *target_len > 0 => Val::Guid(record_id(*target_key, v % target_len)),
            _ => Val::Null,
        }
    }

    /// The whole record `i`, in field order.
    #[cfg(test)]
    pub(crate) fn row(&self, fields: &[FieldSpec], i: u64) -> Row {
        self.row_at(fields, i, &Updates::default())
    }

    /// The whole record `i` after its latest live update in `updates`.
    pub(crate) fn row_at(&self, fields: &[FieldSpec], i: u64, updates: &Updates) -> Row {
        let update = updates.get(i);
        Row(fields.iter().map(|f| self.value_at(f, i, update)).collect())
    }
}

/// One of the tenant's generated users (the authors of generated records).
fn user_pool_member(tenant_key: u64, k: u64) -> Uuid {
    uuid_of(combine(tenant_key, 0x7573_6572 + k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataservice::config::DataServiceConfig;
    use crate::dataservice::schema::EntitySchema;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn tickets() -> (EntitySchema, Generator) {
        let config = DataServiceConfig::default();
        let schema = EntitySchema::build(&config.entities[2], &config.entities, 7);
        let generator = Generator::new(schema.key, 7, 20_000, 1_000_000, 1_000_000_000);
        (schema, generator)
    }

    #[test]
    fn live_updates_advance_update_time_and_change_fields_from_their_instant() {
        let (schema, g) = tickets();
        let g = g.with_live(2_000_000_000, 1_000);
        assert!(g.updates(1_999_999_999).0.is_empty());
        let now = 2_000_000_000 + 3_600_000;
        let updates = g.updates(now);
        assert!(updates.0.len() > 3_000, "{}", updates.0.len());
        let ut = schema
            .fields
            .iter()
            .position(|f| matches!(f.kind, Kind::UpdateTime))
            .unwrap();
        for (&i, &(at, _)) in updates.0.iter().take(200) {
            assert!(at <= now);
            let before = g.row_at(&schema.fields, i, &g.updates(at - 1));
            let after = g.row_at(&schema.fields, i, &g.updates(at));
            assert_eq!(after.get(ut), &Val::DateTime(at));
            assert!(before.get(ut).as_datetime().unwrap() < at);
            let changed = (0..schema.fields.len())
                .filter(|&k| k != ut && before.get(k) != after.get(k))
                .count();
            assert!(changed >= 1, "record {i} at {at}");
            // The same instant gives the same row.
            assert_eq!(after, g.row_at(&schema.fields, i, &g.updates(at)));
        }
        // A frozen generator never updates.
        assert!(tickets().1.updates(now).0.is_empty());
    }

    #[test]
    fn ids_are_distinct_and_rows_are_deterministic() {
        let (schema, g) = tickets();
        let ids: HashSet<Uuid> = (0..g.len).map(|i| g.id(i)).collect();
        assert_eq!(ids.len() as u64, g.len);
        assert_eq!(g.row(&schema.fields, 123), g.row(&schema.fields, 123));
        assert_ne!(g.row(&schema.fields, 123), g.row(&schema.fields, 124));
    }

    #[test]
    fn optional_fields_are_sometimes_null_and_required_ones_never() {
        let (schema, g) = tickets();
        let resolved = &schema.fields[schema.field("ResolvedAt").unwrap()];
        let title = &schema.fields[schema.field("Title").unwrap()];
        let nulls = (0..1000)
            .filter(|&i| g.value(resolved, i) == Val::Null)
            .count();
        assert!((400..600).contains(&nulls), "{nulls} nulls for a 50% field");
        assert!((0..1000).all(|i| g.value(title, i) != Val::Null));
    }

    proptest! {
        #[test]
        fn times_respect_the_span_and_order(len in 1u64..5_000, start in 0i64..1_000_000, width in 1i64..10_000_000_000, i in 0u64..5_000) {
            let g = Generator::new(99, 7, len, start, start + width);
            let i = i % len;
            let created = g.create_time(i);
            prop_assert!(created >= start && created < start + width);
            if i + 1 < len {
                prop_assert!(g.create_time(i + 1) >= created);
            }
            let updated = g.update_time(i);
            prop_assert!(updated >= created && updated <= created + MAX_UPDATE_LAG_MS);
            prop_assert!(updated < start + width);
        }
    }
}
