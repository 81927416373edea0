//! The `iotstream` binary's library: everything that does I/O around the pure engine.
//!
//! Layers, each using only those below it (docs/ARCHITECTURE.md draws them): [`commands`] runs a
//! subcommand: it derives a [`plan::RunPlan`] from the flags ([`cli`], [`config`]), opens what the
//! plan names and runs the [`pipeline`], whose driver counts, emits and checkpoints, extended by
//! [`scaleout`] through its hook. Below: [`connectors`] (files, stdin, Kafka, MQTT, the built-in
//! [`simulator`]: readings in, results out), [`alerts`], the [`dashboard`] and the results
//! [`store`]; then what they share: [`sinks`] (the outputs' traits), [`parallel`] (the parsing
//! threads), [`channel`] (what crosses threads), [`checkpoint`], and leaves ([`clock`],
//! [`signals`], [`instruments`], [`telemetry`], [`progress`], [`percent`]). [`faults`] holds the
//! fault suite's deliberately broken engines (cargo feature `fault-injection`).
//!
//! A cargo feature switches whole modules: a build without one compiles a stand-in of the same
//! names (`absent.rs`), so no feature switch sits inside the wiring.

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
