//! Test-only: the window operator as it was before stream slicing, every reading added to every
//! window it falls in. The sliced operator must give exactly what this one gives.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::windows::{Admission, EventTimeConfig, WindowShare};
use crate::aggregate::Aggregate;
use crate::reading::{EventTime, Reading, STATE_COUNT};
use crate::result::WindowResult;
use crate::watermark::Watermarks;
use crate::window::WindowSpec;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct OpenWindow {
    aggregate: Aggregate,
    /// Revision of the last final emission, if any.
    emitted: Option<u32>,
    /// Changed since the last final emission.
    changed: bool,
    /// Changed since the last partial emission.
    changed_since_partial: bool,
    /// Per partition, the position of the first reading not yet covered by a final emission:
    /// input before it may be acknowledged, input from it on must be read again after a crash.
    pending: BTreeMap<u32, i64>,
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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReferenceWindows {
    config: EventTimeConfig,
    windows: BTreeMap<i64, OpenWindow>,
    watermarks: Watermarks,
    #[serde(with = "crate::state::array")]
    late_by_state: [u64; STATE_COUNT],
}

impl ReferenceWindows {
    /// An operator with no windows yet.
    pub fn new(config: EventTimeConfig) -> ReferenceWindows {
        ReferenceWindows {
            config,
            windows: BTreeMap::new(),
            watermarks: Watermarks::new(config.max_delay, config.idle_timeout),
            late_by_state: [0; STATE_COUNT],
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
        let mut counted = false;
        for start in self.config.window.starts_of(t) {
            let closes = self.config.window.end(start).saturating_add(self.config.allowed_lateness);
            if horizon >= closes {
                continue;
            }
            let window = self.windows.entry(start).or_default();
            window.aggregate.add(reading);
            window.changed = true;
            window.changed_since_partial = true;
            window.pending.entry(partition).or_insert(position);
            counted = true;
        }
        self.watermarks.observe(partition, t, now.as_micros());
        if counted {
            Admission::Counted
        } else {
            self.late_by_state[reading.state.index()] += 1;
            Admission::Late
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

    /// Like [`ReferenceWindows::on_early`], as shares (revision 0): what the open windows hold now.
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
                taken.push(take(start, &window.aggregate));
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

    /// Like [`ReferenceWindows::on_advance`], but each completed window comes as its exact,
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
            emitted.push(emit(start, revision, &window.aggregate));
            window.emitted = Some(revision);
            window.changed = false;
            window.pending.clear();
        }
        let lateness = self.config.allowed_lateness;
        self.windows.retain(|&start, _| spec.end(start).saturating_add(lateness) > watermark);
        emitted
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
        for window in self.windows.values() {
            for (&partition, &position) in &window.pending {
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

    /// Late readings so far, by state index.
    pub fn late_by_state(&self) -> &[u64; STATE_COUNT] {
        &self.late_by_state
    }
}

fn window_result(spec: WindowSpec, start: i64, aggregate: &Aggregate) -> WindowResult {
    WindowResult::from_aggregate(EventTime(start), EventTime(spec.end(start)), aggregate)
}
