//! `--store URL`: every result kept in a database that outlives the process — an SQLite file
//! (`sqlite:PATH`, the demo's default, in the user's data directory) or PostgreSQL
//! (`postgres://USER@HOST:PORT/DB`) — and read back by `iotstream history` and the dashboard.
//!
//! The files name the jobs:
//! - `target`: what `--store` names, checked before anything starts, and never shown with its
//!   password;
//! - `schema`: the tables (`windows`, `window_states`) and their versioned migrations, one SQL
//!   text per database;
//! - `sqlite`, `postgres`: writing a batch of results in one transaction, and reading them back;
//! - `history`: the questions the readers answer (results in a time range, downsampled series).
//!
//! Exactly once: [`StoreSink::write_results`] returns only after the transaction holding the
//! results of one emission has committed, and the pipeline acknowledges input right after. Rows are
//! upserted by window (and state), and a row is replaced only by a result at least as far along
//! (final after partial, a higher revision, or the same result again), so a replay after a crash,
//! or the same input run twice, leaves one row per window and state with the latest values. While
//! the database is unreachable, the sink retries with backoff and does not return: nothing is
//! acknowledged, the source's bounded channel fills, and the source waits.

// A build without a database keeps the store's flags (which then say so) but has no reader to
// serve, and a build with one database never reads the other's SQL.
#[cfg_attr(
    not(any(feature = "store-sqlite", feature = "store-postgres")),
    allow(unused_variables, dead_code)
)]
pub mod history;
#[cfg(feature = "store-postgres")]
mod postgres;
#[cfg_attr(not(all(feature = "store-sqlite", feature = "store-postgres")), allow(dead_code))]
mod schema;
#[cfg(feature = "store-sqlite")]
mod sqlite;
mod target;

use std::io;
use std::time::{Duration, Instant};

use iotstream_engine::alerts::Notification;
use iotstream_engine::{EventTime, WindowResult};

pub use history::{Bucket, Page, Range, Reader, WindowKey};
pub use target::{default_path, default_target, StoreUrl, Target};

use super::{Outputs, ResultSink};
use crate::clock::wall_clock_now;
use crate::instruments;

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

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached, is restarting or busy: the same request may succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (a refused statement, a schema from a newer iotstream, a bad URL): retrying
    /// would not help.
    #[error("{0}")]
    Failed(String),
}

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
}

/// Adds the store sink to `outputs` when there is a target; says where results go.
pub fn open(
    target: Option<&Target>,
    retention: Option<Duration>,
    outputs: &mut Outputs,
) -> anyhow::Result<()> {
    let Some(target) = target else { return Ok(()) };
    let writer = target.open_writer()?;
    tracing::info!(
        "results are stored in {target} (`iotstream history` reads them; --store none turns it off)"
    );
    outputs.sinks.push(Box::new(StoreSink::new(writer, retention, Backoff::default())));
    Ok(())
}

/// The store as an alert output (`--rules` with `--store`): a connection of its own.
pub fn alert_sink(target: &Target) -> anyhow::Result<Box<dyn crate::alerts::AlertSink>> {
    Ok(Box::new(StoreAlerts { writer: target.open_writer()?, backoff: Backoff::default() }))
}

/// Alert notifications into the `alerts` table, retried while the database is away (as results
/// are: nothing is acknowledged meanwhile).
struct StoreAlerts {
    writer: Box<dyn Writer>,
    backoff: Backoff,
}

impl crate::alerts::AlertSink for StoreAlerts {
    fn deliver(&mut self, notes: &[Notification]) -> anyhow::Result<()> {
        let writer = &mut self.writer;
        self.backoff
            .until_available(|| writer.write_alerts(notes))
            .map_err(|e| anyhow::anyhow!("the store: {e}"))
    }
}

/// How long to wait between attempts while the database is away: doubling up to a ceiling.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// The first wait.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { first: Duration::from_millis(100), max: Duration::from_secs(5) }
    }
}

