//! Event-time windows: cut on the readings' own event times, closed by watermarks, so that their
//! final results depend only on the input.

use std::collections::BTreeMap;

use std::hash::BuildHasherDefault;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, IdHasher};
use crate::reading::{EventTime, Reading, STATE_COUNT};
use crate::result::WindowResult;
use crate::watermark::Watermarks;
use crate::window::{Place, WindowSpec};

/// Event-time windows: how they are cut and when they close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTimeConfig {
    /// Window shape.
    pub window: WindowSpec,
    /// Bounded out-of-orderness: how far behind the latest event time a reading may arrive and
    /// still be on time (µs).
    pub max_delay: i64,
    /// How long after its end a window still accepts (and re-emits for) late readings (µs).
    pub allowed_lateness: i64,
    /// Readings more than this far ahead of processing time are rejected (µs).
    pub max_skew: Option<i64>,
    /// A partition without readings for this long stops holding the watermark back (µs).
    pub idle_timeout: Option<i64>,
}

/// One window's exact contents from one operator (in scale-out, one input partition's): what a
/// merger needs to compute the window over every partition, and the revision that orders shares
/// of the same window from the same partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowShare {
    /// Window start (µs, inclusive).
    pub start: i64,
    /// Window end (µs, exclusive).
    pub end: i64,
    /// 0 for the window's first final share; each update by late readings adds one.
    pub revision: u32,
    /// Everything counted in the window.
    pub aggregate: Aggregate,
}

/// What became of a reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Counted in at least one window.
    Counted,
    /// Every window it belongs to was complete beyond the allowed lateness.
    Late,
    /// Too far in the future; counted nowhere and ignored by the watermark.
    Future,
}

/// A window's bookkeeping. Its contents live in the slices it spans (see [`Slice`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct OpenWindow {
    /// Revision of the last final emission, if any.
    emitted: Option<u32>,
    /// Changed since the last final emission.
    changed: bool,
    /// Changed since the last partial emission.
    changed_since_partial: bool,
}

/// Readings of one slice that count in the same windows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Part {
    aggregate: Aggregate,
    /// Every window holding this part has been marked changed (final and partial) since the part
    /// last changed: the next reading need not mark them again. Cleared when one of them is taken,
    /// so that a reading marks each window once per emission, not once per reading.
    marked: bool,
}

/// The readings between two consecutive window boundaries: each reading updates exactly one slice,
/// and a window is the exact merge of the slices it spans.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Slice {
    /// Readings counted in every window over the slice.
    all: Part,
    /// Readings counted only in the later windows over the slice, by the first window start they
    /// count in: their own partition's watermark had passed the earlier windows' closing while
    /// the overall watermark had not (sliding windows only, and rare).
    later: Vec<(i64, Part)>,
    /// Per partition, the position of the first reading not yet covered by a final emission of
    /// every window over the slice: input before it may be acknowledged, input from it on must be
    /// read again after a crash.
    pending: BTreeMap<u32, i64>,
}

impl Slice {
    /// The part for readings counting in windows from `from` on (`first`: the slice's earliest).
    fn part(&mut self, from: i64, first: i64) -> &mut Part {
        if from == first {
            return &mut self.all;
        }
        let at = match self.later.iter().position(|(start, _)| *start == from) {
            Some(at) => at,
            None => {
                self.later.push((from, Part::default()));
                self.later.len() - 1
            }
        };
        &mut self.later[at].1
    }

