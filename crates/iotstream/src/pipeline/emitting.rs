//! Emitting: writing what the operator completed to every output, and acknowledging input to the
//! source only once the results covering it are written.
//!
//! The order is the pipeline's promise, so that a crash at any point loses nothing: dead letters
//! are flushed, then an emission is written to every sink (each returns once it is durable or
//! handed to the OS), and only then are the positions it covers acknowledged for commit. The
//! driver decides when to acknowledge; this part holds the outputs and the way back to the source.

use std::sync::atomic::Ordering;

use iotstream_engine::{EventTime, StatsRecord, WindowResult};

use super::positions::Acknowledge;
use crate::channel::{Command, Positions};
use crate::instruments;
use crate::sinks::{Emission, Outputs, RejectSink, SinkError};

/// The run's outputs and its acknowledgements.
pub struct Emitting {
    outputs: Outputs,
    /// Where acknowledgements go (sources that keep positions).
    acks: Option<Box<dyn Acknowledge>>,
    /// Results written since start.
    results: u64,
}

impl Emitting {
    /// Writes to `outputs`, acknowledges through `acks`.
    pub fn new(outputs: Outputs, acks: Option<Box<dyn Acknowledge>>) -> Emitting {
        Emitting { outputs, acks, results: 0 }
    }

    /// Writes `emission` to every sink (dead letters made durable first), then counts it.
    pub fn emit(&mut self, emission: &Emission<'_>, now: EventTime) -> Result<(), SinkError> {
        self.flush_dead_letters()?;
        for sink in self.outputs.sinks.iter_mut() {
            sink.write(emission)?;
        }
        for result in emission.windows {
            instruments::record_result(result, now);
        }
        for result in emission.queries {
            instruments::record_query_result(result, now);
        }
        self.results += (emission.windows.len() + emission.queries.len()) as u64;
        Ok(())
    }

    /// Writes results computed elsewhere (scale-out's global windows), each emission as one batch:
    /// to every sink when this instance writes them, else to the live views only (not counted).
    pub fn emit_elsewhere(
        &mut self,
        results: &[WindowResult],
        live_only: bool,
        now: EventTime,
    ) -> Result<(), SinkError> {
        if results.is_empty() {
            return Ok(());
        }
        let emission = Emission::of_windows(results);
        for sink in self.outputs.sinks.iter_mut().filter(|s| !live_only || s.is_live_view()) {
            sink.write(&emission)?;
        }
        if !live_only {
            for result in results {
                instruments::record_result(result, now);
            }
            self.results += results.len() as u64;
        }
        Ok(())
    }

    /// Writes a stats record to every sink that keeps them.
    pub fn write_stats(&mut self, stats: &StatsRecord) -> Result<(), SinkError> {
        self.outputs.sinks.iter_mut().try_for_each(|sink| sink.write_stats(stats))
    }

    /// Hands the live status to every sink that shows it.
    pub fn write_status(&mut self, status: &StatsRecord) -> Result<(), SinkError> {
        self.outputs.sinks.iter_mut().try_for_each(|sink| sink.write_status(status))
    }

    /// Makes every dead letter queued so far durable.
    pub fn flush_dead_letters(&mut self) -> Result<(), SinkError> {
        match &mut self.outputs.dead_letters {
            Some(dead_letters) => dead_letters.flush().map_err(|e| e.within("dead letters")),
            None => Ok(()),
        }
    }

    /// Makes the result file durable (before a checkpoint records its length).
    pub fn sync(&mut self) -> Result<(), SinkError> {
        match &mut self.outputs.durable {
            Some(durable) => {
                durable.sync().map_err(|source| SinkError::Sync { what: "the result file", source })
            }
            None => Ok(()),
        }
    }

    /// Bytes written to the result file, when results go to a file.
    pub fn written(&self) -> Option<u64> {
        self.outputs.written.as_ref().map(|w| w.load(Ordering::SeqCst))
    }

    /// Where counting queues dead letters.
    pub fn dead_letters(&mut self) -> &mut Option<Box<dyn RejectSink>> {
        &mut self.outputs.dead_letters
    }

    /// Everything before `positions` is in written results: the source may commit it.
    pub fn commit(&mut self, positions: Positions) {
        self.tell(Command::Commit(positions));
    }

    /// Hands `command` to the source, if it keeps positions.
    pub fn tell(&mut self, command: Command) {
        if let Some(acks) = &mut self.acks {
            acks.acknowledge(command);
        }
    }

    /// Results written since start.
    pub fn results(&self) -> u64 {
        self.results
    }

    /// Resumes the count of results (from a checkpoint).
    pub fn resume(&mut self, results: u64) {
        self.results = results;
    }
}
