//! One entity's records: the generated ones (never stored) plus a small overlay of runtime
//! inserts, updates and deletes, with the reads the HTTP layer needs — Id-ordered pages,
//! lookups by Id, and filtered, sorted queries.
//!
//! **A record's Id never changes and updates never move a record in Id order**, so a
//! client paging `read` by `start`/`limit` while others update records sees every record
//! that existed throughout exactly once. Inserts and deletes shift later positions, as
//! they do on the real service.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard, OnceLock};

use uuid::Uuid;

use super::filter::{compare, Fields};
use super::generate::{combine, uuid_of, Generator, Updates};
use super::query::Query;
use super::schema::EntitySchema;
use crate::value::{Row, Val};

/// Runtime changes to an entity. Ordered by Id so `read` pages merge it with the generated
/// index in one pass.
#[derive(Debug, Default)]
struct Overlay {
    entries: BTreeMap<Uuid, Entry>,
    /// Generated record numbers that have an entry (updated or deleted), so a scan of the
    /// generated records skips them without computing their Ids.
    touched: HashSet<u64>,
    /// Inserts so far; the next insert's Id derives from it, so runs are reproducible.
    inserted: u64,
}

#[derive(Debug)]
struct Entry {
    /// The generated record this entry replaces, if any.
    generated: Option<u64>,
    /// The current record; `None` is a deleted generated record.
    row: Option<Row>,
}

/// A record picked by a read, before its row is produced (outside the overlay lock).
#[derive(Debug)]
pub(crate) enum Rec {
    Gen(u64),
    Row(Row),
}

/// One entity of one tenant.
#[derive(Debug)]
pub(crate) struct Entity {
    pub schema: EntitySchema,
    pub generator: Generator,
    /// Generated (Id, record number) pairs sorted by Id; built on first use because only
    /// a test or a client that reads an entity should pay for it.
    index: OnceLock<Vec<(Uuid, u32)>>,
    /// A std mutex: every critical section is CPU-only and never spans an `.await`.
    overlay: Mutex<Overlay>,
}

/// A generated record seen through [`Fields`].
struct GenFields<'a>(&'a Entity, u64, Option<(i64, u64)>);

impl Fields for GenFields<'_> {
    fn get(&self, idx: usize) -> Cow<'_, Val> {
        Cow::Owned(
            self.0
                .generator
                .value_at(&self.0.schema.fields[idx], self.1, self.2),
        )
    }
}

struct RowFields<'a>(&'a Row);

impl Fields for RowFields<'_> {
    fn get(&self, idx: usize) -> Cow<'_, Val> {
        Cow::Borrowed(self.0.get(idx))
    }
}

impl Entity {
    pub(crate) fn new(schema: EntitySchema, generator: Generator) -> Self {
        Entity {
            schema,
            generator,
            index: OnceLock::new(),
            overlay: Mutex::default(),
        }
    }

    fn overlay(&self) -> MutexGuard<'_, Overlay> {
        self.overlay.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn index(&self) -> &[(Uuid, u32)] {
        self.index.get_or_init(|| {
            let mut index: Vec<(Uuid, u32)> = (0..self.generator.len)
                .map(|i| (self.generator.id(i), i as u32))
                .collect();
            index.sort_unstable();
            assert!(
                index.windows(2).all(|w| w[0].0 != w[1].0),
                "generated ids of {} collide",
                self.schema.name
            );
            index
        })
    }

    fn generated_number(&self, id: Uuid) -> Option<u64> {
        let index = self.index();
        index
            .binary_search_by(|(k, _)| k.cmp(&id))
            .ok()
            .map(|pos| u64::from(index[pos].1))
    }

    /// The row of a picked record.
    pub(crate) fn materialize(&self, rec: Rec, updates: &Updates) -> Row {
        match rec {
            Rec::Gen(i) => self.generator.row_at(&self.schema.fields, i, updates),
            Rec::Row(row) => row,
        }
    }

    /// The current record with this Id.
    pub(crate) fn get(&self, id: Uuid, updates: &Updates) -> Option<Row> {
        let generated = self.generated_number(id);
        let overlay = self.overlay();
        match overlay.entries.get(&id) {
            Some(entry) => entry.row.clone(),
            None => generated.map(|i| self.generator.row_at(&self.schema.fields, i, updates)),
        }
    }

    fn total(&self, overlay: &Overlay) -> u64 {
        let live = overlay.entries.values().filter(|e| e.row.is_some()).count() as u64;
        self.generator.len - overlay.touched.len() as u64 + live
    }