    /// The parts the window starting at `start` holds.
    fn parts_in(&mut self, start: i64) -> impl Iterator<Item = &mut Part> {
        let later = self.later.iter_mut().filter(move |(from, _)| *from <= start).map(|(_, part)| part);
        std::iter::once(&mut self.all).chain(later)
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
struct Running {
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
    fn counts_slice(&self, spec: WindowSpec, slice_start: i64) -> bool {
        self.start.is_some_and(|start| start <= slice_start && slice_start < spec.end(start))
    }

    /// Moves the count to the window starting at `start`: slices it no longer spans out, slices
    /// it newly spans in (everything anew when the two windows share none).
    fn move_to(&mut self, slices: &BTreeMap<i64, Slice>, spec: WindowSpec, start: i64) {
        let end = spec.end(start);
        let parts = |from: i64, to: i64| slices.range(from..to).map(|(_, slice)| &slice.all.aggregate);
        match self.start {
            Some(was) if was == start => {}
            Some(was) if was < start && start < spec.end(was) => {
                parts(was, start).for_each(|a| self.remove(a));
                parts(spec.end(was), end).for_each(|a| self.add(a));
            }
            Some(was) if start < was && was < end => {
                parts(end, spec.end(was)).for_each(|a| self.remove(a));
                parts(start, was).for_each(|a| self.add(a));
            }
            _ => {
                self.counts.clear();
                parts(start, end).for_each(|a| self.add(a));
            }
        }
        self.start = Some(start);
    }
}

/// Tumbling or sliding windows on event time, closed by the watermark (see [`crate::watermark`]).
///
/// The rules, which make the final windows a function of the input alone:
/// - a reading read on partition p is **late** for a window iff p's watermark (before the reading)
///   has passed the window's end plus the allowed lateness, or the window has already been purged;
///   it is counted in each of its windows it is not late for, and reported late if it is late for
///   all of them;
/// - a window is emitted, final, when the overall watermark passes its end; a reading arriving
///   later but within the allowed lateness updates it, and it is emitted again with the next
///   revision; it is forgotten once the watermark passes its end plus the allowed lateness.
///
/// Readings are kept in slices (see [`crate::window`]): a reading updates the one slice it falls
/// in, whatever the overlap, and a window's aggregate is merged from its slices when it is
/// emitted. Merging is exact (see [`crate::aggregate`]), so the results are bit for bit those of
/// adding every reading to every window. A slice is forgotten with the last window over it.
/// Sliding windows take their distinct sensors from a count kept across windows (`Running`),
/// so that emitting one costs the sensors of the slices it enters and leaves, not of all it spans.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventTimeWindows {
    config: EventTimeConfig,
    windows: BTreeMap<i64, OpenWindow>,
    /// By slice start.
    slices: BTreeMap<i64, Slice>,
    watermarks: Watermarks,
    #[serde(with = "crate::state::array")]
    late_by_state: [u64; STATE_COUNT],
    /// Sliding windows: the sensors of the last window combined (rebuilt after a restore).
    #[serde(skip)]
    running: Running,
}

impl EventTimeWindows {
    /// An operator with no windows yet.
    pub fn new(config: EventTimeConfig) -> EventTimeWindows {
        EventTimeWindows {
            config,
            windows: BTreeMap::new(),
            slices: BTreeMap::new(),
            watermarks: Watermarks::new(config.max_delay, config.idle_timeout),
            late_by_state: [0; STATE_COUNT],
            running: Running::default(),
        }
    }

    /// Counts `reading`, read from `partition` at `position` (an offset or line number) at
    /// processing time `now`, into its windows.
    pub fn on_reading(
        &mut self,
        partition: u32,
        position: i64,
        reading: &Reading<'_>,
        now: EventTime,
    ) -> Admission {
        let t = reading.event_time.as_micros();
        if self.config.max_skew.is_some_and(|skew| t > now.as_micros().saturating_add(skew)) {
            return Admission::Future;
        }
        let own = self.watermarks.partition(partition).unwrap_or(i64::MIN);
        let horizon = own.max(self.watermarks.global());
        let place = self.config.window.place(t);
        let counted = match self.first_open_window(t, place.first_start, horizon) {
            Some(from) => {
                self.count(partition, position, reading, place, from);
                true
            }
            None => false,
        };
        self.watermarks.observe(partition, t, now.as_micros());
        if counted {
            Admission::Counted
        } else {
            self.late_by_state[reading.state.index()] += 1;
            Admission::Late
        }
    }

    /// The earliest window over `t` (the first starting at `first`) that still takes readings at
    /// `horizon`: windows over `t` close in start order, so the reading counts in that one and
    /// every later one. `None` when all are closed.
    #[inline]
    fn first_open_window(&self, t: i64, first: i64, horizon: i64) -> Option<i64> {
        let spec = self.config.window;
        let lateness = self.config.allowed_lateness;
        let open = |start: i64| horizon < spec.end(start).saturating_add(lateness);
        if open(first) {
            // The usual case: on time for every window.
            return Some(first);
        }
        spec.starts_of(t).take_while(|&start| open(start)).last()
    }

