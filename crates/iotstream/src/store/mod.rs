//! `--store URL`: every result kept in a database that outlives the process — an SQLite file
//! (`sqlite:PATH`, the demo's default, in the user's data directory) or PostgreSQL
//! (`postgres://USER@HOST:PORT/DB`) — and read back by `iotstream history` and the dashboard.
//!
//! The files name the jobs:
//! - `writer`, `reader`: what every database offers, as traits ([`Writer`]: a batch of results in
//!   one transaction, alerts, pruning; [`Reader`]: pages of results, downsampled buckets), with
//!   `query`, the types of the questions and answers, and `error`, the one error type;
//! - `target`: what `--store` names, checked before anything starts, and never shown with its
//!   password;
//! - `schema`: the tables (`windows`, `window_states`, `alerts`), their versioned migrations, and
//!   the upsert rule both databases share; `tables`: a table per SQL query (`query_NAME`);
//! - `sqlite`, `postgres`: the two databases behind the traits;
//! - `sink`: the results sink, one transaction per emission, retried while the database is away.
//!
//! The store is read back by `iotstream history` and the dashboard, and written by the pipeline
//! (results) and the alerts (notifications): it sits beside them, not inside either.
//!
//! Exactly once: the sink's `write` returns only after the transaction holding the
//! results of one emission has committed, and the pipeline acknowledges input right after. Rows are
//! upserted by window (and state), and a row is replaced only by a result at least as far along
//! (final after partial, a higher revision, or the same result again), so a replay after a crash,
//! or the same input run twice, leaves one row per window and state with the latest values. While
//! the database is unreachable, the sink retries with backoff and does not return: nothing is
//! acknowledged, the source's bounded channel fills, and the source waits.

mod error;
#[cfg(feature = "store-postgres")]
mod postgres;
#[cfg(not(feature = "store-postgres"))]
#[path = "postgres/absent.rs"]
mod postgres;
// A build without a database keeps the store's flags (which then say so) but has no reader to
// serve, and a build with one database never reads the other's SQL.
#[cfg_attr(
    not(any(feature = "store-sqlite", feature = "store-postgres")),
    allow(unused_variables, dead_code)
)]
mod query;
#[cfg_attr(not(any(feature = "store-sqlite", feature = "store-postgres")), allow(dead_code))]
mod reader;
#[cfg_attr(not(all(feature = "store-sqlite", feature = "store-postgres")), allow(dead_code))]
mod schema;
mod sink;
#[cfg(feature = "store-sqlite")]
mod sqlite;
#[cfg(not(feature = "store-sqlite"))]
#[path = "sqlite_absent.rs"]
mod sqlite;
#[cfg_attr(not(any(feature = "store-sqlite", feature = "store-postgres")), allow(dead_code))]
pub mod tables;
mod target;
#[cfg(test)]
mod tests;
mod writer;

use std::time::Duration;

pub use error::StoreError;
pub use query::{Bucket, Page, Range, WindowKey};
pub use reader::Reader;
pub use sink::{Backoff, StoreSink};
pub use target::{default_path, default_target, StoreUrl, Target};
pub use writer::Writer;

use crate::signals::Stop;
use crate::sinks::Outputs;

/// `--store` and its settings, shared by `analyze` and `demo`.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Store")]
pub struct StoreArgs {
    /// Keep every result in a database that outlives the run: `sqlite:PATH`,
    /// `postgres://USER@HOST:PORT/DB` (password in the URL or PGPASSWORD; `?sslmode=require`
    /// for TLS), or `none`. Default: none for `analyze`; for `demo` and `iotstream` alone, an
    /// SQLite file in the user's data directory (printed at start).
    #[arg(long, value_name = "URL", value_parser = StoreUrl::from_arg)]
    pub store: Option<StoreUrl>,
    /// Delete stored results whose window ended longer ago than this (e.g. 30d, 12h), checked
    /// every minute (default: keep everything).
    #[arg(long, value_name = "AGE", value_parser = iotstream_engine::units::parse_positive_duration)]
    pub store_retention: Option<Duration>,
}

impl StoreArgs {
    /// Where results go: `--store`, else `default` (the demo's data-directory file, or none).
    pub fn target(&self, default: Option<Target>) -> Result<Option<Target>, StoreError> {
        match &self.store {
            Some(url) => url.parse(),
            None => Ok(default),
        }
    }
}

/// Adds the store sink to `outputs` when there is a target; says where results go.
pub fn open(
    target: Option<&Target>,
    retention: Option<Duration>,
    queries: &[iotstream_engine::query::Plan],
    outputs: &mut Outputs,
    stop: &Stop,
) -> Result<(), StoreError> {
    let Some(target) = target else { return Ok(()) };
    let tables = queries.iter().map(tables::QueryTable::of).collect::<Result<Vec<_>, _>>()?;
    let mut writer = target.open_writer(stop)?;
    if !tables.is_empty() {
        writer.prepare_queries(&tables)?;
    }
    tracing::info!(
        "results are stored in {target} (`iotstream history` reads them; --store none turns it off)"
    );
    let backoff = Backoff { stop: stop.clone(), ..Backoff::default() };
    outputs.sinks.push(Box::new(StoreSink::new(writer, retention, backoff).with_queries(tables)));
    Ok(())
}
