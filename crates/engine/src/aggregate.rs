//! Per-state accumulators that merge exactly, in any order.
//!
//! An [`Aggregate`] holds everything one window needs: per state the message count, the exact sum,
//! minimum and maximum of temperatures, and the distinct sensors; overall the distinct sensors and the
//! rejected messages by reason. Merging two aggregates gives bit-for-bit the same result as feeding
//! all their readings into one, whatever the split or order. That is what lets input be chunked, read
//! by several threads or partitions, and replayed after a crash without changing an answer.
//!
//! Sums are exact because floating-point addition is not associative: [`ExactSum`] adds every
//! temperature as a 256-bit fixed-point integer and rounds to `f64` only when a result is read.

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use std::hash::{BuildHasherDefault, Hasher};

use crate::parse::RejectReason;
use crate::reading::{Reading, SensorId, StateCode, STATE_COUNT};

/// A sum of `f64`s that is independent of the order of addition.
///
/// Each value is scaled by 2¹²⁸ and rounded to an integer (a value's rounding depends only on the
/// value), and the integers are added in 256-bit two's complement. Values below 2⁻¹²⁸ in magnitude
/// round to zero; values must be under 2⁶⁴ in magnitude (the parser guarantees it), which leaves room
/// for 2⁶³ additions before overflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExactSum {
    hi: u128,
    lo: u128,
}

impl ExactSum {
    /// The fixed-point form of one value.
    pub fn of(value: f64) -> ExactSum {
        let bits = value.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as i32;
        let fraction = u128::from(bits & ((1 << 52) - 1));
        let (mantissa, power) = match exponent {
            0 => (fraction, -1074),
            _ => (fraction | 1 << 52, exponent - 1075),
        };
        let magnitude = shift(mantissa, power + 128);
        if bits >> 63 == 1 {
            magnitude.negated()
        } else {
            magnitude
        }
    }

    /// Adds another sum (or a value's [`ExactSum::of`]).
    #[inline]
    pub fn add(&mut self, other: ExactSum) {
        let (lo, carry) = self.lo.overflowing_add(other.lo);
        self.lo = lo;
        self.hi = self.hi.wrapping_add(other.hi).wrapping_add(u128::from(carry));
    }

    /// The sum rounded to `f64`.
    pub fn to_f64(self) -> f64 {
        let negative = (self.hi as i128) < 0;
        let magnitude = if negative { self.negated() } else { self };
        const TWO_POW_MINUS_128: f64 = 1.0 / (u128::MAX as f64 + 1.0);
        let value = magnitude.hi as f64 + magnitude.lo as f64 * TWO_POW_MINUS_128;
        if negative {
            -value
        } else {
            value
        }
    }

    /// The sum as a sign and a magnitude in 64-bit limbs, lowest first (the value times 2¹²⁸).
    pub(crate) fn magnitude(self) -> (bool, [u64; 4]) {
        let negative = (self.hi as i128) < 0;
        let m = if negative { self.negated() } else { self };
        (negative, [m.lo as u64, (m.lo >> 64) as u64, m.hi as u64, (m.hi >> 64) as u64])
    }

    fn negated(self) -> ExactSum {
        let (lo, carry) = (!self.lo).overflowing_add(1);
        ExactSum { hi: (!self.hi).wrapping_add(u128::from(carry)), lo }
    }
}

/// `mantissa · 2^by` as a 256-bit integer, rounding half up when shifting right.
fn shift(mantissa: u128, by: i32) -> ExactSum {
    match by {
        i32::MIN..=-128 => ExactSum::default(),
        -127..=-1 => {
            let right = (-by) as u32;
            let rounded = (mantissa + (1 << (right - 1))) >> right;
            ExactSum { hi: 0, lo: rounded }
        }
        0 => ExactSum { hi: 0, lo: mantissa },
        1..=127 => ExactSum { hi: mantissa >> (128 - by), lo: mantissa << by },
        // Only reachable for |value| ≥ 2¹²⁸, which the parser never lets through; saturate rather
        // than wrap so that even a misuse cannot flip a sign.
        _ => ExactSum { hi: (mantissa << (by - 128).min(127) as u32).min(i128::MAX as u128), lo: 0 },
    }
}

/// One state's numbers within a window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateStats {
    /// Readings counted.
    pub count: u64,
    /// Exact sum of their temperatures.
    pub sum: ExactSum,
    /// Lowest temperature (`+∞` while `count` is 0).
    pub min: f64,
    /// Highest temperature (`-∞` while `count` is 0).
    pub max: f64,
    /// Distinct sensors that reported from this state.
    pub sensors: u64,
}

