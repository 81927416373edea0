//! The synchronous heart of a run: one event at a time, parse and count input, emit what the
//! operator completes, and acknowledge input only once the results covering it are written.
//!
//! Nothing here waits or spawns: [`super::run`] feeds the driver events and clock ticks, and the
//! tests feed it the same by hand, with sinks in memory.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use iotstream_engine::aggregate::RejectCounts;
use iotstream_engine::lines::lines;
use iotstream_engine::live::SensorTable;
use iotstream_engine::{EventTime, Operator, Parser, RejectReason, WindowResult};
use tokio::time::Instant;

use super::checkpoints::Checkpointing;
use super::positions::{Acknowledge, Progress};
use super::tickers::Tick;
use super::{Outputs, PipelineOptions, RunSummary};
use crate::channel::{Chunk, Control, Covers, MessageBatch, Partial, Revoke, SourceEvent};
use crate::clock::wall_clock_now;
use crate::instruments;
use crate::mutants::Mutation;
use crate::telemetry::RejectLog;

/// Whether the run goes on after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// More input may come.
    Continue,
    /// The input has ended.
    End,
}

/// The engine and everything a run tracks around it.
pub struct Driver {
    pub(super) parser: Parser,
    pub(super) operator: Operator,
    /// The last reading of every sensor (when something shows live views).
    pub(super) sensors: SensorTable,
    /// Keep `sensors` up to date (only when stats or a status are shown: a lookup per reading).
    pub(super) track_sensors: bool,
    /// Rejections since start, by reason.
    pub(super) rejected: RejectCounts,
    pub(super) rejects: RejectLog,
    pub(super) summary: RunSummary,
    pub(super) outputs: Outputs,
    pub(super) offline_after: i64,
    /// Processing time of the input being processed (read once per chunk or batch).
    pub(super) now: EventTime,
    /// How far the input is processed, per partition.
    pub(super) progress: Progress,
    /// Where acknowledgements go (sources that keep positions).
    pub(super) acks: Option<Box<dyn Acknowledge>>,
    pub(super) checkpointing: Option<Checkpointing>,
    /// When the last checkpoint was saved (for the checkpoint-age metric).
    pub(super) last_checkpoint: Option<Instant>,
    /// The latest consumer lag per partition (Kafka).
    pub(super) lag: BTreeMap<i32, i64>,
    /// Scale-out: the group as the merge log shows it.
    pub(super) scale_out: Option<iotstream_engine::ScaleOutStatus>,
    /// Messages deleted before they were read, since start (Kafka retention).
    pub(super) data_lost: u64,
    pub(super) options: PipelineOptions,
    /// The fault suite's deliberate bug, if one was asked for.
    pub(super) mutation: Mutation,
}

impl Driver {
    /// A driver for a run with `options`, resuming from `checkpointing`'s checkpoint if it has one.
    pub fn new(
        options: &PipelineOptions,
        outputs: Outputs,
        acks: Option<Box<dyn Acknowledge>>,
        mut checkpointing: Option<Checkpointing>,
    ) -> anyhow::Result<Driver> {
        let now = wall_clock_now();
        let resume = checkpointing.as_mut().and_then(|c| c.resume.take());
        let mut driver = Driver {
            parser: Parser::new(options.max_line_bytes),
            operator: options.operator.build(now),
            sensors: SensorTable::default(),
            track_sensors: options.tracks_sensors(),
            rejected: RejectCounts::default(),
            rejects: RejectLog::default(),
            summary: RunSummary::default(),
            outputs,
            offline_after: options.offline_after.as_micros().min(i64::MAX as u128) as i64,
            now,
            progress: Progress::default(),
            acks,
            checkpointing,
            last_checkpoint: None,
            lag: BTreeMap::new(),
            scale_out: None,
            data_lost: 0,
            options: *options,
            mutation: Mutation::new(options.mutant),
        };
        if let Some(state) = resume {
            driver.restore(state)?;
            driver.mutation.restored();
        }
        Ok(driver)
    }

