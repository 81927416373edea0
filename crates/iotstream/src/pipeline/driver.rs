//! The synchronous heart of a run, in three parts: counting (parse and count input), emitting
//! (write what the operator completes, then acknowledge the input behind it) and checkpointing;
//! the driver hands each event and clock tick to the parts in their order, and lets the run's
//! extension ([`DriverHook`]) in at its moments.
//!
//! Nothing here waits, spawns or reads a clock: [`super::run`] feeds the driver events, ticks and
//! the time, and the tests feed it the same by hand, with sinks in memory.

use iotstream_engine::query::QuerySet;
use iotstream_engine::{EventTime, WindowResult};

use super::checkpoints::{self, Checkpointer, Checkpointing};
use super::counting::Counting;
use super::emitting::Emitting;
use super::engine::Results;
use super::error::RunError;
use super::hooks::{DriverHook, HookContext};
use super::positions::Acknowledge;
use super::settings::Settings;
use super::status::{self, SourceTelemetry};
use super::tickers::Tick;
use super::totals::RunSummary;
use crate::alerts::Alerting;
use crate::channel::{Command, Control, Data, Revoke, SensorQuery, SourceEvent, Telemetry};
use crate::instruments;
use crate::sinks::{Emission, Outputs};

/// Whether the run goes on after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// More input may come.
    Continue,
    /// The input has ended.
    End,
}

/// What a run computes beside the seed's operator: its SQL queries (which replace the seed's
/// analyses), and alert rules.
#[derive(Default)]
pub struct Computing {
    /// The queries, with their state before any input (`--query`).
    pub queries: Option<QuerySet>,
    /// Alert rules and their outputs (`--rules`).
    pub alerts: Option<Alerting>,
}

/// The engine and everything a run keeps around it.
pub struct Driver {
    pub(super) counting: Counting,
    pub(super) emitting: Emitting,
    checkpoints: Option<Checkpointer>,
    hook: Option<Box<dyn DriverHook>>,
    telemetry: SourceTelemetry,
    settings: Settings,
}

impl Driver {
    /// A driver for a run of `settings` computing `computing` (queries, alerts), writing to
    /// `outputs` and acknowledging through `acks`, resuming from `checkpointing`'s checkpoint if
    /// it has one, extended by `hook`; `now` is processing time.
    pub fn new(
        settings: &Settings,
        outputs: Outputs,
        computing: Computing,
        acks: Option<Box<dyn Acknowledge>>,
        checkpointing: Option<Checkpointing>,
        hook: Option<Box<dyn DriverHook>>,
        now: EventTime,
    ) -> Result<Driver, RunError> {
        let counting = Counting::new(settings, computing.queries, computing.alerts, now);
        let emitting = Emitting::new(outputs, acks);
        let (checkpoints, resume) = checkpointing.map(Checkpointer::new).unzip();
        let telemetry = SourceTelemetry::default();
        let settings = settings.clone();
        let mut driver = Driver { counting, emitting, checkpoints, hook, telemetry, settings };
        if let Some(state) = resume.flatten() {
            checkpoints::restore(state, &mut driver.counting, &mut driver.emitting)?;
        }
        Ok(driver)
    }

    /// Handles one event from the source (`None`: the source has gone, as at the end of input).
    pub fn on_event(&mut self, event: Option<SourceEvent>, now: EventTime) -> Result<Flow, RunError> {
        match event {
            Some(SourceEvent::Data(data)) => self.on_data(&data, now)?,
            Some(SourceEvent::Control(control)) => return self.on_control(control, now),
            Some(SourceEvent::Telemetry(telemetry)) => self.on_telemetry(telemetry),
            None => return Ok(Flow::End),
        }
        Ok(Flow::Continue)
    }

    /// Input: counted, then what it completed is emitted (event time closes windows at once).
    fn on_data(&mut self, data: &Data, now: EventTime) -> Result<(), RunError> {
        let dead_letters = self.emitting.dead_letters();
        match data {
            Data::Chunk(chunk) => self.counting.on_chunk(chunk, now),
            Data::Messages(batch) => self.counting.on_messages(batch, dead_letters, now),
            Data::Ordered(ordered) => self.counting.on_ordered(ordered, dead_letters, now),
            Data::Fields(fields) => self.counting.on_fields(fields, dead_letters, now),
            // Processing-time partials: batches emit on their clock only.
            Data::Parsed(partial) => return Ok(self.counting.on_partial(partial, dead_letters)?),
        }
        let results = self.counting.on_input(now);
        self.emit(results, now)
    }

