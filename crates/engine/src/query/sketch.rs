//! `approx_percentile`: a DDSketch-style sketch with a relative error below 1 %, whose merge is
//! exact addition of bucket counts.
//!
//! A value's bucket comes from its bits alone: the binary exponent and the top six bits of the
//! mantissa, i.e. each octave [2ᵉ, 2ᵉ⁺¹) is cut into 64 buckets of equal width. A bucket
//! [lo, hi) answers with 2·lo·hi/(lo+hi), which is within (hi−lo)/(hi+lo) ≤ 1/129 (0.78 %) of
//! any value in it, relatively. Nothing about a bucket depends on floating-point rounding or a
//! platform's logarithm, so two machines put a value in the same bucket, and because a merge
//! only adds counts, partials merged in any order or grouping give the same sketch — and the
//! same answer — as one sketch of all the values. (Logarithmic buckets as in DDSketch proper
//! would need 35 buckets per octave instead of 64 for 1 %, at the price of a `ln` per value
//! whose last bit may differ between platforms.)
//!
//! The buckets are bounded by the domain, not by collapsing (collapsing the lowest buckets
//! when a sketch grows, as DDSketch does, makes the answer depend on how partials were
//! grouped): values whose magnitude is at least 2⁶⁴ are not accepted (the caller rejects them
//! as `out_of_range`, as it does for sums), and magnitudes below 2⁻⁶⁴ count as zero (an absolute
//! error below 5.5·10⁻²⁰). That leaves 128 octaves, at most 8,192 buckets per sign; a sketch
//! stores counts densely from its lowest to its highest bucket, so readings within one octave
//! cost at most 64 counts of 8 bytes per sign.
//!
//! The rank answered is DuckDB's `quantile_disc`: the value at 1-based rank max(1, ⌈q·n⌉) of
//! the n values (the lower one when q·n falls between two), computed with DuckDB's own
//! expression `n − ⌊n − q·n⌋` in doubles.

use serde::{Deserialize, Serialize};

/// Bits of mantissa that pick the bucket within an octave.
const SUB_BITS: u32 = 6;

/// Magnitudes at or above this are refused (as for exact sums).
pub const LIMIT: f64 = 18_446_744_073_709_551_616.0;

/// The lowest binary exponent with buckets of its own (2⁻⁶⁴).
const MIN_EXPONENT: i32 = -64;

/// Counts of values per bucket, densely from `offset` on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Store {
    offset: i32,
    counts: Vec<u64>,
}