    /// Handles one event from the source (`None`: the source has gone, as at the end of input).
    pub fn on_event(&mut self, event: Option<SourceEvent>) -> anyhow::Result<Flow> {
        match event {
            Some(SourceEvent::Chunk(chunk)) => {
                self.on_chunk(&chunk);
                self.on_input()?;
            }
            Some(SourceEvent::Messages(batch)) => {
                self.on_messages(&batch);
                self.on_input()?;
            }
            Some(SourceEvent::Parsed(partial)) => self.on_parsed(&partial)?,
            Some(SourceEvent::Ordered(ordered)) => {
                self.on_ordered(&ordered);
                self.on_input()?;
            }
            Some(SourceEvent::Revoke(revoke)) => self.on_revoke(revoke)?,
            Some(SourceEvent::Assigned(partitions)) => {
                self.operator.on_partitions(&partitions_u32(&partitions), wall_clock_now());
            }
            Some(SourceEvent::CaughtUp(partition)) => self.on_caught_up(partition),
            Some(SourceEvent::Lag(lag)) => self.on_lag(lag),
            Some(SourceEvent::Restored { partition, next, windows }) => {
                self.on_restored(partition, next, *windows)
            }
            Some(SourceEvent::Merged(update)) => self.on_merged(*update)?,
            Some(SourceEvent::DataLoss(lost)) => self.on_data_loss(lost),
            Some(SourceEvent::CheckpointWanted) => self.on_tick(Tick::Checkpoint)?,
            Some(SourceEvent::End) | None => return Ok(Flow::End),
            Some(SourceEvent::Failed(error)) => bail!(error),
        }
        Ok(Flow::Continue)
    }

    /// Handles one tick of a clock.
    pub fn on_tick(&mut self, tick: Tick) -> anyhow::Result<()> {
        match tick {
            Tick::Operator => {
                let now = wall_clock_now();
                let results = self.operator.on_tick(now);
                self.emit(results)?;
                self.report_clocks(now);
                self.acknowledge();
            }
            Tick::Early => {
                let results = self.operator.on_early();
                self.emit(results)?;
            }
            Tick::Stats => self.write_stats()?,
            Tick::Status => self.write_status()?,
            Tick::Checkpoint => {
                self.checkpoint()?;
                self.save_partitions(None)?;
                self.acknowledge();
            }
        }
        Ok(())
    }

    /// Ends the run: the input `ended`, or a shutdown signal came first. Emits what the end
    /// completes (or, on a stop without a state directory, what is open), a last stats record and
    /// status, a last checkpoint, and the final positions for the source to commit.
    pub fn finish(mut self, ended: bool) -> anyhow::Result<RunSummary> {
        let now = wall_clock_now();
        if ended {
            let results = self.operator.on_end(now, self.summary.results);
            self.emit(results)?;
        } else if self.checkpointing.is_none() {
            let results = self.operator.on_stop(now, self.summary.results);
            self.emit(results)?;
        }
        // With checkpoints, a clean stop emits nothing early: the open batch or windows are saved
        // and continue after a restart, so every result is emitted once, complete.
        if self.options.stats_every.is_some() {
            self.write_stats()?;
        }
        if self.options.status_every.is_some() {
            self.write_status()?;
        }
        if let Some(checkpointing) = &mut self.checkpointing {
            // Even the positions-without-state mutant saves everything on a clean stop: only a
            // crash may expose it, so the fault suite shows that its kills are what catch it.
            checkpointing.unsafe_positions_only = false;
            self.checkpoint()?;
        }
        // Scale-out: the partitions' states go where their next owners find them.
        self.save_partitions(None)?;
        let positions = self.progress.safe(&self.operator.pinned_positions());
        if let Some(acks) = &mut self.acks {
            acks.acknowledge(Control::Shutdown(positions));
        }
        let s = self.summary;
        tracing::info!(readings = s.readings, rejected = s.rejected, results = s.results, "done");
        Ok(s)
    }

