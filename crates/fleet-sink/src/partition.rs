//! Where a record goes: `<source>/<dataset>/<YYYY-MM-DD>.ndjson` under the sink's
//! directory.
//!
//! The date is the UTC date of the record's own time field — the one its dataset is
//! sliced on (fleet-core's dataset catalog; `UpdateTime`, else `CreateTime`, for Data
//! Service entities), read by fleet-core's one UiPath time parser (a zone-less time is
//! UTC; a date-only value is that date) — so a record lands in the same file whichever
//! slice, worker or run read it. A record without that field, or a dataset read whole (no time field), falls
//! back to the date the worker fetched it (the only date a record message carries
//! besides the record itself). A delete has no record: it goes by its `fetched_at` (when
//! the fleet saw the key gone).
//!
//! Guarantee: every path built here stays inside the sink's directory. Each part
//! (source, each `/`-separated piece of the dataset) is reduced to `[A-Za-z0-9._-]`,
//! other characters become `_`, a part made only of dots becomes underscores, and parts
//! are capped at 100 bytes; `dataservice/Invoice` becomes the nested `dataservice/Invoice`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

/// The longest a path part may be (file systems allow 255 bytes; leave room).
const MAX_PART: usize = 100;

/// The fields whose date partitions `dataset`'s records, in order of preference.
pub(crate) fn time_fields(dataset: &str) -> [Option<&'static str>; 2] {
    if fleet_core::dataset::dataservice_entity(dataset).is_some() {
        return [Some("UpdateTime"), Some("CreateTime")];
    }
    let field = fleet_core::dataset::by_name(dataset).and_then(|d| d.time_field);
    [field, None]
}

/// The partition date of one record; of a delete (no record), its `fetched_at`'s.
pub(crate) fn record_date(
    dataset: &str,
    record: Option<&Value>,
    fetched_at: DateTime<Utc>,
) -> NaiveDate {
    let Some(record) = record else {
        return fetched_at.date_naive();
    };
    time_fields(dataset)
        .into_iter()
        .flatten()
        .find_map(|f| {
            let text = record.get(f).and_then(Value::as_str)?;
            fleet_core::time::parse(text).ok()
        })
        .map_or_else(|| fetched_at.date_naive(), |t| t.date())
}

/// One path part, made safe (see the module docs).
pub(crate) fn sanitize(part: &str) -> String {
    let mut out: String = part
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(MAX_PART);
    if out.chars().all(|c| c == '.') {
        // "", ".", "..": never the directory itself or its parent.
        out = "_".repeat(out.len().max(1));
    }
    out
}

/// The file of (`source`, `dataset`, `date`) under `dir`.
pub(crate) fn file_path(dir: &Path, source: &str, dataset: &str, date: NaiveDate) -> PathBuf {
    let mut path = dir.join(sanitize(source));
    for part in dataset.split('/') {
        path.push(sanitize(part));
    }
    path.push(format!("{}.ndjson", date.format("%Y-%m-%d")));
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Component;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn time_fields_follow_the_catalog() {
        for d in fleet_core::dataset::all() {
            assert_eq!(time_fields(d.slug), [d.time_field, None], "{}", d.slug);
        }
        assert_eq!(time_fields("machines"), [None, None]);
        assert_eq!(
            time_fields("dataservice/Invoice"),
            [Some("UpdateTime"), Some("CreateTime")]
        );
    }

    #[test]
    fn a_date_only_value_partitions_by_that_date() {
        // UiPath's one time parser: a date stays a date (not the fetch date, and not
        // shifted through a zone).
        let fetched = at("2030-05-05T00:00:00Z");
        let ds = json!({"UpdateTime": "2024-03-05"});
        assert_eq!(
            record_date("dataservice/Invoice", Some(&ds), fetched).to_string(),
            "2024-03-05"
        );
    }

    #[test]
    fn dates_come_from_the_dataset_time_field_in_utc() {
        let fetched = at("2030-05-05T00:00:00Z");
        let jobs = json!({"Id": 1, "CreationTime": "2024-01-01T23:30:00.123+00:00",
                          "StartTime": "2024-02-01T00:00:00Z"});
        assert_eq!(
            record_date("jobs", Some(&jobs), fetched).to_string(),
            "2024-01-01"
        );
        let shifted = json!({"CreationTime": "2024-01-01T23:30:00-02:00"});
        assert_eq!(
            record_date("jobs", Some(&shifted), fetched).to_string(),
            "2024-01-02"
        );
        let naive = json!({"TimeStamp": "2024-03-04T05:06:07.5"});
        assert_eq!(
            record_date("robot-logs", Some(&naive), fetched).to_string(),
            "2024-03-04"
        );
        let ds =
            json!({"CreateTime": "2024-01-01T00:00:00Z", "UpdateTime": "2024-06-01T00:00:00Z"});
        assert_eq!(
            record_date("dataservice/Invoice", Some(&ds), fetched).to_string(),
            "2024-06-01"
        );
        // Missing or unreadable time, or a dataset read whole: the fetch date.
        for (dataset, r) in [
            ("jobs", json!({"Id": 1})),
            ("jobs", json!({"CreationTime": "yesterday"})),
            ("machines", json!({"CreationTime": "2024-01-01T00:00:00Z"})),
            ("not-a-dataset", json!({})),
        ] {
            assert_eq!(
                record_date(dataset, Some(&r), fetched).to_string(),
                "2030-05-05"
            );
        }
        // A delete has no record: the date the fleet saw the key gone.
        assert_eq!(record_date("jobs", None, fetched).to_string(), "2030-05-05");
    }

    #[test]
    fn paths_never_leave_the_directory() {
        let dir = Path::new("/data/out");
        let day = NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        assert_eq!(
            file_path(dir, "acme", "dataservice/Invoice", day),
            Path::new("/data/out/acme/dataservice/Invoice/2024-01-02.ndjson")
        );
        for (source, dataset) in [
            ("..", "../../etc"),
            ("/abs", "/x/../y"),
            ("a\\b", "..\\..\\c"),
            ("", "."),
            ("ok", "a//b"),
            ("caf\u{e9} t", "x\0y"),
        ] {
            let p = file_path(dir, source, dataset, day);
            let rel = p.strip_prefix(dir).expect("inside the directory");
            for c in rel.components() {
                let Component::Normal(part) = c else {
                    panic!("{source:?}/{dataset:?} gave {p:?}")
                };
                let part = part.to_str().unwrap();
                assert!(!part.is_empty() && part.chars().any(|c| c != '.'), "{p:?}");
                assert!(part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
            }
        }
        assert_eq!(sanitize(&"x".repeat(300)).len(), MAX_PART);
    }
}
