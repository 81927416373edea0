//! The run: source → parse → engine → sinks, with the clocks, acknowledgements, checkpoints and
//! shutdown.
//!
//! One task owns the engine. [`run`] only waits: for the source's next event, the next tick of a
//! clock, a dashboard's question, or a shutdown signal, and hands each, with the time, to the
//! [`Driver`], which does everything synchronously (and is unit-tested without threads or ports).
//! The driver is three parts and a hook:
//! - `counting`: parse and count input, in input order, however it was parsed (`querying`: the
//!   same for SQL queries; `engine`: the seed's operator or the queries, at each moment);
//! - `emitting`: write what the operator completes to every output, then acknowledge the input
//!   it covers (`positions`: how far the input is counted, and what is safe to acknowledge);
//! - `checkpoints`: save and restore the whole state (`--state-dir`);
//! - `hooks`: where an extension of the run (scale-out) comes in.
//!
//! Around them: `settings` (what the run plan decided), `status` (stats records and the live
//! status), `tickers` (the clocks, and the source's last moments), `run` (the loop), `error`.
//!
//! Emitting is always the same steps, in this order, so that a crash at any point loses nothing:
//! dead letters are flushed, results are written to every sink, and only then are the input
//! positions they cover acknowledged for commit. Ctrl-C or SIGTERM ends the run cleanly: without
//! a state directory, the open batch (or partial results of the open windows) is emitted; with
//! one, it is saved and completed after a restart. Positions are committed before the source
//! disconnects.

mod checkpoints;
mod counting;
mod driver;
mod emitting;
mod engine;
mod error;
mod hooks;
mod positions;
mod querying;
mod run;
mod settings;
mod status;
#[cfg(test)]
mod tests;
mod tickers;
mod totals;

pub use checkpoints::Checkpointing;
pub use driver::{Computing, Driver, Flow};
pub use emitting::Emitting;
pub use engine::Results;
pub use error::RunError;
pub use hooks::{DriverHook, HookContext};
pub use positions::{Acknowledge, Progress};
pub use run::{run, Parts};
pub use settings::{Analysis, QueryPlan, Settings};
pub use tickers::Tick;
pub use totals::RunSummary;

pub use crate::sinks::Outputs;
