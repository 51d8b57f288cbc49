//! Query execution: an OData [`Query`] over one partition of generated records plus the
//! runtime [`PartOverlay`] of inserted and updated records.
//!
//! The engine never generates a record it can rule out. Bounds on the id, the primary time
//! and the lagged time fields in `$filter` become index ranges by binary search (the
//! generator contract in [`crate::data`] makes those fields monotone in the index); a
//! disjunction keeps one range per branch, so an or-chain of ids (or `Id in (...)`) is a set
//! of point lookups and a modification-time window with its `eq null` branch two bounded
//! ranges. When the requested order is the index order — `$orderby` on (time, id) or id,
//! ascending or descending, which is what a keyset reader asks for — records are streamed
//! and generation stops once the page is full. QueueItemEvents ordered by `Timestamp` (a
//! lagged field standing in for a time field) are streamed through a buffer one lag wide.
//! Any other order materializes the candidate range and sorts it; that path is bounded by
//! [`MATERIALIZE_CAP`].

use std::cmp::Ordering;
use std::ops::Range;

use crate::data::{AsOf, EntityGen};
use crate::odata::{CmpOp, Expr, ODataError, OrderKey, Query};
use crate::overlay::PartOverlay;
use crate::value::{FieldType, Row, Schema, Val};

/// The most candidate records a query outside the index order may sort. Real Orchestrator
/// has no such limit; a simulator query past it gets a 400 that says to narrow the filter.
pub const MATERIALIZE_CAP: u64 = 3_000_000;

/// One page of results.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<Row>,
    /// `@odata.count` when `$count=true` (capped at the paging window where there is one).
    pub count: Option<u64>,
}

/// Field positions the engine needs, resolved once per query.
struct Layout {
    id: Option<usize>,
    time: Option<usize>,
    lagged: Vec<(usize, i64)>,
}

impl Layout {
    fn of(gen: &dyn EntityGen) -> Layout {
        let def = gen.def();
        let idx = |name: Option<&str>| name.and_then(|n| def.schema.index_of(n));
        Layout {
            id: idx(def.id_field),
            time: idx(def.time_field),
            lagged: def
                .lagged
                .iter()
                .filter_map(|(n, lag)| def.schema.index_of(n).map(|i| (i, *lag)))
                .collect(),
        }
    }
}