    fn on_control(&mut self, control: Control, now: EventTime) -> Result<Flow, RunError> {
        match control {
            Control::Revoke(revoke) => self.on_revoke(revoke, now)?,
            Control::Assigned(partitions) => {
                self.counting.on_partitions(&partitions_u32(&partitions), now);
            }
            Control::CaughtUp(partition) => {
                // A partition has no backlog: in event time, it may now go idle.
                if let Ok(partition) = u32::try_from(partition) {
                    self.counting.on_caught_up(partition);
                }
            }
            Control::CheckpointWanted => self.on_tick(Tick::Checkpoint, now)?,
            Control::Ring => self.on_ring(now)?,
            Control::End => return Ok(Flow::End),
            Control::Failed(error) => return Err(error.into()),
        }
        Ok(Flow::Continue)
    }

    fn on_telemetry(&mut self, telemetry: Telemetry) {
        match telemetry {
            Telemetry::Lag(lag) => {
                for (partition, lag) in lag {
                    instruments::record_consumer_lag(partition, lag);
                    self.telemetry.lag.insert(partition, lag);
                }
            }
            Telemetry::DataLoss(lost) => {
                for (partition, messages) in lost {
                    instruments::record_data_loss(partition, messages);
                    self.telemetry.data_lost += messages;
                }
            }
        }
    }

    /// Handles one tick of a clock, at processing time `now`.
    pub fn on_tick(&mut self, tick: Tick, now: EventTime) -> Result<(), RunError> {
        match tick {
            Tick::Operator => {
                let results = self.counting.on_tick(now);
                self.emit(results, now)?;
                if let Some(hook) = &mut self.hook {
                    hook.on_clock(&mut self.counting.operator, &self.telemetry.lag, now);
                }
                self.acknowledge();
            }
            Tick::Early => {
                let results = self.counting.on_early();
                self.emit(results, now)?;
            }
            Tick::Stats => self.write_stats(now)?,
            Tick::Status => self.write_status(now)?,
            Tick::Checkpoint => {
                self.checkpoint(now, false)?;
                self.save_partitions(None)?;
                self.acknowledge();
            }
        }
        Ok(())
    }

    /// Ends the run: the input `ended`, or a shutdown signal came first. Emits what the end
    /// completes (or, on a stop without a state directory, what is open), a last stats record and
    /// status, a last checkpoint, and the final positions for the source to commit.
    pub fn finish(&mut self, ended: bool, now: EventTime) -> Result<RunSummary, RunError> {
        let emitted = self.emitting.results();
        if ended {
            let results = self.counting.on_end(now, emitted);
            self.emit(results, now)?;
        } else if self.checkpoints.is_none() {
            let results = self.counting.on_stop(now, emitted);
            self.emit(results, now)?;
        }
        // With checkpoints, a clean stop emits nothing early: the open batch or windows are saved
        // and continue after a restart, so every result is emitted once, complete.
        if self.settings.stats_every.is_some() {
            self.write_stats(now)?;
        }
        if self.settings.status_every.is_some() {
            self.write_status(now)?;
        }
        self.checkpoint(now, true)?;
        // Scale-out: the partitions' states go where their next owners find them.
        self.save_partitions(None)?;
        let positions = self.counting.progress.safe(&self.counting.pinned_positions());
        self.emitting.tell(Command::Shutdown(positions));
        let s = self.summary();
        tracing::info!(readings = s.readings, rejected = s.rejected, results = s.results, "done");
        status::log_queries(&self.counting);
        Ok(s)
    }

    /// Totals so far.
    pub fn summary(&self) -> RunSummary {
        RunSummary { results: self.emitting.results(), ..self.counting.totals }
    }

    /// Hands the positions that written results cover to the source, to commit.
    fn acknowledge(&mut self) {
        let safe = self.counting.progress.safe(&self.counting.pinned_positions());
        self.emitting.commit(safe);
    }

    /// Emits `results`: the extension first, then dead letters, then the results, so that the
    /// positions acknowledged afterwards are covered by durable output; then the alert rules
    /// judge what was written.
    fn emit(&mut self, results: impl Into<Results>, now: EventTime) -> Result<(), RunError> {
        let Results { mut windows, queries } = results.into();
        if let Some(hook) = &mut self.hook {
            hook.before_emit(&mut self.counting.operator)?;
        }
        if !windows.is_empty() {
            let coverage = self.counting.operator.coverage();
            let partitions = self.counting.progress.result_partitions(coverage);
            for result in &mut windows {
                result.partitions.clone_from(&partitions);
            }
        }
        if !windows.is_empty() || !queries.is_empty() {
            self.emitting.emit(&Emission { windows: &windows, queries: &queries }, now)?;
            self.counting.rejects.flush();
        }
        self.deliver_alerts(&windows, now)
    }

