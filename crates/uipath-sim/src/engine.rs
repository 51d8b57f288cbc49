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

mod narrow;
mod order;
mod stream;

use std::ops::Range;

use crate::data::{AsOf, EntityGen};
use crate::odata::{ODataError, Query};
use crate::overlay::PartOverlay;
use crate::value::Row;

use narrow::{value_bounds, Narrowing};
use order::{compare, effective_order, index_direction, lagged_order};
use stream::{merge_page, LaggedStream};

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

/// The partition a query reads: a generator's records for one tenant view and partition,
/// with the overlay of records changed at run time.
struct Partition<'a> {
    gen: &'a dyn EntityGen,
    tenant: &'a AsOf<'a>,
    part: usize,
    overlay: &'a PartOverlay,
}

impl Partition<'_> {
    /// Whether index `i` holds a generated record this partition serves: one the overlay
    /// does not hide, in a slot that is not empty.
    fn serves(&self, i: u64) -> bool {
        !self.overlay.hides(i) && self.gen.exists(self.tenant, self.part, i)
    }

    fn row(&self, i: u64) -> Row {
        self.gen.row(self.tenant, self.part, i)
    }

    fn id_at(&self, i: u64) -> i64 {
        self.gen.id_at(self.tenant, self.part, i)
    }

    fn time_at(&self, i: u64) -> i64 {
        self.gen.time_at(self.tenant, self.part, i)
    }

    /// The generated records at `indices` that are served and match.
    fn rows<'s>(
        &'s self,
        indices: impl Iterator<Item = u64> + 's,
        matches: &'s dyn Fn(&Row) -> bool,
    ) -> impl Iterator<Item = Row> + 's {
        indices
            .filter(|i| self.serves(*i))
            .map(|i| self.row(i))
            .filter(move |r| matches(r))
    }
}

/// The indices of `ranges` in index order, or in reverse.
fn indices<'r>(ranges: &'r [Range<u64>], desc: bool) -> Box<dyn Iterator<Item = u64> + 'r> {
    if desc {
        Box::new(ranges.iter().rev().flat_map(|r| r.clone().rev()))
    } else {
        Box::new(ranges.iter().flat_map(|r| r.clone()))
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
    let source = Partition {
        gen,
        tenant,
        part,
        overlay,
    };
    let narrowing = Narrowing {
        source: &source,
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
        let bounds = query
            .filter
            .as_ref()
            .map_or((i64::MIN, i64::MAX), |f| value_bounds(f, field));
        let stream = LaggedStream::new(
            &source,
            indices(&ranges, desc),
            &matches,
            (field, lag, desc),
            bounds,
            layout.id,
        );
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
            let generated = source.rows(indices(&ranges, desc), &matches);
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
            let mut all: Vec<Row> = source.rows(indices(&ranges, false), &matches).collect();
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