/// Runs `query` against partition `part` of `gen` for `tenant`, with `overlay` applied.
pub fn execute(
    gen: &dyn EntityGen,
    tenant: &AsOf<'_>,
    part: usize,
    overlay: &PartOverlay,
    query: &Query,
) -> Result<Page, ODataError> {
    let def = gen.def();
    let layout = Layout::of(gen);
    let len = gen.len(tenant, part);
    let narrowing = Narrowing {
        gen,
        tenant,
        part,
        len,
        layout: &layout,
    };
    let ranges = match &query.filter {
        Some(expr) => narrowing.ranges(expr),
        None => std::iter::once(0..len).collect(),
    };
    let span: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    let matches = |row: &Row| query.filter.as_ref().is_none_or(|f| f.eval(row));

    // Overlay rows are few; filter and sort them up front.
    let mut extra: Vec<Row> = overlay.rows().filter(|r| matches(r)).cloned().collect();
    let order = effective_order(query, &layout);
    extra.sort_by(|a, b| compare(def.schema, a, b, &order));

    let window = def.window.unwrap_or(u64::MAX);
    let skip = query.skip;
    let take = query
        .top
        .unwrap_or(def.max_top)
        .min(window.saturating_sub(skip));
    let wanted = skip.saturating_add(take);

    if let Some((field, lag, desc)) = lagged_order(def, &order, &layout) {
        // Ordered by a lagged field that stands in for the time field (QueueItemEvents by
        // Timestamp): streamed in index order through a buffer one lag wide.
        let indices: Box<dyn Iterator<Item = u64>> = if desc {
            Box::new(ranges.iter().rev().flat_map(|r| r.clone().rev()))
        } else {
            Box::new(ranges.iter().flat_map(|r| r.clone()))
        };
        let stream = LaggedStream {
            indices,
            bounds: query
                .filter
                .as_ref()
                .map_or((i64::MIN, i64::MAX), |f| value_bounds(f, field)),
            buf: std::collections::BTreeMap::new(),
            frontier: None,
            done: false,
            desc,
            lag,
            field,
            id: layout.id,
            gen,
            tenant,
            part,
            overlay,
            matches: &matches,
        };
        let (page, seen) = merge_page(
            def.schema,
            stream,
            extra.iter(),
            &order,
            skip,
            wanted,
            query.count,
        );
        return Ok(Page {
            rows: page,
            count: query.count.then_some(seen.min(window)),
        });
    }
    let (rows, total) = match index_direction(&order, &layout) {
        Some(desc) => {
            let exact =
                !gen.sparse() && query.filter.as_ref().is_none_or(|f| narrowing.is_exact(f));
            let need_total = query.count && !exact;
            let indices: Box<dyn Iterator<Item = u64>> = if desc {
                Box::new(ranges.iter().rev().flat_map(|r| r.clone().rev()))
            } else {
                Box::new(ranges.iter().flat_map(|r| r.clone()))
            };
            let generated = indices
                .filter(|i| !overlay.hides(*i) && gen.exists(tenant, part, *i))
                .map(|i| gen.row(tenant, part, i))
                .filter(|r| matches(r));
            let (page, seen) = merge_page(
                def.schema,
                generated,
                extra.iter(),
                &order,
                skip,
                wanted,
                need_total,
            );
            let total = if !query.count {
                None
            } else if exact {
                let hidden: u64 = ranges.iter().map(|r| overlay.hidden_in(r.clone())).sum();
                Some(span - hidden + extra.len() as u64)
            } else {
                Some(seen)
            };
            (page, total)
        }
        None => {
            if span > MATERIALIZE_CAP {
                return Err(ODataError {
                    message: format!(
                        "The simulator would have to sort {span} records for this $orderby; \
                         narrow the $filter or order by the time field and Id."
                    ),
                });
            }
            let mut all: Vec<Row> = ranges
                .iter()
                .flat_map(|r| r.clone())
                .filter(|i| !overlay.hides(*i) && gen.exists(tenant, part, *i))
                .map(|i| gen.row(tenant, part, i))
                .filter(|r| matches(r))
                .collect();
            all.extend(extra);
            all.sort_by(|a, b| compare(def.schema, a, b, &order));
            let total = all.len() as u64;
            let page = all
                .into_iter()
                .skip(skip as usize)
                .take(take as usize)
                .collect();
            (page, query.count.then_some(total))
        }
    };
    Ok(Page {
        rows,
        count: total.map(|t| t.min(window)),
    })
}

/// `Some((field, lag, desc))` when `order` is a lagged field (then the id) in one direction,
/// on an entity whose lagged field stands in for a time field it does not have
/// (QueueItemEvents' `Timestamp`, never null). Such an order can be streamed: a record's
/// value lies within `[time, time + lag]` of the monotone time of its index.
fn lagged_order(
    def: &crate::data::EntityDef,
    order: &[OrderKey],
    layout: &Layout,
) -> Option<(usize, i64, bool)> {
    if def.time_field.is_some() {
        return None;
    }
    let first = order.first()?;
    let [field] = first.path.0[..] else {
        return None;
    };
    let &(_, lag) = layout.lagged.iter().find(|(f, _)| *f == field)?;
    let rest_is_id = order[1..]
        .iter()
        .all(|k| k.desc == first.desc && k.path.0.len() == 1 && Some(k.path.0[0]) == layout.id);
    rest_is_id.then_some((field, lag, first.desc))
}

