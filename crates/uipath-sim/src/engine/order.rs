//! The order a response follows, whether the index order (or a lagged field's) can serve
//! it by streaming, and row comparison by `$orderby` keys.

use std::cmp::Ordering;

use super::Layout;
use crate::data::EntityDef;
use crate::odata::{FieldPath, OrderKey, Query};
use crate::value::{FieldType, Row, Schema, Val};

/// The order the response must follow. Without `$orderby` Orchestrator returns records by
/// key ascending, which here is the index order.
///
/// Ties are broken by the id in the direction of the last key, so every order is total and
/// pages never overlap, whichever path (streamed or sorted) served them.
pub(super) fn effective_order(query: &Query, layout: &Layout) -> Vec<OrderKey> {
    if let Some(last) = query.orderby.last() {
        let mut order = query.orderby.clone();
        if let Some(id) = layout.id {
            if !order.iter().any(|k| k.path.0 == [id]) {
                order.push(OrderKey {
                    path: FieldPath(vec![id]),
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
                path: FieldPath(vec![i]),
                desc: false,
            }]
        })
        .unwrap_or_default()
}

/// `Some(desc)` when `order` equals the index order (or its reverse): keys drawn from
/// (time, id) with the time key first, all in one direction. Because id is strictly
/// increasing and time non-decreasing in the index, such an order is exactly index order.
pub(super) fn index_direction(order: &[OrderKey], layout: &Layout) -> Option<bool> {
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
pub(super) fn compare(schema: &Schema, a: &Row, b: &Row, order: &[OrderKey]) -> Ordering {
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

/// `Some((field, lag, desc))` when `order` is a lagged field (then the id) in one direction,
/// on an entity whose lagged field stands in for a time field it does not have
/// (QueueItemEvents' `Timestamp`, never null). Such an order can be streamed: a record's
/// value lies within `[time, time + lag]` of the monotone time of its index.
pub(super) fn lagged_order(
    def: &EntityDef,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_order_by_declaration_not_by_name() {
        let ty = Some(FieldType::Enum(&["Pending", "Running", "Faulted"]));
        let (p, f) = (Val::str("Pending"), Val::str("Faulted"));
        assert_eq!(compare_field(ty, &p, &f), Ordering::Less);
        assert_eq!(compare_field(None, &p, &f), Ordering::Greater);
    }
}
