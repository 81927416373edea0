//! Checkpointing: saving the whole state of a run (`--state-dir`) and restoring it.
//!
//! A checkpoint is saved between events, after everything it covers is durable: dead letters
//! flushed, the result and alerts files synced (their lengths are recorded), the source's own
//! files (the MQTT journal) synced. It holds what counting holds (the operator, the sensor table,
//! the tallies, the positions), the number of results written, and the alerts' state.

use std::time::Duration;

use iotstream_engine::query::SavedQueries;
use iotstream_engine::{EventTime, MicroBatches, Operator};
use tokio::time::Instant;

use super::counting::Counting;
use super::emitting::Emitting;
use super::error::RunError;
use super::positions::Progress;
use super::totals::RunSummary;
use crate::channel::Command;
use crate::checkpoint::{CheckpointError, EngineState, StateStore};
use crate::instruments;
use crate::sinks::SinkError;

/// Saving state while running (`--state-dir`): what the run's start opened.
pub struct Checkpointing {
    /// Where checkpoints go.
    pub store: Box<dyn StateStore>,
    /// How often.
    pub interval: Duration,
    /// What is being read, recorded so that a checkpoint resumes only the same input.
    pub input: String,
    /// The checkpoint to resume from, if there was one.
    pub resume: Option<EngineState>,
    /// Files a source writes beside the checkpoints (the MQTT journal) that must be on disk
    /// before a checkpoint is: synced first. The source writes them before handing input over,
    /// so a sync here covers everything the checkpoint counts, one sync per checkpoint instead
    /// of one per hand-over.
    pub companions: Vec<std::path::PathBuf>,
}

/// The checkpoints of a running pipeline.
pub struct Checkpointer {
    store: Box<dyn StateStore>,
    input: String,
    companions: Vec<std::path::PathBuf>,
    /// When the last checkpoint was saved (for the checkpoint-age metric).
    last: Option<Instant>,
}

impl Checkpointer {
    /// Checkpoints as `checkpointing` says, and the checkpoint to resume from.
    pub fn new(checkpointing: Checkpointing) -> (Checkpointer, Option<EngineState>) {
        let Checkpointing { store, input, resume, companions, .. } = checkpointing;
        (Checkpointer { store, input, companions, last: None }, resume)
    }

    /// Saves a checkpoint at processing time `now`; `last`: the run's final one. Tells the source
    /// once it is saved: a source that cannot read messages again once acknowledged (MQTT)
    /// acknowledges what it holds.
    pub fn save(
        &mut self,
        counting: &mut Counting,
        emitting: &mut Emitting,
        now: EventTime,
        last: bool,
    ) -> Result<(), RunError> {
        emitting.flush_dead_letters()?;
        emitting.sync()?;
        if let Some(alerts) = &mut counting.alerts {
            alerts.sync()?;
        }
        sync_companions(&self.companions)?;
        let positions = counting.progress.positions().clone();
        let mut state = take_state(counting, emitting, self.input.clone(), now)?;
        let saved = self.store.save(&mut state, last);
        put_back(counting, state);
        saved?;
        self.last = Some(Instant::now());
        instruments::record_checkpoint();
        // Tests read this line (at debug level) as the evidence of what a checkpoint holds.
        tracing::debug!(?positions, readings = counting.totals.readings, "checkpoint saved");
        // Everything counted is in the checkpoint, open windows included.
        emitting.tell(Command::Checkpointed(positions.into_iter().collect()));
        Ok(())
    }

    /// When the last checkpoint was saved, if one was.
    pub fn last(&self) -> Option<Instant> {
        self.last
    }
}

/// Resumes counting and emitting from a checkpoint: the operator (checked to be of the same
/// settings) or the queries (checked to be the same queries), live views, totals and positions
/// as they were.
pub fn restore(state: EngineState, counting: &mut Counting, emitting: &mut Emitting) -> Result<(), RunError> {
    restore_queries(state.queries.as_deref(), counting)?;
    counting.operator.check_resumable(&state.operator)?;
    tracing::info!(readings = state.readings, positions = ?state.positions, saved_at = %state.saved_at, "resumed from checkpoint");
    counting.operator = state.operator;
    counting.sensors = state.sensors;
    counting.rejected = state.rejected;
    if let Some(alerts) = &mut counting.alerts {
        alerts.restore(state.alerts);
    }
    counting.totals = RunSummary { readings: state.readings, rejected: state.rejected_count, results: 0 };
    emitting.resume(state.results);
    counting.progress = Progress::restore(state.positions);
    Ok(())
}

/// Resumes the queries from a checkpoint's (`saved`): the same queries, each unchanged, or the
/// run is refused with the query that differs named; a checkpoint of the seed's analyses cannot
/// resume queries, nor the other way round.
fn restore_queries(saved: Option<&[u8]>, counting: &mut Counting) -> Result<(), RunError> {
    let other = |what: &str| {
        RunError::Resume(format!(
            "the checkpoint was written {what}; use another --state-dir, or remove it to start afresh"
        ))
    };
    match (saved, counting.queries.as_deref_mut()) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(other("for SQL queries (--query), not the seed's analyses")),
        (None, Some(_)) => Err(other("for the seed's analyses, not for SQL queries")),
        (Some(bytes), Some(queries)) => {
            let saved: SavedQueries = postcard::from_bytes(bytes)
                .map_err(|e| RunError::Resume(format!("the checkpoint's queries cannot be read: {e}")))?;
            Ok(queries.set.restore(saved)?)
        }
    }
}

/// The state to save, moved out of counting rather than cloned: it can be large (a million
/// sensors). [`put_back`] returns it. The queries are encoded (they are saved by reference).
fn take_state(
    counting: &mut Counting,
    emitting: &Emitting,
    input: String,
    now: EventTime,
) -> Result<EngineState, CheckpointError> {
    let queries = match &counting.queries {
        Some(queries) => Some(postcard::to_stdvec(&queries.set.saved()).map_err(CheckpointError::Encode)?),
        None => None,
    };
    Ok(EngineState {
        input,
        positions: counting.progress.positions().clone(),
        operator: std::mem::replace(&mut counting.operator, Operator::Batches(MicroBatches::default())),
        sensors: std::mem::take(&mut counting.sensors),
        rejected: counting.rejected,
        readings: counting.totals.readings,
        rejected_count: counting.totals.rejected,
        results: emitting.results(),
        output_len: emitting.written(),
        saved_at: now,
        alerts: counting.alerts.as_mut().map(|a| a.take_snapshot()),
        queries,
    })
}

/// Returns what [`take_state`] took.
fn put_back(counting: &mut Counting, state: EngineState) {
    counting.operator = state.operator;
    counting.sensors = state.sensors;
    if let (Some(alerts), Some(snapshot)) = (&mut counting.alerts, state.alerts) {
        alerts.put_back(snapshot);
    }
}

/// Syncs each of `files` that exists (a source may not have written its file yet).
fn sync_companions(files: &[std::path::PathBuf]) -> Result<(), SinkError> {
    for path in files {
        match std::fs::File::open(path) {
            Ok(file) => file
                .sync_data()
                .map_err(|error| SinkError::Other(format!("cannot sync {}: {error}", path.display())))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(SinkError::Other(format!("cannot open {}: {error}", path.display()))),
        }
    }
    Ok(())
}
