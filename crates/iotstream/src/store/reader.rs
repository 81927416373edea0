//! What every database does for the reading side of the store: the results of a time range, page
//! by page (`iotstream history`), and a time range downsampled into buckets (the dashboard's
//! history charts).
//!
//! Both run in the database: results come in pages by their key, so a month of windows never sits
//! in memory at once, and buckets are grouped by SQL, so a week of 1-second windows reaches the
//! browser as a few hundred points. The answers are futures (boxed, so that readers can be trait
//! objects): PostgreSQL's are asynchronous, SQLite's run on the runtime's blocking threads.

use std::future::Future;
use std::pin::Pin;

use iotstream_engine::WindowResult;

use super::error::StoreError;
use super::query::{Bucket, Page, Range, WindowKey};
use super::tables::{QueryTable, RowKey, RowPage};

/// An answer from the store, when it comes.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Reads one store.
pub trait Reader: Send + Sync {
    /// Up to `limit` windows of `range` after `after`, in order of their end then start, each with
    /// its states (only `range.state`'s, when one is given).
    fn windows<'a>(
        &'a self,
        range: &'a Range,
        after: Option<WindowKey>,
        limit: usize,
    ) -> Answer<'a, Vec<WindowResult>>;

    /// `range` in buckets of `step` seconds, oldest first: the windows' overall values, or one
    /// state's.
    fn buckets<'a>(&'a self, range: &'a Range, step: i64) -> Answer<'a, Vec<Bucket>>;

    /// The table of SQL query `query`, if the store keeps its results.
    fn query_table<'a>(&'a self, query: &'a str) -> Answer<'a, Option<QueryTable>>;

    /// Up to `limit` rows of `table` whose window ends in `range` (`range.state` does not
    /// apply), after `after`, in the order they were emitted.
    fn query_rows<'a>(
        &'a self,
        table: &'a QueryTable,
        range: &'a Range,
        after: Option<RowKey>,
        limit: usize,
    ) -> Answer<'a, RowPage>;

    /// The next page of `range`: up to `limit` windows after `after` (only windows that have
    /// `range.state`, when one is given).
    fn page<'a>(&'a self, range: &'a Range, after: Option<WindowKey>, limit: usize) -> Answer<'a, Page> {
        Box::pin(async move {
            let mut windows = self.windows(range, after, limit.max(1)).await?;
            let next = if windows.len() < limit.max(1) { None } else { windows.last().map(WindowKey::of) };
            if range.state.is_some() {
                windows.retain(|w| !w.states.is_empty());
            }
            Ok(Page { windows, next })
        })
    }
}
