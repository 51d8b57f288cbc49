//! `/odata/QueueItemEvents`: the change history of queue items.
//!
//! Events are their own stream (density per folder per day), laid out like every
//! high-volume entity so `Timestamp` is non-decreasing in the index. Each event points at
//! a queue item of the same folder created at or before it and describes that item as of
//! the event's time: a `Create` event names the newest item, a `Status` event an item a
//! little older and the state its lifecycle has reached by then (`InProgress`, or its final
//! status once it has ended); items still waiting get `Edit` events instead. The events
//! are therefore consistent with the items' own fields, though an item's history is not
//! guaranteed to be complete.

use crate::data::entities::queue_items::item_core;
use crate::data::entities::{opt_int, schema, RowBuf};
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

pub static QUEUE_ITEM_EVENTS: EntityDef = EntityDef {
    name: "QueueItemEvents",
    schema: &QUEUE_ITEM_EVENT,
    scope: "OR.Queues",
    folder_scoped: true,
    max_top: 1000,
    rate_limited: false,
    window: None,
    id_field: Some("Id"),
    time_field: Some("Timestamp"),
    lagged: &[],
};

pub(crate) struct QueueItemEvents;

impl EntityGen for QueueItemEvents {
    fn def(&self) -> &'static EntityDef {
        &QUEUE_ITEM_EVENTS
    }

    fn len(&self, t: &AsOf<'_>, part: usize) -> u64 {
        t.queue_item_events.get(part).map_or(0, |tl| tl.len())
    }

    fn time_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        t.queue_item_events[part].time(i)
    }

    fn id_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        t.queue_item_events[part].id(i)
    }

    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row {
        let tl = &t.queue_item_events[part];
        let slot = tl.locate(i);
        let at = tl.time_in(slot, i);
        let d = Draw::new(t.stream(tag::QUEUE_ITEM_EVENTS, part), i);
        // Items that exist by now; events before the first item point at the first item.
        let existing = t.queue_items[part].count_until(at);
        let create = d.chance(1, 0.4);
        let back = if create { 0 } else { d.below(2, 40) };
        let item = (existing > 0)
            .then(|| existing - 1 - back.min(existing - 1))
            .or((!t.queue_items[part].is_empty()).then_some(0));
        let core = item.map(|k| item_core(t, part, k));

        // What the item looks like at the event's time.
        let (action, status) = match &core {
            None => ("Create", "New"),
            Some(c) if create || c.created > at => ("Create", "New"),
            Some(c) if c.status == "Deleted" && d.chance(3, 0.5) => ("Delete", "Deleted"),
            Some(c) => match (c.start, c.end) {
                (Some(_), Some(e)) if e <= at => ("Status", c.status),
                (Some(s), _) if s <= at => ("Status", "InProgress"),
                _ => ("Edit", "New"),
            },
        };
        // Robots change statuses; people create, edit and delete.
        let robot_user = core
            .as_ref()
            .and_then(|c| c.robot)
            .and_then(|k| t.robots[part].get(k))
            .and_then(|r| t.users.get(r.user));
        let person =
            (!t.users.is_empty()).then(|| &t.users[d.below(4, t.users.len() as u64) as usize]);
        let user = if action == "Status" {
            robot_user.or(person)
        } else {
            person
        };

        let mut r = RowBuf::new(&QUEUE_ITEM_EVENT);
        r.put("QueueItemId", opt_int(core.as_ref().map(|c| c.id)));
        r.put("Timestamp", Val::DateTime(at));
        r.put("Action", Val::str(action));
        r.put(
            "Data",
            match (action, &core) {
                ("Create" | "Edit", Some(c)) => Val::string(format!(
                    r#"{{"Reference":"{}"}}"#,
                    crate::data::entities::queue_items::reference(t, part, c)
                )),
                _ => Val::Null,
            },
        );
        r.put("UserId", opt_int(user.map(|u| u.id)));
        r.put(
            "UserName",
            user.map_or(Val::Null, |u| Val::string(u.user_name.clone())),
        );
        r.put("Status", Val::str(status));
        r.put("ReviewStatus", Val::str("None"));
        r.put("ReviewerUserId", Val::Null);
        r.put("ReviewerUserName", Val::Null);
        r.put("ExternalClientId", Val::Null);
        r.put("Id", Val::Int(tl.id_in(slot)));
        r.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataConfig, TenantData};

    #[test]
    fn events_point_at_items_created_before_them_with_matching_status() {
        let t = TenantData::build("acme", "prod", &DataConfig::default());
        let t = t.at_end();
        let ev = QueueItemEvents;
        let (mut creates, mut statuses) = (0, 0);
        for i in 0..ev.len(&t, 1) {
            let row = ev.row(&t, 1, i);
            let at = row.get(1).as_datetime().unwrap();
            let Some(item_id) = row.get(0).as_i64() else {
                continue;
            };
            let k = (0..t.queue_items[1].len())
                .find(|&k| t.queue_items[1].id(k) == item_id)
                .unwrap();
            let item = item_core(&t, 1, k);
            let action = row.get(2).as_str().unwrap();
            let status = row.get(6).as_str().unwrap();
            if item.created <= at && action == "Status" {
                statuses += 1;
                assert!(item.start.unwrap() <= at);
                if status != "InProgress" {
                    assert_eq!(status, item.status);
                }
            }
            creates += usize::from(action == "Create");
        }
        assert!(creates > 100 && statuses > 100, "{creates} {statuses}");
    }
}
