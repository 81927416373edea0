//! The `iotstream` binary's library: everything that does I/O around the pure engine.
//!
//! The tree is the data flow: [`sources`] (files, stdin, Kafka, the built-in [`simulator`]) →
//! [`pipeline`] (parse with the engine, cut batches on the clock) → [`sinks`] (console, JSON lines,
//! Kafka).
//! [`cli`] declares the commands and [`commands`] wires them up; [`telemetry`] owns logging.

pub mod checkpoint;
pub mod cli;
pub mod commands;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod parallel;
pub mod pipeline;
pub mod simulator;
pub mod sinks;
pub mod sources;
pub mod telemetry;
