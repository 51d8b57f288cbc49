//! `/odata/QueueItems`: transactions added to queues and worked by robots.
//!
//! Each item's attempt (wait, processing time, outcome) is hashed from its index and
//! becomes a fixed list of [`transitions`]; the as-of instant decides how many have
//! happened (`New` items not yet started, `InProgress` ones, final states). Queue item
//! events are the same list, one event per transition. `RowVersion` is
//! [`row_version`] of the latest transition, so it changes at each one and grows with time.
//! An item created after its predecessor ended `Retried` is its retry: it
//! shares the original's queue, reference, content and priority, and points at it through
//! `AncestorId`/`AncestorUniqueKey`. `StartProcessing`/`EndProcessing` are null or within
//! [`MAX_LAG_MS`] of `CreationTime`; `DueDate`, `DeferDate` and `RiskSlaDate` are
//! deadlines, not lagged.

use base64::Engine;
use uuid::Uuid;

use crate::data::entities::jobs::job_key;
use crate::data::entities::nested::{PROCESSING_EXCEPTION, QUEUE_ITEM_ERROR};
use crate::data::entities::{opt_guid, opt_int, schema, RowBuf};
use crate::data::enums::*;
use crate::data::hash::Draw;
use crate::data::pools::{self, Content, APPLICATION_EXCEPTIONS, BUSINESS_EXCEPTIONS};
use crate::data::universe::tag;
use crate::data::{AsOf, EntityDef, EntityGen};
use crate::value::{Row, Schema, Val};

/// Upper bound of `StartProcessing`/`EndProcessing` after `CreationTime`.
pub const MAX_LAG_MS: i64 = 86_400_000;
/// Items in progress this long are abandoned by Orchestrator.
const ABANDON_AFTER_MS: i64 = 86_400_000;

pub static QUEUE_ITEM: Schema = schema!("QueueItemDto" {
    QueueDefinitionId: Int64, ProcessingException: Object(&PROCESSING_EXCEPTION),
    Error: Object(&QUEUE_ITEM_ERROR), Encrypted: Bool, SpecificContent: Json, Output: Json,
    OutputData: String, Analytics: Json, AnalyticsData: String, Status: Enum(QUEUE_ITEM_STATUS),
    ReviewStatus: Enum(REVIEW_STATUS), ReviewerUserId: Int64, Key: Guid, Reference: String,
    ProcessingExceptionType: Enum(EXCEPTION_TYPE), DueDate: DateTime, RiskSlaDate: DateTime,
    Priority: Enum(QUEUE_ITEM_PRIORITY), RobotId: Int64, CreatorJobKey: Guid,
    ExecutorJobKey: Guid, DeferDate: DateTime, StartProcessing: DateTime,
    EndProcessing: DateTime, SecondsInPreviousAttempts: Int32, AncestorId: Int64,
    AncestorUniqueKey: Guid, RetryNumber: Int32, ManualAncestorId: Int64,
    ManualAncestorUniqueKey: Guid, ManualRetryNumber: Int32, UniqueKey: Guid,
    HasVideoRecorded: Bool, SpecificData: String, CreationTime: DateTime, Progress: String,
    RowVersion: String, ParentOperationId: String, OperationId: String,
    OrganizationUnitId: Int64, OrganizationUnitFullyQualifiedName: String, Id: Int64,
});

pub static QUEUE_ITEMS: EntityDef = EntityDef {
    max_top: 100,
    rate_limited: true,
    time_field: Some("CreationTime"),
    lagged: &[
        ("StartProcessing", MAX_LAG_MS),
        ("EndProcessing", MAX_LAG_MS),
    ],
    ..EntityDef::in_folders("QueueItems", &QUEUE_ITEM, "OR.Queues")
};

/// How an attempt ends if the snapshot lets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Successful,
    BusinessFailure,
    ApplicationFailure,
    /// Application failure that Orchestrator retried with a new item.
    Retried,
    Abandoned,
    Deleted,
}

