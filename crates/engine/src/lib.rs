//! iotstream's engine: the pure part of the pipeline — parsing, windows, aggregates and results.
//!
//! Nothing here does I/O, spawns threads or reads a clock: callers pass bytes and times in and get
//! readings, rejections and results out. That keeps every rule testable in isolation and
//! replayable, and lets the `iotstream` binary own sources, sinks and scheduling.
//!
//! The data flow, one module per step: [`lines`] → [`parse`] (→ [`reading`]) → [`operator`]
//! (accumulating [`aggregate`]s in [`window`]s closed by [`watermark`]s) → [`result`]; [`live`]
//! keeps the per-sensor views; [`alerts`] judges rules on readings and results; [`query`] runs
//! users' SQL over any field of any reading on the same window machinery; [`units`] reads
//! durations and sizes as people write them.
#![deny(missing_docs)]

pub mod aggregate;
pub mod alerts;
pub mod lines;
pub mod live;
pub mod merge;
pub mod operator;
pub mod parse;
pub mod query;
pub mod reading;
pub mod result;
pub mod state;
pub mod time;
pub mod units;
pub mod watermark;
pub mod window;

pub use aggregate::Aggregate;
pub use operator::{
    Admission, Coverage, EventTimeConfig, EventTimeWindows, Live, MicroBatches, Operator, OperatorConfig,
    OperatorError, PartitionWindows, WindowShare,
};
pub use parse::{Parser, RejectReason};
pub use reading::{EventTime, Guid, Reading, SensorId, StateCode};
pub use result::{PartitionStatus, ScaleOutStatus, StateResult, StatsRecord, WindowResult};
pub use window::WindowSpec;