    /// Totals so far.
    pub fn summary(&self) -> RunSummary {
        self.summary
    }

    /// Hands the positions that written results cover to the source, to commit.
    fn acknowledge(&mut self) {
        if let Some(acks) = &mut self.acks {
            let pinned = match self.mutation.ack_unwritten() {
                true => BTreeMap::new(),
                false => self.operator.pinned_positions(),
            };
            acks.acknowledge(Control::Commit(self.progress.safe(&pinned)));
        }
    }

    /// After a piece of input: emits what it completed (event time closes windows at once).
    fn on_input(&mut self) -> anyhow::Result<()> {
        let results = self.operator.on_input(self.now);
        self.emit(results)
    }

    fn on_chunk(&mut self, chunk: &Chunk) {
        self.now = wall_clock_now();
        let mut next = chunk.first_line;
        for (line_number, line) in (chunk.first_line..).zip(lines(chunk.data())) {
            if let Err(reason) = self.count(line, 0, line_number as i64) {
                self.rejects.record(reason, &format_args!("line {line_number}"), line);
            }
            next = line_number + 1;
        }
        self.progress.read_lines(next);
        // A file or pipe hands over what it has as soon as it has it: no backlog behind a chunk.
        self.operator.on_caught_up(0);
    }

    fn on_messages(&mut self, batch: &MessageBatch) {
        self.now = wall_clock_now();
        self.count_messages(batch);
        if self.mutation.count_twice() {
            self.count_messages(batch);
        }
    }

    fn count_messages(&mut self, batch: &MessageBatch) {
        for (payload, meta) in batch.iter() {
            let partition = u32::try_from(meta.partition).unwrap_or(0);
            if let Err(reason) = self.count(payload, partition, meta.offset) {
                self.reject_message(payload, reason, meta.partition, meta.offset);
            }
            self.progress.read_message(meta.partition, meta.offset);
        }
    }

    /// A chunk or message batch parsed by a worker thread (processing time only). Partials
    /// arrive in input order, so positions only ever move past input that is counted.
    fn on_parsed(&mut self, partial: &Partial) -> anyhow::Result<()> {
        self.operator.on_partial(&partial.aggregate)?;
        self.summary.readings += partial.readings;
        self.summary.rejected += partial.rejected;
        self.rejected.merge(partial.aggregate.rejected());
        match &partial.covers {
            Covers::Lines { next_line, examples } => {
                self.progress.read_lines(*next_line);
                for (line_number, reason, line) in examples {
                    self.rejects.record(*reason, &format_args!("line {line_number}"), line);
                }
            }
            Covers::Messages { positions, rejects } => {
                for reject in rejects {
                    self.reject_message(&reject.payload, reject.reason, reject.partition, reject.offset);
                }
                for &(partition, next) in positions {
                    self.progress.advance(partition, next);
                }
            }
        }
        Ok(())
    }

    /// A rejected message of a partitioned source: logged, and queued as a dead letter.
    pub(super) fn reject_message(
        &mut self,
        payload: &[u8],
        reason: RejectReason,
        partition: i32,
        offset: i64,
    ) {
        self.rejects.record(reason, &format_args!("partition {partition} offset {offset}"), payload);
        if let Some(dead_letters) = &mut self.outputs.dead_letters {
            if !self.mutation.drop_dead_letter() {
                dead_letters.reject(payload, reason, partition, offset);
            }
        }
    }

    /// Parses one message and counts it; the reason if it counts nowhere.
    #[inline]
    fn count(&mut self, message: &[u8], partition: u32, position: i64) -> Result<(), RejectReason> {
        let outcome = match self.parser.parse(message) {
            Ok(reading) => {
                if self.track_sensors {
                    self.sensors.update(&reading, self.now);
                }
                let counted = self.operator.on_reading(partition, position, &reading, self.now);
                if let (Ok(()), Some(alerts)) = (counted, &mut self.outputs.alerts) {
                    alerts.on_reading(&reading);
                }
                counted
            }
            Err(reason) => {
                self.operator.on_rejected(reason);
                Err(reason)
            }
        };
        self.tally(outcome)
    }

