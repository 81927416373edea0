//! Where messages come from and where results go, one folder per protocol: `file` (files and
//! stdin in, results to stdout or a file), `kafka` (a consumer; results, dead letters and readings
//! out), `mqtt` (a QoS 1 subscription; dead letters out), and `generator` (the simulator inside the
//! process). `args` gathers every connector's flags; `options` is what a run adds to them.
//!
//! Each source runs on its own thread and hands the pipeline chunks of whole messages (see
//! [`crate::channel`]) through a bounded channel, so a slow engine slows the source down
//! (backpressure) instead of buffering without limit. Adding a source is a folder here, its flags
//! as one more field of [`SourceArgs`], and its arm in [`SourceArgs::open`] and the run plan.
//!
//! `kafka` and `mqtt` are cargo features; a build without one compiles its `absent.rs`: the same
//! names, with no flags, no input that can be built, and outputs that are never asked for.

pub mod args;
pub mod file;
pub mod generator;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(not(feature = "kafka"))]
#[path = "kafka/absent.rs"]
pub mod kafka;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(not(feature = "mqtt"))]
#[path = "mqtt/absent.rs"]
pub mod mqtt;
pub mod options;

pub use args::{input_flags, open_sinks, Error, KafkaInput, SinkArgs, SinkContext, SourceArgs};
pub use options::SourceOptions;
