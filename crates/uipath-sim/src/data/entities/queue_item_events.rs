//! `/odata/QueueItemEvents`: the change history of queue items.
//!
//! Events are derived from the items themselves: **exactly one event per transition of
//! every item** (see [`transitions`]): `Create` (Status `New`) at `CreationTime`, `Status`
//! `InProgress` at `StartProcessing`, then `Status` `Successful`/`Failed` at
//! `EndProcessing`, `Status` `Abandoned` a day after the start, `Retry` (`Retried`) when
//! the item is retried with a new item, or `Delete` (`Deleted`). An event exists once its
//! `Timestamp` is at or before the as-of instant, so the events of an item always agree
//! with the item's own fields.
//!
//! Record `i` of a folder is transition `i % 3` of queue item `i / 3` (a slot; deleted
//! items have two transitions, so some slots are empty, see [`EntityGen::exists`]).
//! `Id = item Id × 4 + transition`: unique, stable, strictly increasing in the index.
//! `Timestamp` is not monotone in the index but lies within [`EVENT_LAG_MS`] after the
//! item's `CreationTime`, which is: a `Timestamp` window `[from, to)` therefore narrows to
//! the items created in `[from − EVENT_LAG_MS, to)` by binary search, and only those
//! candidates are materialized and sorted.

use crate::data::entities::queue_items::{attempt, item_core, transitions, EVENT_LAG_MS};
use crate::data::entities::{schema, RowBuf};
use crate::data::enums::{QUEUE_ITEM_EVENT_ACTION, QUEUE_ITEM_STATUS, REVIEW_STATUS};
use crate::data::hash::Draw;
use crate::data::universe::tag;
use crate::data::{AsOf, EntityDef, EntityGen};
use crate::value::{Row, Schema, Val};

pub static QUEUE_ITEM_EVENT: Schema = schema!("QueueItemEventDto" {
    QueueItemId: Int64,
    Timestamp: DateTime,
    Action: Enum(QUEUE_ITEM_EVENT_ACTION),
    Data: String,
    UserId: Int64,
    UserName: String,
    Status: Enum(QUEUE_ITEM_STATUS),
    ReviewStatus: Enum(REVIEW_STATUS),
    ReviewerUserId: Int64,
    ReviewerUserName: String,
    ExternalClientId: String,
    Id: Int64,
});

/// Transitions per item slot.
const SLOTS: u64 = 3;

pub static QUEUE_ITEM_EVENTS: EntityDef = EntityDef {
    // The index follows the items' creation, not `Timestamp`, which is lagged from it.
    time_field: None,
    lagged: &[("Timestamp", EVENT_LAG_MS)],
    ..EntityDef::in_folders("QueueItemEvents", &QUEUE_ITEM_EVENT, "OR.Queues")
};

/// The id of transition `k` of the item with id `item_id`.
pub fn event_id(item_id: i64, k: u64) -> i64 {
    item_id * 4 + k as i64
}

pub(crate) struct QueueItemEvents;

