//! What an aggregate keeps per group, and how it merges: exactly, so that a group's answer is
//! the same bits whatever the chunking, thread count, partitioning, merge order or crash point.
//!
//! - counts are integers; `count(DISTINCT x)` keeps a set of 64-bit hashes of the values (see
//!   [`crate::query::value::hash_value`]): two of n distinct values collide with probability
//!   about n²/2⁶⁵ (3·10⁻⁸ for a million values in one group and window), which would count them
//!   once;
//! - `sum` and `avg` keep an [`ExactSum`]; `stddev` keeps it and the exact sum of squares of the
//!   same fixed-point values ([`Squares`]), so the sample variance (n·Σx² − (Σx)²)/(n(n−1)) is
//!   computed without cancellation, in integers, and rounded once;
//! - `min`/`max` keep a value, `approx_percentile` a [`Sketch`].
//!
//! Values whose magnitude is at least 2⁶⁴ cannot be summed exactly: a reading with one for
//! `sum`, `avg`, `stddev` or `approx_percentile` is rejected for the query as `out_of_range`.

use std::hash::BuildHasherDefault;

use hashbrown::HashSet;
use num_bigint::{BigInt, BigUint, Sign};
use num_traits::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::aggregate::{ExactSum, IdHasher};
use crate::query::sketch::{Sketch, LIMIT};
use crate::query::value::V;

/// What one aggregate keeps per group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// `count(*)`, `count(x)`.
    Count,
    /// `sum(x)`, `avg(x)`.
    Sum,
    /// `min(x)`.
    Min,
    /// `max(x)`.
    Max,
    /// `stddev(x)`.
    Spread,
    /// `count(DISTINCT x)`.
    Distinct,
    /// `approx_percentile(x, q)`.
    Sketch,
}

/// What one reading gives one aggregate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    /// Nothing (NULL).
    Skip,
    /// One more value (`count`).
    Present,
    /// A number.
    Num(f64),
    /// A value's hash (`count(DISTINCT)`).
    Hash(u64),
}

impl Input {
    /// What reading value `v` gives an aggregate of `kind`: the reason when it cannot.
    #[inline]
    pub fn of(
        kind: StateKind,
        v: V<'_>,
        hash: impl FnOnce(V<'_>) -> Result<u64, crate::RejectReason>,
    ) -> Result<Input, crate::RejectReason> {
        use crate::RejectReason::{OutOfRange, WrongType};
        if v == V::Null {
            return Ok(Input::Skip);
        }
        match kind {
            StateKind::Count => Ok(Input::Present),
            StateKind::Distinct => hash(v).map(Input::Hash),
            StateKind::Min | StateKind::Max => v.number().map(Input::Num).ok_or(WrongType),
            StateKind::Sum | StateKind::Spread | StateKind::Sketch => match v.number() {
                Some(x) if x.abs() < LIMIT => Ok(Input::Num(x)),
                Some(_) => Err(OutOfRange),
                None => Err(WrongType),
            },
        }
    }
}

type HashSetU64 = HashSet<u64, BuildHasherDefault<IdHasher>>;

/// An aggregate's state in one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Acc {
    /// Values (or rows) counted.
    Count(u64),
    /// Values and their exact sum.
    Sum(u64, ExactSum),
    /// The lowest value (`None` before any).
    Min(Option<f64>),
    /// The highest value.
    Max(Option<f64>),
    /// Values, their exact sum and exact sum of squares.
    Spread(Box<Spread>),
    /// Hashes of the distinct values.
    Distinct(HashSetU64),
    /// A percentile sketch.
    Sketch(Box<Sketch>),
}

impl Acc {
    /// An empty state of `kind`.
    pub fn new(kind: StateKind) -> Acc {
        match kind {
            StateKind::Count => Acc::Count(0),
            StateKind::Sum => Acc::Sum(0, ExactSum::default()),
            StateKind::Min => Acc::Min(None),
            StateKind::Max => Acc::Max(None),
            StateKind::Spread => Acc::Spread(Box::default()),
            StateKind::Distinct => Acc::Distinct(HashSetU64::default()),
            StateKind::Sketch => Acc::Sketch(Box::default()),
        }
    }

    /// Adds one reading's input (of this state's kind, as [`Input::of`] made it).
    #[inline]
    pub fn add(&mut self, input: Input) {
        match (self, input) {
            (_, Input::Skip) => {}
            (Acc::Count(n), _) => *n += 1,
            (Acc::Sum(n, sum), Input::Num(x)) => {
                *n += 1;
                sum.add(ExactSum::of(x));
            }
            (Acc::Min(m), Input::Num(x)) => *m = Some(m.map_or(x, |m| lowest(m, x))),
            (Acc::Max(m), Input::Num(x)) => *m = Some(m.map_or(x, |m| highest(m, x))),
            (Acc::Spread(s), Input::Num(x)) => s.add(x),
            (Acc::Distinct(set), Input::Hash(h)) => {
                set.insert(h);
            }
            (Acc::Sketch(sketch), Input::Num(x)) => sketch.add(x),
            // The plan pairs each state with inputs of its kind.
            _ => {}
        }
    }

    /// Adds another group's state of the same aggregate.
    pub fn merge(&mut self, other: &Acc) {
        match (self, other) {
            (Acc::Count(n), Acc::Count(m)) => *n += m,
            (Acc::Sum(n, sum), Acc::Sum(m, other)) => {
                *n += m;
                sum.add(*other);
            }
            (Acc::Min(a), Acc::Min(b)) => *a = pick(*a, *b, lowest),
            (Acc::Max(a), Acc::Max(b)) => *a = pick(*a, *b, highest),
            (Acc::Spread(a), Acc::Spread(b)) => a.merge(b),
            (Acc::Distinct(a), Acc::Distinct(b)) => a.extend(b.iter().copied()),
            (Acc::Sketch(a), Acc::Sketch(b)) => a.merge(b),
            _ => {}
        }
    }
}

