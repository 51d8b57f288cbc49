//! Stateless randomness: every generated value is a hash of where it lives.
//!
//! The generators keep no RNG state. A value is a pure function of (tenant seed, entity,
//! partition, record index, field), mixed with the SplitMix64 finalizer, so any record can
//! be produced alone, in any order, and two runs with the same configuration agree bit for
//! bit. Only integer arithmetic and IEEE basic operations are used, never `libm`
//! functions, so the data are the same on every platform.

use uuid::Uuid;

/// The 64-bit golden-ratio increment SplitMix64 steps by; also used to spread indices.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective, well-avalanched mix of one word.
#[inline]
pub const fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Combines a running hash with one more word. Not commutative, so `(a, b)` and `(b, a)`
/// differ.
#[inline]
pub const fn mix2(h: u64, v: u64) -> u64 {
    mix(h ^ mix(v.wrapping_mul(GOLDEN)))
}

/// FNV-1a over the bytes, then mixed: a stable string hash (std's `Hasher` is not stable
/// across releases, which would change every generated value on a toolchain upgrade).
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(h)
}

/// A uniform float in `[0, 1)` from the top 53 bits of a hash.
#[inline]
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A version-4 style UUID built from two hash words (the version and variant bits are
/// forced, so the result parses as a normal random UUID).
pub fn uuid_from(h: u64) -> Uuid {
    let a = mix(h ^ 0x5555_5555_5555_5555);
    let b = mix(h ^ 0xAAAA_AAAA_AAAA_AAAA);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The random draws of one record: construct once per row from the record's hash, then
/// ask for each field by a distinct tag. Draws for different tags are independent.
#[derive(Debug, Clone, Copy)]
pub struct Draw(pub u64);

impl Draw {
    /// The draws of record `index` in a stream whose seed is `stream`.
    #[inline]
    pub fn new(stream: u64, index: u64) -> Draw {
        Draw(mix(stream.wrapping_add(index.wrapping_mul(GOLDEN))))
    }

    /// The raw 64-bit draw for `tag`.
    #[inline]
    pub fn bits(self, tag: u64) -> u64 {
        mix2(self.0, tag)
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn unit(self, tag: u64) -> f64 {
        unit(self.bits(tag))
    }

    /// Uniform in `0..n` (`n > 0`); Lemire's multiply-shift, bias below 2^-32 for any `n`
    /// used here.
    #[inline]
    pub fn below(self, tag: u64, n: u64) -> u64 {
        ((u128::from(self.bits(tag)) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    #[inline]
    pub fn range(self, tag: u64, lo: i64, hi: i64) -> i64 {
        lo + self.below(tag, (hi - lo + 1) as u64) as i64
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(self, tag: u64, p: f64) -> bool {
        self.unit(tag) < p
    }

    /// One element of a non-empty slice, uniformly.
    #[inline]
    pub fn pick<T: Copy>(self, tag: u64, items: &[T]) -> T {
        items[self.below(tag, items.len() as u64) as usize]
    }

    /// An index into `weights` chosen with probability proportional to its weight.
    pub fn weighted(self, tag: u64, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(tag, total.max(1));
        for (k, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return k;
            }
            x -= u64::from(w);
        }
        weights.len() - 1
    }

    /// A skewed index in `0..n`: index k is about `1/(k+1)` as likely as index 0, the way a
    /// few processes and queues carry most of a tenant's work.
    pub fn skewed(self, tag: u64, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        // Inverse of the harmonic CDF, approximated by a power of the uniform draw; cheap
        // and monotone, which is all the realism needs.
        let u = self.unit(tag);
        ((u * u * n as f64) as usize).min(n - 1)
    }

    /// A UUID for `tag`.
    pub fn uuid(self, tag: u64) -> Uuid {
        uuid_from(self.bits(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_is_deterministic_and_spreads_neighbours() {
        assert_eq!(mix(1), mix(1));
        assert_ne!(mix(1), mix(2));
        assert_ne!(mix2(1, 2), mix2(2, 1));
        // Neighbouring inputs differ in about half their output bits.
        let flips = (mix(1000) ^ mix(1001)).count_ones();
        assert!((16..=48).contains(&flips), "{flips}");
    }

    #[test]
    fn string_hash_is_stable() {
        // A fixed value: changing the hash would silently change every generated tenant.
        assert_eq!(hash_str("acme"), hash_str("acme"));
        assert_ne!(hash_str("acme"), hash_str("acmf"));
        assert_eq!(hash_str(""), mix(0xCBF2_9CE4_8422_2325));
    }

    #[test]
    fn draws_stay_in_range() {
        for i in 0..10_000u64 {
            let d = Draw::new(42, i);
            assert!(d.below(1, 7) < 7);
            let r = d.range(2, -3, 3);
            assert!((-3..=3).contains(&r));
            let u = d.unit(3);
            assert!((0.0..1.0).contains(&u));
            assert!(d.weighted(4, &[0, 5, 0, 1]) % 2 == 1);
            assert!(d.skewed(5, 4) < 4);
        }
    }

    #[test]
    fn uuids_are_version_4() {
        let u = Draw::new(7, 7).uuid(1);
        assert_eq!(u.get_version_num(), 4);
        assert_ne!(u, Draw::new(7, 8).uuid(1));
    }

    #[test]
    fn weighted_choice_follows_weights() {
        let mut counts = [0u32; 3];
        for i in 0..30_000u64 {
            counts[Draw::new(9, i).weighted(0, &[1, 2, 7])] += 1;
        }
        assert!((2_500..3_500).contains(&counts[0]), "{counts:?}");
        assert!((19_500..22_500).contains(&counts[2]), "{counts:?}");
    }
}
