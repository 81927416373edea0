//! The operators that cut a stream of readings into results, behind one type: [`Operator`].
//!
//! Operators are plain synchronous structs driven by `on_*` calls; they own no clock and no I/O.
//! The caller passes processing time in, so the same operator runs live, in tests and in replays.
//! [`MicroBatches`] is the seed's model: one result per interval of processing time, covering the
//! readings that arrived during it. [`EventTimeWindows`] cuts windows on the readings' own event
//! times and closes them with watermarks, so its final results depend only on the input.
//!
//! Both are generic over what a window holds ([`Contents`]): the seed's [`Aggregate`], or a
//! query's groups ([`crate::query`]).
//!
//! The pipeline drives whichever one a run uses through [`Operator`] alone and never asks which
//! it is: every rule that differs between the two (batches count rejections, windows do not; a
//! batch is emitted when a rebalance takes partitions away, windows are not; what a clean stop
//! emits) lives here, next to its tests.

mod batches;
mod contents;
mod partitions;
mod seed;
mod slices;
mod windows;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use batches::MicroBatches;
pub use contents::Contents;
pub use partitions::PartitionWindows;
pub use slices::Slices;
pub use windows::{Admission, EventTimeConfig, EventTimeWindows, WindowShare};

use crate::aggregate::Aggregate;
use crate::parse::RejectReason;
use crate::reading::{EventTime, Reading, STATE_COUNT};
use crate::result::WindowResult;

/// How often event time re-checks the watermark when no input arrives (idle partitions, sensors
/// going quiet), in µs.
const ADVANCE_EVERY_MICROS: i64 = 1_000_000;

/// How a run cuts its results: what an [`Operator`] is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorConfig {
    /// The seed's micro-batches: a result every `period` µs of processing time.
    Batches {
        /// Batch length (µs).
        period: i64,
    },
    /// Windows on the readings' event time, closed by watermarks.
    Windows {
        /// Window shape and watermark rules.
        config: EventTimeConfig,
        /// Also emit partial results of open windows this often (µs).
        emit_every: Option<i64>,
    },
    /// Scale-out: event-time windows per owned partition, completed windows handed out as shares
    /// for a merger (see [`crate::merge`]); no results of its own.
    Shares {
        /// Window shape and watermark rules.
        config: EventTimeConfig,
    },
}

impl OperatorConfig {
    /// A fresh operator, its first batch (if it has batches) starting at processing time `now`.
    pub fn build(&self, now: EventTime) -> Operator {
        match self {
            OperatorConfig::Batches { .. } => Operator::Batches(MicroBatches::new(now)),
            OperatorConfig::Windows { config, .. } => Operator::Windows(EventTimeWindows::new(*config)),
            OperatorConfig::Shares { config } => Operator::Shares(PartitionWindows::new(*config)),
        }
    }

    /// How often the caller should call [`Operator::on_tick`] (µs): at every batch end, or once a
    /// second in event time so that idle input still closes windows.
    pub fn tick_period(&self) -> i64 {
        match self {
            OperatorConfig::Batches { period } => *period,
            OperatorConfig::Windows { .. } | OperatorConfig::Shares { .. } => ADVANCE_EVERY_MICROS,
        }
    }

    /// How often the caller should call [`Operator::on_early`] (µs), if ever.
    pub fn early_period(&self) -> Option<i64> {
        match self {
            OperatorConfig::Batches { .. } | OperatorConfig::Shares { .. } => None,
            OperatorConfig::Windows { emit_every, .. } => *emit_every,
        }
    }

    /// True when input may be parsed and aggregated out of order on several threads and merged
    /// with [`Operator::on_partial`]; false when each reading must meet the operator in input order
    /// (watermarks and lateness depend on it).
    pub fn takes_partials(&self) -> bool {
        matches!(self, OperatorConfig::Batches { .. })
    }

    /// What a run shows about its windows: the time domain's name, window length and slide (µs).
    pub fn describe(&self) -> (&'static str, i64, i64) {
        match self {
            OperatorConfig::Batches { period } => ("processing", *period, *period),
            OperatorConfig::Windows { config, .. } | OperatorConfig::Shares { config } => {
                ("event", config.window.size(), config.window.slide())
            }
        }
    }

    /// True in event time (stats records are on by default there).
    pub fn is_event_time(&self) -> bool {
        !matches!(self, OperatorConfig::Batches { .. })
    }

    /// True when the operator hands out shares for a merger instead of results (scale-out).
    pub fn makes_shares(&self) -> bool {
        matches!(self, OperatorConfig::Shares { .. })
    }
}

/// The state of one run's operator: the open batch, or the open windows with their watermarks.
/// It is what a checkpoint saves (serde), and what a restart restores.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
pub enum Operator {
    /// Processing-time batches.
    Batches(MicroBatches),
    /// Event-time windows.
    Windows(EventTimeWindows),
    /// Event-time windows per owned partition, completing into shares (scale-out).
    Shares(PartitionWindows),
}

