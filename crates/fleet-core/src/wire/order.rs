//! The version order of a dataset's records: what orders them ([`version_order`],
//! [`order_fields`]) and the fixed-width `order` text a consumer compares as a plain
//! string ([`order_value`], [`order_time`]; times read by `crate::time`).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dataset::{self, ChangeMode, VersionOrder};

/// `order_by` on the wire is [`VersionOrder::as_str`].
impl Serialize for VersionOrder {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for VersionOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        [
            VersionOrder::Modified,
            VersionOrder::RowVersion,
            VersionOrder::EventTime,
            VersionOrder::ObservedAt,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown order_by `{text}`; expected modified, row-version, event-time or observed-at"
            ))
        })
    }
}

/// What orders the versions of `dataset`'s records: the catalog's [`VersionOrder`] for
/// Orchestrator datasets, [`VersionOrder::Modified`] (`UpdateTime`, else `CreateTime`) for
/// Data Service entities, and [`VersionOrder::ObservedAt`] for a name the catalog does not
/// know (nothing else is known about its records).
pub fn version_order(dataset: &str) -> VersionOrder {
    if dataset::dataservice_entity(dataset).is_some() {
        return VersionOrder::Modified;
    }
    dataset::by_name(dataset).map_or(VersionOrder::ObservedAt, |d| d.order)
}

/// The record fields `dataset`'s order reads, in order of preference: for `modified` the
/// modification time, then the creation time (used only while the modification time is
/// null or absent); for `row-version` `RowVersion`; for `event-time` the dataset's time
/// field; none for `observed-at` (the fetch time).
pub fn order_fields(dataset: &str) -> Vec<&'static str> {
    if dataset::dataservice_entity(dataset).is_some() {
        return vec!["UpdateTime", "CreateTime"];
    }
    let Some(d) = dataset::by_name(dataset) else {
        return Vec::new();
    };
    match d.order {
        VersionOrder::Modified => {
            let modified = match d.change {
                ChangeMode::Modified { field } => field,
                _ => "LastModificationTime",
            };
            std::iter::once(modified).chain(d.time_field).collect()
        }
        VersionOrder::RowVersion => vec!["RowVersion"],
        VersionOrder::EventTime => d.time_field.into_iter().collect(),
        VersionOrder::ObservedAt => Vec::new(),
    }
}

/// The `order` of one version of a record of `dataset` (ordered by
/// [`version_order`]`(dataset)`), or `None` when the record lacks the field (or it cannot
/// be read). Times are [`order_time`] text, row versions 16 lowercase hex digits: within
/// one dataset, plain string comparison orders versions.
///
/// For `modified`, the modification time decides when it is set; only a null or absent
/// one falls back to the creation time (a never-modified record). A modification time
/// that is set but unreadable gives `None`, never the creation time.
pub fn order_value(
    dataset: &str,
    record: &serde_json::Map<String, serde_json::Value>,
    fetched_at: DateTime<Utc>,
) -> Option<String> {
    let order = version_order(dataset);
    if order == VersionOrder::ObservedAt {
        return Some(order_time(fetched_at));
    }
    let fields = order_fields(dataset);
    let field = fields
        .iter()
        .find_map(|f| record.get(*f).filter(|v| !v.is_null()))?;
    let text = field.as_str()?;
    match order {
        VersionOrder::RowVersion => row_version_hex(text),
        _ => parse_time(text).map(order_time),
    }
}

