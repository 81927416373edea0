//! What every database does for the writing side of the store: the seed's results, alerts, and
//! SQL queries' tables.

use iotstream_engine::alerts::Notification;
use iotstream_engine::{EventTime, WindowResult};

use super::error::StoreError;
use super::tables::{QueryTable, StoredResult};

/// One database's side of writing: a batch in one transaction, and deleting old rows.
pub trait Writer: Send {
    /// Upserts `results` (at most one per window) and their states in one transaction; returns
    /// once it has committed.
    fn write(&mut self, results: &[&WindowResult]) -> Result<(), StoreError>;
    /// Deletes the rows of windows that ended before `before`; the number of windows deleted.
    fn prune(&mut self, before: EventTime) -> Result<u64, StoreError>;
    /// Inserts alert notifications (a row already there, from a replay, is left as it is) in one
    /// transaction; returns once it has committed.
    fn write_alerts(&mut self, alerts: &[Notification]) -> Result<(), StoreError>;
    /// Creates the tables of SQL queries, or checks that those there have the columns their
    /// queries make (refusing them otherwise), and records them for `history --query`; prune
    /// deletes their old rows from then on.
    fn prepare_queries(&mut self, tables: &[QueryTable]) -> Result<(), StoreError>;
    /// Writes SQL queries' results (each a window's rows) in one transaction; returns once it has
    /// committed.
    fn write_queries(&mut self, results: &[StoredResult]) -> Result<(), StoreError>;
}
