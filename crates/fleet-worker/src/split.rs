//! Cutting a slice in two: where, and the two child slices. Pure.
//!
//! Two reasons to split (see the crate docs):
//! - **a paging window** (RobotLogs answer "more than 10,000 rows" on the first page):
//!   the whole range is halved and both halves are read from their start;
//! - **the record budget**: the slice has published many records and more remain. Only
//!   the unread remainder `[t, to)` is halved, where `t` is the time of the last record
//!   read: the first child keeps the parent's range start *and its cursor*, so it resumes
//!   exactly where the parent stopped, and the second starts at the cut. Together they
//!   cover the parent's range, and nothing already published is read again.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use fleet_core::ledger::{SliceRecord, SliceState};
use fleet_core::plan::slice_id;

/// A cut strictly inside `[from, to)`: the midpoint, rounded down to a whole second when
/// the range is at least two seconds wide. `None` when the range is narrower than twice
/// `min`, or no cut fits.
pub fn midpoint(from: DateTime<Utc>, to: DateTime<Utc>, min: Duration) -> Option<DateTime<Utc>> {
    let width = to.signed_duration_since(from);
    let min = TimeDelta::from_std(min).unwrap_or(TimeDelta::MAX);
    if width <= TimeDelta::zero() || width < min * 2 {
        return None;
    }
    let mut cut = from + width / 2;
    if width >= TimeDelta::seconds(2) {
        let micros = cut.timestamp_micros();
        let whole = micros - micros.rem_euclid(1_000_000);
        cut = DateTime::from_timestamp_micros(whole).unwrap_or(cut);
    }
    (from < cut && cut < to).then_some(cut)
}

/// The two children of `parent`, cut at `cut`: `[from, cut)` resuming at `checkpoint`
/// (`None`: from its start) and `[cut, to)`. Ids are deterministic, so splitting the same
/// parent at the same place again yields the same children.
pub fn children(
    parent: &SliceRecord,
    cut: DateTime<Utc>,
    checkpoint: Option<String>,
    now: DateTime<Utc>,
) -> Vec<SliceRecord> {
    let child =
        |from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>, cp: Option<String>| SliceRecord {
            id: slice_id(
                &parent.request_id,
                &parent.source,
                &parent.dataset,
                parent.folder.as_ref(),
                from,
                to,
            ),
            request_id: parent.request_id.clone(),
            lane: parent.lane,
            source: parent.source.clone(),
            dataset: parent.dataset.clone(),
            folder: parent.folder.clone(),
            from,
            to,
            select: parent.select.clone(),
            stream: parent.stream.clone(),
            parent: Some(parent.id.clone()),
            state: SliceState::Queued,
            records: 0,
            pages: 0,
            attempts: 0,
            last_error: None,
            checkpoint: cp,
            updated_at: now,
        };
    vec![
        child(parent.from, Some(cut), checkpoint),
        child(Some(cut), parent.to, None),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_core::wire::Lane;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn cuts_fall_strictly_inside_on_whole_seconds() {
        let m = midpoint(
            t("2024-01-01T00:00:00Z"),
            t("2024-01-02T00:00:00Z"),
            Duration::from_secs(1),
        );
        assert_eq!(m, Some(t("2024-01-01T12:00:00Z")));
        let m = midpoint(
            t("2024-01-01T00:00:00Z"),
            t("2024-01-01T00:00:03Z"),
            Duration::from_secs(1),
        );
        assert_eq!(m, Some(t("2024-01-01T00:00:01Z")));
        // Sub-second ranges are cut in the middle when the minimum allows.
        let m = midpoint(
            t("2024-01-01T00:00:00Z"),
            t("2024-01-01T00:00:00.5Z"),
            Duration::from_millis(100),
        );
        assert_eq!(m, Some(t("2024-01-01T00:00:00.25Z")));
        // Too narrow, empty or inverted: no cut.
        assert_eq!(
            midpoint(
                t("2024-01-01T00:00:00Z"),
                t("2024-01-01T00:00:01Z"),
                Duration::from_secs(1)
            ),
            None
        );
        assert_eq!(
            midpoint(
                t("2024-01-01T00:00:00Z"),
                t("2024-01-01T00:00:00Z"),
                Duration::ZERO
            ),
            None
        );
        assert_eq!(
            midpoint(
                t("2024-01-02T00:00:00Z"),
                t("2024-01-01T00:00:00Z"),
                Duration::ZERO
            ),
            None
        );
    }

    #[test]
    fn children_cover_the_parent_and_are_deterministic() {
        let parent = SliceRecord {
            id: "p".into(),
            request_id: "r".into(),
            lane: Lane::Backfill,
            source: "acme".into(),
            dataset: "jobs".into(),
            folder: None,
            from: Some(t("2024-01-01T00:00:00Z")),
            to: Some(t("2024-01-02T00:00:00Z")),
            select: vec!["Id".into()],
            stream: Some("acme/jobs".into()),
            parent: None,
            state: SliceState::Running,
            records: 300_000,
            pages: 300,
            attempts: 1,
            last_error: None,
            checkpoint: Some("cp".into()),
            updated_at: Utc::now(),
        };
        let cut = t("2024-01-01T18:00:00Z");
        let kids = children(&parent, cut, Some("cp".into()), Utc::now());
        assert_eq!(kids[0].from, parent.from);
        assert_eq!((kids[0].to, kids[1].from), (Some(cut), Some(cut)));
        assert_eq!(kids[1].to, parent.to);
        assert_eq!(kids[0].checkpoint.as_deref(), Some("cp"));
        assert_eq!(kids[1].checkpoint, None);
        for k in &kids {
            assert_eq!(k.parent.as_deref(), Some("p"));
            assert_eq!((k.records, k.pages), (0, 0));
            assert_eq!(k.stream, parent.stream);
        }
        let again = children(&parent, cut, Some("cp".into()), Utc::now());
        assert_eq!(kids[0].id, again[0].id);
        assert_ne!(kids[0].id, kids[1].id);
    }
}