/// One attempt: what happened to item `i` itself, independent of its retry chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    pub created: i64,
    pub outcome: Outcome,
    /// Start/end as they would happen, before the snapshot cuts them.
    pub start: i64,
    pub end: i64,
}

pub(crate) fn attempt(t: &AsOf<'_>, f: usize, i: u64) -> Attempt {
    let created = t.queue_items[f].time(i);
    let d = Draw::new(t.stream(tag::QUEUE_ITEMS, f), i);
    let outcome = match d.below(1, 1000) {
        0..=799 => Outcome::Successful,
        800..=899 => Outcome::BusinessFailure,
        900..=929 => Outcome::ApplicationFailure,
        930..=959 => Outcome::Retried,
        960..=974 => Outcome::Abandoned,
        975..=984 => Outcome::Deleted,
        _ => Outcome::Successful,
    };
    let mut wait = match d.below(2, 10) {
        0..=5 => d.range(3, 5_000, 1_200_000),
        6..=8 => d.range(3, 1_200_000, 5 * 3_600_000),
        _ => d.range(3, 5 * 3_600_000, 18 * 3_600_000),
    };
    if let Some(defer) = defer_offset(d) {
        wait = wait.max(defer + d.range(4, 1_000, 60_000));
    }
    let spread = d.unit(5);
    let work = 3_000 + (spread * spread * 900_000.0) as i64;
    Attempt {
        created,
        outcome,
        start: created + wait,
        end: created + wait + work,
    }
}

/// Deferred items (5%) may not start before `CreationTime + offset`.
fn defer_offset(d: Draw) -> Option<i64> {
    d.chance(6, 0.05)
        .then(|| d.range(7, 3_600_000, 12 * 3_600_000))
}

/// Everything about item `i` of a folder that the row and queue item events need.
#[derive(Debug, Clone)]
pub(crate) struct ItemCore {
    pub id: i64,
    pub created: i64,
    pub queue: usize,
    /// The first attempt of this item's retry chain (itself when `retry == 0`).
    pub origin: u64,
    pub retry: u32,
    pub outcome: Outcome,
    pub status: &'static str,
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Time of the latest transition as of now (creation at least).
    pub last_change: i64,
    pub robot: Option<usize>,
    pub draw: Draw,
    pub origin_draw: Draw,
}

/// One transition of an item: when, the event `Action`, and the status it leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transition {
    pub at: i64,
    pub action: &'static str,
    pub status: &'static str,
}

/// Upper bound of an item's last transition after its creation: the start (at most 18 h,
/// a deferral included) plus abandonment after [`ABANDON_AFTER_MS`] is 42 h; an hour of
/// margin. Queue item events of a `Timestamp` window come from items created at most this
/// long before it.
pub const EVENT_LAG_MS: i64 = 43 * 3_600_000;

/// Every transition of attempt `a`, in time order, whether or not it has happened yet:
/// `Create` (New), then `Delete` (Deleted) or `Status` InProgress at the start, then the
/// end: `Status` Successful/Failed, `Status` Abandoned a day after the start, or `Retry`
/// (Retried) when Orchestrator retries it with a new item. Items and their events are both
/// derived from this list, so they agree as of any instant.
pub(crate) fn transitions(a: &Attempt) -> ([Transition; 3], usize) {
    let t = |at, action, status| Transition { at, action, status };
    let create = t(a.created, "Create", "New");
    if a.outcome == Outcome::Deleted {
        return ([create, t(a.start, "Delete", "Deleted"), create], 2);
    }
    let start = t(a.start, "Status", "InProgress");
    let end = match a.outcome {
        Outcome::Abandoned => t(a.start + ABANDON_AFTER_MS, "Status", "Abandoned"),
        Outcome::Retried => t(a.end, "Retry", "Retried"),
        Outcome::Successful => t(a.end, "Status", "Successful"),
        _ => t(a.end, "Status", "Failed"),
    };
    ([create, start, end], 3)
}