impl Default for StateStats {
    fn default() -> Self {
        StateStats {
            count: 0,
            sum: ExactSum::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sensors: 0,
        }
    }
}

impl StateStats {
    /// Mean temperature; `None` with no readings.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum.to_f64() / self.count as f64)
    }

    fn add(&mut self, temperature: f64) {
        self.count += 1;
        self.sum.add(ExactSum::of(temperature));
        self.take_extremes(temperature, temperature);
    }

    fn merge(&mut self, other: &StateStats) {
        self.count += other.count;
        self.sum.add(other.sum);
        self.take_extremes(other.min, other.max);
    }

    /// `total_cmp` rather than `f64::min` so that -0.0 and 0.0 order the same way every time.
    fn take_extremes(&mut self, min: f64, max: f64) {
        if min.total_cmp(&self.min).is_lt() {
            self.min = min;
        }
        if max.total_cmp(&self.max).is_gt() {
            self.max = max;
        }
    }
}

/// Sensor ids are already uniform 64-bit hashes, so the map uses them as they are.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else in rather than panic.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type SensorMap = HashMap<u64, u64, BuildHasherDefault<IdHasher>>;

/// Counts of rejected messages, one per reason of [`RejectReason::ALL`] (the seed's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectCounts([u64; RejectReason::ALL.len()]);

impl RejectCounts {
    /// Counts one more message rejected for `reason`.
    pub fn add(&mut self, reason: RejectReason) {
        // Reasons only queries give have no place here (nor do they reach the seed's analyses).
        if let Some(count) = self.0.get_mut(reason.index()) {
            *count += 1;
        }
    }

    /// How many were rejected for `reason`.
    pub fn get(&self, reason: RejectReason) -> u64 {
        self.0.get(reason.index()).copied().unwrap_or(0)
    }

    /// All rejected messages.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(reason, count)` for every reason, in [`RejectReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (RejectReason, u64)> + '_ {
        RejectReason::ALL.iter().map(|&r| (r, self.get(r)))
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: &RejectCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }
}

/// Everything one window accumulates. See the module docs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Aggregate {
    #[serde(with = "crate::state::array")]
    states: [StateStats; STATE_COUNT],
    /// Sensor → bit mask of the states it reported from (51 codes fit in 64 bits): one lookup per
    /// reading serves both the per-state and the overall distinct counts, and merges exactly.
    sensor_states: SensorMap,
    rejected: RejectCounts,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate {
            states: [StateStats::default(); STATE_COUNT],
            sensor_states: SensorMap::default(),
            rejected: RejectCounts::default(),
        }
    }
}

impl PartialEq for Aggregate {
    fn eq(&self, other: &Self) -> bool {
        self.states == other.states
            && self.sensor_states == other.sensor_states
            && self.rejected == other.rejected
    }
}

impl Aggregate {
    /// An empty aggregate with room for `sensors` distinct sensors, so that one expected to see
    /// about as many as the last (a worker's next chunk) does not rehash its way up to them.
    pub fn with_sensor_capacity(sensors: usize) -> Aggregate {
        let sensor_states = SensorMap::with_capacity_and_hasher(sensors, Default::default());
        Aggregate { sensor_states, ..Aggregate::default() }
    }

    /// Counts one valid reading.
    #[inline]
    pub fn add(&mut self, reading: &Reading<'_>) {
        self.add_reporting_new(reading);
    }

    /// Counts one valid reading; returns the state bit if its sensor had not reported from that
    /// state here before (0 otherwise), for callers that track distinct sensors elsewhere too.
    #[inline]
    pub(crate) fn add_reporting_new(&mut self, reading: &Reading<'_>) -> u64 {
        self.states[reading.state.index()].add(reading.temperature);
        self.mark_sensor(reading.sensor, 1 << reading.state.index())
    }

    /// Adds `other`'s numbers (counts, sums, extremes, rejections) but not its sensors: the caller
    /// adds those with [`Aggregate::mark`].
    pub(crate) fn merge_numbers(&mut self, other: &Aggregate) {
        for (mine, theirs) in self.states.iter_mut().zip(&other.states) {
            // An empty state changes nothing; most states are empty in a short slice.
            if theirs.count > 0 {
                mine.merge(theirs);
            }
        }
        self.rejected.merge(&other.rejected);
    }

