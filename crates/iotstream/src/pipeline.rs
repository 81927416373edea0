//! The run loop: source → parse → engine → sinks, with the processing-time clock and shutdown.
//!
//! One task owns the engine. It takes chunks from the source channel, parses and counts them, and on
//! every tick of the window clock (aligned to multiples of the window, as Spark's batch times are)
//! closes the batch and hands the result to every sink. Ctrl-C or SIGTERM ends the run cleanly: the
//! open batch is emitted as a last, partial result.

use std::time::Duration;

use anyhow::bail;
use iotstream_engine::lines::lines;
use iotstream_engine::{MicroBatches, Parser, WindowResult};
use tokio::time::{Instant, MissedTickBehavior};

use crate::simulator::wall_clock_now;
use crate::sinks::ResultSink;
use crate::sources::{Chunk, SourceEvent, SourceReceiver};
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

/// Parses chunks and feeds the operator.
struct Engine {
    parser: Parser,
    batches: MicroBatches,
    rejects: RejectLog,
    summary: RunSummary,
}

impl Engine {
    fn process(&mut self, chunk: &Chunk) {
        for (line_number, line) in (chunk.first_line..).zip(lines(&chunk.data)) {
            match self.parser.parse(line) {
                Ok(reading) => {
                    self.batches.on_reading(&reading);
                    self.summary.readings += 1;
                }
                Err(reason) => {
                    self.batches.on_rejected(reason);
                    self.summary.rejected += 1;
                    self.rejects
                        .record(reason, &format_args!("line {line_number}"), line);
                }
            }
        }
    }
}

/// Runs until the source ends or a shutdown signal arrives.
pub async fn run(
    mut source: SourceReceiver,
    mut sinks: Vec<Box<dyn ResultSink>>,
    options: PipelineOptions,
) -> anyhow::Result<RunSummary> {
    let mut engine = Engine {
        parser: Parser::new(options.max_line_bytes),
        batches: MicroBatches::new(wall_clock_now()),
        rejects: RejectLog::default(),
        summary: RunSummary::default(),
    };
    let mut ticker = aligned_ticker(options.window);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            event = source.recv() => match event {
                Some(SourceEvent::Chunk(chunk)) => engine.process(&chunk),
                Some(SourceEvent::End) | None => break,
                Some(SourceEvent::Failed(error)) => bail!(error),
            },
            _ = ticker.tick(), if !options.once => {
                let result = engine.batches.on_tick(wall_clock_now());
                emit(&mut sinks, &result, &mut engine.summary)?;
                engine.rejects.flush();
            },
            _ = &mut shutdown => {
                tracing::info!("stopping: emitting the open batch");
                break;
            },
        }
    }
    let last = engine.batches.on_tick(wall_clock_now());
    let empty = last.messages == 0 && last.rejected == 0;
    if options.once || engine.summary.results == 0 || !empty {
        emit(&mut sinks, &last, &mut engine.summary)?;
    }
    engine.rejects.flush();
    let s = engine.summary;
    tracing::info!(
        readings = s.readings,
        rejected = s.rejected,
        results = s.results,
        "done"
    );
    Ok(s)
}

fn emit(
    sinks: &mut [Box<dyn ResultSink>],
    result: &WindowResult,
    summary: &mut RunSummary,
) -> anyhow::Result<()> {
    for sink in sinks.iter_mut() {
        sink.write_result(result)?;
    }
    summary.results += 1;
    Ok(())
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