    /// Judges `results` (just written to every sink) and delivers every alert notification
    /// waiting, the ones readings produced included.
    fn deliver_alerts(&mut self, results: &[WindowResult], now: EventTime) -> Result<(), RunError> {
        let inputs = self.counting.inputs();
        let Some(alerts) = &mut self.counting.alerts else { return Ok(()) };
        Ok(alerts.deliver(results, inputs, now)?)
    }

    /// Saves a checkpoint, if the run keeps them.
    fn checkpoint(&mut self, now: EventTime, last: bool) -> Result<(), RunError> {
        match &mut self.checkpoints {
            Some(checkpoints) => checkpoints.save(&mut self.counting, &mut self.emitting, now, last),
            None => Ok(()),
        }
    }

    /// The extension saves what `partitions` (all with `None`) need to outlive this process.
    fn save_partitions(&mut self, partitions: Option<&[i32]>) -> Result<(), RunError> {
        let Some(hook) = &mut self.hook else { return Ok(()) };
        let positions = self.counting.progress.positions();
        Ok(hook.save(&mut self.counting.operator, positions, partitions)?)
    }

    /// A rebalance takes partitions away: emit what the operator holds for them (scale-out: save
    /// their states for the next owner), hand back their positions, and forget them.
    ///
    /// Event-time windows hold readings of every partition, pinned until they are emitted, and
    /// the revoked partitions are read again from those positions, by this member too (a
    /// rebalance takes every partition and hands them out anew). So when all it holds is taken,
    /// the open windows are emitted as partial results, as on a clean stop, and dropped: each
    /// reading then counts in the final results of one member only.
    fn on_revoke(&mut self, revoke: Revoke, now: EventTime) -> Result<(), RunError> {
        let everything = self.counting.progress.positions().keys().all(|p| revoke.partitions.contains(p));
        let results = self.counting.on_revoke(now, everything, self.emitting.results());
        self.emit(results, now)?;
        self.save_partitions(Some(&revoke.partitions))?;
        let pinned = self.counting.pinned_positions();
        let released = self.counting.progress.release(&revoke.partitions, &pinned);
        self.counting.after_revoke(everything);
        if let Some(hook) = &mut self.hook {
            hook.on_revoke(&mut self.counting.operator, &revoke.partitions);
        }
        // The source may have given up waiting; the partitions are gone either way.
        let _ = revoke.reply.send(released);
        Ok(())
    }

    /// The extension's source rang: it takes what was queued for it.
    fn on_ring(&mut self, now: EventTime) -> Result<(), RunError> {
        let Some(hook) = &mut self.hook else { return Ok(()) };
        let run = HookContext {
            operator: &mut self.counting.operator,
            progress: &mut self.counting.progress,
            emitting: &mut self.emitting,
            now,
        };
        Ok(hook.on_ring(run)?)
    }

    /// Writes a stats record to every sink that keeps them.
    fn write_stats(&mut self, now: EventTime) -> Result<(), RunError> {
        let stats = self.stats(now);
        Ok(self.emitting.write_stats(&stats)?)
    }

    /// The live status: metrics, and a stats record for sinks that show it (the dashboard).
    fn write_status(&mut self, now: EventTime) -> Result<(), RunError> {
        let stats = self.stats(now);
        instruments::record_status(&stats);
        if let Some(at) = self.checkpoints.as_ref().and_then(Checkpointer::last) {
            instruments::record_checkpoint_age(at.elapsed());
        }
        Ok(self.emitting.write_status(&stats)?)
    }

    /// Totals and live views since the start, at `now`.
    pub fn stats(&self, now: EventTime) -> iotstream_engine::StatsRecord {
        let offline_after = iotstream_engine::units::micros(self.settings.offline_after);
        let scale_out = self.hook.as_ref().and_then(|hook| hook.status());
        status::stats(&self.counting, &self.telemetry, scale_out, offline_after, now)
    }

    /// Answers a dashboard's question about one sensor.
    pub fn answer(&self, query: SensorQuery) {
        // The asker may have given up (a closed browser tab); nothing to do then.
        let _ = query.reply.send(self.counting.sensors.get(&query.guid).cloned());
    }
}

fn partitions_u32(partitions: &[i32]) -> Vec<u32> {
    partitions.iter().filter_map(|&p| u32::try_from(p).ok()).collect()
}