/// `total_cmp` rather than `f64::min`, so that -0.0 and 0.0 order the same way every time.
fn lowest(a: f64, b: f64) -> f64 {
    if b.total_cmp(&a).is_lt() {
        b
    } else {
        a
    }
}

fn highest(a: f64, b: f64) -> f64 {
    if b.total_cmp(&a).is_gt() {
        b
    } else {
        a
    }
}

fn pick(a: Option<f64>, b: Option<f64>, choose: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(choose(a, b)),
        (a, b) => a.or(b),
    }
}

/// The exact sums behind `stddev`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    n: u64,
    sum: ExactSum,
    squares: Squares,
}

impl Spread {
    fn add(&mut self, x: f64) {
        let fixed = ExactSum::of(x);
        self.n += 1;
        self.sum.add(fixed);
        self.squares.add(fixed);
    }

    fn merge(&mut self, other: &Spread) {
        self.n += other.n;
        self.sum.add(other.sum);
        self.squares.merge(&other.squares);
    }

    /// The sample standard deviation (as DuckDB's `stddev`): NULL below two values.
    pub fn sample_stddev(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let (negative, magnitude) = self.sum.magnitude();
        let sign = if negative { Sign::Minus } else { Sign::Plus };
        let sum = BigInt::from_biguint(sign, limbs_to_big(&magnitude));
        // n·Σx² − (Σx)², both at scale 2²⁵⁶: exactly n² times the variance of the values.
        let numerator = BigInt::from(self.n) * BigInt::from(limbs_to_big(&self.squares.0)) - &sum * &sum;
        let numerator = numerator.to_f64()?.max(0.0);
        let scale = 2f64.powi(-128);
        let n = self.n as f64;
        Some((numerator * scale * scale / (n * (n - 1.0))).sqrt())
    }
}

fn limbs_to_big(limbs: &[u64]) -> BigUint {
    let bytes: Vec<u8> = limbs.iter().flat_map(|limb| limb.to_le_bytes()).collect();
    BigUint::from_bytes_le(&bytes)
}

/// Σ of the squares of fixed-point values (each a value times 2¹²⁸, as [`ExactSum`] rounds
/// it): a 512-bit integer at scale 2²⁵⁶, enough for 2⁶³ squares of values below 2⁶⁴.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Squares([u64; 8]);

impl Squares {
    /// Adds the square of one fixed-point value.
    fn add(&mut self, fixed: ExactSum) {
        let (_, m) = fixed.magnitude();
        // |value| < 2⁶⁴, so the magnitude fits the lowest three limbs.
        let mut square = [0u64; 8];
        for i in 0..3 {
            let mut carry = 0u128;
            for j in 0..3 {
                let t = u128::from(m[i]) * u128::from(m[j]) + u128::from(square[i + j]) + carry;
                square[i + j] = t as u64;
                carry = t >> 64;
            }
            square[i + 3] = carry as u64;
        }
        self.add_limbs(&square);
    }

    fn merge(&mut self, other: &Squares) {
        self.add_limbs(&other.0);
    }

    fn add_limbs(&mut self, other: &[u64; 8]) {
        let mut carry = false;
        for (mine, theirs) in self.0.iter_mut().zip(other) {
            let (sum, c1) = mine.overflowing_add(*theirs);
            let (sum, c2) = sum.overflowing_add(u64::from(carry));
            *mine = sum;
            carry = c1 || c2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spread(values: &[f64]) -> Spread {
        let mut s = Spread::default();
        values.iter().for_each(|&x| s.add(x));
        s
    }

    /// Two-pass sample standard deviation in f64 (accurate for moderate inputs).
    fn two_pass(values: &[f64]) -> f64 {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    }

    #[test]
    fn stddev_is_exact_where_floats_cancel() {
        assert_eq!(spread(&[5.0]).sample_stddev(), None);
        assert_eq!(spread(&[1e15 + 0.5; 7]).sample_stddev(), Some(0.0), "equal values: exactly 0");
        let values = [1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.3];
        let got = spread(&values).sample_stddev().unwrap();
        // The inputs as doubles are 1e9 + 0.10000002384…, +0.19999998807…, +0.30000001192…
        assert!((got - two_pass(&values)).abs() < 1e-12, "{got}");
        assert_eq!(
            spread(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).sample_stddev(),
            Some((32.0f64 / 7.0).sqrt())
        );
    }

    proptest! {
        #[test]
        fn states_merge_exactly_in_any_grouping(
            values in prop::collection::vec(-1e12f64..1e12, 2..80),
            cut in any::<prop::sample::Index>(),
        ) {
            let (left, right) = values.split_at(cut.index(values.len() + 1));
            let mut merged = spread(right);
            merged.merge(&spread(left));
            let whole = spread(&values);
            prop_assert_eq!(&merged, &whole);
            let got = whole.sample_stddev().unwrap();
            let expected = two_pass(&values);
            prop_assert!((got - expected).abs() <= 1e-9 * expected.max(1e-300), "{} {}", got, expected);
            for kind in [StateKind::Count, StateKind::Sum, StateKind::Min, StateKind::Max, StateKind::Distinct] {
                let state = |part: &[f64]| {
                    let mut acc = Acc::new(kind);
                    for &x in part {
                        acc.add(if kind == StateKind::Distinct { Input::Hash(x.to_bits()) } else { Input::Num(x) });
                    }
                    acc
                };
                let mut merged = state(left);
                merged.merge(&state(right));
                prop_assert_eq!(merged, state(&values));
            }
        }
    }
}
