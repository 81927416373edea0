//! The run loop: source → parse → engine → sinks, with the clocks, offset acknowledgements and
//! shutdown.
//!
//! One task owns the engine. It takes chunks and message batches from the source channel, parses
//! and counts them, and emits results when the operator says so: on every tick of the batch clock
//! in processing-time mode (aligned to multiples of the window, as Spark's batch times are), when
//! the watermark completes windows in event-time mode. Emitting is always the same three steps, in
//! this order, so that a crash at any point loses nothing: dead letters are flushed, results are
//! written to every sink, and only then are the input positions they cover acknowledged for
//! commit. Ctrl-C or SIGTERM ends the run cleanly: the open batch (or, in event time, partial
//! results of the open windows) is emitted, and positions are committed before the source
//! disconnects.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{bail, Context as _};
use iotstream_engine::aggregate::RejectCounts;
use iotstream_engine::lines::lines;
use iotstream_engine::live::{LastReading, SensorTable};
use iotstream_engine::reading::STATE_CODES;
use iotstream_engine::{
    Admission, EventTime, EventTimeConfig, EventTimeWindows, MicroBatches, Parser, RejectReason, StatsRecord,
    WindowResult,
};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::checkpoint::{CheckpointStore, EngineState, OperatorState as Operator};
use crate::instruments;
use crate::parallel::{Covers, Partial};
use crate::simulator::wall_clock_now;
use crate::sinks::{RejectSink, ResultSink};
use crate::sources::{Chunk, Control, MessageBatch, Positions, Revoke, Source, SourceEvent};
use crate::telemetry::RejectLog;

/// How often event-time mode re-checks the watermark when no input arrives (idle partitions).
const ADVANCE_EVERY: Duration = Duration::from_secs(1);

/// How results are cut.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// The seed's micro-batches: a result every `window` of processing time.
    Processing {
        /// Batch length.
        window: Duration,
    },
    /// Windows on the readings' event time, closed by watermarks.
    Event {
        /// Window shape and watermark rules.
        config: EventTimeConfig,
        /// Also emit partial results of open windows this often.
        emit_every: Option<Duration>,
    },
}

/// Everything about a run that is not a source or a sink.
#[derive(Clone, Copy, Debug)]
pub struct PipelineOptions {
    /// Processing or event time.
    pub mode: Mode,
    /// Emit results covering all input at its end, and exit.
    pub once: bool,
    /// Messages longer than this are rejected as too large.
    pub max_line_bytes: usize,
    /// Emit a stats record (totals, late readings, live sensor views) this often.
    pub stats_every: Option<Duration>,
    /// Sensors silent for longer than this count as offline.
    pub offline_after: Duration,
    /// Publish a status (a stats record for live views and metrics) to the sinks this often.
    pub status_every: Option<Duration>,
}

impl PipelineOptions {
    /// True when the last reading of every sensor is kept (stats records, status, sensor lookups).
    pub fn tracks_sensors(&self) -> bool {
        self.stats_every.is_some() || self.status_every.is_some()
    }
}

/// A request for a sensor's last reading (the dashboard's `/api/sensors/{guid}`), answered by the
/// engine between two chunks of input.
#[derive(Debug)]
pub struct SensorQuery {
    /// The sensor.
    pub guid: String,
    /// Where the answer goes.
    pub reply: tokio::sync::oneshot::Sender<Option<LastReading>>,
}

/// Where results and rejected messages go.
#[derive(Default)]
pub struct Outputs {
    /// Every result goes to each of these.
    pub sinks: Vec<Box<dyn ResultSink>>,
    /// Rejected messages of partitioned sources, if configured.
    pub dead_letters: Option<Box<dyn RejectSink>>,
    /// Bytes written to the result file, when results go to a file (checkpoints record it).
    pub written: Option<Arc<AtomicU64>>,
    /// Lookups of sensors' last readings, if something (the dashboard) asks.
    pub sensor_queries: Option<tokio::sync::mpsc::Receiver<SensorQuery>>,
}

/// Totals over a whole run, for the closing log line and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Readings counted in results.
    pub readings: u64,
    /// Rejected messages (late and future ones included).
    pub rejected: u64,
    /// Results emitted.
    pub results: u64,
}

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
    /// Deliberately wrong (fault-suite self-test): save positions but not the state with them.
    pub unsafe_positions_only: bool,
}

