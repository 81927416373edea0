//! The run loop: it only waits — for the source's next event, the next tick of a clock, a
//! dashboard's question, or a stop — reads the clock, and hands each to the [`Driver`].

use super::checkpoints::Checkpointing;
use super::driver::{Driver, Flow};
use super::error::RunError;
use super::hooks::DriverHook;
use super::positions::Acknowledge;
use super::settings::Settings;
use super::tickers::{self, Tickers};
use super::totals::RunSummary;
use crate::channel::Source;
use crate::clock::wall_clock_now;
use crate::signals::Stop;
use crate::sinks::Outputs;

/// Runs until the source ends or `stop` is asked for (Ctrl-C, SIGTERM: see [`crate::signals`]),
/// with `hook` extending the driver (scale-out).
pub async fn run(
    source: Source,
    mut outputs: Outputs,
    settings: Settings,
    checkpointing: Option<Checkpointing>,
    hook: Option<Box<dyn DriverHook>>,
    stop: Stop,
) -> Result<RunSummary, RunError> {
    let Source { mut events, control, thread } = source;
    let mut queries = outputs.sensor_queries.take();
    let acks = control.map(|c| Box::new(c) as Box<dyn Acknowledge>);
    let interval = checkpointing.as_ref().map(|c| c.interval).or(settings.save_every);
    let mut driver = Driver::new(&settings, outputs, acks, checkpointing, hook, wall_clock_now())?;
    let mut clocks = Tickers::new(&settings, interval);
    let shutdown = stop.requested();
    tokio::pin!(shutdown);
    let ended = loop {
        tokio::select! {
            event = events.recv() => if driver.on_event(event, wall_clock_now())? == Flow::End { break true },
            tick = clocks.next() => driver.on_tick(tick, wall_clock_now())?,
            Some(query) = tickers::next_query(&mut queries) => driver.answer(query),
            _ = &mut shutdown => {
                tracing::info!("stopping");
                break false;
            },
        }
    };
    let summary = driver.finish(ended, wall_clock_now())?;
    if let Some(thread) = thread {
        tickers::join_source(thread, &mut events).await;
    }
    Ok(summary)
}
