//! The generic cell rate algorithm with reservations, as pure arithmetic on integer
//! nanoseconds. The Redis script in `fleet-redis` implements exactly this (on
//! microseconds from Redis `TIME`); the tests here state its guarantees.
//!
//! A bucket remembers one number, its theoretical arrival time (TAT). A request arriving
//! at `a` conforms when `a >= tat - tolerance`; it then moves the TAT to
//! `max(tat, a) + emission`. With `emission = period / requests` and
//! `tolerance = (burst - 1) * emission`, any interval of length `L` admits at most
//! `burst + L / emission` requests.
//!
//! *Reservation*: a caller willing to wait up to `max_wait` is given the earliest
//! conforming arrival time `a >= now` in every bucket it needs at once (and not before a
//! pause ends), the TATs move as if it arrived then, and it sleeps until `a`. A caller
//! whose earliest time is further away than `max_wait` reserves nothing and is told how
//! long the wait would be, so it can serve other work meanwhile.

/// One bucket's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Time per request at the sustained rate.
    pub emission_ns: u64,
    /// How far ahead of the sustained schedule a request may run: `(burst - 1) * emission`.
    pub tolerance_ns: u64,
}

impl Gcra {
    /// `requests` per `period_ns` with bursts of up to `burst` (at least 1).
    pub fn new(requests: f64, period_ns: u64, burst: u32) -> Gcra {
        let requests = requests.max(f64::MIN_POSITIVE);
        let emission_ns = ((period_ns as f64) / requests).ceil().max(1.0) as u64;
        Gcra {
            emission_ns,
            tolerance_ns: emission_ns.saturating_mul(u64::from(burst.max(1) - 1)),
        }
    }
}

/// The result of [`reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Admitted: arrive `wait_ns` from now; the buckets' new TATs, in input order.
    Granted { wait_ns: u64, new_tats: Vec<u64> },
    /// Not admitted within `max_wait`; the earliest admission is `retry_in_ns` from now.
    /// Nothing was reserved.
    Denied { retry_in_ns: u64 },
}

/// Reserves one request in every bucket of `buckets` (each with its stored TAT, `None`
/// when the bucket is new or expired) at the earliest time that conforms in all of them
/// and is not before `paused_until_ns`.
pub fn reserve(
    buckets: &[(Option<u64>, Gcra)],
    now_ns: u64,
    paused_until_ns: Option<u64>,
    max_wait_ns: u64,
) -> Reservation {
    let mut arrival = now_ns.max(paused_until_ns.unwrap_or(0));
    for (tat, g) in buckets {
        let tat = tat.unwrap_or(now_ns).max(now_ns);
        arrival = arrival.max(tat.saturating_sub(g.tolerance_ns));
    }
    let wait_ns = arrival - now_ns;
    if wait_ns > max_wait_ns {
        return Reservation::Denied {
            retry_in_ns: wait_ns,
        };
    }
    let new_tats = buckets
        .iter()
        .map(|(tat, g)| tat.unwrap_or(now_ns).max(arrival) + g.emission_ns)
        .collect();
    Reservation::Granted { wait_ns, new_tats }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn spaces_requests_at_the_emission_interval() {
        let g = Gcra::new(10.0, 1000 * MS, 1);
        assert_eq!(g.emission_ns, 100 * MS);
        let mut tat = None;
        let mut waits = vec![];
        for _ in 0..3 {
            match reserve(&[(tat, g)], 0, None, u64::MAX) {
                Reservation::Granted { wait_ns, new_tats } => {
                    waits.push(wait_ns / MS);
                    tat = Some(new_tats[0]);
                }
                Reservation::Denied { .. } => unreachable!(),
            }
        }
        assert_eq!(waits, [0, 100, 200]);
        // A caller that will not wait 300 ms is told so and reserves nothing.
        assert_eq!(
            reserve(&[(tat, g)], 0, None, 250 * MS),
            Reservation::Denied {
                retry_in_ns: 300 * MS
            }
        );
    }

    #[test]
    fn burst_admits_that_many_at_once() {
        let g = Gcra::new(10.0, 1000 * MS, 3);
        let mut tat = None;
        let mut waits = vec![];
        for _ in 0..4 {
            let Reservation::Granted { wait_ns, new_tats } =
                reserve(&[(tat, g)], 0, None, u64::MAX)
            else {
                unreachable!()
            };
            waits.push(wait_ns / MS);
            tat = Some(new_tats[0]);
        }
        assert_eq!(waits, [0, 0, 0, 100]);
    }

    #[test]
    fn a_pause_holds_everyone_until_it_ends() {
        let g = Gcra::new(10.0, 1000 * MS, 1);
        assert_eq!(
            reserve(&[(None, g)], 0, Some(5000 * MS), 1000 * MS),
            Reservation::Denied {
                retry_in_ns: 5000 * MS
            }
        );
        let Reservation::Granted { wait_ns, new_tats } =
            reserve(&[(None, g)], 0, Some(500 * MS), 1000 * MS)
        else {
            unreachable!()
        };
        assert_eq!((wait_ns, new_tats[0]), (500 * MS, 600 * MS));
    }

    #[test]
    fn two_buckets_reserve_at_the_later_time_in_both() {
        let fast = Gcra::new(10.0, 1000 * MS, 1);
        let slow = Gcra::new(2.0, 1000 * MS, 1);
        let Reservation::Granted { wait_ns, new_tats } = reserve(
            &[(Some(0), fast), (Some(400 * MS), slow)],
            0,
            None,
            u64::MAX,
        ) else {
            unreachable!()
        };
        assert_eq!(wait_ns, 400 * MS);
        assert_eq!(new_tats, [500 * MS, 900 * MS]);
    }

    proptest! {
        /// Whatever the call times, waits and limits, the admitted arrivals never exceed
        /// `burst + L / emission` in any interval of length `L` (checked for L = period).
        #[test]
        fn never_exceeds_the_rate(
            calls in proptest::collection::vec((0u64..2_000, 0u64..1_500), 1..200),
            requests in 1u32..20,
            burst in 1u32..4,
        ) {
            let period = 1000 * MS;
            let g = Gcra::new(f64::from(requests), period, burst);
            let mut tat = None;
            let mut now = 0;
            let mut arrivals = vec![];
            for (dt, max_wait) in calls {
                now += dt * MS / 4;
                if let Reservation::Granted { wait_ns, new_tats } =
                    reserve(&[(tat, g)], now, None, max_wait * MS)
                {
                    prop_assert!(wait_ns <= max_wait * MS);
                    arrivals.push(now + wait_ns);
                    tat = Some(new_tats[0]);
                }
            }
            arrivals.sort_unstable();
            let bound = u64::from(burst) + period / g.emission_ns;
            for (i, &start) in arrivals.iter().enumerate() {
                let n = arrivals[i..].iter().take_while(|&&a| a < start + period).count() as u64;
                prop_assert!(n <= bound, "{n} arrivals in one period, bound {bound}");
            }
        }
    }
}