/// Why an operator cannot do what was asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OperatorError {
    /// A checkpoint's operator was built with other settings than this run's.
    #[error("the checkpoint was taken with other window settings (--time, --window, …); use them, or another --state-dir")]
    OtherSettings,
    /// Partial aggregates have lost their readings' order and event times.
    #[error("event-time windows take readings in order, not partial aggregates")]
    PartialInEventTime,
}

/// Which input partitions a result names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Those with messages since the previous result (a batch covers its own interval).
    SinceLastResult,
    /// Those with messages since the start (windows span the whole input).
    SinceStart,
}

/// What an operator can say about itself at any moment (stats records, metrics, the dashboard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live {
    /// The overall watermark (event time, once there is input).
    pub watermark: Option<EventTime>,
    /// Windows held in memory.
    pub open_windows: u64,
    /// Late readings since the start, by state index.
    pub late_by_state: [u64; STATE_COUNT],
}

impl Operator {
    /// Whether `saved` (from a checkpoint) may replace this operator: same kind, same settings.
    pub fn check_resumable(&self, saved: &Operator) -> Result<(), OperatorError> {
        match (self, saved) {
            (Operator::Batches(_), Operator::Batches(_)) => Ok(()),
            (Operator::Windows(now), Operator::Windows(then)) if now.config() == then.config() => Ok(()),
            (Operator::Shares(now), Operator::Shares(then)) if now.config() == then.config() => Ok(()),
            _ => Err(OperatorError::OtherSettings),
        }
    }

    /// Counts `reading`, read from `partition` at `position` (an offset or line number) at
    /// processing time `now`; the reason when it counts in no result (late, or too far ahead).
    #[inline]
    pub fn on_reading(
        &mut self,
        partition: u32,
        position: i64,
        reading: &Reading<'_>,
        now: EventTime,
    ) -> Result<(), RejectReason> {
        match self {
            Operator::Batches(batches) => {
                batches.on_reading(reading);
                Ok(())
            }
            Operator::Windows(windows) => admitted(windows.on_reading(partition, position, reading, now)),
            Operator::Shares(shares) => admitted(shares.on_reading(partition, position, reading, now)),
        }
    }

    /// A message that is no reading. A batch counts it (its result reports rejections); a
    /// rejected message has no event time, so it belongs to no window.
    pub fn on_rejected(&mut self, reason: RejectReason) {
        if let Operator::Batches(batches) = self {
            batches.on_rejected(reason);
        }
    }

    /// Adds an aggregate of readings and rejections parsed elsewhere (a parsing thread's share
    /// of the open batch). Only batches take them: see [`OperatorConfig::takes_partials`].
    pub fn on_partial(&mut self, partial: &Aggregate) -> Result<(), OperatorError> {
        match self {
            Operator::Batches(batches) => {
                batches.on_partial(partial);
                Ok(())
            }
            Operator::Windows(_) | Operator::Shares(_) => Err(OperatorError::PartialInEventTime),
        }
    }

    /// A piece of input has been counted: event time advances the watermark at once, so windows
    /// close as soon as the input completes them; batches wait for their tick.
    pub fn on_input(&mut self, now: EventTime) -> Vec<WindowResult> {
        match self {
            Operator::Batches(_) => Vec::new(),
            Operator::Windows(windows) => windows.on_advance(now),
            Operator::Shares(shares) => {
                shares.on_advance(now);
                Vec::new()
            }
        }
    }

    /// The clock ticked (see [`OperatorConfig::tick_period`]): closes the open batch, or advances
    /// the watermark (idle partitions stop holding it back).
    pub fn on_tick(&mut self, now: EventTime) -> Vec<WindowResult> {
        match self {
            Operator::Batches(batches) => vec![batches.on_tick(now)],
            Operator::Windows(windows) => windows.on_advance(now),
            Operator::Shares(shares) => {
                shares.on_advance(now);
                Vec::new()
            }
        }
    }

    /// Partial results of open windows that changed since their last one (batches have none).
    pub fn on_early(&mut self) -> Vec<WindowResult> {
        match self {
            Operator::Batches(_) | Operator::Shares(_) => Vec::new(),
            Operator::Windows(windows) => windows.on_early(),
        }
    }

    /// The input is complete: everything becomes final. `emitted` is how many results the run
    /// has emitted so far: a run always emits at least one, even over empty input.
    pub fn on_end(&mut self, now: EventTime, emitted: u64) -> Vec<WindowResult> {
        match self {
            Operator::Batches(batches) => Self::tail(batches, now, emitted),
            Operator::Windows(windows) => {
                let mut results = windows.on_advance(now);
                results.extend(windows.on_end());
                results
            }
            // Input ends for this owner only: other owners' partitions may still be open, so
            // windows stay with the saved state, as on a stop.
            Operator::Shares(shares) => {
                shares.on_advance(now);
                Vec::new()
            }
        }
    }