    /// Adds `reading` to its slice, in the part for windows from `from` on, and marks those
    /// windows changed unless the part already did since they were last taken.
    #[inline]
    fn count(&mut self, partition: u32, position: i64, reading: &Reading<'_>, place: Place, from: i64) {
        let slice = self.slices.entry(place.slice).or_default();
        slice.pending.entry(partition).or_insert(position);
        let all = from == place.first_start;
        let part = slice.part(from, place.first_start);
        let new = part.aggregate.add_reporting_new(reading);
        // A late reading into a slice of the window counted in `running` keeps it exact.
        if new != 0 && all && self.running.counts_slice(self.config.window, place.slice) {
            self.running.add_new(reading.sensor.0, new);
        }
        if part.marked {
            return;
        }
        part.marked = true;
        for start in self.config.window.starts_of(place.slice).take_while(|&start| start >= from) {
            let window = self.windows.entry(start).or_default();
            window.changed = true;
            window.changed_since_partial = true;
        }
    }

    /// Input partitions assigned to this operator at processing time `now` (see
    /// [`Watermarks::register`]).
    pub fn on_partitions(&mut self, partitions: &[u32], now: EventTime) {
        for &partition in partitions {
            self.watermarks.register(partition, now.as_micros());
        }
    }

    /// The source has delivered everything it has for `partition` for now.
    pub fn on_caught_up(&mut self, partition: u32) {
        self.watermarks.caught_up(partition);
    }

    /// Advances the watermark to processing time `now` and returns the windows it completes
    /// (final), and windows updated by late readings (next revision), oldest first.
    pub fn on_advance(&mut self, now: EventTime) -> Vec<WindowResult> {
        let watermark = self.watermarks.advance(now.as_micros());
        self.emit_complete(watermark)
    }

    /// End of input: every window is complete.
    pub fn on_end(&mut self) -> Vec<WindowResult> {
        self.emit_complete(i64::MAX)
    }

    /// Early, partial results for open windows that changed since their last partial result.
    pub fn on_early(&mut self) -> Vec<WindowResult> {
        let spec = self.config.window;
        self.open_changed(|start, aggregate| {
            let mut result = window_result(spec, start, aggregate);
            result.is_final = false;
            result
        })
    }

    /// Like [`EventTimeWindows::on_early`], as shares (revision 0): what the open windows hold now.
    pub fn on_early_shares(&mut self) -> Vec<WindowShare> {
        let spec = self.config.window;
        self.open_changed(|start, aggregate| WindowShare {
            start,
            end: spec.end(start),
            revision: 0,
            aggregate: aggregate.clone(),
        })
    }

    /// Each open window changed since it was last taken this way, as `take` makes it.
    fn open_changed<T>(&mut self, mut take: impl FnMut(i64, &Aggregate) -> T) -> Vec<T> {
        let spec = self.config.window;
        let watermark = self.watermarks.global();
        let mut taken = Vec::new();
        for (&start, window) in self.windows.iter_mut() {
            if spec.end(start) > watermark && window.changed_since_partial {
                window.changed_since_partial = false;
                taken.push(take(start, &combine(&mut self.slices, &mut self.running, spec, start)));
            }
        }
        taken
    }

    fn emit_complete(&mut self, watermark: i64) -> Vec<WindowResult> {
        let spec = self.config.window;
        self.complete(watermark, |start, revision, aggregate| {
            let mut result = window_result(spec, start, aggregate);
            result.revision = revision;
            result
        })
    }

    /// Like [`EventTimeWindows::on_advance`], but each completed window comes as its exact,
    /// mergeable share (scale-out: owners of input partitions publish these, a merger sums them).
    pub fn on_advance_shares(&mut self, now: EventTime) -> Vec<WindowShare> {
        let watermark = self.watermarks.advance(now.as_micros());
        self.shares(watermark)
    }

    /// End of input, as shares: every window is complete.
    pub fn on_end_shares(&mut self) -> Vec<WindowShare> {
        self.shares(i64::MAX)
    }

    fn shares(&mut self, watermark: i64) -> Vec<WindowShare> {
        let spec = self.config.window;
        self.complete(watermark, |start, revision, aggregate| WindowShare {
            start,
            end: spec.end(start),
            revision,
            aggregate: aggregate.clone(),
        })
    }

