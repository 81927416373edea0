//! The `iotstream` binary's library: everything that does I/O around the pure engine.
//!
//! The tree is the data flow: [`sources`] (files, stdin, Kafka, the built-in [`simulator`]) →
//! [`pipeline`] (parse with the engine, cut batches on the clock) → [`sinks`] (console, JSON lines,
//! Kafka, and the [`dashboard`]'s HTTP sink).
//! [`cli`] declares the commands and [`commands`] wires them up; [`telemetry`] owns logging and
//! [`instruments`] the Prometheus metrics. [`mutants`] are deliberately broken engines for the
//! fault suite.

pub mod channel;
pub mod checkpoint;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
#[cfg(feature = "http")]
pub mod dashboard;
pub mod instruments;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod mutants;
pub mod parallel;
pub mod pipeline;
pub mod progress;
pub mod simulator;
pub mod sinks;
pub mod sources;
pub mod telemetry;
