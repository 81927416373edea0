//! The run loop: source → parse → engine → sinks, with the clocks, acknowledgements and shutdown.
//!
//! One task owns the engine. [`run`] only waits: for the source's next event, the next tick of a
//! clock, a dashboard's question, or a shutdown signal, and hands each to the [`Driver`], which
//! does everything synchronously (and is unit-tested without threads or ports). The files name
//! the jobs:
//! - `driver`: one event at a time — parse and count input, emit what the operator completes;
//! - `ordered`: input parsed on other threads, counted here in input order;
//! - `positions`: how far the input is processed, what is safe to acknowledge, and the
//!   acknowledgements themselves;
//! - `checkpoints`: saving and restoring the whole state (`--state-dir`);
//! - `status`: stats records, the live status, sensor lookups;
//! - `tickers`: the clocks, and the source's last moments;
//! - `alerting`: alert rules judged on what is emitted, and their notifications delivered.
//!
//! Emitting is always the same three steps, in this order, so that a crash at any point loses
//! nothing: dead letters are flushed, results are written to every sink, and only then are the
//! input positions they cover acknowledged for commit. Ctrl-C or SIGTERM ends the run cleanly:
//! without a state directory, the open batch (or partial results of the open windows) is
//! emitted; with one, it is saved and completed after a restart. Positions are committed before
//! the source disconnects.

mod alerting;
mod checkpoints;
mod driver;
mod ordered;
mod positions;
mod scaleout;
mod settings;
mod status;
#[cfg(test)]
mod tests;
mod tickers;

pub use checkpoints::Checkpointing;
pub use driver::{Driver, Flow};
pub use positions::Acknowledge;
pub use settings::{Analysis, Settings};
pub use tickers::Tick;

use crate::channel::Source;
use crate::signals::Stop;
pub use crate::sinks::Outputs;

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

/// Runs until the source ends or `stop` is asked for (Ctrl-C, SIGTERM: see [`crate::signals`]).
pub async fn run(
    source: Source,
    mut outputs: Outputs,
    options: Settings,
    checkpointing: Option<Checkpointing>,
    stop: Stop,
) -> anyhow::Result<RunSummary> {
    let Source { mut events, control, thread } = source;
    let mut queries = outputs.sensor_queries.take();
    let acks = control.map(|c| Box::new(c) as Box<dyn Acknowledge>);
    let interval = checkpointing.as_ref().map(|c| c.interval).or(options.save_every);
    let mut driver = Driver::new(&options, outputs, acks, checkpointing)?;
    let mut clocks = tickers::Tickers::new(&options, interval);
    let shutdown = stop.requested();
    tokio::pin!(shutdown);
    let ended = loop {
        tokio::select! {
            event = events.recv() => if driver.on_event(event)? == Flow::End { break true },
            tick = clocks.next() => driver.on_tick(tick)?,
            Some(query) = tickers::next_query(&mut queries) => driver.answer(query),
            _ = &mut shutdown => {
                tracing::info!("stopping");
                break false;
            },
        }
    };
    let summary = driver.finish(ended)?;
    if let Some(thread) = thread {
        tickers::join_source(thread, &mut events).await;
    }
    Ok(summary)
}