/// The engine and everything the loop tracks around it.
struct Engine {
    parser: Parser,
    operator: Operator,
    sensors: SensorTable,
    /// Rejections since start, by reason.
    rejected: RejectCounts,
    rejects: RejectLog,
    summary: RunSummary,
    outputs: Outputs,
    offline_after: i64,
    /// Keep the live sensor views (only when stats records are emitted: it costs a lookup per reading).
    track_sensors: bool,
    /// Processing time of the input being processed (read once per chunk).
    now: EventTime,
    /// Partitioned sources: the next offset to read per partition, over everything processed.
    positions: BTreeMap<i32, i64>,
    /// Partitions with messages since the last result (processing time) or ever (event time).
    covered: BTreeSet<i32>,
    /// True once a partitioned source has sent anything (results then name their partitions).
    partitioned: bool,
    /// When the last checkpoint was saved (for the checkpoint-age metric).
    last_checkpoint: Option<Instant>,
}

impl Engine {
    /// Resumes from a checkpoint: the operator, live views, totals and positions as they were.
    fn restore(&mut self, state: EngineState) -> anyhow::Result<()> {
        match (&self.operator, &state.operator) {
            (Operator::Batches(_), Operator::Batches(_)) => {}
            (Operator::Windows(now), Operator::Windows(then)) if now.config() == then.config() => {}
            _ => bail!(
                "the checkpoint was taken with other window settings (--time, --window, …); \
                 use them, or another --state-dir"
            ),
        }
        self.operator = state.operator;
        self.sensors = state.sensors;
        self.rejected = state.rejected;
        self.summary =
            RunSummary { readings: state.readings, rejected: state.rejected_count, results: state.results };
        self.positions = state.positions;
        tracing::info!(readings = state.readings, positions = ?self.positions, saved_at = %state.saved_at, "resumed from checkpoint");
        Ok(())
    }

    /// Saves a checkpoint. Everything emitted so far is already written (sinks flush each result);
    /// dead letters are flushed first.
    fn checkpoint(&mut self, checkpointing: &Checkpointing) -> anyhow::Result<()> {
        if let Some(dead_letters) = &mut self.outputs.dead_letters {
            dead_letters.flush().context("dead letters")?;
        }
        // Moved out and back rather than cloned: the state can be large (a million sensors).
        let operator = std::mem::replace(&mut self.operator, Operator::Batches(MicroBatches::default()));
        // The fault suite's deliberately unsafe mode saves a blank operator beside real positions.
        let (saved_operator, kept) = match checkpointing.unsafe_positions_only {
            true => (operator.blank_like(), Some(operator)),
            false => (operator, None),
        };
        let state = EngineState {
            input: checkpointing.input.clone(),
            positions: self.positions.clone(),
            operator: saved_operator,
            sensors: std::mem::take(&mut self.sensors),
            rejected: self.rejected,
            readings: self.summary.readings,
            rejected_count: self.summary.rejected,
            results: self.summary.results,
            output_len: self.outputs.written.as_ref().map(|w| w.load(Ordering::SeqCst)),
            saved_at: wall_clock_now(),
        };
        let saved = checkpointing.store.save(&state);
        self.operator = kept.unwrap_or(state.operator);
        self.sensors = state.sensors;
        if saved.is_ok() {
            self.last_checkpoint = Some(Instant::now());
            instruments::record_checkpoint();
        }
        saved
    }

    fn new(options: &PipelineOptions, outputs: Outputs) -> Engine {
        let now = wall_clock_now();
        let operator = match options.mode {
            Mode::Processing { .. } => Operator::Batches(MicroBatches::new(now)),
            Mode::Event { config, .. } => Operator::Windows(EventTimeWindows::new(config)),
        };
        Engine {
            parser: Parser::new(options.max_line_bytes),
            operator,
            sensors: SensorTable::default(),
            rejected: RejectCounts::default(),
            rejects: RejectLog::default(),
            summary: RunSummary::default(),
            outputs,
            offline_after: options.offline_after.as_micros() as i64,
            track_sensors: options.tracks_sensors(),
            now,
            positions: BTreeMap::new(),
            covered: BTreeSet::new(),
            partitioned: false,
            last_checkpoint: None,
        }
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
        self.positions.insert(0, next as i64);
        // A file or pipe hands over what it has as soon as it has it: no backlog behind a chunk.
        self.on_caught_up(0);
    }

