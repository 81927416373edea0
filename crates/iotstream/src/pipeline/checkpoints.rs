//! Saving and restoring the whole state of a run (`--state-dir`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use iotstream_engine::{MicroBatches, Operator};
use tokio::time::Instant;

use super::driver::Driver;
use super::positions::Progress;
use super::RunSummary;
use crate::channel::Control;
use crate::checkpoint::{CheckpointStore, EngineState};
use crate::clock::wall_clock_now;
use crate::instruments;

/// Saving state while running (`--state-dir`).
pub struct Checkpointing {
    /// Where checkpoints go.
    pub store: CheckpointStore,
    /// How often.
    pub interval: Duration,
    /// What is being read, recorded so that a checkpoint resumes only the same input.
    pub input: String,
    /// The checkpoint to resume from, if there was one.
    pub resume: Option<EngineState>,
    /// Deliberately wrong (the fault suite's `positions-without-state` mutant): periodic
    /// checkpoints save the positions but not the state that goes with them.
    pub unsafe_positions_only: bool,
    /// Files a source writes beside the checkpoints (the MQTT journal) that must be on disk
    /// before a checkpoint is: synced first. The source writes them before handing input over,
    /// so a sync here covers everything the checkpoint counts, one sync per checkpoint instead
    /// of one per hand-over.
    pub companions: Vec<std::path::PathBuf>,
}

impl Driver {
    /// Resumes from a checkpoint: the operator, live views, totals and positions as they were.
    pub(super) fn restore(&mut self, state: EngineState) -> anyhow::Result<()> {
        self.operator.check_resumable(&state.operator)?;
        self.operator = state.operator;
        self.sensors = state.sensors;
        self.rejected = state.rejected;
        if let Some(alerts) = &mut self.outputs.alerts {
            alerts.restore(state.alerts);
        }
        self.summary =
            RunSummary { readings: state.readings, rejected: state.rejected_count, results: state.results };
        tracing::info!(readings = state.readings, positions = ?state.positions, saved_at = %state.saved_at, "resumed from checkpoint");
        self.progress = Progress::restore(state.positions);
        Ok(())
    }

    /// Saves a checkpoint. Everything emitted so far is already written (sinks flush each result);
    /// dead letters are flushed first, and the result file is synced: the checkpoint records its
    /// length, and after an OS crash the file must not be shorter than that.
    pub(super) fn checkpoint(&mut self) -> anyhow::Result<()> {
        if self.checkpointing.is_none() {
            return Ok(());
        }
        self.flush_dead_letters()?;
        if let Some(durable) = &mut self.outputs.durable {
            durable.sync().context("cannot sync the result file before a checkpoint")?;
        }
        if let Some(alerts) = &mut self.outputs.alerts {
            alerts.sync()?;
        }
        let Some(checkpointing) = &self.checkpointing else { return Ok(()) };
        sync_companions(&checkpointing.companions)?;
        let now = wall_clock_now();
        // Moved out and back rather than cloned: the state can be large (a million sensors).
        let operator = std::mem::replace(&mut self.operator, Operator::Batches(MicroBatches::default()));
        // The fault suite's deliberately unsafe mode saves a blank operator beside real positions.
        let (saved_operator, kept) = match checkpointing.unsafe_positions_only {
            true => (operator.blank_like(now), Some(operator)),
            false => (operator, None),
        };
        let positions = self.progress.positions().clone();
        let state = EngineState {
            input: checkpointing.input.clone(),
            positions: positions.clone(),
            operator: saved_operator,
            sensors: std::mem::take(&mut self.sensors),
            rejected: self.rejected,
            readings: self.summary.readings,
            rejected_count: self.summary.rejected,
            results: self.summary.results,
            output_len: self.outputs.written.as_ref().map(|w| w.load(Ordering::SeqCst)),
            saved_at: now,
            alerts: self.outputs.alerts.as_mut().map(|a| a.take_snapshot()),
        };
        let saved = checkpointing.store.save(&state);
        self.operator = kept.unwrap_or(state.operator);
        self.sensors = state.sensors;
        if let (Some(alerts), Some(snapshot)) = (&mut self.outputs.alerts, state.alerts) {
            alerts.put_back(snapshot);
        }
        if saved.is_ok() {
            self.last_checkpoint = Some(Instant::now());
            instruments::record_checkpoint();
            // Everything counted is in the checkpoint, open windows included.
            if let Some(acks) = &mut self.acks {
                acks.acknowledge(Control::Checkpointed(positions.into_iter().collect()));
            }
        }
        saved
    }
}

/// Syncs each of `files` that exists (a source may not have written its file yet).
fn sync_companions(files: &[std::path::PathBuf]) -> anyhow::Result<()> {
    for path in files {
        match std::fs::File::open(path) {
            Ok(file) => file.sync_data().with_context(|| format!("cannot sync {}", path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error).with_context(|| format!("cannot open {}", path.display())),
        }
    }
    Ok(())
}