    /// Emits every window the watermark completes that changed since its last emission (as
    /// `emit` makes it, with its revision), then forgets windows past the allowed lateness.
    fn complete<T>(&mut self, watermark: i64, mut emit: impl FnMut(i64, u32, &Aggregate) -> T) -> Vec<T> {
        let spec = self.config.window;
        let mut emitted = Vec::new();
        for (&start, window) in self.windows.iter_mut() {
            if spec.end(start) > watermark {
                break;
            }
            if !window.changed {
                continue;
            }
            let revision = window.emitted.map_or(0, |r| r + 1);
            emitted.push(emit(start, revision, &combine(&mut self.slices, &mut self.running, spec, start)));
            window.emitted = Some(revision);
            window.changed = false;
        }
        // A slice's readings are covered once the last window over it has been emitted: windows
        // complete in end order, so every earlier one over it has been too.
        for (&slice_start, slice) in self.slices.iter_mut() {
            if spec.end(spec.last_start(slice_start)) > watermark {
                break;
            }
            slice.pending.clear();
        }
        let lateness = self.config.allowed_lateness;
        let closed = |start: i64| spec.end(start).saturating_add(lateness) <= watermark;
        self.windows.retain(|&start, _| !closed(start));
        // A slice is needed while the last window over it may still be emitted.
        let slices_before = self.slices.len();
        self.slices.retain(|&slice_start, _| !closed(spec.last_start(slice_start)));
        let first_kept = self.slices.keys().next().copied().unwrap_or(i64::MAX);
        if self.slices.len() < slices_before && self.running.start.is_some_and(|start| start < first_kept) {
            // Some slice it counted may be gone: count anew next time.
            self.running = Running::default();
        }
        emitted
    }

    /// The watermarks, per partition and overall.
    pub fn watermarks(&self) -> &Watermarks {
        &self.watermarks
    }

    /// How windows are cut.
    pub fn config(&self) -> &EventTimeConfig {
        &self.config
    }

    /// The overall watermark (`None` before any input).
    pub fn watermark(&self) -> Option<EventTime> {
        let w = self.watermarks.global();
        (w != i64::MIN).then_some(EventTime(w))
    }

    /// Per partition, the earliest position whose reading is in a window not yet emitted (or
    /// updated since): the limit for acknowledging input.
    pub fn pinned_positions(&self) -> BTreeMap<u32, i64> {
        let mut pinned = BTreeMap::new();
        for slice in self.slices.values() {
            for (&partition, &position) in &slice.pending {
                let p = pinned.entry(partition).or_insert(position);
                *p = (*p).min(position);
            }
        }
        pinned
    }

    /// Windows held in memory.
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// Slices held in memory (each holds the readings of one stretch between window boundaries).
    pub fn slices(&self) -> usize {
        self.slices.len()
    }

    /// Late readings so far, by state index.
    pub fn late_by_state(&self) -> &[u64; STATE_COUNT] {
        &self.late_by_state
    }
}

fn window_result(spec: WindowSpec, start: i64, aggregate: &Aggregate) -> WindowResult {
    WindowResult::from_aggregate(EventTime(start), EventTime(spec.end(start)), aggregate)
}

/// The aggregate of the window starting at `start`: the exact merge of the parts it holds in the
/// slices it spans. Those parts are taken: the next reading into one marks its windows again.
fn combine(
    slices: &mut BTreeMap<i64, Slice>,
    running: &mut Running,
    spec: WindowSpec,
    start: i64,
) -> Aggregate {
    for slice in slices.range_mut(start..spec.end(start)).map(|(_, slice)| slice) {
        slice.parts_in(start).for_each(|part| part.marked = false);
    }
    if spec.size() == spec.slide() {
        // Tumbling: one slice, one window.
        return slices.get(&start).map(|slice| slice.all.aggregate.clone()).unwrap_or_default();
    }
    running.move_to(slices, spec, start);
    let mut combined = Aggregate::default();
    combined.reserve_sensors(running.counts.len());
    for slice in slices.range(start..spec.end(start)).map(|(_, slice)| slice) {
        combined.merge_numbers(&slice.all.aggregate);
        // Readings late for the earlier windows over the slice: few, merged as they are.
        for (_, part) in slice.later.iter().filter(|(from, _)| *from <= start) {
            combined.merge(&part.aggregate);
        }
    }
    for &(sensor, state) in running.counts.keys() {
        combined.mark(sensor, 1 << state);
    }
    combined
}