    /// Records that `sensor` reported from the states in `mask`.
    #[inline]
    pub(crate) fn mark(&mut self, sensor: u64, mask: u64) {
        self.mark_sensor(SensorId(sensor), mask);
    }

    /// Each sensor with the mask of the states it reported from.
    pub(crate) fn sensor_masks(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.sensor_states.iter().map(|(&sensor, &mask)| (sensor, mask))
    }

    /// Makes room for `sensors` more distinct sensors.
    pub(crate) fn reserve_sensors(&mut self, sensors: usize) {
        self.sensor_states.reserve(sensors);
    }

    /// Counts one rejected message.
    pub fn reject(&mut self, reason: RejectReason) {
        self.rejected.add(reason);
    }

    /// Adds everything in `other`, as if its readings had been added here.
    pub fn merge(&mut self, other: &Aggregate) {
        for (mine, theirs) in self.states.iter_mut().zip(&other.states) {
            mine.merge(theirs);
        }
        self.sensor_states.reserve(other.sensor_states.len());
        for (&sensor, &mask) in &other.sensor_states {
            self.mark_sensor(SensorId(sensor), mask);
        }
        self.rejected.merge(&other.rejected);
    }

    /// Records that `sensor` reported from the states in `mask`, counting states new to it;
    /// returns those new states' bits.
    #[inline]
    fn mark_sensor(&mut self, sensor: SensorId, mask: u64) -> u64 {
        let seen = self.sensor_states.entry(sensor.0).or_insert(0);
        let new = mask & !*seen;
        *seen |= mask;
        let mut bits = new;
        while bits != 0 {
            self.states[bits.trailing_zeros() as usize].sensors += 1;
            bits &= bits - 1;
        }
        new
    }

    /// The numbers for one state.
    pub fn state(&self, state: StateCode) -> &StateStats {
        &self.states[state.index()]
    }

    /// Valid readings counted.
    pub fn messages(&self) -> u64 {
        self.states.iter().map(|s| s.count).sum()
    }

    /// Distinct sensors (by guid) over all states.
    pub fn sensors(&self) -> u64 {
        self.sensor_states.len() as u64
    }

    /// Rejected messages by reason.
    pub fn rejected(&self) -> &RejectCounts {
        &self.rejected
    }

    /// True when nothing, valid or not, has been counted.
    pub fn is_empty(&self) -> bool {
        self.messages() == 0 && self.rejected.total() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_sum_is_exact_where_f64_is_not() {
        let mut sum = ExactSum::default();
        for v in [1e15, 0.1, -1e15, 0.2] {
            sum.add(ExactSum::of(v));
        }
        assert_eq!(sum.to_f64(), 0.1 + 0.2);
        assert_ne!(1e15 + 0.1 - 1e15 + 0.2, 0.1 + 0.2);
    }

    #[test]
    fn exact_sum_of_single_values() {
        for v in [0.0, -0.0, 1.0, -1.0, 59.7, -273.15, 1e-30, 5e-324, 1.8e19, -1.8e19, 12345.678] {
            let got = ExactSum::of(v).to_f64();
            let tolerance = 2f64.powi(-128);
            assert!((got - v).abs() <= tolerance, "{v}: {got}");
        }
    }

    proptest! {
        #[test]
        fn sum_is_order_independent(values in prop::collection::vec(-1.0e9f64..1.0e9, 0..60), cut in any::<prop::sample::Index>()) {
            let forward = values.iter().fold(ExactSum::default(), |mut s, v| { s.add(ExactSum::of(*v)); s });
            let backward = values.iter().rev().fold(ExactSum::default(), |mut s, v| { s.add(ExactSum::of(*v)); s });
            prop_assert_eq!(forward, backward);
            let (left, right) = values.split_at(cut.index(values.len() + 1));
            let mut merged = left.iter().fold(ExactSum::default(), |mut s, v| { s.add(ExactSum::of(*v)); s });
            merged.add(right.iter().fold(ExactSum::default(), |mut s, v| { s.add(ExactSum::of(*v)); s }));
            prop_assert_eq!(merged, forward);
            // Compared with a compensated float sum, the exact sum is at least as close to the truth.
            let naive: f64 = values.iter().sum();
            let scale = values.iter().map(|v| v.abs()).sum::<f64>().max(1.0);
            prop_assert!((forward.to_f64() - naive).abs() <= scale * 1e-12);
        }
    }
}
