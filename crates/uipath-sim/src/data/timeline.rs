//! Where each record of a high-volume entity sits in time, without storing records.
//!
//! A [`Timeline`] describes one partition (an entity in one folder, or tenant-wide): how
//! many records fall on each day of the span and the id of each day's first record. From
//! that alone it answers, in O(log days):
//! - record `i` → its day and rank within the day ([`Timeline::locate`]);
//! - record `i` → its time: the day start plus a point of the intraday [`Profile`], reached
//!   by stratified sampling (`u = (rank + jitter) / n`), so times are non-decreasing in `i`
//!   and still look random;
//! - record `i` → its id: consecutive within a day, with gaps between days.
//!
//! Memory is two words per day; nothing here is per record.

use crate::data::hash::{mix2, unit};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
const HOUR_MS: f64 = 3_600_000.0;

/// How activity spreads over the 24 hours of a UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Robots: unattended schedules keep some load through the night, with a business-hours
    /// peak from dispatchers and attended work.
    Robots,
    /// People: almost everything in office hours, with a lunch dip.
    People,
}

const ROBOT_HOURS: [u32; 24] = [
    3, 3, 3, 3, 3, 4, 6, 9, 12, 13, 13, 12, 11, 12, 13, 13, 12, 10, 8, 6, 5, 4, 4, 3,
];
const PEOPLE_HOURS: [u32; 24] = [
    1, 1, 1, 1, 1, 1, 2, 5, 10, 13, 13, 12, 9, 11, 13, 13, 11, 8, 5, 3, 2, 2, 1, 1,
];

/// Running sums of hourly weights: `cum[h]` is the weight before hour `h`.
const fn cumulative(w: &[u32; 24]) -> [u32; 25] {
    let mut out = [0u32; 25];
    let mut h = 0;
    while h < 24 {
        out[h + 1] = out[h] + w[h];
        h += 1;
    }
    out
}

const ROBOT_CUM: [u32; 25] = cumulative(&ROBOT_HOURS);
const PEOPLE_CUM: [u32; 25] = cumulative(&PEOPLE_HOURS);

impl Profile {
    /// Milliseconds after midnight of the point with intraday quantile `u` in `[0, 1)`.
    /// Monotone non-decreasing in `u` and always below [`DAY_MS`].
    pub fn offset_ms(self, u: f64) -> i64 {
        let (w, cum) = match self {
            Profile::Robots => (&ROBOT_HOURS, &ROBOT_CUM),
            Profile::People => (&PEOPLE_HOURS, &PEOPLE_CUM),
        };
        let target = u.clamp(0.0, 1.0) * f64::from(cum[24]);
        // The hour whose cumulative range holds the target (hours have positive weight).
        let h = cum[1..24].partition_point(|&c| f64::from(c) <= target);
        let frac = (target - f64::from(cum[h])) / f64::from(w[h]);
        (((h as f64 + frac.min(1.0)) * HOUR_MS) as i64).min(DAY_MS - 1)
    }
}

/// Record `i`'s place in its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub day: usize,
    /// Rank within the day, `0..n`.
    pub rank: u64,
    /// Records on that day.
    pub n: u64,
}

/// The layout of one partition of one entity over the span.
#[derive(Debug, Clone)]
pub struct Timeline {
    start_ms: i64,
    profile: Profile,
    jitter_seed: u64,
    /// `cum[d]` = records on days before `d`; `cum[days]` = total.
    cum: Vec<u64>,
    /// Id of the first record of day `d`; ids are consecutive within a day.
    first_id: Vec<i64>,
}

impl Timeline {
    /// A timeline from per-day counts and per-day first ids (both one entry per day).
    pub fn new(
        start_ms: i64,
        profile: Profile,
        jitter_seed: u64,
        counts: &[u64],
        first_id: Vec<i64>,
    ) -> Timeline {
        debug_assert_eq!(counts.len(), first_id.len());
        let mut cum = Vec::with_capacity(counts.len() + 1);
        let mut total = 0u64;
        cum.push(0);
        for &c in counts {
            total += c;
            cum.push(total);
        }
        Timeline {
            start_ms,
            profile,
            jitter_seed,
            cum,
            first_id,
        }
    }

