//! The `iotstream` binary's library: everything that does I/O around the pure engine.
//!
//! The tree is the data flow: [`sources`] (files, stdin, Kafka, the built-in [`simulator`]) →
//! [`pipeline`] (parse with the engine, cut batches on the clock) → [`sinks`] (console, JSON lines,
//! Kafka, the results store, and the [`dashboard`]'s HTTP sink); [`history`] reads the store back.
//! [`cli`] declares the commands and [`commands`] wires them up; [`telemetry`] owns logging and
//! [`instruments`] the Prometheus metrics;
//! [`signals`] turns Ctrl-C and SIGTERM into a clean stop from the first moment of a run.
//! [`mutants`] are deliberately broken engines for the fault suite. [`alerts`] judges the rules of
//! `--rules` and hands notifications to the alert outputs (`sinks::alerts`, `sinks::webhook`).

pub mod alerts;
#[cfg(all(feature = "kafka", feature = "mqtt"))]
pub mod bridge;
pub mod channel;
pub mod checkpoint;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
#[cfg(feature = "http")]
pub mod dashboard;
pub mod history;
pub mod instruments;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub mod mutants;
pub mod parallel;
pub mod percent;
pub mod pipeline;
pub mod progress;
#[cfg(feature = "kafka")]
pub mod scaleout;
pub mod signals;
pub mod simulator;
pub mod sinks;
pub mod sources;
pub mod store;
pub mod telemetry;
