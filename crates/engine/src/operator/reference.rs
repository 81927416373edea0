//! Test-only: event-time windows rebuilt from first principles, from the rules as README.md
//! ("Event time") and `docs/ARCHITECTURE.md` state them, with nothing but plain collections and the
//! readings' own fields — no engine watermark, aggregate, window or result code. The window operator
//! must answer exactly as this one does (`slicing_tests.rs`).
//!
//! The rules:
//! - windows of `size` start at every multiple of `slide` (aligned to the epoch) and cover
//!   `[start, start + size)`;
//! - each partition's watermark is the latest event time seen on it minus the maximum delay; the
//!   overall watermark is the minimum over partitions that are not idle (an assigned partition with
//!   no reading yet holds it where it is), it never goes back, and it moves only when advanced;
//! - a partition is idle once its source has caught up and it has been silent for the idle timeout
//!   (processing time); when every partition is idle, the watermark follows the wall clock from
//!   the latest event time seen, starting one idle timeout after the last input;
//! - a reading is counted in each of its windows whose end plus the allowed lateness its
//!   partition's watermark (or the overall one, if further) has not reached; it is late if there is
//!   none;
//! - a window is emitted, final, once the watermark reaches its end, then again with the next
//!   revision each time late readings changed it; it is forgotten once the watermark reaches its
//!   end plus the allowed lateness; the end of input emits everything that changed;
//! - a partial result is a window still open that changed since its last partial result.

use std::collections::{BTreeMap, BTreeSet};

/// One window as the reference sees it, and as the test reads the engine's results.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub start: i64,
    pub end: i64,
    pub is_final: bool,
    pub revision: u32,
    pub messages: u64,
    pub sensors: u64,
    /// Per state with readings, by mean descending then code: (code, messages, sensors, mean,
    /// min, max).
    pub states: Vec<(String, u64, u64, f64, f64, f64)>,
}

/// One reading: sensor, state code, temperature.
type Counted = (u32, &'static str, f64);

#[derive(Default)]
struct Window {
    readings: Vec<Counted>,
    emitted: Option<u32>,
    changed: bool,
    changed_since_partial: bool,
    /// Per partition, the position of its first reading since the last final emission.
    pending: BTreeMap<u32, i64>,
}

struct Partition {
    /// Latest event time seen (`None` for an assigned partition with no reading yet).
    latest: Option<i64>,
    last_active: i64,
    caught_up: bool,
}

/// The shape and rules: all in µs.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    pub size: i64,
    pub slide: i64,
    pub max_delay: i64,
    pub allowed_lateness: i64,
    pub idle_timeout: Option<i64>,
}

pub struct Reference {
    rules: Rules,
    partitions: BTreeMap<u32, Partition>,
    watermark: Option<i64>,
    windows: BTreeMap<i64, Window>,
    late: BTreeMap<&'static str, u64>,
}

impl Reference {
    pub fn new(rules: Rules) -> Reference {
        Reference {
            rules,
            partitions: BTreeMap::new(),
            watermark: None,
            windows: BTreeMap::new(),
            late: BTreeMap::new(),
        }
    }

    /// The starts of the windows holding `t`: multiples of the slide in `(t - size, t]`.
    fn starts(&self, t: i64) -> Vec<i64> {
        let mut start = t.div_euclid(self.rules.slide) * self.rules.slide;
        let mut starts = Vec::new();
        while start + self.rules.size > t {
            starts.push(start);
            start -= self.rules.slide;
        }
        starts
    }

    /// A reading of `sensor` in `state` at event time `t` read on `partition` at `position` and
    /// processing time `now`: whether it counts anywhere (else it is late).
    pub fn on_reading(&mut self, partition: u32, position: i64, reading: Counted, t: i64, now: i64) -> bool {
        let own = self.partitions.get(&partition).and_then(|p| p.latest).map(|l| l - self.rules.max_delay);
        let horizon = own.max(self.watermark);
        let mut counted = false;
        for start in self.starts(t) {
            if horizon.is_some_and(|h| h >= start + self.rules.size + self.rules.allowed_lateness) {
                continue;
            }
            let window = self.windows.entry(start).or_default();
            window.readings.push(reading);
            window.changed = true;
            window.changed_since_partial = true;
            window.pending.entry(partition).or_insert(position);
            counted = true;
        }
        let p = self.partitions.entry(partition).or_insert(Partition {
            latest: None,
            last_active: now,
            caught_up: false,
        });
        p.latest = Some(p.latest.map_or(t, |l| l.max(t)));
        p.last_active = p.last_active.max(now);
        p.caught_up = false;
        if !counted {
            *self.late.entry(reading.1).or_default() += 1;
        }
        counted
    }

