//! Streaming a page: records in the order of a lagged field through a buffer one lag wide,
//! and the merge of generated records with the overlay's.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::order::compare;
use super::Partition;
use crate::odata::OrderKey;
use crate::value::{Row, Schema, Val};

/// Records in the order of a lagged field, generated in index order. A record whose value
/// is below the time of the last generated index (ascending; above it plus the lag when
/// descending) can be emitted: no later index can sort before it. The buffer holds about
/// one lag's worth of records, whatever the range.
pub(super) struct LaggedStream<'a> {
    source: &'a Partition<'a>,
    indices: Box<dyn Iterator<Item = u64> + 'a>,
    matches: &'a dyn Fn(&Row) -> bool,
    /// Inclusive bounds the filter puts on the field: records outside are skipped before
    /// their row is built.
    bounds: (i64, i64),
    buf: BTreeMap<(i64, i64), Row>,
    frontier: Option<i64>,
    done: bool,
    desc: bool,
    lag: i64,
    field: usize,
    id: Option<usize>,
}

impl<'a> LaggedStream<'a> {
    /// Streams the records of `source` at `indices` that match, ordered by the lagged
    /// field `field` (lag `lag`, descending when `desc`), then by the id at `id`.
    pub fn new(
        source: &'a Partition<'a>,
        indices: Box<dyn Iterator<Item = u64> + 'a>,
        matches: &'a dyn Fn(&Row) -> bool,
        (field, lag, desc): (usize, i64, bool),
        bounds: (i64, i64),
        id: Option<usize>,
    ) -> Self {
        LaggedStream {
            source,
            indices,
            matches,
            bounds,
            buf: BTreeMap::new(),
            frontier: None,
            done: false,
            desc,
            lag,
            field,
            id,
        }
    }
}

impl Iterator for LaggedStream<'_> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        loop {
            let ready = match (self.desc, self.frontier) {
                _ if self.done => true,
                (false, Some(f)) => self.buf.keys().next().is_some_and(|k| k.0 < f),
                (true, Some(f)) => self
                    .buf
                    .keys()
                    .next_back()
                    .is_some_and(|k| k.0 > f.saturating_add(self.lag)),
                (_, None) => false,
            };
            if ready {
                let entry = if self.desc {
                    self.buf.pop_last()
                } else {
                    self.buf.pop_first()
                };
                return entry.map(|(_, row)| row);
            }
            match self.indices.next() {
                None => self.done = true,
                Some(i) => {
                    let src = self.source;
                    self.frontier = Some(src.time_at(i));
                    if !src.serves(i) {
                        continue;
                    }
                    let outside = src
                        .gen
                        .lagged_key(src.tenant, src.part, i)
                        .is_some_and(|k| k < self.bounds.0 || k > self.bounds.1);
                    if outside {
                        continue;
                    }
                    let row = src.row(i);
                    if (self.matches)(&row) {
                        let key = match row.get(self.field) {
                            Val::DateTime(v) | Val::Int(v) => *v,
                            _ => i64::MIN,
                        };
                        let id = self.id.and_then(|k| row.get(k).as_i64()).unwrap_or(0);
                        self.buf.insert((key, id), row);
                    }
                }
            }
        }
    }
}

/// Merges two streams already sorted by `order`, returning rows `skip..wanted` and, when
/// `count_all` is set, how many rows both streams hold in total.
pub(super) fn merge_page<'a>(
    schema: &Schema,
    generated: impl Iterator<Item = Row>,
    extra: impl Iterator<Item = &'a Row>,
    order: &[OrderKey],
    skip: u64,
    wanted: u64,
    count_all: bool,
) -> (Vec<Row>, u64) {
    let mut page = Vec::new();
    let mut seen = 0u64;
    let mut generated = generated.peekable();
    let mut extra = extra.peekable();
    loop {
        if seen >= wanted && !count_all {
            break;
        }
        let next = match (generated.peek(), extra.peek()) {
            (None, None) => break,
            (Some(_), None) => generated.next(),
            (None, Some(_)) => extra.next().cloned(),
            (Some(g), Some(e)) => {
                if compare(schema, g, e, order) == Ordering::Greater {
                    extra.next().cloned()
                } else {
                    generated.next()
                }
            }
        };
        let Some(row) = next else { break };
        if seen >= skip && seen < wanted {
            page.push(row);
        }
        seen += 1;
    }
    (page, seen)
}