    pub fn len(&self) -> u64 {
        *self.cum.last().unwrap_or(&0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn days(&self) -> usize {
        self.first_id.len()
    }

    /// Records of day `d` as an index range.
    pub fn day_range(&self, d: usize) -> std::ops::Range<u64> {
        self.cum[d]..self.cum[d + 1]
    }

    /// The day and rank of record `i` (`i < len`).
    pub fn locate(&self, i: u64) -> Slot {
        // cum is non-decreasing; the day is the last d with cum[d] <= i.
        let day = self.cum.partition_point(|&c| c <= i) - 1;
        let day = day.min(self.days().saturating_sub(1));
        Slot {
            day,
            rank: i - self.cum[day],
            n: self.cum[day + 1] - self.cum[day],
        }
    }

    /// Time (Unix ms) of record `i` at `slot`.
    pub fn time_in(&self, slot: Slot, i: u64) -> i64 {
        let jitter = unit(mix2(self.jitter_seed, i));
        let u = (slot.rank as f64 + jitter) / slot.n.max(1) as f64;
        self.start_ms + slot.day as i64 * DAY_MS + self.profile.offset_ms(u)
    }

    /// Time (Unix ms) of record `i`; non-decreasing in `i`.
    pub fn time(&self, i: u64) -> i64 {
        self.time_in(self.locate(i), i)
    }

    /// Id of the record at `slot`; strictly increasing in the record index.
    pub fn id_in(&self, slot: Slot) -> i64 {
        self.first_id[slot.day] + slot.rank as i64
    }

    pub fn id(&self, i: u64) -> i64 {
        self.id_in(self.locate(i))
    }

    /// Number of records with time `<= ms`: the index of the first record after `ms`.
    pub fn count_until(&self, ms: i64) -> u64 {
        if ms < self.start_ms || self.days() == 0 {
            return 0;
        }
        let day = ((ms - self.start_ms) / DAY_MS) as usize;
        if day >= self.days() {
            return self.len();
        }
        // Every record of earlier days is before this day's midnight, so only this day
        // needs a search.
        let range = self.day_range(day);
        let n = range.end - range.start;
        let (mut lo, mut hi) = (0u64, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let i = range.start + mid;
            if self.time_in(Slot { day, rank: mid, n }, i) <= ms {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        range.start + lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Timeline {
        let counts = [3, 0, 5, 1, 0];
        let first = vec![100, 110, 110, 200, 300];
        Timeline::new(
            1_700_000_000_000 / DAY_MS * DAY_MS,
            Profile::Robots,
            9,
            &counts,
            first,
        )
    }

    #[test]
    fn profile_is_monotone_and_inside_the_day() {
        for profile in [Profile::Robots, Profile::People] {
            let mut last = -1;
            for k in 0..=100_000 {
                let ms = profile.offset_ms(k as f64 / 100_001.0);
                assert!(ms >= last && ms < DAY_MS, "{profile:?} {k} {ms}");
                last = ms;
            }
            assert_eq!(profile.offset_ms(0.0), 0);
            assert!(profile.offset_ms(0.999_999_999_999) < DAY_MS);
        }
    }

    #[test]
    fn people_work_in_office_hours() {
        // Half of the weight lies between 09:00 and 16:00.
        let median = Profile::People.offset_ms(0.5);
        assert!(
            (9 * 3_600_000..16 * 3_600_000).contains(&median),
            "{median}"
        );
    }

    #[test]
    fn locate_times_and_ids_follow_the_counts() {
        let t = sample();
        assert_eq!(t.len(), 9);
        assert_eq!(
            t.locate(0),
            Slot {
                day: 0,
                rank: 0,
                n: 3
            }
        );
        assert_eq!(
            t.locate(3),
            Slot {
                day: 2,
                rank: 0,
                n: 5
            }
        );
        assert_eq!(
            t.locate(8),
            Slot {
                day: 3,
                rank: 0,
                n: 1
            }
        );
        let ids: Vec<i64> = (0..9).map(|i| t.id(i)).collect();
        assert_eq!(ids, [100, 101, 102, 110, 111, 112, 113, 114, 200]);
        let times: Vec<i64> = (0..9).map(|i| t.time(i)).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        assert_eq!((times[3] - t.start_ms) / DAY_MS, 2);
    }

    #[test]
    fn count_until_inverts_time() {
        let t = sample();
        for i in 0..t.len() {
            let ms = t.time(i);
            let c = t.count_until(ms);
            assert!(c > i, "record {i} at {ms} not counted");
            assert!(c == t.len() || t.time(c) > ms);
            assert_eq!(
                t.count_until(ms - 1),
                (0..t.len()).filter(|&k| t.time(k) < ms).count() as u64
            );
        }
        assert_eq!(t.count_until(t.start_ms - 1), 0);
        assert_eq!(t.count_until(i64::MAX / 2), t.len());
    }
}
