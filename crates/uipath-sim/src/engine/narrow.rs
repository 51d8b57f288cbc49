//! Index ranges from `$filter` bounds: the generator contract makes the id, the primary
//! time and (within their lag) the lagged fields monotone in the record index, so a bound
//! on one of them is a binary search.

use std::ops::Range;

use super::{Layout, Partition};
use crate::odata::{CmpOp, Expr};
use crate::value::Val;

/// Turns filter bounds on monotone fields into index ranges.
pub(super) struct Narrowing<'a> {
    pub source: &'a Partition<'a>,
    pub len: u64,
    pub layout: &'a Layout,
}

impl Narrowing<'_> {
    /// Sorted, disjoint index ranges holding every record that can match `expr` (a
    /// superset). A disjunction keeps its branches apart, so `Id eq 1 or Id eq 5 or ...`
    /// and `Id in (1,5,...)` become point lookups and a modification-time window
    /// `(LMT in [A,B)) or (LMT eq null and CreationTime in [A,B))` two bounded ranges.
    pub fn ranges(&self, expr: &Expr) -> Vec<Range<u64>> {
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
    pub fn is_exact(&self, expr: &Expr) -> bool {
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
            (Box::new(|i| self.source.id_at(i)), 0)
        } else if Some(field) == self.layout.time {
            (Box::new(|i| self.source.time_at(i)), 0)
        } else if let Some(&(_, lag)) = self.layout.lagged.iter().find(|(f, _)| *f == field) {
            (Box::new(|i| self.source.time_at(i)), lag)
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

/// Inclusive bounds `expr` puts on the (integer or date-time) field at `field`; a
/// superset, `(i64::MIN, i64::MAX)` when it says nothing.
pub(super) fn value_bounds(expr: &Expr, field: usize) -> (i64, i64) {
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
}