impl Backoff {
    /// Runs `attempt` until the database takes it: while the database is unavailable, waits and
    /// tries again (the outage logged and counted); any other error is returned.
    fn until_available(&self, mut attempt: impl FnMut() -> Result<(), StoreError>) -> Result<(), StoreError> {
        let mut outage: Option<Outage> = None;
        let mut wait = self.first;
        loop {
            match attempt() {
                Ok(()) => {
                    if let Some(outage) = outage {
                        outage.ended();
                    }
                    return Ok(());
                }
                Err(StoreError::Unavailable(error)) => {
                    instruments::record_store_error();
                    outage.get_or_insert_with(Outage::new).failed(&error);
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(self.max);
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// How often old rows are deleted when a retention is set.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How often a continuing outage is logged again.
const OUTAGE_LOG_EVERY: Duration = Duration::from_secs(10);

/// The sink: each emission's results in one transaction, retried until it commits.
pub struct StoreSink {
    writer: Box<dyn Writer>,
    retention: Option<Duration>,
    backoff: Backoff,
    last_prune: Option<Instant>,
}

impl StoreSink {
    /// A sink writing through `writer`, deleting results older than `retention`.
    pub fn new(writer: Box<dyn Writer>, retention: Option<Duration>, backoff: Backoff) -> StoreSink {
        StoreSink { writer, retention, backoff, last_prune: None }
    }

    /// Writes until the database takes the batch: an unavailable database is waited for (logged
    /// and counted), any other error ends the run (nothing is acknowledged; a restart replays).
    fn write_until_committed(&mut self, batch: &[&WindowResult]) -> Result<(), StoreError> {
        let writer = &mut self.writer;
        self.backoff.until_available(|| {
            let started = Instant::now();
            writer.write(batch).map(|()| instruments::record_store_write(started.elapsed()))
        })
    }

    /// Deletes expired rows at most once a minute. A failure is logged and counted, never fatal:
    /// the rows are deleted next time.
    fn prune_if_due(&mut self) {
        let Some(retention) = self.retention else { return };
        if self.last_prune.is_some_and(|at| at.elapsed() < PRUNE_EVERY) {
            return;
        }
        self.last_prune = Some(Instant::now());
        let micros = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        let before = EventTime(wall_clock_now().as_micros().saturating_sub(micros));
        match self.writer.prune(before) {
            Ok(0) => {}
            Ok(windows) => tracing::debug!(windows, %before, "deleted results past the retention"),
            Err(error) => {
                instruments::record_store_error();
                tracing::warn!(%error, "could not delete results past the retention; trying again later");
            }
        }
    }
}

impl ResultSink for StoreSink {
    fn write_result(&mut self, result: &WindowResult) -> io::Result<()> {
        self.write_results(std::slice::from_ref(result))
    }

    fn write_results(&mut self, results: &[WindowResult]) -> io::Result<()> {
        let batch = latest_per_window(results);
        if !batch.is_empty() {
            self.write_until_committed(&batch).map_err(|e| io::Error::other(format!("the store: {e}")))?;
        }
        self.prune_if_due();
        Ok(())
    }
}

/// How far along a result is, for one window: partial < final < revision 1 < …; among partial
/// results (and as a tie-breaker), the one that counted more readings. The databases compare the
/// same triple before replacing a row.
pub fn rank(result: &WindowResult) -> (bool, u32, u64) {
    (result.is_final, result.revision, result.messages)
}

/// The results to write, one per window: a database cannot upsert the same key twice in one
/// statement, and the furthest-along result is the one to keep.
fn latest_per_window(results: &[WindowResult]) -> Vec<&WindowResult> {
    let mut batch: Vec<&WindowResult> = Vec::with_capacity(results.len());
    for result in results {
        let same = |kept: &&WindowResult| {
            kept.window_start == result.window_start && kept.window_end == result.window_end
        };
        match batch.iter_mut().find(|kept| same(kept)) {
            Some(kept) if rank(result) >= rank(kept) => *kept = result,
            Some(_) => {}
            None => batch.push(result),
        }
    }
    batch
}

/// A database outage, logged when it starts, every [`OUTAGE_LOG_EVERY`] while it lasts, and when
/// it ends.
struct Outage {
    started: Instant,
    attempts: u64,
    last_logged: Instant,
}

impl Outage {
    fn new() -> Outage {
        let now = Instant::now();
        Outage { started: now, attempts: 0, last_logged: now }
    }

    fn failed(&mut self, error: &str) {
        self.attempts += 1;
        if self.attempts == 1 {
            tracing::warn!(%error, "the store is unavailable: results wait, input is not acknowledged, retrying");
        } else if self.last_logged.elapsed() >= OUTAGE_LOG_EVERY {
            self.last_logged = Instant::now();
            let seconds = self.started.elapsed().as_secs();
            tracing::warn!(%error, attempts = self.attempts, seconds, "the store is still unavailable");
        }
    }

    fn ended(self) {
        let seconds = format!("{:.1}", self.started.elapsed().as_secs_f64());
        tracing::info!(failed_attempts = self.attempts, seconds, "the store is back; results written");
    }
}

#[cfg(test)]
mod tests;