/// Whether attempt `a` was retried into the item created at `next_created`: it ended
/// `Retried` before that item was created (so the relation never changes afterwards).
fn retried_into(a: &Attempt, next_created: i64) -> bool {
    a.outcome == Outcome::Retried && a.end <= next_created
}

pub(crate) fn item_core(t: &AsOf<'_>, f: usize, i: u64) -> ItemCore {
    let a = attempt(t, f, i);
    let stream = t.stream(tag::QUEUE_ITEMS, f);
    let d = Draw::new(stream, i);
    // Walk back over earlier items that were retried into their successor (at most 3).
    let mut origin = i;
    let mut created = a.created;
    while origin > 0 && i - origin < 3 {
        let prev = attempt(t, f, origin - 1);
        if !retried_into(&prev, created) {
            break;
        }
        origin -= 1;
        created = prev.created;
    }
    let origin_draw = Draw::new(stream, origin);
    let queues = &t.queues[f];
    let queue = origin_draw.skewed(10, queues.len());
    let now = t.now_ms();
    let (list, n) = transitions(&a);
    let done = list[..n].iter().filter(|tr| tr.at <= now).count().max(1);
    let last = list[done - 1];
    let status = last.status;
    let start = (a.outcome != Outcome::Deleted && done >= 2).then_some(a.start);
    let end = (done >= 3 && a.outcome != Outcome::Abandoned).then_some(a.end);
    let last_change = last.at;
    let robots = &t.robots[f];
    let robot = (start.is_some() && !robots.is_empty()).then(|| d.skewed(11, robots.len()));
    ItemCore {
        id: t.queue_items[f].id(i),
        created: a.created,
        queue,
        origin,
        retry: (i - origin) as u32,
        outcome: a.outcome,
        status,
        start,
        end,
        last_change,
        robot,
        draw: d,
        origin_draw,
    }
}

/// The `Reference` of an item: a business number derived from the chain's first item.
pub(crate) fn reference(t: &AsOf<'_>, f: usize, c: &ItemCore) -> String {
    let spec = t.releases[f][t.queues[f][c.queue].release].spec;
    let n = t.queue_items[f].id(c.origin);
    match spec.content {
        Content::Invoice => format!("INV-{n}"),
        Content::Order => format!("SO-{n}"),
        Content::Employee => format!("EMP-{n}"),
        Content::Ticket => format!("INC{n:010}"),
        Content::Payment => format!("PAY-{n}"),
        Content::Claim => format!("CLM-{n}"),
    }
}

fn specific_content(t: &AsOf<'_>, f: usize, c: &ItemCore, reference: &str) -> String {
    let d = c.origin_draw;
    let content = t.releases[f][t.queues[f][c.queue].release].spec.content;
    let cents = d.range(20, 1_000, 5_000_000);
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    match content {
        Content::Invoice => format!(
            r#"{{"InvoiceNumber":"{reference}","Vendor":"{}","Amount":{amount},"Currency":"{}"}}"#,
            d.pick(21, pools::COMPANIES),
            d.pick(22, pools::CURRENCIES)
        ),
        Content::Order => format!(
            r#"{{"OrderId":"{reference}","Customer":"{}","Lines":{},"Total":{amount}}}"#,
            d.pick(21, pools::COMPANIES),
            1 + d.below(23, 12)
        ),
        Content::Employee => format!(
            r#"{{"EmployeeId":"{reference}","Name":"{} {}","Department":"{}"}}"#,
            d.pick(24, pools::FIRST_NAMES),
            d.pick(25, pools::LAST_NAMES),
            d.pick(26, pools::DEPARTMENTS)
        ),
        Content::Ticket => format!(
            r#"{{"TicketId":"{reference}","Category":"{}","Priority":"P{}"}}"#,
            d.pick(27, &["Access", "Hardware", "Software", "Network"]),
            1 + d.below(28, 4)
        ),
        Content::Payment => format!(
            r#"{{"PaymentId":"{reference}","Amount":{amount},"Currency":"{}","Counterparty":"{}"}}"#,
            d.pick(22, pools::CURRENCIES),
            d.pick(21, pools::COMPANIES)
        ),
        Content::Claim => format!(
            r#"{{"ClaimNumber":"{reference}","PolicyNumber":"POL-{}","Amount":{amount}}}"#,
            100_000 + d.below(29, 900_000)
        ),
    }
}

