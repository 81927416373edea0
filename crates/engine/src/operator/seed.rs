//! The seed's window contents: an [`Aggregate`] per window, with the one optimisation that is
//! the seed's own — sliding windows carry their distinct (sensor, state) pairs from one emission
//! to the next ([`Running`]) instead of uniting every slice's sensors each time.

use std::hash::BuildHasherDefault;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use super::contents::Contents;
use super::slices::Slices;
use crate::aggregate::{Aggregate, IdHasher};
use crate::reading::{Reading, STATE_COUNT};
use crate::window::WindowSpec;

/// Late readings by state index (saved as the sequence it always was).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LateByState(#[serde(with = "crate::state::array")] pub [u64; STATE_COUNT]);

impl Default for LateByState {
    fn default() -> Self {
        LateByState([0; STATE_COUNT])
    }
}

impl Contents for Aggregate {
    type Input<'a> = Reading<'a>;
    /// The bits of the states new to the reading's sensor here.
    type Added = u64;
    type Late = LateByState;
    type Carry = Running;

    #[inline]
    fn add(&mut self, reading: &Reading<'_>) -> u64 {
        self.add_reporting_new(reading)
    }

    fn merge(&mut self, other: &Aggregate) {
        Aggregate::merge(self, other);
    }

    fn is_empty(&self) -> bool {
        Aggregate::is_empty(self)
    }

    #[inline]
    fn count_late(late: &mut LateByState, reading: &Reading<'_>) {
        late.0[reading.state.index()] += 1;
    }

    #[inline]
    fn carry_added(running: &mut Running, spec: WindowSpec, slice: i64, reading: &Reading<'_>, new: u64) {
        // A late reading into a slice of the window counted in `running` keeps it exact.
        if new != 0 && running.counts_slice(spec, slice) {
            running.add_new(reading.sensor.0, new);
        }
    }

    fn combine(slices: Slices<'_, Aggregate>, running: &mut Running, start: i64) -> Aggregate {
        let spec = slices.spec();
        let end = spec.end(start);
        if spec.size() == spec.slide() {
            // Tumbling: one slice, one window.
            return slices.all(start, end).next().cloned().unwrap_or_default();
        }
        running.move_to(slices, start);
        let mut combined = Aggregate::default();
        combined.reserve_sensors(running.counts.len());
        slices.all(start, end).for_each(|part| combined.merge_numbers(part));
        // Readings late for the earlier windows over a slice: few, merged as they are.
        slices.later(start).for_each(|part| combined.merge(part));
        for &(sensor, state) in running.counts.keys() {
            combined.mark(sensor, 1 << state);
        }
        combined
    }

    #[inline]
    fn carry_forget(running: &mut Running, first_kept: i64) {
        if running.start.is_some_and(|start| start < first_kept) {
            // Some slice it counted may be gone: count anew next time.
            *running = Running::default();
        }
    }
}

/// Sensor and state index, for [`Running`].
type SensorState = (u64, u8);

/// For sliding windows: the distinct (sensor, state) pairs of the `all` parts of one window's
/// slices, each with the number of those slices that hold it. The next window shares all but a
/// few slices with the last, so moving this to it (taking out the slices it leaves, adding those
/// it enters) costs the sensors of those few slices, where merging every slice's sensors would
/// cost those of all of them; and unlike a union, counts can be taken out again.
#[derive(Clone, Debug, Default)]
pub struct Running {
    /// The window start whose slices are counted (`None`: nothing counted).
    start: Option<i64>,
    counts: HashMap<SensorState, u32, BuildHasherDefault<IdHasher>>,
}

impl Running {
    /// Counts the (sensor, state) pairs of `aggregate` once more.
    fn add(&mut self, aggregate: &Aggregate) {
        for (sensor, mask) in aggregate.sensor_masks() {
            self.add_new(sensor, mask);
        }
    }

    /// Counts the states in `mask` of `sensor` once more (new to one of the counted slices).
    #[inline]
    fn add_new(&mut self, sensor: u64, mask: u64) {
        let mut bits = mask;
        while bits != 0 {
            *self.counts.entry((sensor, bits.trailing_zeros() as u8)).or_insert(0) += 1;
            bits &= bits - 1;
        }
    }

    /// Counts the (sensor, state) pairs of `aggregate` once less.
    fn remove(&mut self, aggregate: &Aggregate) {
        for (sensor, mask) in aggregate.sensor_masks() {
            let mut bits = mask;
            while bits != 0 {
                let key = (sensor, bits.trailing_zeros() as u8);
                if let Some(count) = self.counts.get_mut(&key) {
                    *count -= 1;
                    if *count == 0 {
                        self.counts.remove(&key);
                    }
                }
                bits &= bits - 1;
            }
        }
    }

    /// True when the slice starting at `slice_start` is one of those counted.
    #[inline]
    fn counts_slice(&self, spec: WindowSpec, slice_start: i64) -> bool {
        self.start.is_some_and(|start| start <= slice_start && slice_start < spec.end(start))
    }

    /// Moves the count to the window starting at `start`: slices it no longer spans out, slices
    /// it newly spans in (everything anew when the two windows share none).
    fn move_to(&mut self, slices: Slices<'_, Aggregate>, start: i64) {
        let spec = slices.spec();
        let end = spec.end(start);
        match self.start {
            Some(was) if was == start => {}
            Some(was) if was < start && start < spec.end(was) => {
                slices.all(was, start).for_each(|a| self.remove(a));
                slices.all(spec.end(was), end).for_each(|a| self.add(a));
            }
            Some(was) if start < was && was < end => {
                slices.all(end, spec.end(was)).for_each(|a| self.remove(a));
                slices.all(start, was).for_each(|a| self.add(a));
            }
            _ => {
                self.counts.clear();
                slices.all(start, end).for_each(|a| self.add(a));
            }
        }
        self.start = Some(start);
    }
}