impl Store {
    fn add(&mut self, index: i32, count: u64) {
        if self.counts.is_empty() {
            self.offset = index;
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let at = (index - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += count;
    }

    fn merge(&mut self, other: &Store) {
        for (i, &count) in other.counts.iter().enumerate() {
            if count > 0 {
                self.add(other.offset + i as i32, count);
            }
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The bucket holding the value of 0-based rank `rank`, counting from the lowest bucket.
    fn index_at(&self, mut rank: u64) -> Option<i32> {
        for (i, &count) in self.counts.iter().enumerate() {
            if rank < count {
                return Some(self.offset + i as i32);
            }
            rank -= count;
        }
        None
    }
}

/// A percentile sketch: see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sketch {
    zeros: u64,
    positive: Store,
    negative: Store,
}

impl Sketch {
    /// Counts one finite value with |x| < [`LIMIT`] (the caller has checked).
    #[inline]
    pub fn add(&mut self, x: f64) {
        match bucket(x.abs()) {
            None => self.zeros += 1,
            Some(index) if x > 0.0 => self.positive.add(index, 1),
            Some(index) => self.negative.add(index, 1),
        }
    }

    /// Adds another sketch's counts.
    pub fn merge(&mut self, other: &Sketch) {
        self.zeros += other.zeros;
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.zeros + self.positive.total() + self.negative.total()
    }

    /// Buckets held (for memory figures).
    pub fn buckets(&self) -> usize {
        self.positive.counts.len() + self.negative.counts.len()
    }

    /// The value at DuckDB's `quantile_disc` rank for `q` (within 1/129 of it relatively),
    /// `None` with no values.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let n_f = n as f64;
        let first = (n_f - (n_f - q * n_f).floor()) as u64;
        let rank = first.clamp(1, n) - 1;
        let negatives = self.negative.total();
        if rank < negatives {
            // The negative store counts magnitudes: its highest bucket holds the lowest values.
            return self.negative.index_at(negatives - 1 - rank).map(|i| -representative(i));
        }
        if rank < negatives + self.zeros {
            return Some(0.0);
        }
        self.positive.index_at(rank - negatives - self.zeros).map(representative)
    }
}

/// The bucket of a magnitude (`None`: it counts as zero).
#[inline]
fn bucket(magnitude: f64) -> Option<i32> {
    let bits = magnitude.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1023;
    if exponent < MIN_EXPONENT {
        return None;
    }
    let sub = ((bits >> (52 - SUB_BITS)) & ((1 << SUB_BITS) - 1)) as i32;
    Some((exponent << SUB_BITS) | sub)
}

/// The lowest magnitude of a bucket, exactly.
fn lower_bound(index: i32) -> f64 {
    let exponent = (index >> SUB_BITS) + 1023;
    let sub = (index & ((1 << SUB_BITS) - 1)) as u64;
    f64::from_bits(((exponent as u64) << 52) | (sub << (52 - SUB_BITS)))
}

/// The value a bucket answers with: the one at equal relative distance from both ends.
fn representative(index: i32) -> f64 {
    let lo = lower_bound(index);
    let hi = lower_bound(index + 1);
    2.0 * lo * hi / (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The relative bound, 1/129, and the rounding of computing a representative.
    const BOUND: f64 = 1.0 / 129.0 * (1.0 + 1e-12);

    /// DuckDB's quantile_disc over the exact values.
    fn exact(values: &[f64], q: f64) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let first = (n - (n - q * n).floor()) as usize;
        sorted[first.clamp(1, sorted.len()) - 1]
    }

    #[test]
    fn ranks_are_duckdbs_quantile_disc() {
        // Answers DuckDB gives for 1..=10 (quantile_disc at 0.5, 0.25, 0.75, 0.1, 1, 0).
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let mut sketch = Sketch::default();
        values.iter().for_each(|&x| sketch.add(x));
        for (q, duckdb) in [(0.5, 5.0), (0.25, 3.0), (0.75, 8.0), (0.1, 1.0), (1.0, 10.0), (0.0, 1.0)] {
            assert_eq!(exact(&values, q), duckdb);
            let got = sketch.quantile(q).unwrap();
            assert!((got - duckdb).abs() <= BOUND * duckdb, "q {q}: {got}");
        }
        assert_eq!(Sketch::default().quantile(0.5), None);
    }

    #[test]
    fn buckets_are_exact_powers_and_cover_the_domain() {
        assert_eq!(lower_bound(bucket(1.0).unwrap()), 1.0);
        assert_eq!(lower_bound(bucket(1.5).unwrap()), 1.5);
        assert_eq!(lower_bound(bucket(2.0).unwrap() - 1), 2.0 - 1.0 / 64.0);
        assert_eq!(bucket(0.0), None);
        assert_eq!(bucket(2f64.powi(-65)), None);
        assert!(bucket(2f64.powi(-64)).is_some());
        let top = bucket(LIMIT.next_down()).unwrap();
        let bottom = bucket(2f64.powi(-64)).unwrap();
        assert_eq!(top - bottom + 1, 8192, "128 octaves of 64 buckets");
    }

    proptest! {
        #[test]
        fn within_the_bound_and_independent_of_merge_grouping(
            values in prop::collection::vec(prop_oneof![-1e6f64..1e6, -1.0f64..1.0, Just(0.0)], 1..200),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
            q in 0.0f64..=1.0,
        ) {
            let mut whole = Sketch::default();
            values.iter().for_each(|&x| whole.add(x));
            // Partials over arbitrary pieces, merged in reverse order.
            let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(values.len() + 1)).collect();
            bounds.extend([0, values.len()]);
            bounds.sort_unstable();
            let mut merged = Sketch::default();
            for piece in bounds.windows(2).rev() {
                let mut part = Sketch::default();
                values[piece[0]..piece[1]].iter().for_each(|&x| part.add(x));
                merged.merge(&part);
            }
            prop_assert_eq!(&merged, &whole);
            let truth = exact(&values, q);
            let got = whole.quantile(q).unwrap();
            let allowed = BOUND * truth.abs() + 5.5e-20;
            prop_assert!((got - truth).abs() <= allowed, "{} vs {}", got, truth);
        }
    }
}