    /// A clean stop with input still to come and no checkpoint to continue from: the open batch,
    /// or what the watermark completes plus partial results of the windows still open.
    pub fn on_stop(&mut self, now: EventTime, emitted: u64) -> Vec<WindowResult> {
        match self {
            Operator::Batches(batches) => Self::tail(batches, now, emitted),
            Operator::Windows(windows) => {
                let mut results = windows.on_advance(now);
                results.extend(windows.on_early());
                results
            }
            Operator::Shares(shares) => {
                shares.on_advance(now);
                Vec::new()
            }
        }
    }

    /// The open batch since the last tick, if it holds anything or nothing was emitted yet.
    fn tail(batches: &mut MicroBatches, now: EventTime, emitted: u64) -> Vec<WindowResult> {
        if batches.current().is_empty() && emitted > 0 {
            return Vec::new();
        }
        vec![batches.on_tick(now)]
    }

    /// Partitions are taken away (a rebalance): a batch holding their messages is emitted first,
    /// so that their positions can be committed before another instance reads on. Windows keep
    /// what they have while partitions remain (their positions stay pinned until the windows are
    /// emitted); when `everything` this run holds is taken, the revoked partitions are read
    /// again from their pinned positions, by this run too (a rebalance takes every partition and
    /// hands them out anew), so the open windows are emitted as partial results, as on a clean
    /// stop, and dropped by [`Operator::after_revoke`]: each reading counts in one run's final
    /// results only. `emitted`: results emitted so far.
    pub fn on_revoke(&mut self, now: EventTime, everything: bool, emitted: u64) -> Vec<WindowResult> {
        match self {
            Operator::Batches(batches) if !batches.current().is_empty() => vec![batches.on_tick(now)],
            Operator::Windows(_) if everything => self.on_stop(now, emitted),
            _ => Vec::new(),
        }
    }

    /// After a revoke's positions were handed back: windows drop what they hold when
    /// `everything` was taken (see [`Operator::on_revoke`]).
    pub fn after_revoke(&mut self, everything: bool) {
        if let (Operator::Windows(windows), true) = (&mut *self, everything) {
            *windows = EventTimeWindows::new(*windows.config());
        }
    }

    /// Input partitions assigned at processing time `now`: in event time they hold the watermark
    /// back until they deliver (or go idle).
    pub fn on_partitions(&mut self, partitions: &[u32], now: EventTime) {
        match self {
            Operator::Batches(_) => {}
            Operator::Windows(windows) => windows.on_partitions(partitions, now),
            Operator::Shares(shares) => shares.on_partitions(partitions, now),
        }
    }

    /// The source has delivered everything it has for `partition` for now: it may go idle.
    pub fn on_caught_up(&mut self, partition: u32) {
        match self {
            Operator::Batches(_) => {}
            Operator::Windows(windows) => windows.on_caught_up(partition),
            Operator::Shares(shares) => shares.on_caught_up(partition),
        }
    }

    /// Per partition, the earliest position whose reading is in a result not yet emitted: input
    /// from there on must be read again after a crash, so it may not be acknowledged.
    pub fn pinned_positions(&self) -> BTreeMap<u32, i64> {
        match self {
            Operator::Batches(_) => BTreeMap::new(),
            Operator::Windows(windows) => windows.pinned_positions(),
            Operator::Shares(shares) => shares.pinned_positions(),
        }
    }

    /// Which partitions a result names.
    pub fn coverage(&self) -> Coverage {
        match self {
            Operator::Batches(_) => Coverage::SinceLastResult,
            Operator::Windows(_) | Operator::Shares(_) => Coverage::SinceStart,
        }
    }

    /// The watermark, open windows and late readings now.
    pub fn live(&self) -> Live {
        match self {
            Operator::Batches(_) => {
                Live { watermark: None, open_windows: 0, late_by_state: [0; STATE_COUNT] }
            }
            Operator::Windows(w) => Live {
                watermark: w.watermark(),
                open_windows: w.open_windows() as u64,
                late_by_state: *w.late_by_state(),
            },
            Operator::Shares(shares) => {
                let (watermark, open_windows, late_by_state) = shares.live();
                Live { watermark, open_windows, late_by_state }
            }
        }
    }

    /// The scale-out owners, when this operator is one (shares, saved states, partition clocks).
    pub fn shares(&mut self) -> Option<&mut PartitionWindows> {
        match self {
            Operator::Shares(shares) => Some(shares),
            _ => None,
        }
    }
}

/// A window operator's admission as the reason a reading counts nowhere, if it does not.
fn admitted(admission: Admission) -> Result<(), RejectReason> {
    match admission {
        Admission::Counted => Ok(()),
        Admission::Late => Err(RejectReason::Late),
        Admission::Future => Err(RejectReason::FutureTimestamp),
    }
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod slicing_tests;
#[cfg(test)]
mod tests;
