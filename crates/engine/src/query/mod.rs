//! Streaming SQL queries over any field of any reading.
//!
//! A query is a name and a `SELECT` over the stream `readings`. Its text is parsed with
//! `sqlparser` and bound ([`plan()`]) to the engine's own operators: a strict one-pass field
//! extractor shared by every query of a run ([`extract`]), a filter and group keys evaluated as
//! SQL does ([`expr`], [`value`]), exact mergeable aggregate states ([`agg`], [`sketch`]) held
//! per group ([`groups`]) in the engine's processing-time batches or event-time windows — the
//! same [`crate::operator`] machinery the seed's analyses use — and rows out ([`rows`]).
//!
//! How a caller drives it (the binary's ordered stage):
//! 1. [`QuerySet::new`] with the queries and the run's [`Settings`] (refusals carry the query,
//!    line, column and construct); [`QuerySet::start`] at the first processing time;
//! 2. per message, on any thread: [`Records::push`] with the extractor of
//!    [`QuerySet::compiled`] (a rejection there counts for every query, with today's reasons);
//! 3. in input order, on one thread: [`QuerySet::on_record`] for each record (with its
//!    partition, position and processing time); it returns each query's rejection, to count and
//!    dead-letter with the query's name. Processing-time runs may instead count each chunk into
//!    a [`QueryPartial`] on its thread ([`CompiledQueries::count_partial`], the compiled
//!    queries shared from [`QuerySet::compiled`]) and merge the partials in input order
//!    ([`QuerySet::on_partial`]);
//! 4. [`QuerySet::on_input`] after each piece of input, [`QuerySet::on_tick`] on the run's
//!    clock, [`QuerySet::on_early`] every `--emit-every`, [`QuerySet::on_end`] /
//!    [`QuerySet::on_stop`] / [`QuerySet::on_revoke`]: each returns [`Emission`]s, written with
//!    [`Emission::write_jsonl`] or [`Emission::console_table`];
//! 5. acknowledge input only before [`QuerySet::pinned_positions`]; save
//!    [`QuerySet::saved`] in checkpoints and resume with [`QuerySet::restore`], which refuses
//!    state written for other queries.

pub mod agg;
mod bind;
mod checkpoint;
pub mod error;
pub mod expr;
pub mod extract;
pub mod groups;
mod interval;
pub mod plan;
mod queries;
pub mod rows;
mod runner;
pub mod sketch;
pub mod value;

pub use bind::plan;
pub use checkpoint::{CheckpointError, Fingerprint, SavedQueries, SavedQueriesRef};
pub use error::QueryError;
pub use extract::{Extractor, FieldPath, Record, Records};
pub use interval::interval_micros;
pub use plan::Plan;
pub use queries::{CompiledQueries, QueryLive, QueryPartial, QuerySet, Settings, Time};
pub use rows::Emission;
pub use runner::{QueryCounts, QueryState, QueryWindows};
pub use value::Cell;

#[cfg(test)]
mod tests;
