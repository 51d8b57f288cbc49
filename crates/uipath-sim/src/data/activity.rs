//! How busy each day is: per-day record counts and the id layout across partitions.
//!
//! A day's expected count is the configured average times a weekday factor (weekends are
//! quiet; the factors average to 1 over a week, so the configured density stays the true
//! mean), a slow growth trend (also averaging 1), a tenant-wide "busy day" factor, a
//! per-folder factor shared by all entities of the folder (a busy invoicing day shows in
//! jobs, queue items and logs alike) and a small per-entity wobble. The fractional part is
//! rounded up or down by a hash, so the expectation is exact. Only basic float arithmetic
//! is used, so counts are identical on every platform.
//!
//! Ids: every entity numbers its records tenant-wide in day order. On each day the folders
//! take consecutive blocks in folder order, and a hashed gap (records deleted, or ids taken
//! by other tenants of the same database) separates days. Ids are therefore unique across
//! folders, strictly increasing within a folder, and roughly time-ordered across folders,
//! as Orchestrator's identity columns are.

use chrono::{Datelike, NaiveDate, Weekday};

use crate::data::hash::{mix2, unit};
use crate::data::timeline::{Profile, Timeline};

/// The shape of activity common to every entity of a tenant.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub start: NaiveDate,
    pub start_ms: i64,
    pub days: usize,
    /// Days over which the growth trend runs (the configured span); a live tenant's later
    /// days keep the final level, so a day's volume does not depend on the span's end.
    pub trend_days: usize,
    /// Weekend days relative to an average day (before normalization), in `[0, 1]`.
    pub weekend_factor: f64,
    pub tenant_seed: u64,
}

impl Calendar {
    /// The day-of-week factor, normalized so that a week averages 1.
    fn week_factor(&self, d: usize) -> f64 {
        let weekend = self.weekend_factor.clamp(0.0, 1.0);
        let weekday = 7.0 / (5.0 + 2.0 * weekend);
        let date = self.start + chrono::Days::new(d as u64);
        match date.weekday() {
            Weekday::Sat | Weekday::Sun => weekend * weekday,
            _ => weekday,
        }
    }

    /// Growth over the span: 0.85 at the start to 1.15 at the end, mean 1.
    fn trend(&self, d: usize) -> f64 {
        let d = d.min(self.trend_days.saturating_sub(1));
        0.85 + 0.3 * (d as f64 + 0.5) / self.trend_days.max(1) as f64
    }

    /// The factor every entity and folder shares on day `d`, before folder effects.
    fn tenant_day(&self, d: usize) -> f64 {
        let noise = 0.75 + 0.5 * unit(mix2(mix2(self.tenant_seed, 0xDA7), d as u64));
        self.week_factor(d) * self.trend(d) * noise
    }

    /// A folder's own day-to-day variation (mean 1), shared by its entities.
    fn folder_day(&self, part: usize, d: usize) -> f64 {
        let h = mix2(mix2(mix2(self.tenant_seed, 0xF01D), part as u64), d as u64);
        0.7 + 0.6 * unit(h)
    }

    /// Per-day counts for one partition: `per_day` is the configured average, `weight`
    /// the partition's relative size (mean 1 over partitions).
    pub fn day_counts(&self, entity_seed: u64, part: usize, per_day: f64, weight: f64) -> Vec<u64> {
        let per_day = if per_day.is_finite() {
            per_day.max(0.0)
        } else {
            0.0
        };
        let part_seed = mix2(entity_seed, part as u64);
        (0..self.days)
            .map(|d| {
                let h = mix2(part_seed, d as u64);
                let wobble = 0.9 + 0.2 * unit(h);
                let expect =
                    per_day * weight * self.tenant_day(d) * self.folder_day(part, d) * wobble;
                // Hashed rounding keeps the expectation exact even for densities below 1.
                let round_up = unit(mix2(h, 0x50)) < expect.fract();
                expect.trunc() as u64 + u64::from(round_up)
            })
            .collect()
    }