    /// Adds what became of one message to the run's totals; passes the outcome on.
    #[inline]
    pub(super) fn tally(&mut self, outcome: Result<(), RejectReason>) -> Result<(), RejectReason> {
        match outcome {
            Ok(()) => self.summary.readings += 1,
            Err(reason) => {
                self.rejected.add(reason);
                self.summary.rejected += 1;
            }
        }
        outcome
    }

    /// Emits `results`: dead letters first, then the results, so that the positions acknowledged
    /// afterwards are covered by durable output.
    pub(super) fn emit(&mut self, mut results: Vec<WindowResult>) -> anyhow::Result<()> {
        self.publish_shares()?;
        if results.is_empty() {
            return self.deliver_alerts(&[]);
        }
        self.flush_dead_letters()?;
        let partitions = self.progress.result_partitions(self.operator.coverage());
        let now = wall_clock_now();
        for result in &mut results {
            result.partitions.clone_from(&partitions);
        }
        for sink in self.outputs.sinks.iter_mut() {
            sink.write_results(&results)?;
        }
        for result in &results {
            instruments::record_result(result, now);
            self.summary.results += 1;
        }
        self.rejects.flush();
        self.deliver_alerts(&results)
    }

    pub(super) fn flush_dead_letters(&mut self) -> anyhow::Result<()> {
        match &mut self.outputs.dead_letters {
            Some(dead_letters) => dead_letters.flush().context("dead letters"),
            None => Ok(()),
        }
    }

    /// A partition has no backlog: in event time, it may now go idle.
    fn on_caught_up(&mut self, partition: i32) {
        if let Ok(partition) = u32::try_from(partition) {
            self.operator.on_caught_up(partition);
        }
    }

    fn on_lag(&mut self, lag: Vec<(i32, i64)>) {
        for (partition, lag) in lag {
            instruments::record_consumer_lag(partition, lag);
            self.lag.insert(partition, lag);
        }
    }

    /// A rebalance takes partitions away: emit what the operator holds for them (scale-out: save
    /// their states for the next owner), hand back their positions, and forget them.
    ///
    /// Event-time windows hold readings of every partition, pinned until they are emitted, and
    /// the revoked partitions are read again from those positions, by this member too (a
    /// rebalance takes every partition and hands them out anew). So when all it holds is taken,
    /// the open windows are emitted as partial results, as on a clean stop, and dropped: each
    /// reading then counts in the final results of one member only.
    fn on_revoke(&mut self, revoke: Revoke) -> anyhow::Result<()> {
        let now = wall_clock_now();
        let held = self.progress.positions().keys().all(|p| revoke.partitions.contains(p));
        let regroup = held && matches!(self.operator, Operator::Windows(_));
        let results = match regroup {
            true => self.operator.on_stop(now, self.summary.results),
            false => self.operator.on_revoke(now),
        };
        self.emit(results)?;
        self.save_partitions(Some(&revoke.partitions))?;
        let released = self.progress.release(&revoke.partitions, &self.operator.pinned_positions());
        if regroup {
            self.operator = self.operator.blank_like(now);
        }
        if let Some(shares) = self.operator.shares() {
            revoke.partitions.iter().filter_map(|&p| u32::try_from(p).ok()).for_each(|p| shares.release(p));
        }
        // The source may have given up waiting; the partitions are gone either way.
        let _ = revoke.reply.send(released);
        Ok(())
    }
}

fn partitions_u32(partitions: &[i32]) -> Vec<u32> {
    partitions.iter().filter_map(|&p| u32::try_from(p).ok()).collect()
}