    /// Records `start..start + limit` in Id order, and the current record count.
    pub(crate) fn read_page(&self, start: u64, limit: u64) -> (u64, Vec<Rec>) {
        let index = self.index();
        let overlay = self.overlay();
        let mut generated = index
            .iter()
            .filter(|(_, i)| !overlay.touched.contains(&u64::from(*i)))
            .peekable();
        let mut changed = overlay
            .entries
            .iter()
            .filter_map(|(id, e)| e.row.as_ref().map(|r| (*id, r)))
            .peekable();
        let mut page = Vec::new();
        let mut position = 0u64;
        while (page.len() as u64) < limit {
            let take_generated = match (generated.peek(), changed.peek()) {
                (Some((a, _)), Some((b, _))) => a < b,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let rec = if take_generated {
                let (_, i) = generated.next().expect("peeked");
                (position >= start).then(|| Rec::Gen(u64::from(*i)))
            } else {
                let (_, row) = changed.next().expect("peeked");
                (position >= start).then(|| Rec::Row(row.clone()))
            };
            page.extend(rec);
            position += 1;
        }
        (self.total(&overlay), page)
    }

    /// Runs a compiled query: filter, sort (Id breaking ties), then the page window.
    pub(crate) fn query(&self, q: &Query, updates: &Updates) -> (u64, Vec<Rec>) {
        struct Hit {
            keys: Vec<Val>,
            id: Uuid,
            rec: Result<u64, Uuid>,
        }
        let id_field = self.schema.sys.id;
        let overlay = self.overlay();
        let mut hits = Vec::new();
        let keep = |fields: &dyn Fields, hits: &mut Vec<Hit>, rec: Result<u64, Uuid>| {
            if q.filter.as_ref().is_none_or(|f| f.eval(fields)) {
                let keys = q
                    .sort
                    .iter()
                    .map(|(f, _)| fields.get(*f).into_owned())
                    .collect();
                let Val::Guid(id) = *fields.get(id_field) else {
                    unreachable!("Id is a uuid")
                };
                hits.push(Hit { keys, id, rec });
            }
        };
        for i in 0..self.generator.len {
            if !overlay.touched.contains(&i) {
                keep(&GenFields(self, i, updates.get(i)), &mut hits, Ok(i));
            }
        }
        for (id, entry) in &overlay.entries {
            if let Some(row) = &entry.row {
                keep(&RowFields(row), &mut hits, Err(*id));
            }
        }
        hits.sort_by(|a, b| {
            for (n, (_, descending)) in q.sort.iter().enumerate() {
                let ord = compare(&a.keys[n], &b.keys[n]);
                if ord.is_ne() {
                    return if *descending { ord.reverse() } else { ord };
                }
            }
            a.id.cmp(&b.id)
        });
        let total = hits.len() as u64;
        let page = hits
            .into_iter()
            .skip(usize::try_from(q.start).unwrap_or(usize::MAX))
            .take(q.limit as usize)
            .map(|hit| match hit.rec {
                Ok(i) => Rec::Gen(i),
                Err(id) => Rec::Row(overlay.entries[&id].row.clone().expect("live entry")),
            })
            .collect();
        (total, page)
    }

    /// Stores a new record (its custom fields already set), assigning its Id and system
    /// fields; returns the stored row.
    pub(crate) fn insert(&self, mut row: Row, user: Uuid, now: i64) -> Row {
        let sys = self.schema.sys;
        let mut overlay = self.overlay();
        let id = loop {
            overlay.inserted += 1;
            let id = uuid_of(combine(
                self.schema.key ^ 0x696e_7365_7274,
                overlay.inserted,
            ));
            if !overlay.entries.contains_key(&id) && self.generated_number(id).is_none() {
                break id;
            }
        };
        row.0[sys.id] = Val::Guid(id);
        row.0[sys.create_time] = Val::DateTime(now);
        row.0[sys.update_time] = Val::DateTime(now);
        row.0[sys.created_by] = Val::Guid(user);
        row.0[sys.updated_by] = Val::Guid(user);
        overlay.entries.insert(
            id,
            Entry {
                generated: None,
                row: Some(row.clone()),
            },
        );
        row
    }

    /// Replaces the record with this Id by `row` (from [`Entity::get`], changed by the
    /// caller), stamping UpdateTime and UpdatedBy. `None` when the record no longer exists
    /// (deleted since it was read).
    pub(crate) fn update(&self, id: Uuid, mut row: Row, user: Uuid, now: i64) -> Option<Row> {
        let sys = self.schema.sys;
        let generated = self.generated_number(id);
        let mut overlay = self.overlay();
        let exists = match overlay.entries.get(&id) {
            Some(entry) => entry.row.is_some(),
            None => generated.is_some(),
        };
        if !exists {
            return None;
        }
        row.0[sys.id] = Val::Guid(id);
        row.0[sys.update_time] = Val::DateTime(now);
        row.0[sys.updated_by] = Val::Guid(user);
        overlay.touched.extend(generated);
        let generated = overlay.entries.get(&id).map_or(generated, |e| e.generated);
        overlay.entries.insert(
            id,
            Entry {
                generated,
                row: Some(row.clone()),
            },
        );
        Some(row)
    }

    /// Deletes the record with this Id; false when there is none.
    pub(crate) fn delete(&self, id: Uuid) -> bool {
        let generated = self.generated_number(id);
        let mut overlay = self.overlay();
        match overlay.entries.get_mut(&id) {
            Some(entry) if entry.row.is_none() => false,
            // A deleted insert leaves no trace; a deleted generated record stays as a
            // tombstone hiding it.
            Some(entry) if entry.generated.is_none() => {
                overlay.entries.remove(&id);
                true
            }
            Some(entry) => {
                entry.row = None;
                true
            }
            None if generated.is_some() => {
                overlay.touched.extend(generated);
                overlay.entries.insert(
                    id,
                    Entry {
                        generated,
                        row: None,
                    },
                );
                true
            }
            None => false,
        }
    }

    /// The current number of records.
    pub(crate) fn count(&self) -> u64 {
        let overlay = self.overlay();
        self.total(&overlay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataservice::query::parse_query;
    use crate::dataservice::{DataService, DataServiceConfig};
    use proptest::prelude::*;
    use serde_json::json;

    fn service() -> DataService {
        DataService::new(&DataServiceConfig::default(), "Org", "Tenant")
    }

    fn id_of(e: &Entity, rec: &Rec) -> Uuid {
        match rec {
            Rec::Gen(i) => e.generator.id(*i),
            Rec::Row(row) => match row.get(e.schema.sys.id) {
                Val::Guid(id) => *id,
                other => panic!("Id is {other:?}"),
            },
        }
    }

    fn read_all(e: &Entity, page: u64) -> Vec<Uuid> {
        let mut ids = Vec::new();
        loop {
            let (_, recs) = e.read_page(ids.len() as u64, page);
            if recs.is_empty() {
                return ids;
            }
            ids.extend(recs.iter().map(|r| id_of(e, r)));
        }
    }

    #[test]
    fn read_pages_cover_every_record_once_in_id_order() {
        let svc = service();
        let customers = &svc.entities[0];
        let ids = read_all(customers, 37);
        assert_eq!(ids.len(), 500);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ids.windows(2).all(|w| w[0].to_string() < w[1].to_string()),
            "uuid order is text order"
        );
    }

    #[test]
    fn writes_show_in_reads_without_moving_other_records() {
        let svc = service();
        let e = &svc.entities[0];
        let before = read_all(e, 100);
        let user = Uuid::from_u128(1);
        let updated = e
            .update(
                before[10],
                e.get(before[10], &Updates::default()).unwrap(),
                user,
                9,
            )
            .unwrap();
        assert_eq!(updated.get(e.schema.sys.update_time), &Val::DateTime(9));
        assert_eq!(
            read_all(e, 100),
            before,
            "an update keeps every record in place"
        );

        assert!(e.delete(before[20]));
        assert!(!e.delete(before[20]));
        assert!(e
            .update(
                before[20],
                e.get(before[10], &Updates::default()).unwrap(),
                user,
                10
            )
            .is_none());
        let inserted = e.insert(Row(vec![Val::Null; e.schema.fields.len()]), user, 11);
        let Val::Guid(new_id) = *inserted.get(e.schema.sys.id) else {
            panic!("no Id")
        };
        let mut expected: Vec<Uuid> = before
            .iter()
            .copied()
            .filter(|id| *id != before[20])
            .collect();
        expected.push(new_id);
        expected.sort();
        assert_eq!(read_all(e, 64), expected);
        assert_eq!(e.count(), 500);

        assert!(e.delete(new_id));
        assert!(e.get(new_id, &Updates::default()).is_none());
        assert_eq!(e.count(), 499);
    }

    fn brute_force(e: &Entity, after: i64) -> Vec<Uuid> {
        let mut rows: Vec<(i64, Uuid)> = (0..e.generator.len)
            .map(|i| (e.generator.update_time(i), e.generator.id(i)))
            .filter(|(t, _)| *t > after)
            .collect();
        rows.sort();
        rows.into_iter().map(|(_, id)| id).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn incremental_sync_pages_match_a_brute_force_scan(fraction in 0.0f64..1.0, page in 50u64..700) {
            let svc = service();
            let e = &svc.entities[1];
            let first = e.generator.create_time(0);
            let last = e.generator.update_time(e.generator.len - 1);
            let watermark = first + ((last - first) as f64 * fraction) as i64;
            let body = json!({
                "filterGroup": {"queryFilters": [{"fieldName": "UpdateTime", "operator": ">", "value": crate::value::format_datetime(watermark)}]},
                "sortOptions": [{"fieldName": "UpdateTime"}],
                "limit": page,
            });
            let expected = brute_force(e, watermark);
            let mut seen = Vec::new();
            loop {
                let mut body = body.clone();
                body["start"] = json!(seen.len());
                let (total, recs) = e.query(&parse_query(&e.schema, &body).unwrap(), &Updates::default());
                prop_assert_eq!(total as usize, expected.len());
                if recs.is_empty() {
                    break;
                }
                seen.extend(recs.iter().map(|r| id_of(e, r)));
            }
            prop_assert_eq!(seen, expected);
        }
    }
}
