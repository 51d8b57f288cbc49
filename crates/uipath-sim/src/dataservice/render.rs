//! Writing records as Data Service JSON, straight to bytes: pages as
//! `{"TotalRecordCount": n, "Value": [...]}` and single records as objects, with
//! relationship fields expanded into the related record as `expansionLevel` asks.
//!
//! Expansion (an inference — UiPath documents only "the depth of the related records to be
//! retrieved, 1–3, default 2"): at level `L` relationship chains are followed `L − 1` deep.
//! Level 1 writes a relationship as the related record's Id; level 2 (the default) writes
//! it as the related record, whose own relationships are Ids; and so on. A relationship to
//! a record that no longer exists is written as `null`.

use super::generate::Updates;
use super::schema::Kind;
use super::store::Entity;
use super::DataService;
use crate::value::{write_json_str, write_object, write_val, Row, Val};

/// The documented range of `expansionLevel`, and its default.
pub(crate) const EXPANSION_LEVELS: std::ops::RangeInclusive<u8> = 1..=3;
pub(crate) const DEFAULT_EXPANSION_LEVEL: u8 = 2;

impl DataService {
    /// Writes one record of entity `entity`. `select` lists field positions (record order)
    /// to write; `None` writes all. `level` is the request's expansion level.
    pub(crate) fn write_record(
        &self,
        out: &mut Vec<u8>,
        entity: usize,
        row: &Row,
        select: Option<&[usize]>,
        level: u8,
    ) {
        let e: &Entity = &self.entities[entity];
        write_object(out, e.schema.fields.len(), select, |out, idx| {
            let spec = &e.schema.fields[idx];
            write_json_str(out, &spec.name);
            out.push(b':');
            match (&spec.kind, row.get(idx)) {
                (Kind::Relation { target, .. }, Val::Guid(id)) if level > 1 => {
                    // Related records are expanded as generated (without live updates).
                    match self.entities[*target].get(*id, &Updates::default()) {
                        Some(related) => self.write_record(out, *target, &related, None, level - 1),
                        None => out.extend_from_slice(b"null"),
                    }
                }
                (kind, val) => write_val(out, kind.value_type(), val),
            }
        });
    }

    /// Writes a page of records in the envelope `read` and `query` answer with.
    pub(crate) fn write_page(
        &self,
        entity: usize,
        total: u64,
        rows: &[Row],
        select: Option<&[usize]>,
        level: u8,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + rows.len() * 384);
        out.extend_from_slice(b"{\"TotalRecordCount\":");
        out.extend_from_slice(total.to_string().as_bytes());
        out.extend_from_slice(b",\"Value\":[");
        for (n, row) in rows.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            self.write_record(&mut out, entity, row, select, level);
        }
        out.extend_from_slice(b"]}");
        out
    }
}