/// Inclusive bounds `expr` puts on the (integer or date-time) field at `field`; a
/// superset, `(i64::MIN, i64::MAX)` when it says nothing.
fn value_bounds(expr: &Expr, field: usize) -> (i64, i64) {
    const ALL: (i64, i64) = (i64::MIN, i64::MAX);
    match expr {
        Expr::And(a, b) => {
            let (a, b) = (value_bounds(a, field), value_bounds(b, field));
            (a.0.max(b.0), a.1.min(b.1))
        }
        Expr::Or(a, b) => {
            let (a, b) = (value_bounds(a, field), value_bounds(b, field));
            (a.0.min(b.0), a.1.max(b.1))
        }
        Expr::Const(false) => (i64::MAX, i64::MIN),
        Expr::Cmp { path, op, value } if path.0[..] == [field] => {
            let v = match value {
                Val::Int(v) | Val::DateTime(v) => *v,
                _ => return ALL,
            };
            match op {
                CmpOp::Eq => (v, v),
                CmpOp::Ge => (v, i64::MAX),
                CmpOp::Gt => (v.saturating_add(1), i64::MAX),
                CmpOp::Le => (i64::MIN, v),
                CmpOp::Lt => (i64::MIN, v.saturating_sub(1)),
                CmpOp::Ne => ALL,
            }
        }
        _ => ALL,
    }
}

/// Records in the order of a lagged field, generated in index order. A record whose value
/// is below the time of the last generated index (ascending; above it plus the lag when
/// descending) can be emitted: no later index can sort before it. The buffer holds about
/// one lag's worth of records, whatever the range.
struct LaggedStream<'a> {
    indices: Box<dyn Iterator<Item = u64> + 'a>,
    /// Inclusive bounds the filter puts on the field: records outside are skipped before
    /// their row is built.
    bounds: (i64, i64),
    buf: std::collections::BTreeMap<(i64, i64), Row>,
    frontier: Option<i64>,
    done: bool,
    desc: bool,
    lag: i64,
    field: usize,
    id: Option<usize>,
    gen: &'a dyn EntityGen,
    tenant: &'a AsOf<'a>,
    part: usize,
    overlay: &'a PartOverlay,
    matches: &'a dyn Fn(&Row) -> bool,
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
                    self.frontier = Some(self.gen.time_at(self.tenant, self.part, i));
                    if self.overlay.hides(i) || !self.gen.exists(self.tenant, self.part, i) {
                        continue;
                    }
                    let outside = self
                        .gen
                        .lagged_key(self.tenant, self.part, i)
                        .is_some_and(|k| k < self.bounds.0 || k > self.bounds.1);
                    if outside {
                        continue;
                    }
                    let row = self.gen.row(self.tenant, self.part, i);
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
fn merge_page<'a>(
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

/// The order the response must follow. Without `$orderby` Orchestrator returns records by
/// key ascending, which here is the index order.
///
/// Ties are broken by the id in the direction of the last key, so every order is total and
/// pages never overlap, whichever path (streamed or sorted) served them.
fn effective_order(query: &Query, layout: &Layout) -> Vec<OrderKey> {
    if let Some(last) = query.orderby.last() {
        let mut order = query.orderby.clone();
        if let Some(id) = layout.id {
            if !order.iter().any(|k| k.path.0 == [id]) {
                order.push(OrderKey {
                    path: crate::odata::FieldPath(vec![id]),
                    desc: last.desc,
                });
            }
        }
        return order;
    }
    layout
        .id
        .or(layout.time)
        .map(|i| {
            vec![OrderKey {
                path: crate::odata::FieldPath(vec![i]),
                desc: false,
            }]
        })
        .unwrap_or_default()
}

/// `Some(desc)` when `order` equals the index order (or its reverse): keys drawn from
/// (time, id) with the time key first, all in one direction. Because id is strictly
/// increasing and time non-decreasing in the index, such an order is exactly index order.
fn index_direction(order: &[OrderKey], layout: &Layout) -> Option<bool> {
    let Some(first) = order.first() else {
        return Some(false);
    };
    let desc = first.desc;
    let single = |k: &OrderKey| (k.path.0.len() == 1).then(|| k.path.0[0]);
    let mut seen_id = false;
    for (n, key) in order.iter().enumerate() {
        if key.desc != desc {
            return None;
        }
        let field = single(key)?;
        if seen_id {
            // Anything after a unique key cannot change the order.
            continue;
        }
        if Some(field) == layout.id {
            seen_id = true;
        } else if Some(field) == layout.time && n == 0 {
            // Ties in time are broken by index order, which is id order.
        } else {
            return None;
        }
    }
    Some(desc)
}

