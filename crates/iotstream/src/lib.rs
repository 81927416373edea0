//! The `iotstream` binary's library: everything that does I/O around the pure engine.
//!
//! The tree is the data flow: [`sources`] (files, stdin, the built-in [`simulator`]) →
//! [`pipeline`] (parse with the engine, cut batches on the clock) → [`sinks`] (console, JSON lines).
//! [`cli`] declares the commands and [`commands`] wires them up; [`telemetry`] owns logging.

pub mod cli;
pub mod commands;
pub mod pipeline;
pub mod simulator;
pub mod sinks;
pub mod sources;
pub mod telemetry;
