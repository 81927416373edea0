//! The run loop: source → parse → engine → sinks, with the processing-time clock, offset
//! acknowledgements and shutdown.
//!
//! One task owns the engine. It takes chunks and message batches from the source channel, parses
//! and counts them, and on every tick of the window clock (aligned to multiples of the window, as
//! Spark's batch times are) closes the batch. Emitting is always the same three steps, in this
//! order, so that a crash at any point loses nothing: dead letters are flushed, the result is
//! written to every sink, and only then are the positions it covers acknowledged for commit.
//! Ctrl-C or SIGTERM ends the run cleanly: the open batch is emitted as a last, partial result and
//! its positions are committed before the source disconnects.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{bail, Context as _};
use iotstream_engine::lines::lines;
use iotstream_engine::{MicroBatches, Parser, RejectReason, WindowResult};
use tokio::time::{Instant, MissedTickBehavior};

use crate::simulator::wall_clock_now;
use crate::sinks::{RejectSink, ResultSink};
use crate::sources::{Chunk, Control, MessageBatch, Positions, Revoke, Source, SourceEvent};
use crate::telemetry::RejectLog;

/// How results are cut.
#[derive(Clone, Copy, Debug)]
pub struct PipelineOptions {
    /// Length of a processing-time batch.
    pub window: Duration,
    /// Emit exactly one result covering all input, at its end.
    pub once: bool,
    /// Messages longer than this are rejected as too large.
    pub max_line_bytes: usize,
}

/// Where results and rejected messages go.
#[derive(Default)]
pub struct Outputs {
    /// Every result goes to each of these.
    pub sinks: Vec<Box<dyn ResultSink>>,
    /// Rejected messages of partitioned sources, if configured.
    pub dead_letters: Option<Box<dyn RejectSink>>,
}

/// Totals over a whole run, for the closing log line and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Valid readings.
    pub readings: u64,
    /// Rejected messages.
    pub rejected: u64,
    /// Results emitted.
    pub results: u64,
}

/// The engine and everything the loop tracks around it.
struct Engine {
    parser: Parser,
    batches: MicroBatches,
    rejects: RejectLog,
    summary: RunSummary,
    outputs: Outputs,
    /// Partitioned sources: the next offset to read per partition, over everything processed.
    positions: BTreeMap<i32, i64>,
    /// Partitions with messages in the open batch.
    covered: BTreeSet<i32>,
    /// True once a partitioned source has sent anything (results then name their partitions).
    partitioned: bool,
}

impl Engine {
    fn on_chunk(&mut self, chunk: &Chunk) {
        for (line_number, line) in (chunk.first_line..).zip(lines(&chunk.data)) {
            if let Err(reason) = self.count(line) {
                self.rejects
                    .record(reason, &format_args!("line {line_number}"), line);
            }
        }
    }

    fn on_messages(&mut self, batch: &MessageBatch) {
        self.partitioned = true;
        for (payload, meta) in batch.iter() {
            if let Err(reason) = self.count(payload) {
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

    /// Parses one message and counts it into the open batch.
    #[inline]
    fn count(&mut self, message: &[u8]) -> Result<(), RejectReason> {
        match self.parser.parse(message) {
            Ok(reading) => {
                self.batches.on_reading(&reading);
                self.summary.readings += 1;
                Ok(())
            }
            Err(reason) => {
                self.batches.on_rejected(reason);
                self.summary.rejected += 1;
                Err(reason)
            }
        }
    }

    /// Closes the open batch and emits it: dead letters first, then the result, so that the
    /// positions acknowledged afterwards are covered by durable output.
    fn emit(&mut self) -> anyhow::Result<()> {
        let mut result = self.batches.on_tick(wall_clock_now());
        if self.partitioned {
            result.partitions = Some(std::mem::take(&mut self.covered).into_iter().collect());
        }
        if let Some(dead_letters) = &mut self.outputs.dead_letters {
            dead_letters.flush().context("dead letters")?;
        }
        write_all(&mut self.outputs.sinks, &result)?;
        self.summary.results += 1;
        self.rejects.flush();
        Ok(())
    }

    fn positions(&self) -> Positions {
        self.positions.iter().map(|(&p, &o)| (p, o)).collect()
    }

    /// A rebalance takes partitions away: emit what we have, hand back their positions.
    fn on_revoke(&mut self, revoke: Revoke) -> anyhow::Result<()> {
        if !self.covered.is_empty() {
            self.emit()?;
        }
        let released: Positions = revoke
            .partitions
            .iter()
            .filter_map(|p| self.positions.remove(p).map(|o| (*p, o)))
            .collect();
        // The source may have given up waiting; the partitions are gone either way.
        let _ = revoke.reply.send(released);
        Ok(())
    }
}

fn write_all(sinks: &mut [Box<dyn ResultSink>], result: &WindowResult) -> anyhow::Result<()> {
    for sink in sinks.iter_mut() {
        sink.write_result(result)?;
    }
    Ok(())
}

/// Runs until the source ends or a shutdown signal arrives.
pub async fn run(
    source: Source,
    outputs: Outputs,
    options: PipelineOptions,
) -> anyhow::Result<RunSummary> {
    let Source {
        mut events,
        control,
        thread,
    } = source;
    let mut engine = Engine {
        parser: Parser::new(options.max_line_bytes),
        batches: MicroBatches::new(wall_clock_now()),
        rejects: RejectLog::default(),
        summary: RunSummary::default(),
        outputs,
        positions: BTreeMap::new(),
        covered: BTreeSet::new(),
        partitioned: false,
    };
    let acknowledge = |engine: &Engine| {
        if let Some(control) = &control {
            let _ = control.send(Control::Commit(engine.positions()));
        }
    };
    let mut ticker = aligned_ticker(options.window);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(SourceEvent::Chunk(chunk)) => engine.on_chunk(&chunk),
                Some(SourceEvent::Messages(batch)) => engine.on_messages(&batch),
                Some(SourceEvent::Revoke(revoke)) => engine.on_revoke(revoke)?,
                Some(SourceEvent::End) | None => break,
                Some(SourceEvent::Failed(error)) => bail!(error),
            },
            _ = ticker.tick(), if !options.once => {
                engine.emit()?;
                acknowledge(&engine);
            },
            _ = &mut shutdown => {
                tracing::info!("stopping: emitting the open batch");
                break;
            },
        }
    }
    let open = engine.batches.current();
    if options.once || engine.summary.results == 0 || !open.is_empty() {
        engine.emit()?;
    }
    if let Some(control) = control {
        let _ = control.send(Control::Shutdown(engine.positions()));
    }
    if let Some(thread) = thread {
        // The source's final commit and group leave happen on its thread; wait for them.
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    let s = engine.summary;
    tracing::info!(
        readings = s.readings,
        rejected = s.rejected,
        results = s.results,
        "done"
    );
    Ok(s)
}

/// A ticker firing at the next multiple of `period` since the epoch, then every `period`.
fn aligned_ticker(period: Duration) -> tokio::time::Interval {
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
