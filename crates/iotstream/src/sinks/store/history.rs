//! Reading the store back: the results of a time range, page by page (`iotstream history`), and a
//! time range downsampled into buckets (the dashboard's history charts), from either database.
//!
//! Both run in the database: results come in pages by their key, so a month of windows never sits
//! in memory at once, and buckets are grouped by SQL, so a week of 1-second windows reaches the
//! browser as a few hundred points.

use std::collections::HashMap;

use iotstream_engine::{EventTime, StateCode, StateResult, WindowResult};

use super::schema::sort_states;
use super::{StoreError, Target};

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

/// Reads one store.
pub enum Reader {
    /// An SQLite file.
    #[cfg(feature = "store-sqlite")]
    Sqlite(std::sync::Arc<super::sqlite::SqliteReader>),
    /// A PostgreSQL database, through a small pool.
    #[cfg(feature = "store-postgres")]
    Postgres(super::postgres::PostgresReader),
}

impl Reader {
    /// Checks that `target` is a store this build reads. PostgreSQL connections are made on first
    /// use, on the runtime that uses them.
    pub fn open(target: &Target) -> Result<Reader, StoreError> {
        match target {
            #[cfg(feature = "store-sqlite")]
            Target::Sqlite(path) => {
                Ok(Reader::Sqlite(std::sync::Arc::new(super::sqlite::SqliteReader::open(path)?)))
            }
            #[cfg(feature = "store-postgres")]
            Target::Postgres(url) => Ok(Reader::Postgres(super::postgres::PostgresReader::new(url)?)),
            #[allow(unreachable_patterns)]
            _ => unreachable!("no store features: no target can be built"),
        }
    }

    /// The next page of `range`: up to `limit` windows after `after`, in order of their end then
    /// start, each with its states (only `range.state`'s, and only windows that have it, when one
    /// is given).
    pub async fn page(
        &self,
        range: &Range,
        after: Option<WindowKey>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let mut windows = self.windows(range, after, limit.max(1)).await?;
        let next = if windows.len() < limit.max(1) { None } else { windows.last().map(WindowKey::of) };
        if range.state.is_some() {
            windows.retain(|w| !w.states.is_empty());
        }
        Ok(Page { windows, next })
    }

    async fn windows(
        &self,
        range: &Range,
        after: Option<WindowKey>,
        limit: usize,
    ) -> Result<Vec<WindowResult>, StoreError> {
        match self {
            #[cfg(feature = "store-sqlite")]
            Reader::Sqlite(reader) => {
                let (reader, range) = (std::sync::Arc::clone(reader), *range);
                blocking(move || reader.windows(&range, after, limit)).await
            }
            #[cfg(feature = "store-postgres")]
            Reader::Postgres(reader) => reader.windows(range, after, limit).await,
            #[allow(unreachable_patterns)]
            _ => unreachable!("no store features: no reader can be built"),
        }
    }

    /// `range` in buckets of `step` seconds, oldest first: the windows' overall values, or one
    /// state's.
    pub async fn buckets(&self, range: &Range, step: i64) -> Result<Vec<Bucket>, StoreError> {
        match self {
            #[cfg(feature = "store-sqlite")]
            Reader::Sqlite(reader) => {
                let (reader, range) = (std::sync::Arc::clone(reader), *range);
                blocking(move || reader.buckets(&range, step)).await
            }
            #[cfg(feature = "store-postgres")]
            Reader::Postgres(reader) => reader.buckets(range, step).await,
            #[allow(unreachable_patterns)]
            _ => unreachable!("no store features: no reader can be built"),
        }
    }
}

/// Runs an SQLite query on the runtime's blocking threads, so that a long one never stalls the
/// thread serving other requests.
#[cfg(feature = "store-sqlite")]
async fn blocking<T: Send + 'static>(
    query: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(query)
        .await
        .unwrap_or_else(|e| Err(StoreError::Failed(format!("the query stopped: {e}"))))
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
