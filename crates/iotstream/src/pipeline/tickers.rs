//! The clocks of a run (batch ends or watermark checks, early results, stats records, the live
//! status, checkpoints), and the source's last moments.

use std::thread::JoinHandle;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::settings::Settings;
use crate::channel::{SensorQuery, SourceReceiver};
use crate::clock::wall_clock_now;

/// Which clock ticked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tick {
    /// The operator's: a batch ends, or event time re-checks the watermark.
    Operator,
    /// Partial results of open windows are due.
    Early,
    /// A stats record is due.
    Stats,
    /// The live status is due.
    Status,
    /// A checkpoint is due.
    Checkpoint,
}

/// Every clock a run has; those it does not need never tick.
pub struct Tickers {
    operator: Option<Interval>,
    early: Option<Interval>,
    stats: Option<Interval>,
    status: Option<Interval>,
    checkpoint: Option<Interval>,
}

impl Tickers {
    /// The clocks for `options`, and checkpoints every `checkpoint_every` if given. A run with
    /// `--once` has no operator, early or stats clock: it emits at the end of its input.
    pub fn new(options: &Settings, checkpoint_every: Option<Duration>) -> Tickers {
        let live = |period: Option<Duration>| period.filter(|_| !options.once).map(aligned_ticker);
        let micros = |m: i64| Duration::from_micros(m.max(1) as u64);
        let operator = options.operator();
        Tickers {
            operator: live(Some(micros(operator.tick_period()))),
            early: live(operator.early_period().map(micros)),
            stats: live(options.stats_every),
            status: options.status_every.map(aligned_ticker),
            checkpoint: checkpoint_every.map(aligned_ticker),
        }
    }

    /// The next tick of any clock.
    pub async fn next(&mut self) -> Tick {
        tokio::select! {
            _ = tick(&mut self.operator) => Tick::Operator,
            _ = tick(&mut self.early) => Tick::Early,
            _ = tick(&mut self.stats) => Tick::Stats,
            _ = tick(&mut self.status) => Tick::Status,
            _ = tick(&mut self.checkpoint) => Tick::Checkpoint,
        }
    }
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

/// The next sensor lookup; never, without a dashboard.
pub async fn next_query(
    queries: &mut Option<tokio::sync::mpsc::Receiver<SensorQuery>>,
) -> Option<SensorQuery> {
    match queries {
        Some(queries) => queries.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits for the source thread, which makes its final commit and leaves the group. Meanwhile
/// keeps taking what it (or the parsing threads behind it) still hands over, or a source blocked on
/// a full channel would never see the shutdown. None of it is counted, and its positions are not
/// in the final commit, so it is read again by the next run.
pub async fn join_source(thread: JoinHandle<()>, events: &mut SourceReceiver) {
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
