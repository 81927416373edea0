//! The store as an output: [`StoreSink`] writes each emission's results (the seed's windows, or
//! SQL queries' rows into their tables) in one transaction,
//! retried while the database is away (nothing is acknowledged meanwhile: the source waits, as
//! behind a slow broker); [`Backoff`] is that wait, for the alerts' writes too.

use std::time::{Duration, Instant};

use iotstream_engine::query::Emission as QueryEmission;
use iotstream_engine::{EventTime, WindowResult};

use super::error::StoreError;
use super::tables::{QueryTable, StoredResult};
use super::writer::Writer;
use crate::clock::wall_clock_now;
use crate::instruments;
use crate::signals::Stop;
use crate::sinks::{Emission, ResultSink, SinkError};

/// How long to wait between attempts while the database is away: doubling up to a ceiling, and
/// never past a stop of the run (when given one: the default's is never asked for).
#[derive(Clone, Debug)]
pub struct Backoff {
    /// The first wait.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
    /// The run's stop: a wait ends with [`StoreError::Stopped`] when it is asked for.
    pub stop: Stop,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { first: Duration::from_millis(100), max: Duration::from_secs(5), stop: Stop::default() }
    }
}

impl Backoff {
    /// Runs `attempt` until the database takes it: while the database is unavailable, waits and
    /// tries again (the outage logged and counted); any other error is returned, and so is a stop
    /// asked for while waiting.
    pub fn until_available(
        &self,
        mut attempt: impl FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
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
                    self.stop.sleep(wait)?;
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
    /// The SQL queries' tables, by query.
    tables: Vec<QueryTable>,
}

impl StoreSink {
    /// A sink writing through `writer`, deleting results older than `retention`.
    pub fn new(writer: Box<dyn Writer>, retention: Option<Duration>, backoff: Backoff) -> StoreSink {
        StoreSink { writer, retention, backoff, last_prune: None, tables: Vec::new() }
    }

    /// The same sink, writing SQL queries' results into `tables` (prepared by the writer).
    pub fn with_queries(self, tables: Vec<QueryTable>) -> StoreSink {
        StoreSink { tables, ..self }
    }

    /// Writes queries' results in one transaction, retried as the seed's are.
    fn write_queries(&mut self, results: &[QueryEmission]) -> Result<(), StoreError> {
        let mut stored = Vec::with_capacity(results.len());
        for result in results {
            let table = self.tables.iter().find(|t| *t.query == *result.query).ok_or_else(|| {
                StoreError::Failed(format!("the store has no table for query {}", result.query))
            })?;
            stored.push(StoredResult::of(table, result));
        }
        let writer = &mut self.writer;
        self.backoff.until_available(|| {
            let started = Instant::now();
            writer.write_queries(&stored).map(|()| instruments::record_store_write(started.elapsed()))
        })
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
    fn write(&mut self, emission: &Emission<'_>) -> Result<(), SinkError> {
        let batch = latest_per_window(emission.windows);
        if !batch.is_empty() {
            self.write_until_committed(&batch)?;
        }
        if !emission.queries.is_empty() {
            self.write_queries(emission.queries).map_err(|e| SinkError::Store(e.to_string()))?;
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