/// `RowVersion` of an item whose latest change was at `ms`: SQL Server rowversion
/// semantics (8 bytes, Base64), big-endian `(ms << 22) | (id & 0x3fffff)`, so a later
/// change of any item has a larger value and each transition of an item changes it.
pub fn row_version(ms: i64, id: i64) -> String {
    let v = ((ms.max(0) as u64) << 22) | (id as u64 & 0x3f_ffff);
    base64::engine::general_purpose::STANDARD.encode(v.to_be_bytes())
}

/// The key of the folder's job created last at or before `ms`, if any.
fn job_at(t: &AsOf<'_>, f: usize, ms: i64) -> Option<Uuid> {
    let k = t.jobs[f].count_until(ms);
    (k > 0).then(|| job_key(t, f, k - 1))
}

pub(crate) struct QueueItems;

impl EntityGen for QueueItems {
    fn def(&self) -> &'static EntityDef {
        &QUEUE_ITEMS
    }

    fn len(&self, t: &AsOf<'_>, part: usize) -> u64 {
        t.queue_items
            .get(part)
            .map_or(0, |tl| tl.count_until(t.now_ms()))
    }

    fn time_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        t.queue_items[part].time(i)
    }

    fn id_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        t.queue_items[part].id(i)
    }

    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row {
        let c = item_core(t, part, i);
        let (d, od) = (c.draw, c.origin_draw);
        let folder = &t.folders[part];
        let queue = &t.queues[part][c.queue];
        let failed = c.status == "Failed" || c.status == "Retried";
        let exception = failed.then(|| match c.outcome {
            Outcome::BusinessFailure => ("BusinessException", d.pick(30, BUSINESS_EXCEPTIONS)),
            _ => ("ApplicationException", d.pick(30, APPLICATION_EXCEPTIONS)),
        });
        let review = match (c.status, d.below(31, 10)) {
            ("Failed", 0..=2) => "InReview",
            ("Failed", 3..=4) => "Verified",
            _ => "None",
        };
        let reference = reference(t, part, &c);
        let mut r = RowBuf::new(&QUEUE_ITEM);
        r.put("QueueDefinitionId", Val::Int(queue.id));
        r.put(
            "ProcessingException",
            match (exception, c.end) {
                (Some((ty, (reason, details))), Some(end)) => Val::Object(Box::new(Row(vec![
                    Val::str(reason),
                    Val::str(details),
                    Val::str(ty),
                    Val::Null,
                    Val::DateTime(end),
                ]))),
                _ => Val::Null,
            },
        );
        r.put("Error", Val::Null);
        r.put("Encrypted", Val::Bool(false));
        r.put(
            "SpecificContent",
            Val::Raw(specific_content(t, part, &c, &reference).into()),
        );
        r.put(
            "Output",
            if c.status == "Successful" {
                Val::Raw(
                    format!(
                        r#"{{"Result":"Done","DocumentNumber":"51{:08}"}}"#,
                        d.below(32, 100_000_000)
                    )
                    .into(),
                )
            } else {
                Val::Null
            },
        );
        r.put("OutputData", Val::Null);
        r.put("Analytics", Val::Raw("{}".into()));
        r.put("AnalyticsData", Val::Null);
        r.put("Status", Val::str(c.status));
        r.put("ReviewStatus", Val::str(review));
        r.put(
            "ReviewerUserId",
            opt_int(
                (review != "None" && !t.users.is_empty())
                    .then(|| t.users[d.below(33, t.users.len() as u64) as usize].id),
            ),
        );
        r.put("Key", Val::Guid(d.uuid(34)));
        r.put("Reference", Val::string(reference));
        r.put(
            "ProcessingExceptionType",
            exception.map_or(Val::Null, |(ty, _)| Val::str(ty)),
        );
        r.put(
            "DueDate",
            Val::opt_datetime(
                od.chance(35, 0.4)
                    .then(|| c.created + od.range(36, 1, 5) * 86_400_000),
            ),
        );
        r.put(
            "RiskSlaDate",
            Val::opt_datetime(
                queue
                    .risk_sla_minutes
                    .map(|m| c.created + i64::from(m) * 60_000),
            ),
        );
        r.put(
            "Priority",
            Val::str(
                [
                    "Normal", "Normal", "Normal", "Normal", "Normal", "Normal", "High", "High",
                    "Low", "Normal",
                ][od.below(37, 10) as usize],
            ),
        );
        r.put("RobotId", opt_int(c.robot.map(|k| t.robots[part][k].id)));
        r.put(
            "CreatorJobKey",
            opt_guid(
                od.chance(38, 0.6)
                    .then(|| job_at(t, part, c.created))
                    .flatten(),
            ),
        );
        r.put(
            "ExecutorJobKey",
            opt_guid(c.start.and_then(|s| job_at(t, part, s))),
        );
        r.put(
            "DeferDate",
            Val::opt_datetime(defer_offset(d).map(|o| c.created + o)),
        );
        r.put("StartProcessing", Val::opt_datetime(c.start));
        r.put("EndProcessing", Val::opt_datetime(c.end));
        r.put(
            "SecondsInPreviousAttempts",
            Val::Int(i64::from(c.retry) * d.range(39, 20, 600)),
        );
        let origin = c.retry > 0;
        r.put(
            "AncestorId",
            opt_int(origin.then(|| t.queue_items[part].id(c.origin))),
        );
        r.put("AncestorUniqueKey", opt_guid(origin.then(|| od.uuid(40))));
        r.put("RetryNumber", Val::Int(i64::from(c.retry)));
        r.put("ManualAncestorId", Val::Null);
        r.put("ManualAncestorUniqueKey", Val::Null);
        r.put("ManualRetryNumber", Val::Int(0));
        r.put("UniqueKey", Val::Guid(d.uuid(40)));
        r.put("HasVideoRecorded", Val::Bool(false));
        r.put("SpecificData", Val::Null);
        r.put("CreationTime", Val::DateTime(c.created));
        r.put("Progress", Val::Null);
        r.put("RowVersion", Val::string(row_version(c.last_change, c.id)));
        r.put("ParentOperationId", Val::Null);
        r.put("OperationId", Val::Null);
        r.put("OrganizationUnitId", Val::Int(folder.id));
        r.put(
            "OrganizationUnitFullyQualifiedName",
            Val::string(folder.fully_qualified_name.clone()),
        );
        r.put("Id", Val::Int(c.id));
        r.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataConfig, TenantData};

    #[test]
    fn retries_point_at_a_retried_original_with_the_same_reference() {
        let t = TenantData::build(
            "acme",
            "prod",
            &DataConfig {
                queue_items_per_day: 60.0,
                ..Default::default()
            },
        );
        let t = t.at_end();
        let mut retries = 0;
        for f in 0..t.folders.len() {
            for i in 0..QueueItems.len(&t, f) {
                let c = item_core(&t, f, i);
                if c.retry > 0 {
                    retries += 1;
                    let prev = item_core(&t, f, i - 1);
                    assert_eq!(prev.status, "Retried");
                    assert_eq!(prev.origin, c.origin);
                    assert_eq!(reference(&t, f, &prev), reference(&t, f, &c));
                    assert_eq!(prev.queue, c.queue);
                }
            }
        }
        assert!(retries > 10, "{retries}");
    }

    #[test]
    fn statuses_are_mostly_successful() {
        let t = TenantData::build("acme", "prod", &DataConfig::default());
        let t = t.at_end();
        let (mut ok, mut n) = (0, 0);
        for i in 0..QueueItems.len(&t, 1) {
            n += 1;
            ok += usize::from(item_core(&t, 1, i).status == "Successful");
        }
        assert!(ok * 100 > n * 70, "{ok}/{n}");
    }
}
