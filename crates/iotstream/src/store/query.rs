//! The questions the store answers and the shape of its answers, the same for every database:
//! a time range ([`Range`]), pages of results by their key ([`WindowKey`], [`Page`]), and
//! downsampled series ([`Bucket`]).

use std::collections::HashMap;

use iotstream_engine::{EventTime, StateCode, StateResult, WindowResult};

use super::schema::sort_states;

/// Which stored windows: those whose `time` (their end) lies in `[from, to]`, and optionally only
/// one state's rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Range {
    /// Earliest window end (default: the beginning).
    pub from: Option<EventTime>,
    /// Latest window end (default: the end of time).
    pub to: Option<EventTime>,
    /// Only this state.
    pub state: Option<StateCode>,
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: what both databases store, and what
/// SQLite's fixed-width text sorts correctly.
const EARLIEST: EventTime = EventTime(-62_135_596_800_000_000);
const LATEST: EventTime = EventTime(253_402_300_799_999_999);

impl Range {
    /// `from` and `to`, defaults filled in and clamped to what the databases store.
    pub fn bounds(&self) -> (EventTime, EventTime) {
        let clamp = |t: EventTime| t.clamp(EARLIEST, LATEST);
        (clamp(self.from.unwrap_or(EARLIEST)), clamp(self.to.unwrap_or(LATEST)))
    }
}

/// A window's place in the tables' order: its end (`time`), then its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowKey {
    /// The window's end.
    pub time: EventTime,
    /// The window's start.
    pub start: EventTime,
}

impl WindowKey {
    /// The key of `result`.
    pub fn of(result: &WindowResult) -> WindowKey {
        WindowKey { time: result.window_end, start: result.window_start }
    }
}

/// The windows ending within one bucket of time: their count, readings and temperatures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// The bucket's start, in Unix seconds (a multiple of the step).
    pub start: i64,
    /// Windows (or a state's rows) in it.
    pub windows: u64,
    /// Readings in them.
    pub messages: u64,
    /// Mean temperature over those readings.
    pub avg_temperature: Option<f64>,
    /// Lowest temperature.
    pub min_temperature: Option<f64>,
    /// Highest temperature.
    pub max_temperature: Option<f64>,
}

/// One page of stored results.
#[derive(Debug)]
pub struct Page {
    /// The results, oldest first.
    pub windows: Vec<WindowResult>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<WindowKey>,
}

/// Gives each window its states (read separately, for the page's time span), sorted as results
/// list them.
pub fn attach_states(windows: &mut [WindowResult], states: Vec<(WindowKey, StateResult)>) {
    let mut by_window: HashMap<WindowKey, Vec<StateResult>> = HashMap::new();
    for (key, state) in states {
        by_window.entry(key).or_default().push(state);
    }
    for window in windows.iter_mut() {
        if let Some(mut states) = by_window.remove(&WindowKey::of(window)) {
            sort_states(&mut states);
            window.states = states;
        }
    }
}
