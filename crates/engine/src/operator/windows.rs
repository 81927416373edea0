//! Event-time windows: cut on the readings' own event times, closed by watermarks, so that their
//! final results depend only on the input.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::contents::Contents;
use super::slices::{Part, Slice, Slices};
use crate::aggregate::Aggregate;
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

impl EventTimeConfig {
    /// True when a reading at event time `t` is too far ahead of processing time `now` to count
    /// (or to move the watermark).
    #[inline]
    pub fn too_far_ahead(&self, t: i64, now: EventTime) -> bool {
        self.max_skew.is_some_and(|skew| t > now.as_micros().saturating_add(skew))
    }
}

/// One window's exact contents from one operator (in scale-out, one input partition's): what a
/// merger needs to compute the window over every partition, and the revision that orders shares
/// of the same window from the same partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "C: Contents")]
pub struct WindowShare<C = Aggregate> {
    /// Window start (µs, inclusive).
    pub start: i64,
    /// Window end (µs, exclusive).
    pub end: i64,
    /// 0 for the window's first final share; each update by late readings adds one.
    pub revision: u32,
    /// Everything counted in the window (the name is the seed's: its contents are an
    /// [`Aggregate`]).
    pub aggregate: C,
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

impl<C: Contents> Slice<C> {
    /// The part for readings counting in windows from `from` on (`first`: the slice's earliest).
    fn part(&mut self, from: i64, first: i64) -> &mut Part<C> {
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
    fn parts_in(&mut self, start: i64) -> impl Iterator<Item = &mut Part<C>> {
        let later = self.later.iter_mut().filter(move |(from, _)| *from <= start).map(|(_, part)| part);
        std::iter::once(&mut self.all).chain(later)
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
/// in, whatever the overlap, and a window's contents are merged from its slices when it is
/// emitted. Merging is exact (see [`Contents`]), so the results are bit for bit those of adding
/// every reading to every window. A slice is forgotten with the last window over it. What a
/// window holds is `C` (the seed's [`Aggregate`] unless said otherwise): the seed's sliding
/// windows take their distinct sensors from a count kept across windows (its
/// [`Contents::Carry`]), so that emitting one costs the sensors of the slices it enters and
/// leaves, not of all it spans.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "C: Contents")]
pub struct EventTimeWindows<C: Contents = Aggregate> {
    config: EventTimeConfig,
    windows: BTreeMap<i64, OpenWindow>,
    /// By slice start.
    slices: BTreeMap<i64, Slice<C>>,
    watermarks: Watermarks,
    /// Inputs late for all their windows (the seed: by state).
    #[serde(rename = "late_by_state")]
    late: C::Late,
    /// State kept across sliding windows' emissions (rebuilt after a restore).
    #[serde(skip)]
    carry: C::Carry,
    /// The slice of the last reading, its end, and its place: readings come in runs within
    /// one slice, which then need no division to place.
    #[serde(skip)]
    placed: Option<(i64, i64, Place)>,
}

impl<C: Contents> EventTimeWindows<C> {
    /// An operator with no windows yet.
    pub fn new(config: EventTimeConfig) -> EventTimeWindows<C> {
        EventTimeWindows {
            config,
            windows: BTreeMap::new(),
            slices: BTreeMap::new(),
            watermarks: Watermarks::new(config.max_delay, config.idle_timeout),
            late: C::Late::default(),
            carry: C::Carry::default(),
            placed: None,
        }
    }

    /// Counts `input` at event time `t`, read from `partition` at `position` (an offset or line
    /// number) at processing time `now`, into its windows; with what adding it reported, when it
    /// was added.
    #[inline]
    pub fn on_input(
        &mut self,
        partition: u32,
        position: i64,
        t: i64,
        input: &C::Input<'_>,
        now: EventTime,
    ) -> (Admission, Option<C::Added>) {
        if self.config.too_far_ahead(t, now) {
            return (Admission::Future, None);
        }
        let horizon = self.watermarks.horizon(partition);
        let counted = self.on_input_at(partition, position, t, input, horizon);
        self.watermarks.observe(partition, t, now.as_micros());
        counted
    }

    /// [`EventTimeWindows::on_input`] for operators that share one input's watermarks (a run's
    /// queries): the caller judges the skew, passes the lateness `horizon` (the reading's
    /// partition watermark before it, or the overall one if later: [`Watermarks::horizon`]) and
    /// observes the reading itself; these windows' own watermarks stay unused.
    #[inline]
    pub fn on_input_at(
        &mut self,
        partition: u32,
        position: i64,
        t: i64,
        input: &C::Input<'_>,
        horizon: i64,
    ) -> (Admission, Option<C::Added>) {
        let place = self.place(t);
        let added = self
            .first_open_window(t, place.first_start, horizon)
            .map(|from| self.count(partition, position, input, place, from));
        match added {
            Some(added) => (Admission::Counted, Some(added)),
            None => {
                C::count_late(&mut self.late, input);
                (Admission::Late, None)
            }
        }
    }

    /// Where `t` lies (see [`WindowSpec::place`]), from the last reading's slice if it is there.
    #[inline]
    fn place(&mut self, t: i64) -> Place {
        match self.placed {
            Some((from, to, place)) if from <= t && t < to => place,
            _ => {
                let spec = self.config.window;
                let place = spec.place(t);
                self.placed = Some((place.slice, spec.slice_end(place.slice), place));
                place
            }
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

    /// Adds `input` to its slice, in the part for windows from `from` on, and marks those
    /// windows changed unless the part already did since they were last taken.
    #[inline]
    fn count(
        &mut self,
        partition: u32,
        position: i64,
        input: &C::Input<'_>,
        place: Place,
        from: i64,
    ) -> C::Added {
        let slice = self.slices.entry(place.slice).or_default();
        // Nearly always there already: a lookup alone is cheaper than an entry (which clippy's
        // map_entry would have), measured under callgrind.
        #[allow(clippy::map_entry)]
        if !slice.pending.contains_key(&partition) {
            slice.pending.insert(partition, position);
        }
        let all = from == place.first_start;
        let part = slice.part(from, place.first_start);
        let added = part.contents.add(input);
        // A late reading into a slice of the window the carry counts keeps it exact.
        if all {
            C::carry_added(&mut self.carry, self.config.window, place.slice, input, added);
        }
        if part.marked {
            return added;
        }
        part.marked = true;
        for start in self.config.window.starts_of(place.slice).take_while(|&start| start >= from) {
            let window = self.windows.entry(start).or_default();
            window.changed = true;
            window.changed_since_partial = true;
        }
        added
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

    /// Advances the watermark to processing time `now`; each window it completes (final), and
    /// each window updated by late readings (next revision), oldest first, as `emit` makes it
    /// from its start, revision and contents.
    pub fn advance_with<T>(&mut self, now: EventTime, emit: impl FnMut(i64, u32, C) -> T) -> Vec<T> {
        let watermark = self.watermarks.advance(now.as_micros());
        self.complete(watermark, emit)
    }

    /// End of input: every window is complete (see [`EventTimeWindows::advance_with`]).
    pub fn end_with<T>(&mut self, emit: impl FnMut(i64, u32, C) -> T) -> Vec<T> {
        self.complete(i64::MAX, emit)
    }

    /// What `watermark` (of watermarks kept by the caller: see
    /// [`EventTimeWindows::on_input_at`]) completes or revises, as
    /// [`EventTimeWindows::advance_with`] gives it.
    pub fn complete_at<T>(&mut self, watermark: i64, emit: impl FnMut(i64, u32, C) -> T) -> Vec<T> {
        self.complete(watermark, emit)
    }

    /// Each open window changed since it was last taken this way (early, partial results), as
    /// `take` makes it from its start and contents.
    pub fn early_with<T>(&mut self, take: impl FnMut(i64, C) -> T) -> Vec<T> {
        let watermark = self.watermarks.global();
        self.early_at(watermark, take)
    }

    /// [`EventTimeWindows::early_with`] at a `watermark` kept by the caller.
    pub fn early_at<T>(&mut self, watermark: i64, mut take: impl FnMut(i64, C) -> T) -> Vec<T> {
        let spec = self.config.window;
        let mut taken = Vec::new();
        for (&start, window) in self.windows.iter_mut() {
            if spec.end(start) > watermark && window.changed_since_partial {
                window.changed_since_partial = false;
                taken.push(take(start, combine(&mut self.slices, &mut self.carry, spec, start)));
            }
        }
        taken
    }

    /// Like [`EventTimeWindows::early_with`], as shares (revision 0): what the open windows hold now.
    pub fn on_early_shares(&mut self) -> Vec<WindowShare<C>> {
        let spec = self.config.window;
        self.early_with(|start, aggregate| WindowShare {
            start,
            end: spec.end(start),
            revision: 0,
            aggregate,
        })
    }

    /// Like [`EventTimeWindows::advance_with`], but each completed window comes as its exact,
    /// mergeable share (scale-out: owners of input partitions publish these, a merger sums them).
    pub fn on_advance_shares(&mut self, now: EventTime) -> Vec<WindowShare<C>> {
        let watermark = self.watermarks.advance(now.as_micros());
        self.shares(watermark)
    }

    /// End of input, as shares: every window is complete.
    pub fn on_end_shares(&mut self) -> Vec<WindowShare<C>> {
        self.shares(i64::MAX)
    }

    fn shares(&mut self, watermark: i64) -> Vec<WindowShare<C>> {
        let spec = self.config.window;
        self.complete(watermark, |start, revision, aggregate| WindowShare {
            start,
            end: spec.end(start),
            revision,
            aggregate,
        })
    }

    /// Emits every window the watermark completes that changed since its last emission (as
    /// `emit` makes it, with its revision), then forgets windows past the allowed lateness.
    fn complete<T>(&mut self, watermark: i64, mut emit: impl FnMut(i64, u32, C) -> T) -> Vec<T> {
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
            emitted.push(emit(start, revision, combine(&mut self.slices, &mut self.carry, spec, start)));
            window.emitted = Some(revision);
            window.changed = false;
        }
        self.forget(watermark);
        emitted
    }

    /// Unpins slices whose every window has been emitted, and forgets windows and slices past
    /// the allowed lateness at `watermark`.
    fn forget(&mut self, watermark: i64) {
        let spec = self.config.window;
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
        if self.slices.len() < slices_before {
            let first_kept = self.slices.keys().next().copied().unwrap_or(i64::MAX);
            C::carry_forget(&mut self.carry, first_kept);
        }
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

    /// Each slice's contents, by slice start: every part (readings for all windows over the
    /// slice, then those late for some) — what memory the operator holds.
    pub fn slice_contents(&self) -> impl Iterator<Item = (i64, &C)> {
        self.slices.iter().flat_map(|(&start, slice)| {
            std::iter::once(&slice.all.contents)
                .chain(slice.later.iter().map(|(_, part)| &part.contents))
                .map(move |contents| (start, contents))
        })
    }

    /// Inputs late for all their windows so far.
    pub fn late(&self) -> &C::Late {
        &self.late
    }
}

/// The seed's windows: readings in, [`WindowResult`]s out.
impl EventTimeWindows<Aggregate> {
    /// Counts `reading`, read from `partition` at `position` (an offset or line number) at
    /// processing time `now`, into its windows.
    #[inline]
    pub fn on_reading(
        &mut self,
        partition: u32,
        position: i64,
        reading: &Reading<'_>,
        now: EventTime,
    ) -> Admission {
        self.on_input(partition, position, reading.event_time.as_micros(), reading, now).0
    }

    /// Advances the watermark to processing time `now` and returns the windows it completes
    /// (final), and windows updated by late readings (next revision), oldest first.
    pub fn on_advance(&mut self, now: EventTime) -> Vec<WindowResult> {
        let spec = self.config.window;
        self.advance_with(now, |start, revision, aggregate| final_result(spec, start, revision, &aggregate))
    }

    /// End of input: every window is complete.
    pub fn on_end(&mut self) -> Vec<WindowResult> {
        let spec = self.config.window;
        self.end_with(|start, revision, aggregate| final_result(spec, start, revision, &aggregate))
    }

    /// Early, partial results for open windows that changed since their last partial result.
    pub fn on_early(&mut self) -> Vec<WindowResult> {
        let spec = self.config.window;
        self.early_with(|start, aggregate| {
            let mut result = window_result(spec, start, &aggregate);
            result.is_final = false;
            result
        })
    }

    /// Late readings so far, by state index.
    pub fn late_by_state(&self) -> &[u64; STATE_COUNT] {
        &self.late.0
    }
}

fn window_result(spec: WindowSpec, start: i64, aggregate: &Aggregate) -> WindowResult {
    WindowResult::from_aggregate(EventTime(start), EventTime(spec.end(start)), aggregate)
}

fn final_result(spec: WindowSpec, start: i64, revision: u32, aggregate: &Aggregate) -> WindowResult {
    let mut result = window_result(spec, start, aggregate);
    result.revision = revision;
    result
}

/// The contents of the window starting at `start`: the exact merge of the parts it holds in the
/// slices it spans. Those parts are taken: the next reading into one marks its windows again.
fn combine<C: Contents>(
    slices: &mut BTreeMap<i64, Slice<C>>,
    carry: &mut C::Carry,
    spec: WindowSpec,
    start: i64,
) -> C {
    for slice in slices.range_mut(start..spec.end(start)).map(|(_, slice)| slice) {
        slice.parts_in(start).for_each(|part| part.marked = false);
    }
    C::combine(Slices { spec, slices }, carry, start)
}