    /// A chunk or message batch parsed by a worker thread (processing time only). Partials
    /// arrive in input order, so positions only ever move past input that is counted.
    fn on_parsed(&mut self, partial: &Partial) {
        if let Operator::Batches(batches) = &mut self.operator {
            batches.on_partial(&partial.aggregate);
        }
        self.summary.readings += partial.readings;
        self.summary.rejected += partial.rejected;
        self.rejected.merge(partial.aggregate.rejected());
        match &partial.covers {
            Covers::Lines { next_line, examples } => {
                self.positions.insert(0, *next_line as i64);
                for (line_number, reason, line) in examples {
                    self.rejects.record(*reason, &format_args!("line {line_number}"), line);
                }
            }
            Covers::Messages { positions, rejects } => {
                self.partitioned = true;
                for reject in rejects {
                    let position = format_args!("partition {} offset {}", reject.partition, reject.offset);
                    self.rejects.record(reject.reason, &position, &reject.payload);
                    if let Some(dead_letters) = &mut self.outputs.dead_letters {
                        dead_letters.reject(&reject.payload, reject.reason, reject.partition, reject.offset);
                    }
                }
                for &(partition, next) in positions {
                    self.positions.insert(partition, next);
                    self.covered.insert(partition);
                }
            }
        }
    }