/// The type of the field at `path`.
fn field_type(schema: &Schema, path: &[usize]) -> Option<FieldType> {
    let (first, rest) = path.split_first()?;
    let ty = schema.fields.get(*first)?.ty;
    match (ty, rest.is_empty()) {
        (_, true) => Some(ty),
        (FieldType::Object(inner), false) => field_type(inner, rest),
        _ => None,
    }
}

/// Compares two values of one field. Enums sort by declaration order, because Orchestrator
/// stores them as integers; everything else by [`Val::order`].
fn compare_field(ty: Option<FieldType>, a: &Val, b: &Val) -> Ordering {
    if let (Some(FieldType::Enum(values)), Val::Str(x), Val::Str(y)) = (ty, a, b) {
        let pos = |s: &str| values.iter().position(|v| *v == s);
        return pos(x).cmp(&pos(y));
    }
    a.order(b)
}

/// Compares two rows by `$orderby` keys.
fn compare(schema: &Schema, a: &Row, b: &Row, order: &[OrderKey]) -> Ordering {
    for key in order {
        let ty = field_type(schema, &key.path.0);
        let ord = compare_field(ty, key.path.get(a), key.path.get(b));
        let ord = if key.desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Turns filter bounds on monotone fields into index ranges.
struct Narrowing<'a> {
    gen: &'a dyn EntityGen,
    tenant: &'a AsOf<'a>,
    part: usize,
    len: u64,
    layout: &'a Layout,
}

impl Narrowing<'_> {
    /// Sorted, disjoint index ranges holding every record that can match `expr` (a
    /// superset). A disjunction keeps its branches apart, so `Id eq 1 or Id eq 5 or ...`
    /// and `Id in (1,5,...)` become point lookups and a modification-time window
    /// `(LMT in [A,B)) or (LMT eq null and CreationTime in [A,B))` two bounded ranges.
    fn ranges(&self, expr: &Expr) -> Vec<Range<u64>> {
        let mut out = self.ranges_of(expr);
        if out.len() > MAX_RANGES {
            let hull = out[0].start..out[out.len() - 1].end;
            out = vec![hull];
        }
        out
    }

    fn ranges_of(&self, expr: &Expr) -> Vec<Range<u64>> {
        let all = || std::iter::once(0..self.len).collect();
        match expr {
            Expr::And(a, b) => intersect(&self.ranges_of(a), &self.ranges_of(b)),
            Expr::Or(a, b) => union(self.ranges_of(a), self.ranges_of(b)),
            Expr::Const(false) => Vec::new(),
            Expr::Cmp { path, op, value } if path.0.len() == 1 => self
                .cmp_range(path.0[0], *op, value)
                .map_or_else(all, |r| union(vec![r], Vec::new())),
            Expr::In { path, values } if path.0.len() == 1 => {
                let mut out = Vec::new();
                for v in values {
                    match self.cmp_range(path.0[0], CmpOp::Eq, v) {
                        Some(r) => out = union(out, vec![r]),
                        None => return all(),
                    }
                }
                out
            }
            _ => all(),
        }
    }

    /// True when the range of `expr` holds exactly its matches (so `$count` needs no scan):
    /// a conjunction of non-`ne` comparisons on the id or primary time field.
    fn is_exact(&self, expr: &Expr) -> bool {
        match expr {
            Expr::And(a, b) => self.is_exact(a) && self.is_exact(b),
            Expr::Cmp { path, op, value } => {
                path.0.len() == 1
                    && *op != CmpOp::Ne
                    && !matches!(value, Val::Null)
                    && (Some(path.0[0]) == self.layout.id || Some(path.0[0]) == self.layout.time)
            }
            _ => false,
        }
    }

    fn cmp_range(&self, field: usize, op: CmpOp, value: &Val) -> Option<Range<u64>> {
        let (key, lag): (Box<dyn Fn(u64) -> i64 + '_>, i64) = if Some(field) == self.layout.id {
            (Box::new(|i| self.gen.id_at(self.tenant, self.part, i)), 0)
        } else if Some(field) == self.layout.time {
            (Box::new(|i| self.gen.time_at(self.tenant, self.part, i)), 0)
        } else if let Some(&(_, lag)) = self.layout.lagged.iter().find(|(f, _)| *f == field) {
            (
                Box::new(|i| self.gen.time_at(self.tenant, self.part, i)),
                lag,
            )
        } else {
            return None;
        };
        let v = match value {
            Val::Int(v) | Val::DateTime(v) => *v,
            _ => return None,
        };
        // first index whose key satisfies `pred`-style bounds, by binary search
        let first = |pred: &dyn Fn(i64) -> bool| partition_point(self.len, |i| pred(key(i)));
        // A lagged field f lies in [key, key + lag]: f >= v needs key >= v - lag and f <= v
        // needs key <= v. For the id and the time field itself lag is 0 and this is exact.
        let lo_ge = |v: i64| first(&|k| k < v.saturating_sub(lag));
        let lo_gt = |v: i64| first(&|k| k <= v.saturating_sub(lag));
        let hi_le = |v: i64| first(&|k| k <= v);
        let hi_lt = |v: i64| first(&|k| k < v);
        Some(match op {
            CmpOp::Eq => lo_ge(v)..hi_le(v),
            CmpOp::Ge => lo_ge(v)..self.len,
            CmpOp::Gt => lo_gt(v)..self.len,
            CmpOp::Le => 0..hi_le(v),
            CmpOp::Lt => 0..hi_lt(v),
            CmpOp::Ne => return None,
        })
        .map(|r| if r.start > r.end { 0..0 } else { r })
    }
}