/// A time as `order` text: UTC, always 7 fractional digits (UiPath sends up to 7),
/// `2024-01-01T09:30:12.3450000Z`. Fixed width, so string order is time order.
pub fn order_time(t: DateTime<Utc>) -> String {
    use chrono::Timelike as _;
    // chrono formats 3, 6 or 9 digits; UiPath's ticks are 100 ns (a leap second's
    // nanoseconds run past 10^9 and stay in 7 digits capped).
    let ticks = (t.nanosecond() / 100).min(9_999_999);
    format!("{}.{ticks:07}Z", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// Parses a UiPath time to an instant ([`crate::time::parse_instant`]: with a zone, or
/// without one read as UTC; a date alone is no instant).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    crate::time::parse_instant(text).ok()
}

/// SQL Server's `RowVersion` (base64 of 8 bytes, big-endian) as 16 lowercase hex digits.
fn row_version_hex(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    if bytes.len() != 8 {
        return None;
    }
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_dataset_has_its_version_order() {
        assert_eq!(version_order("jobs"), VersionOrder::Modified);
        assert_eq!(version_order("queue-items"), VersionOrder::RowVersion);
        assert_eq!(version_order("robot-logs"), VersionOrder::EventTime);
        assert_eq!(version_order("machines"), VersionOrder::ObservedAt);
        assert_eq!(version_order("dataservice/Invoice"), VersionOrder::Modified);
        assert_eq!(version_order("nope"), VersionOrder::ObservedAt);
        assert_eq!(
            order_fields("jobs"),
            ["LastModificationTime", "CreationTime"]
        );
        assert_eq!(
            order_fields("dataservice/Invoice"),
            ["UpdateTime", "CreateTime"]
        );
        assert_eq!(order_fields("queue-items"), ["RowVersion"]);
        assert_eq!(order_fields("audit-logs"), ["ExecutionTime"]);
        assert!(order_fields("folders").is_empty());
        for d in dataset::all() {
            assert_eq!(version_order(d.slug), d.order, "{}", d.slug);
            if d.order != VersionOrder::ObservedAt {
                assert!(!order_fields(d.slug).is_empty(), "{}", d.slug);
            }
        }
    }

    #[test]
    fn order_values_compare_as_strings() {
        let at: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let jobs = |v| order_value("jobs", &rec(v), at);
        // Modification time wins; creation time while never modified; fixed width UTC.
        assert_eq!(
            jobs(serde_json::json!({"CreationTime": "2024-01-01T00:00:00Z",
                "LastModificationTime": "2024-01-01T11:30:12.345+02:00"})),
            Some("2024-01-01T09:30:12.3450000Z".into())
        );
        assert_eq!(
            jobs(
                serde_json::json!({"CreationTime": "2024-01-01T00:00:00.1234567Z",
                "LastModificationTime": null})
            ),
            Some("2024-01-01T00:00:00.1234567Z".into())
        );
        assert_eq!(jobs(serde_json::json!({"Id": 1})), None);
        assert_eq!(
            jobs(serde_json::json!({"CreationTime": "2024-01-01T00:00:00Z",
                "LastModificationTime": "garbage"})),
            None,
            "an unreadable modification time is not replaced by the creation time"
        );
        // Data Service: zone-less is UTC.
        assert_eq!(
            order_value(
                "dataservice/Invoice",
                &rec(serde_json::json!({"CreateTime": "2024-05-06T07:08:09.5"})),
                at
            ),
            Some("2024-05-06T07:08:09.5000000Z".into())
        );
        // RowVersion: 8 bytes as hex, compares like the counter.
        let rv = |b64: &str| {
            order_value(
                "queue-items",
                &rec(serde_json::json!({"RowVersion": b64})),
                at,
            )
        };
        assert_eq!(rv("AAAAAAAAB9E="), Some("00000000000007d1".into()));
        assert!(rv("AAAAAAAAB9E=") < rv("AAAAAAABAAA="));
        assert_eq!(rv("not base64!"), None);
        assert_eq!(rv("AAE="), None, "not 8 bytes");
        // Event time and observed-at.
        assert_eq!(
            order_value(
                "robot-logs",
                &rec(serde_json::json!({"TimeStamp": "2024-03-04T05:06:07.1Z"})),
                at
            ),
            Some("2024-03-04T05:06:07.1000000Z".into())
        );
        assert_eq!(
            order_value("sessions", &rec(serde_json::json!({})), at),
            Some("2030-01-01T00:00:00.0000000Z".into())
        );
        // String order is time order across precisions and offsets.
        let times = [
            "2024-01-01T09:00:00+01:00",
            "2024-01-01T08:00:00.0000001Z",
            "2024-01-01T08:00:00.1Z",
            "2024-01-01T08:00:00.12Z",
            "2024-01-01T10:00:00.5+02:00",
            "2024-01-01T08:00:01",
        ];
        let orders: Vec<String> = times
            .iter()
            .map(|t| order_time(parse_time(t).unwrap()))
            .collect();
        for w in orders.windows(2) {
            assert!(w[0] < w[1], "{w:?}");
        }
        for o in &orders {
            assert_eq!(o.len(), "2024-01-01T09:30:12.3450000Z".len());
        }
    }
}