    fn on_messages(&mut self, batch: &MessageBatch) {
        self.now = wall_clock_now();
        self.partitioned = true;
        for (payload, meta) in batch.iter() {
            let partition = u32::try_from(meta.partition).unwrap_or(0);
            if let Err(reason) = self.count(payload, partition, meta.offset) {
                let position = format_args!("partition {} offset {}", meta.partition, meta.offset);
                self.rejects.record(reason, &position, payload);
                if let Some(dead_letters) = &mut self.outputs.dead_letters {
                    dead_letters.reject(payload, reason, meta.partition, meta.offset);
                }
            }
            self.positions.insert(meta.partition, meta.offset + 1);
            self.covered.insert(meta.partition);
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
                match &mut self.operator {
                    Operator::Batches(batches) => {
                        batches.on_reading(&reading);
                        Ok(())
                    }
                    Operator::Windows(windows) => {
                        match windows.on_reading(partition, position, &reading, self.now) {
                            Admission::Counted => Ok(()),
                            Admission::Late => Err(RejectReason::Late),
                            Admission::Future => Err(RejectReason::FutureTimestamp),
                        }
                    }
                }
            }
            Err(reason) => {
                if let Operator::Batches(batches) = &mut self.operator {
                    batches.on_rejected(reason);
                }
                Err(reason)
            }
        };
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
    fn emit(&mut self, mut results: Vec<WindowResult>) -> anyhow::Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        if let Some(dead_letters) = &mut self.outputs.dead_letters {
            dead_letters.flush().context("dead letters")?;
        }
        let partitions: Option<Vec<i32>> = self.partitioned.then(|| self.covered.iter().copied().collect());
        if matches!(self.operator, Operator::Batches(_)) {
            self.covered.clear();
        }
        let now = wall_clock_now();
        for result in &mut results {
            result.partitions.clone_from(&partitions);
            for sink in self.outputs.sinks.iter_mut() {
                sink.write_result(result)?;
            }
            instruments::record_result(result, now);
            self.summary.results += 1;
        }
        self.rejects.flush();
        Ok(())
    }

    /// Processing time: closes the open batch. Event time: advances the watermark.
    fn on_tick(&mut self) -> anyhow::Result<()> {
        let now = wall_clock_now();
        let results = match &mut self.operator {
            Operator::Batches(batches) => vec![batches.on_tick(now)],
            Operator::Windows(windows) => windows.on_advance(now),
        };
        self.emit(results)
    }

    /// Event time: partial results of open windows.
    fn on_early(&mut self) -> anyhow::Result<()> {
        let results = match &mut self.operator {
            Operator::Batches(_) => Vec::new(),
            Operator::Windows(windows) => windows.on_early(),
        };
        self.emit(results)
    }

    /// The input is complete: everything becomes final.
    fn on_end(&mut self) -> anyhow::Result<()> {
        let now = wall_clock_now();
        let results = match &mut self.operator {
            // The tail since the last tick; a run always emits at least one result.
            Operator::Batches(batches) if !batches.current().is_empty() || self.summary.results == 0 => {
                vec![batches.on_tick(now)]
            }
            Operator::Batches(_) => Vec::new(),
            Operator::Windows(windows) => {
                let mut results = windows.on_advance(now);
                results.extend(windows.on_end());
                results
            }
        };
        self.emit(results)
    }

    /// A clean stop with input still to come: the open batch, or partial results of open windows.
    fn on_stop(&mut self) -> anyhow::Result<()> {
        match &self.operator {
            Operator::Batches(batches) if !batches.current().is_empty() || self.summary.results == 0 => {
                self.on_tick()
            }
            Operator::Batches(_) => Ok(()),
            Operator::Windows(_) => {
                self.on_tick()?;
                self.on_early()
            }
        }
    }

    fn write_stats(&mut self) -> anyhow::Result<()> {
        let stats = self.stats();
        for sink in self.outputs.sinks.iter_mut() {
            sink.write_stats(&stats)?;
        }
        Ok(())
    }

    /// The live status: metrics, and a stats record for sinks that show it (the dashboard).
    fn write_status(&mut self) -> anyhow::Result<()> {
        let stats = self.stats();
        instruments::record_status(&stats);
        if let Some(at) = self.last_checkpoint {
            instruments::record_checkpoint_age(at.elapsed());
        }
        for sink in self.outputs.sinks.iter_mut() {
            sink.write_status(&stats)?;
        }
        Ok(())
    }

    /// Answers a dashboard's question about one sensor.
    fn answer(&self, query: SensorQuery) {
        let _ = query.reply.send(self.sensors.get(&query.guid).cloned());
    }

    fn stats(&self) -> StatsRecord {
        let now = wall_clock_now();
        let (watermark, open_windows, late) = match &self.operator {
            Operator::Batches(_) => (None, 0, [0; STATE_CODES.len()]),
            Operator::Windows(w) => (w.watermark(), w.open_windows() as u64, *w.late_by_state()),
        };
        let offline = self.sensors.offline(now, self.offline_after);
        let by_state = |counts: &[u64]| -> BTreeMap<String, u64> {
            STATE_CODES
                .iter()
                .zip(counts)
                .filter(|(_, n)| **n > 0)
                .map(|(s, n)| (s.to_string(), *n))
                .collect()
        };
        StatsRecord {
            record_type: Default::default(),
            at: now,
            watermark,
            readings: self.summary.readings,
            rejected: self.rejected.total(),
            rejected_by_reason: StatsRecord::reasons(&self.rejected),
            late_by_state: by_state(&late),
            open_windows,
            sensors: self.sensors.len() as u64,
            offline: offline.iter().sum(),
            offline_by_state: by_state(&offline),
            consumer_lag: instruments::consumer_lag(),
        }
    }

    /// Positions safe to commit: everything processed, except input still in windows that have
    /// not been emitted (event time).
    fn positions(&self) -> Positions {
        let pinned = match &self.operator {
            Operator::Windows(windows) => windows.pinned_positions(),
            Operator::Batches(_) => BTreeMap::new(),
        };
        self.positions
            .iter()
            .map(|(&p, &next)| {
                let limit = u32::try_from(p).ok().and_then(|p| pinned.get(&p)).copied().unwrap_or(next);
                (p, next.min(limit))
            })
            .collect()
    }

    /// Partitions were assigned: in event time, they hold the watermark until they deliver.
    fn on_assigned(&mut self, partitions: &[i32]) {
        if let Operator::Windows(windows) = &mut self.operator {
            let partitions: Vec<u32> = partitions.iter().filter_map(|&p| u32::try_from(p).ok()).collect();
            windows.on_partitions(&partitions, wall_clock_now());
        }
    }

    /// A partition has no backlog: in event time, it may now go idle.
    fn on_caught_up(&mut self, partition: i32) {
        if let (Operator::Windows(windows), Ok(p)) = (&mut self.operator, u32::try_from(partition)) {
            windows.on_caught_up(p);
        }
    }

    /// A rebalance takes partitions away: emit what we have, hand back their positions.
    fn on_revoke(&mut self, revoke: Revoke) -> anyhow::Result<()> {
        if matches!(self.operator, Operator::Batches(_)) && !self.covered.is_empty() {
            self.on_tick()?;
        }
        let positions: BTreeMap<i32, i64> = self.positions().into_iter().collect();
        let released: Positions =
            revoke.partitions.iter().filter_map(|p| positions.get(p).map(|o| (*p, *o))).collect();
        for p in &revoke.partitions {
            self.positions.remove(p);
        }
        // The source may have given up waiting; the partitions are gone either way.
        let _ = revoke.reply.send(released);
        Ok(())
    }
}

