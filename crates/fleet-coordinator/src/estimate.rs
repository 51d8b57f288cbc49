//! What a backfill will cost before it runs: its slices, records and API requests, and
//! how long those take at each tenant's budget for backfills — answered by a dry run
//! (`POST /v1/backfills?dry_run=true`, nothing stored) and with every new submission
//! (the 202 carries it). The arithmetic is `fleet_core::plan::estimate`, shared with the
//! sync budget check; records come from `$count` probes through the planner's
//! [`crate::probes::ProbeCache`], so the plan that follows reuses them.
//!
//! Also the slice cap: [`Planner::check_cap`] counts a request's slices from (sources ×
//! datasets × folders × range / width) before anything is probed or stored, and refuses
//! one over `max_slices` with the numbers and what to do.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use fleet_core::dataset;
use fleet_core::plan::capacity::{self, LEDGER_BYTES_PER_SLICE};
use fleet_core::plan::estimate::{self, Requests};
use fleet_core::plan::{self, BackfillRequest, FieldError, PlanUnit, RequestError, Width};
use fleet_core::ratelimit::EndpointFamily;
use fleet_core::BucketKey;
use serde::{Deserialize, Serialize};

use crate::error::CoordinatorError;
use crate::planner::Planner;

/// The estimate of a backfill: totals, then per source and dataset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Estimate {
    pub slices: u64,
    /// Records in the range, from `$count` probes (datasets read whole count 0: they
    /// have no ranged count).
    pub records: u64,
    /// API requests the workers will make (pages; every slice at least one).
    pub requests: u64,
    /// Minutes at the tenants' backfill budgets; tenants run side by side, so the slowest
    /// decides. 0 when nothing read is rate-limited.
    pub minutes: f64,
    pub sources: Vec<SourceEstimate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceEstimate {
    pub source: String,
    pub slices: u64,
    pub records: u64,
    pub requests: u64,
    pub minutes: f64,
    /// The limited families' backfill budgets used, requests per minute.
    pub budget_per_minute: BTreeMap<String, f64>,
    pub datasets: Vec<DatasetEstimate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatasetEstimate {
    pub dataset: String,
    /// Folders read (1 for a tenant-level dataset).
    pub streams: u64,
    /// The widths chosen or given (none for a set read whole).
    pub widths: Vec<String>,
    pub slices: u64,
    pub records: u64,
    pub requests: u64,
}

impl Estimate {
    /// One line for people: `1,234 slices, ~56,789 records in ~1,300 requests, about 13
    /// min at the tenants' backfill budgets`.
    pub fn describe(&self) -> String {
        format!(
            "{} slices, ~{} records in ~{} API requests, about {} at the tenant's backfill budget",
            thousands(self.slices),
            thousands(self.records),
            thousands(self.requests),
            duration_words(self.minutes)
        )
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Minutes in words: `under a minute`, `42 min`, `5.3 h`, `2.4 days`.
pub fn duration_words(minutes: f64) -> String {
    if minutes < 1.0 {
        "under a minute".to_owned()
    } else if minutes < 120.0 {
        format!("{minutes:.0} min")
    } else if minutes < 48.0 * 60.0 {
        format!("{:.1} h", minutes / 60.0)
    } else {
        format!("{:.1} days", minutes / 1440.0)
    }
}

/// Why a request is over the cap, with the numbers and what to do.
pub fn over_cap(total: u64, cap: u64, width: Option<Width>, wider: Option<(Width, u64)>) -> String {
    let cut = match width {
        Some(w) => format!("at {w} this request is {} slices", thousands(total)),
        None => format!(
            "at the widths its $count probes chose this request is {} slices",
            thousands(total)
        ),
    };
    let wider = match wider {
        Some((w, n)) => format!(" a wider `slice_width` ({w}: {} slices),", thousands(n)),
        None => " a wider `slice_width`,".to_owned(),
    };
    format!(
        "{cut} (sources × datasets × folders × range / width), more than max_slices = {} (each slice keeps ~{} bytes in the ledger: the cap holds one request under ~1 GiB of Redis); ask for{wider} or split the work: one request per source (tenant) or per year",
        thousands(cap),
        thousands(LEDGER_BYTES_PER_SLICE)
    )
}

impl Planner {
    /// Refuse a backfill with more than `max_slices` slices, counted from the request
    /// alone: with a `slice_width`, (sources × datasets × folders × range / width), the
    /// folders from a folder list younger than `folder_ttl` or else one folder listing
    /// per source (never a probe); the count without folders is checked first, so an
    /// absurd request is refused without any call. Without a width the cap is checked
    /// once probes chose the widths ([`Planner::estimate`], and again in planning).
    pub async fn check_cap(&self, spec: &BackfillRequest) -> Result<(), RequestError> {
        let Some(width) = spec.slice_width else {
            return Ok(());
        };
        let cap = self.config.max_slices;
        let count = |folders: &dyn Fn(&str) -> u64| -> u64 {
            spec.sources
                .iter()
                .map(|s| {
                    capacity::source_slices(&spec.datasets, width, spec.from, spec.to, folders(s))
                })
                .fold(0, u64::saturating_add)
        };
        let refuse = |total: u64, folders: &dyn Fn(&str) -> u64| {
            let wider = Width::LADDER
                .iter()
                .copied()
                .filter(|w| w.nominal_secs() > width.nominal_secs())
                .map(|w| {
                    let n = spec
                        .sources
                        .iter()
                        .map(|s| {
                            capacity::source_slices(
                                &spec.datasets,
                                w,
                                spec.from,
                                spec.to,
                                folders(s),
                            )
                        })
                        .fold(0, u64::saturating_add);
                    (w, n)
                })
                .find(|(_, n)| *n <= cap);
            RequestError::Fields(vec![FieldError {
                field: "slice_width".into(),
                message: over_cap(total, cap, Some(width), wider),
            }])
        };
        let lower = count(&|_| 1);
        if lower > cap {
            return Err(refuse(lower, &|_| 1));
        }
        let scoped = spec
            .datasets
            .iter()
            .any(|d| dataset::by_name(d).is_some_and(|d| d.folder_scoped));
        if !scoped {
            return Ok(());
        }
        let mut folders = BTreeMap::new();
        for source in &spec.sources {
            match self.folders(source).await {
                Ok(f) => {
                    folders.insert(source.clone(), f.len() as u64);
                }
                // Planning lists them again and fails with the reason; the cap is
                // checked there too.
                Err(_) => return Ok(()),
            }
        }
        let of = |s: &str| folders.get(s).copied().unwrap_or(1);
        let total = count(&of);
        if total > cap {
            return Err(refuse(total, &of));
        }
        Ok(())
    }

    /// Estimate a backfill: decide its units as planning would (folders listed, widths
    /// probed), probe the records of every timed unit (all through the probe cache), and
    /// price the reads at each tenant's budget for backfills. Stores nothing.
    pub async fn estimate(
        &self,
        spec: &BackfillRequest,
    ) -> Result<(Vec<PlanUnit>, Estimate), CoordinatorError> {
        let units = self.decide_backfill_units(spec).await?;
        let mut records = Vec::with_capacity(units.len());
        for unit in &units {
            records.push(
                self.unit_records(unit, spec.from, spec.to)
                    .await?
                    .unwrap_or(0),
            );
        }
        let estimate = self.price(&units, &records, spec.from, spec.to);
        Ok((units, estimate))
    }

    /// The estimate of decided units with their record counts.
    fn price(
        &self,
        units: &[PlanUnit],
        records: &[u64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Estimate {
        let limits = &self.config.limits;
        let mut sources: Vec<SourceEstimate> = Vec::new();
        let mut loads: BTreeMap<String, Requests> = BTreeMap::new();
        for (unit, &n) in units.iter().zip(records) {
            let slices = plan::unit_slice_count(unit, from, to);
            let def = dataset::by_name(&unit.dataset);
            let load = estimate::backfill_unit(def, slices, n);
            let requests = load.values().sum::<f64>().ceil() as u64;
            estimate::add(loads.entry(unit.source.clone()).or_default(), &load);
            let source = match sources.iter_mut().position(|s| s.source == unit.source) {
                Some(i) => &mut sources[i],
                None => {
                    sources.push(SourceEstimate {
                        source: unit.source.clone(),
                        slices: 0,
                        records: 0,
                        requests: 0,
                        minutes: 0.0,
                        budget_per_minute: BTreeMap::new(),
                        datasets: Vec::new(),
                    });
                    sources.last_mut().expect("just pushed")
                }
            };
            source.slices += slices;
            source.records += n;
            source.requests += requests;
            let d = match source
                .datasets
                .iter_mut()
                .position(|d| d.dataset == unit.dataset)
            {
                Some(i) => &mut source.datasets[i],
                None => {
                    source.datasets.push(DatasetEstimate {
                        dataset: unit.dataset.clone(),
                        streams: 0,
                        widths: Vec::new(),
                        slices: 0,
                        records: 0,
                        requests: 0,
                    });
                    source.datasets.last_mut().expect("just pushed")
                }
            };
            d.streams += 1;
            if let Some(w) = unit.width.map(|w| w.to_string()) {
                if !d.widths.contains(&w) {
                    d.widths.push(w);
                }
            }
            d.slices += slices;
            d.records += n;
            d.requests += requests;
        }
        // Time per source: its load at its tenant's backfill budget.
        for source in &mut sources {
            let load = loads.remove(&source.source).unwrap_or_default();
            let tenant = self
                .sources
                .get(&source.source)
                .map(|c| c.source().tenant_key())
                .unwrap_or_default();
            let budget = |family: EndpointFamily| {
                limits
                    .budget(&BucketKey::new(tenant.clone(), family))
                    .map(|b| estimate::per_minute(&b) * limits.backfill_share)
            };
            for family in load.keys() {
                if let Some(b) = budget(*family) {
                    source.budget_per_minute.insert(family.to_string(), b);
                }
            }
            source.minutes = estimate::minutes_at(&load, budget);
        }
        Estimate {
            slices: sources.iter().map(|s| s.slices).sum(),
            records: sources.iter().map(|s| s.records).sum(),
            requests: sources.iter().map(|s| s.requests).sum(),
            minutes: sources.iter().map(|s| s.minutes).fold(0.0, f64::max),
            sources,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_words() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(239_000), "239,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(duration_words(0.2), "under a minute");
        assert_eq!(duration_words(42.0), "42 min");
        assert_eq!(duration_words(600.0), "10.0 h");
        assert_eq!(duration_words(2_000.0), "33.3 h");
        assert_eq!(duration_words(3_500.0), "2.4 days");
        assert_eq!(duration_words(5_000.0), "3.5 days");
    }

    #[test]
    fn the_over_cap_message_names_the_numbers_and_the_ways_out() {
        let m = over_cap(
            239_000,
            100_000,
            Some(Width::Minutes(15)),
            Some((Width::Minutes(60), 59_750)),
        );
        for part in [
            "239,000 slices",
            "max_slices = 100,000",
            "1h: 59,750 slices",
            "one request per source (tenant) or per year",
            "at 15m",
        ] {
            assert!(m.contains(part), "{part} not in {m}");
        }
    }
}