    /// Timelines for every partition of one entity: counts per partition, then ids laid
    /// out across partitions day by day (see the module doc).
    pub fn timelines(
        &self,
        entity_seed: u64,
        profile: Profile,
        id_base: i64,
        counts: Vec<Vec<u64>>,
    ) -> Vec<Timeline> {
        let parts = counts.len();
        let mut first_ids = vec![Vec::with_capacity(self.days); parts];
        let mut next = id_base;
        for d in 0..self.days {
            let mut day_total = 0u64;
            for (p, c) in counts.iter().enumerate() {
                first_ids[p].push(next + day_total as i64);
                day_total += c[d];
            }
            let gap = mix2(mix2(entity_seed, 0x6A9), d as u64) % (2 + day_total / 16);
            next += (day_total + gap) as i64;
        }
        counts
            .iter()
            .zip(first_ids)
            .enumerate()
            .map(|(p, (c, ids))| {
                let jitter = mix2(mix2(entity_seed, 0x717), p as u64);
                Timeline::new(self.start_ms, profile, jitter, c, ids)
            })
            .collect()
    }
}

/// Relative sizes of `n` folders: hashed, in `[0.4, 1.6)` before normalization, scaled so
/// they average exactly 1.
pub fn folder_weights(tenant_seed: u64, n: usize) -> Vec<f64> {
    let raw: Vec<f64> = (0..n)
        .map(|f| 0.4 + 1.2 * unit(mix2(mix2(tenant_seed, 0x3E1), f as u64)))
        .collect();
    let mean = raw.iter().sum::<f64>() / n.max(1) as f64;
    raw.into_iter().map(|w| w / mean).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar(days: usize) -> Calendar {
        let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let start_ms = start
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        Calendar {
            start,
            start_ms,
            days,
            trend_days: days,
            weekend_factor: 0.25,
            tenant_seed: 77,
        }
    }

    #[test]
    fn counts_average_to_the_density() {
        let cal = calendar(700);
        let counts = cal.day_counts(5, 0, 40.0, 1.0);
        let mean = counts.iter().sum::<u64>() as f64 / counts.len() as f64;
        assert!((36.0..44.0).contains(&mean), "{mean}");
        // Fractional densities still average right.
        let sparse = cal.day_counts(6, 0, 0.3, 1.0);
        let mean = sparse.iter().sum::<u64>() as f64 / sparse.len() as f64;
        assert!((0.24..0.36).contains(&mean), "{mean}");
    }

    #[test]
    fn weekends_are_quieter() {
        let cal = calendar(364);
        let counts = cal.day_counts(5, 0, 100.0, 1.0);
        // 2025-01-04 is a Saturday.
        let (mut we, mut wd) = (0u64, 0u64);
        for (d, c) in counts.iter().enumerate() {
            if matches!(d % 7, 3 | 4) {
                we += c;
            } else {
                wd += c;
            }
        }
        assert!(
            (we as f64 / 2.0) < (wd as f64 / 5.0) * 0.5,
            "weekend {we} weekday {wd}"
        );
    }

    #[test]
    fn ids_are_unique_across_partitions_and_increase_within() {
        let cal = calendar(30);
        let counts: Vec<Vec<u64>> = (0..3).map(|p| cal.day_counts(1, p, 20.0, 1.0)).collect();
        let tls = cal.timelines(1, Profile::Robots, 1_000, counts);
        let mut all = Vec::new();
        for t in &tls {
            let ids: Vec<i64> = (0..t.len()).map(|i| t.id(i)).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            all.extend(ids);
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(all[0] >= 1_000);
    }

    #[test]
    fn folder_weights_average_one() {
        let w = folder_weights(3, 9);
        assert!((w.iter().sum::<f64>() / 9.0 - 1.0).abs() < 1e-9);
        assert!(w.iter().all(|&x| x > 0.2 && x < 3.0));
    }
}
