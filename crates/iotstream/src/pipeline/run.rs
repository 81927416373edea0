//! The run loop: it only waits — for the source's next event, the next tick of a clock, a
//! dashboard's question, or a stop — reads the clock, and hands each to the [`Driver`].
//!
//! A run whose output gave way to a stop while it waited for an outside system (the store, a
//! broker: see `crate::signals`) is abandoned as a `kill -9` would leave it: no result written
//! after that, no acknowledgement, no checkpoint, and none of the outputs' endings (flushes,
//! drains), which would only wait for the same outside system again.

use super::checkpoints::Checkpointing;
use super::driver::{Computing, Driver, Flow};
use super::error::RunError;
use super::hooks::DriverHook;
use super::positions::Acknowledge;
use super::settings::Settings;
use super::tickers::{self, Tickers};
use super::totals::RunSummary;
use tokio::sync::mpsc;

use crate::channel::{SensorQuery, Source};
use crate::clock::wall_clock_now;
use crate::signals::Stop;
use crate::sinks::Outputs;

/// Everything a run reads from and writes to, open.
pub struct Parts {
    /// The source, reading.
    pub source: Source,
    /// The outputs.
    pub outputs: Outputs,
    /// What the run computes beside the seed's operator: its SQL queries, alert rules.
    pub computing: Computing,
    /// Lookups of sensors' last readings, if something (the dashboard) asks.
    pub sensor_queries: Option<mpsc::Receiver<SensorQuery>>,
    /// The checkpoint store and the checkpoint to resume from (`--state-dir`).
    pub checkpointing: Option<Checkpointing>,
    /// The driver's extension, when the run has one (scale-out).
    pub hook: Option<Box<dyn DriverHook>>,
}

/// Runs `parts` until the source ends or `stop` is asked for (Ctrl-C, SIGTERM: see
/// [`crate::signals`]).
pub async fn run(parts: Parts, settings: Settings, stop: Stop) -> Result<RunSummary, RunError> {
    let Parts { source, outputs, computing, sensor_queries: mut queries, checkpointing, hook } = parts;
    let Source { mut events, control, thread } = source;
    let acks = control.map(|c| Box::new(c) as Box<dyn Acknowledge>);
    let interval = checkpointing.as_ref().map(|c| c.interval).or(settings.save_every);
    let now = wall_clock_now();
    let mut driver = Driver::new(&settings, outputs, computing, acks, checkpointing, hook, now)?;
    let mut clocks = Tickers::new(&settings, interval);
    let shutdown = stop.requested();
    tokio::pin!(shutdown);
    let outcome: Result<bool, RunError> = loop {
        let step = tokio::select! {
            event = events.recv() => driver.on_event(event, wall_clock_now()).map(|flow| flow == Flow::End),
            tick = clocks.next() => driver.on_tick(tick, wall_clock_now()).map(|()| false),
            Some(query) = tickers::next_query(&mut queries) => {
                driver.answer(query);
                Ok(false)
            },
            _ = &mut shutdown => {
                tracing::info!("stopping");
                break Ok(false);
            },
        };
        match step {
            Ok(false) => {}
            Ok(true) => break Ok(true),
            Err(error) => break Err(error),
        }
    };
    let summary = match outcome.and_then(|ended| driver.finish(ended, wall_clock_now())) {
        Ok(summary) => summary,
        Err(error) => return Err(abandon(driver, error)),
    };
    if let Some(thread) = thread {
        tickers::join_source(thread, &mut events).await;
    }
    Ok(summary)
}

/// The error that ends a run; a run that gave way to a stop is left as it is (its outputs are
/// not closed: see the module's notes), and says so.
fn abandon(driver: Driver, error: RunError) -> RunError {
    if let Some(what) = error.stopped_waiting_for() {
        tracing::warn!(
            "stopped while waiting for {what}: what was not written is neither acknowledged nor \
             checkpointed, and the next run reads it again, as after a crash"
        );
        std::mem::forget(driver);
    }
    error
}
