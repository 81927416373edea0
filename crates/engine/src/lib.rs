//! iotstream's engine: the pure part of the pipeline — parsing, windows, aggregates and results.
//!
//! Nothing here does I/O, spawns threads or reads a clock: callers pass bytes and times in and get
//! readings, rejections and results out. That keeps every rule testable in isolation and
//! replayable, and lets the `iotstream` binary own sources, sinks and scheduling.
//!
//! The data flow, one module per step: [`lines`] → [`parse`] (→ [`reading`]) → [`operator`]
//! (accumulating [`aggregate`]s) → [`result`].
#![deny(missing_docs)]

pub mod aggregate;
pub mod lines;
pub mod operator;
pub mod parse;
pub mod reading;
pub mod result;
pub mod time;

pub use aggregate::Aggregate;
pub use operator::MicroBatches;
pub use parse::{Parser, RejectReason};
pub use reading::{EventTime, Reading, SensorId, StateCode};
pub use result::{StateResult, WindowResult};