    /// `partition` assigned at `now`: it holds the watermark until it delivers or goes idle.
    pub fn on_assign(&mut self, partition: u32, now: i64) {
        let p = self.partitions.entry(partition).or_insert(Partition {
            latest: None,
            last_active: now,
            caught_up: false,
        });
        p.last_active = p.last_active.max(now);
        p.caught_up = false;
    }

    pub fn on_caught_up(&mut self, partition: u32) {
        if let Some(p) = self.partitions.get_mut(&partition) {
            p.caught_up = true;
        }
    }

    /// Where the watermark would be at `now`, by the rules (before "never backwards").
    fn candidate(&self, now: i64) -> Option<i64> {
        let idle =
            |p: &Partition| p.caught_up && self.rules.idle_timeout.is_some_and(|t| now - p.last_active >= t);
        let delay = self.rules.max_delay;
        let mut active = self.partitions.values().filter(|p| !idle(p)).peekable();
        if active.peek().is_some() {
            // Every active partition must have delivered, else it holds the watermark.
            return active.map(|p| p.latest.map(|l| l - delay)).min().flatten();
        }
        let timeout = self.rules.idle_timeout?;
        let latest = self.partitions.values().filter_map(|p| p.latest).max()?;
        let last_input = self.partitions.values().map(|p| p.last_active).max()?;
        Some(latest - delay + (now - last_input - timeout).max(0))
    }

    pub fn on_advance(&mut self, now: i64) -> Vec<Summary> {
        self.watermark = self.watermark.max(self.candidate(now));
        self.complete(self.watermark)
    }

    pub fn on_end(&mut self) -> Vec<Summary> {
        self.complete(Some(i64::MAX))
    }

    fn complete(&mut self, watermark: Option<i64>) -> Vec<Summary> {
        let Some(watermark) = watermark else { return Vec::new() };
        let (size, lateness) = (self.rules.size, self.rules.allowed_lateness);
        let mut emitted = Vec::new();
        for (&start, window) in &mut self.windows {
            if start.saturating_add(size) > watermark || !window.changed {
                continue;
            }
            let revision = window.emitted.map_or(0, |r| r + 1);
            emitted.push(summary(start, start + size, true, revision, &window.readings));
            window.emitted = Some(revision);
            window.changed = false;
            window.pending.clear();
        }
        self.windows.retain(|&start, _| start.saturating_add(size).saturating_add(lateness) > watermark);
        emitted
    }

    pub fn on_early(&mut self) -> Vec<Summary> {
        let size = self.rules.size;
        let watermark = self.watermark;
        let mut partial = Vec::new();
        for (&start, window) in &mut self.windows {
            let open = watermark.is_none_or(|w| start + size > w);
            if open && window.changed_since_partial {
                window.changed_since_partial = false;
                partial.push(summary(start, start + size, false, 0, &window.readings));
            }
        }
        partial
    }

    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// Late readings by state code.
    pub fn late_by_state(&self) -> &BTreeMap<&'static str, u64> {
        &self.late
    }

    /// Per partition, the earliest position of a reading in a window not yet emitted since.
    pub fn pinned_positions(&self) -> BTreeMap<u32, i64> {
        let mut pinned: BTreeMap<u32, i64> = BTreeMap::new();
        for (&partition, &position) in self.windows.values().flat_map(|w| &w.pending) {
            let p = pinned.entry(partition).or_insert(position);
            *p = (*p).min(position);
        }
        pinned
    }
}

/// A window's numbers from its readings.
fn summary(start: i64, end: i64, is_final: bool, revision: u32, readings: &[Counted]) -> Summary {
    let sensors: BTreeSet<u32> = readings.iter().map(|r| r.0).collect();
    let mut by_state: BTreeMap<&str, Vec<&Counted>> = BTreeMap::new();
    for reading in readings {
        by_state.entry(reading.1).or_default().push(reading);
    }
    let mut states: Vec<_> = by_state
        .into_iter()
        .map(|(code, rs)| {
            let values: Vec<f64> = rs.iter().map(|r| r.2).collect();
            let sensors = rs.iter().map(|r| r.0).collect::<BTreeSet<_>>().len() as u64;
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (code.to_owned(), values.len() as u64, sensors, exact_mean(&values), min, max)
        })
        .collect();
    states.sort_by(|a, b| b.3.total_cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
    Summary {
        start,
        end,
        is_final,
        revision,
        messages: readings.len() as u64,
        sensors: sensors.len() as u64,
        states,
    }
}

/// The exact sum rounded once, over the count. Temperatures here are tenths between -40 and 120:
/// as multiples of 2^-60 each is an integer that fits easily in an i128, and so does their sum.
fn exact_mean(values: &[f64]) -> f64 {
    let scale = 2f64.powi(60);
    let sum: i128 = values.iter().map(|v| (v * scale) as i128).sum();
    // `as f64` rounds to nearest; scaling back by a power of two is exact.
    (sum as f64) / scale / values.len() as f64
}
