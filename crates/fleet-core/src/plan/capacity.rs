//! How big a backfill may be: the slice count of a request before anything is planned,
//! and the default cap on it, derived from what one slice costs in the ledger.
//!
//! Every slice of a backfill is a record in the ledger until the request is deleted, so a
//! request's slice count is its ledger's size: [`LEDGER_BYTES_PER_SLICE`] was measured on
//! the Redis ledger (method and numbers in BENCHMARKS.md, "Ledger size"), and
//! [`DEFAULT_MAX_SLICES`] keeps one request under [`LEDGER_BUDGET_BYTES`].
//!
//! The count is arithmetic ([`super::Width::count`]) over (sources × datasets × folders ×
//! range / width), so a request over the cap is refused at submit, before a probe, a
//! ledger write or a cut.

use chrono::{DateTime, Utc};

use super::width::Width;
use crate::dataset;

/// Redis memory one backfill slice holds in the ledger (its hash, its entries in the
/// request's id and state indexes), measured with `MEMORY USAGE` after planning 20,000
/// slices (`crates/fleet-redis/tests/ledger_size.rs`), rounded up.
pub const LEDGER_BYTES_PER_SLICE: u64 = 1_600;

/// What one request's ledger may take in Redis.
pub const LEDGER_BUDGET_BYTES: u64 = 1 << 30;

/// The default `max_slices`: a round number under `LEDGER_BUDGET_BYTES /
/// LEDGER_BYTES_PER_SLICE`.
pub const DEFAULT_MAX_SLICES: u64 = 650_000;

/// Slices one source's share of a backfill is cut into: every dataset over `[from, to)`
/// at `width`, folder-scoped datasets once per folder (`folders` of them), datasets
/// without a time field one slice per stream (they are read whole).
pub fn source_slices(
    datasets: &[String],
    width: Width,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    folders: u64,
) -> u64 {
    datasets
        .iter()
        .map(|name| {
            // Data Service entities are tenant-level and cut on their time field.
            let def = dataset::by_name(name);
            let per_stream = if def.is_none_or(|d| d.time_field.is_some()) {
                width.count(from, to)
            } else {
                1
            };
            let streams = if def.is_some_and(|d| d.folder_scoped) {
                folders
            } else {
                1
            };
            per_stream.saturating_mul(streams)
        })
        .fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_cap_keeps_a_request_under_its_ledger_budget() {
        const { assert!(DEFAULT_MAX_SLICES * LEDGER_BYTES_PER_SLICE <= LEDGER_BUDGET_BYTES) };
        // ... and is not needlessly small: at least 70% of what the budget allows.
        const { assert!(DEFAULT_MAX_SLICES * LEDGER_BYTES_PER_SLICE * 10 >= LEDGER_BUDGET_BYTES * 7) };
    }

    /// The fleet is built for 40 tenants with 5 years of history. The reference tenant
    /// (README, "How big a backfill may be"): 10 folders; per folder and day 1,000 jobs,
    /// 2,000 queue items (5,000 item events), 5,000 robot log lines; 2,000 audit log
    /// entries a day; reference sets small. At the default width (chosen from `$count`
    /// at 5,000 records per slice) that is 15,359 slices a year.
    fn reference_tenant(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
        const FOLDERS: u64 = 10;
        let days = (to - from).num_days() as u64;
        let per_day = |slug: &str| -> u64 {
            match slug {
                "jobs" => 1_000,
                "queue-items" => 2_000,
                "queue-item-events" => 5_000,
                "robot-logs" => 5_000,
                "audit-logs" => 2_000,
                _ => 1, // reference sets: a few records a day at most
            }
        };
        dataset::all()
            .iter()
            .map(|d| {
                let slices = match d.time_field {
                    Some(_) => Width::auto(per_day(d.slug) * days, from, to, 5_000).count(from, to),
                    None => 1,
                };
                slices * if d.folder_scoped { FOLDERS } else { 1 }
            })
            .sum()
    }

    #[test]
    fn forty_tenants_and_five_years_fit_in_a_few_requests() {
        let (y0, y1, y5) = (
            t("2021-01-01T00:00:00Z"),
            t("2022-01-01T00:00:00Z"),
            t("2026-01-01T00:00:00Z"),
        );
        let one_tenant_five_years = reference_tenant(y0, y5);
        let forty_tenants_one_year = 40 * reference_tenant(y0, y1);
        assert!(
            one_tenant_five_years <= DEFAULT_MAX_SLICES,
            "{one_tenant_five_years}"
        );
        assert!(
            forty_tenants_one_year <= DEFAULT_MAX_SLICES,
            "{forty_tenants_one_year}"
        );
        // The arithmetic written down in README/BENCHMARKS.
        assert_eq!(
            (
                reference_tenant(y0, y1),
                one_tenant_five_years,
                forty_tenants_one_year
            ),
            (15_359, 76_748, 614_360)
        );
        // All 13 datasets of one tenant × 5 years at 1d, 10 folders, fits as well.
        let all: Vec<String> = dataset::all().iter().map(|d| d.slug.to_owned()).collect();
        let daily = source_slices(&all, Width::Days(1), y0, y5, 10);
        assert!(daily <= DEFAULT_MAX_SLICES, "{daily}");
    }

    #[test]
    fn a_year_at_fifteen_minutes_is_counted_with_its_folders() {
        let (from, to) = (t("2024-01-01T00:00:00Z"), t("2025-01-01T00:00:00Z"));
        let ds = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // jobs per folder, audit logs once, machines read whole.
        assert_eq!(
            source_slices(
                &ds(&["jobs", "audit-logs", "machines"]),
                Width::Minutes(15),
                from,
                to,
                7
            ),
            366 * 96 * 8 + 1
        );
        assert_eq!(
            source_slices(&ds(&["dataservice/Invoice"]), Width::Days(1), from, to, 7),
            366
        );
    }
}