/// More disjoint ranges than this are served as their hull (a scan), to bound the work of
/// merging them.
const MAX_RANGES: usize = 4096;

/// The union of two sorted disjoint range lists, sorted and disjoint; empty ranges dropped.
fn union(a: Vec<Range<u64>>, b: Vec<Range<u64>>) -> Vec<Range<u64>> {
    let mut all: Vec<Range<u64>> = a.into_iter().chain(b).filter(|r| r.start < r.end).collect();
    all.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(all.len());
    for r in all {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The intersection of two sorted disjoint range lists.
fn intersect(a: &[Range<u64>], b: &[Range<u64>]) -> Vec<Range<u64>> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(start..end);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The first index in `0..len` for which `before(i)` is false, assuming `before` is true
/// on a prefix (the generator contract makes the keys monotone).
fn partition_point(len: u64, before: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (0u64, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_point_finds_the_first_false() {
        let keys = [1, 3, 3, 3, 7, 9];
        let pp = |v| partition_point(keys.len() as u64, |i| keys[i as usize] < v);
        assert_eq!(pp(0), 0);
        assert_eq!(pp(3), 1);
        assert_eq!(pp(4), 4);
        assert_eq!(pp(10), 6);
    }

    #[test]
    fn range_lists_union_and_intersect() {
        assert_eq!(
            union(vec![5..7, 1..2], vec![2..3, 6..9, 4..4]),
            vec![1..3, 5..9]
        );
        assert_eq!(
            intersect(&[0..4, 6..10], &[3..7, 9..12]),
            vec![3..4, 6..7, 9..10]
        );
        assert!(intersect(&[0..2, 3..4], &[]).is_empty());
    }

    #[test]
    fn enums_order_by_declaration_not_by_name() {
        let ty = Some(FieldType::Enum(&["Pending", "Running", "Faulted"]));
        let (p, f) = (Val::str("Pending"), Val::str("Faulted"));
        assert_eq!(compare_field(ty, &p, &f), Ordering::Less);
        assert_eq!(compare_field(None, &p, &f), Ordering::Greater);
    }
}