/// Runs until the source ends or a shutdown signal arrives.
pub async fn run(
    source: Source,
    outputs: Outputs,
    options: PipelineOptions,
    mut checkpointing: Option<Checkpointing>,
) -> anyhow::Result<RunSummary> {
    let Source { mut events, control, thread } = source;
    let mut engine = Engine::new(&options, outputs);
    if let Some(state) = checkpointing.as_mut().and_then(|c| c.resume.take()) {
        engine.restore(state)?;
    }
    let mut checkpoints = checkpointing.as_ref().map(|c| aligned_ticker(c.interval));
    let acknowledge = |engine: &Engine| {
        if let Some(control) = &control {
            let _ = control.send(Control::Commit(engine.positions()));
        }
    };
    let event_time = matches!(options.mode, Mode::Event { .. });
    let mut ticker = match options.mode {
        Mode::Processing { window } if !options.once => Some(aligned_ticker(window)),
        Mode::Event { .. } if !options.once => Some(aligned_ticker(ADVANCE_EVERY)),
        _ => None,
    };
    let mut early = match options.mode {
        Mode::Event { emit_every: Some(every), .. } if !options.once => Some(aligned_ticker(every)),
        _ => None,
    };
    let mut stats = options.stats_every.filter(|_| !options.once).map(aligned_ticker);
    let mut status = options.status_every.map(aligned_ticker);
    let mut queries = engine.outputs.sensor_queries.take();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let ended = loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(SourceEvent::Chunk(chunk)) => {
                    engine.on_chunk(&chunk);
                    if event_time {
                        engine.on_tick()?;
                    }
                }
                Some(SourceEvent::Messages(batch)) => {
                    engine.on_messages(&batch);
                    if event_time {
                        engine.on_tick()?;
                    }
                }
                Some(SourceEvent::Parsed(partial)) => engine.on_parsed(&partial),
                Some(SourceEvent::Revoke(revoke)) => engine.on_revoke(revoke)?,
                Some(SourceEvent::Assigned(partitions)) => engine.on_assigned(&partitions),
                Some(SourceEvent::CaughtUp(partition)) => engine.on_caught_up(partition),
                Some(SourceEvent::End) | None => break true,
                Some(SourceEvent::Failed(error)) => bail!(error),
            },
            _ = tick(&mut ticker) => {
                engine.on_tick()?;
                acknowledge(&engine);
            },
            _ = tick(&mut early) => engine.on_early()?,
            _ = tick(&mut stats) => engine.write_stats()?,
            _ = tick(&mut status) => engine.write_status()?,
            Some(query) = next_query(&mut queries) => engine.answer(query),
            _ = tick(&mut checkpoints) => {
                if let Some(checkpointing) = &checkpointing {
                    engine.checkpoint(checkpointing)?;
                    acknowledge(&engine);
                }
            },
            _ = &mut shutdown => {
                tracing::info!("stopping: emitting what is open");
                break false;
            },
        }
    };
    if ended {
        engine.on_end()?;
    } else if checkpointing.is_none() {
        engine.on_stop()?;
    }
    // With checkpoints, a clean stop emits nothing early: the open batch or windows are saved and
    // continue after a restart, so every result is emitted once, complete.
    if options.stats_every.is_some() {
        engine.write_stats()?;
    }
    if options.status_every.is_some() {
        engine.write_status()?;
    }
    if let Some(checkpointing) = &checkpointing {
        engine.checkpoint(checkpointing)?;
    }
    if let Some(control) = control {
        let _ = control.send(Control::Shutdown(engine.positions()));
    }
    if let Some(thread) = thread {
        // The source's final commit and group leave happen on its thread; wait for them. Meanwhile
        // keep taking what it (or the parsing threads behind it) still hands over, or a source
        // blocked on a full channel would never see the shutdown. None of it is counted, and its
        // positions are not in the final commit, so it is read again by the next run.
        let join = tokio::task::spawn_blocking(move || thread.join());
        tokio::pin!(join);
        let mut open = true;
        loop {
            tokio::select! {
                _ = &mut join => break,
                event = events.recv(), if open => open = event.is_some(),
            }
        }
    }
    let s = engine.summary;
    tracing::info!(readings = s.readings, rejected = s.rejected, results = s.results, "done");
    Ok(s)
}

/// The next tick of an optional ticker; never, without one.
async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The next sensor lookup; never, without a dashboard.
async fn next_query(queries: &mut Option<tokio::sync::mpsc::Receiver<SensorQuery>>) -> Option<SensorQuery> {
    match queries {
        Some(queries) => queries.recv().await,
        None => std::future::pending().await,
    }
}

/// A ticker firing at the next multiple of `period` since the epoch, then every `period`.
fn aligned_ticker(period: Duration) -> Interval {
    let period_micros = period.as_micros().max(1) as i64;
    let now = wall_clock_now().as_micros();
    let until_next = period_micros - now.rem_euclid(period_micros);
    let first = Instant::now() + Duration::from_micros(until_next as u64);
    let mut ticker = tokio::time::interval_at(first, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