impl EntityGen for QueueItemEvents {
    fn def(&self) -> &'static EntityDef {
        &QUEUE_ITEM_EVENTS
    }

    fn len(&self, t: &AsOf<'_>, part: usize) -> u64 {
        t.queue_items
            .get(part)
            .map_or(0, |tl| tl.count_until(t.now_ms()) * SLOTS)
    }

    /// The creation time of the slot's item (`Timestamp` lies within the lag after it).
    fn time_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        t.queue_items[part].time(i / SLOTS)
    }

    fn id_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        event_id(t.queue_items[part].id(i / SLOTS), i % SLOTS)
    }

    fn exists(&self, t: &AsOf<'_>, part: usize, i: u64) -> bool {
        let (list, n) = transitions(&attempt(t, part, i / SLOTS));
        let k = (i % SLOTS) as usize;
        k < n && list[k].at <= t.now_ms()
    }

    fn sparse(&self) -> bool {
        true
    }

    fn lagged_key(&self, t: &AsOf<'_>, part: usize, i: u64) -> Option<i64> {
        let (list, n) = transitions(&attempt(t, part, i / SLOTS));
        Some(list[((i % SLOTS) as usize).min(n - 1)].at)
    }

    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row {
        let item = i / SLOTS;
        let k = (i % SLOTS) as usize;
        let (list, n) = transitions(&attempt(t, part, item));
        let tr = list[k.min(n - 1)];
        let c = item_core(t, part, item);
        let d = Draw::new(t.stream(tag::QUEUE_ITEM_EVENTS, part), item);
        // Robots change statuses; people create and delete.
        let robot_user = c
            .robot
            .or_else(|| {
                let robots = &t.robots[part];
                (!robots.is_empty()).then(|| c.draw.skewed(11, robots.len()))
            })
            .and_then(|r| t.robots[part].get(r))
            .and_then(|r| t.users.get(r.user));
        let person =
            (!t.users.is_empty()).then(|| &t.users[d.below(4, t.users.len() as u64) as usize]);
        let user = match tr.action {
            "Status" | "Retry" => robot_user.or(person),
            _ => person,
        };
        let mut r = RowBuf::new(&QUEUE_ITEM_EVENT);
        r.put("QueueItemId", Val::Int(c.id));
        r.put("Timestamp", Val::DateTime(tr.at));
        r.put("Action", Val::str(tr.action));
        r.put(
            "Data",
            if tr.action == "Create" {
                Val::string(format!(
                    r#"{{"Reference":"{}"}}"#,
                    crate::data::entities::queue_items::reference(t, part, &c)
                ))
            } else {
                Val::Null
            },
        );
        r.put("UserId", user.map_or(Val::Null, |u| Val::Int(u.id)));
        r.put(
            "UserName",
            user.map_or(Val::Null, |u| Val::string(u.user_name.clone())),
        );
        r.put("Status", Val::str(tr.status));
        r.put("ReviewStatus", Val::str("None"));
        r.put("ReviewerUserId", Val::Null);
        r.put("ReviewerUserName", Val::Null);
        r.put("ExternalClientId", Val::Null);
        r.put("Id", Val::Int(event_id(c.id, k as u64)));
        r.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::entities::queue_items::QueueItems;
    use crate::data::{DataConfig, TenantData};

    #[test]
    fn one_event_per_transition_consistent_with_the_item_at_every_instant() {
        let data = TenantData::build("acme", "prod", &DataConfig::default());
        let end = data.span_end_ms;
        let ev = QueueItemEvents;
        let mut checked = 0;
        for now in [end - 30 * 3_600_000, end - 5 * 3_600_000, end - 60_000, end] {
            let t = data.as_of(now);
            for part in [1, 2] {
                let items = QueueItems.len(&t, part);
                assert_eq!(ev.len(&t, part), items * SLOTS);
                for k in items.saturating_sub(60)..items {
                    let c = item_core(&t, part, k);
                    let events: Vec<Row> = (k * SLOTS..(k + 1) * SLOTS)
                        .filter(|&i| ev.exists(&t, part, i))
                        .map(|i| ev.row(&t, part, i))
                        .collect();
                    assert!(!events.is_empty());
                    for (n, e) in events.iter().enumerate() {
                        assert_eq!(e.get(0).as_i64(), Some(c.id));
                        assert!(e.get(1).as_datetime().unwrap() <= now);
                        assert_eq!(e.get(11).as_i64(), Some(event_id(c.id, n as u64)));
                    }
                    let at = |n: usize| events[n].get(1).as_datetime();
                    let last = events.last().unwrap();
                    assert_eq!(last.get(6).as_str(), Some(c.status), "{c:?}");
                    assert_eq!(at(0), Some(c.created));
                    assert_eq!(events[0].get(2).as_str(), Some("Create"));
                    if let Some(s) = c.start {
                        assert_eq!(at(1), Some(s));
                    }
                    if let Some(e) = c.end {
                        assert_eq!(at(2), Some(e));
                    }
                    assert_eq!(last.get(1).as_datetime(), Some(c.last_change));
                    checked += 1;
                }
            }
        }
        assert!(checked > 200, "{checked}");
    }
}
