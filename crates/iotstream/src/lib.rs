//! The `iotstream` binary's library: everything that does I/O around the pure engine.
//!
//! The tree is the data flow: [`connectors`] (files, stdin, Kafka, MQTT, the built-in
//! [`simulator`]: readings in, results out) → [`pipeline`] (parse with the engine, cut batches on
//! the clock) → [`sinks`] (the outputs' traits) and the results [`store`], read back by the
//! [`dashboard`] and `iotstream history`. [`cli`] declares the commands and [`commands`] wires them
//! up; [`telemetry`] owns logging and [`instruments`] the Prometheus metrics; [`signals`] turns
//! Ctrl-C and SIGTERM into a clean stop from the first moment of a run. [`faults`] holds
//! deliberately broken engines for the fault suite (cargo feature `fault-injection`). [`alerts`] judges the rules of `--rules` and
//! hands notifications to its outputs. [`scaleout`] splits a topic's partitions among instances.

pub mod alerts;
pub mod channel;
pub mod checkpoint;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod connectors;
#[cfg(feature = "http")]
pub mod dashboard;
#[cfg(not(feature = "http"))]
#[path = "dashboard/absent.rs"]
pub mod dashboard;
#[cfg(feature = "fault-injection")]
pub mod faults;
#[cfg(not(feature = "fault-injection"))]
#[path = "faults/absent.rs"]
pub mod faults;
pub mod instruments;
pub mod parallel;
pub mod percent;
pub mod pipeline;
pub mod plan;
pub mod progress;
#[cfg(feature = "kafka")]
pub mod scaleout;
#[cfg(not(feature = "kafka"))]
#[path = "scaleout/absent.rs"]
pub mod scaleout;
pub mod signals;
pub mod simulator;
pub mod sinks;
pub mod store;
pub mod telemetry;
