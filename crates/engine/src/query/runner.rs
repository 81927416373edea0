//! One query at run time: its plan with fields turned into the run's extractor slots, how it
//! judges a reading (filter, then group key and aggregate inputs, each value checked for its
//! use), and its windows — the engine's own [`MicroBatches`] or [`EventTimeWindows`] over
//! [`Groups`].

use serde::{Deserialize, Serialize};

use crate::operator::{Admission, EventTimeConfig, EventTimeWindows, MicroBatches};
use crate::parse::RejectReason;
use crate::query::agg::{Input, StateKind};
use crate::query::expr::Expr;
use crate::query::extract::Record;
use crate::query::groups::{key_hash, Groups, Row};
use crate::query::plan::{Plan, Window};
use crate::query::value::{encode_key, hash_value};
use crate::window::WindowSpec;

/// A query's windows: processing-time batches or event-time windows, holding its groups.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
pub enum QueryWindows {
    /// Processing-time batches.
    Batches(MicroBatches<Groups>),
    /// Event-time windows.
    Windows(EventTimeWindows<Groups>),
}

/// What a query did with the readings it saw, since the start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryCounts {
    /// Readings counted in a window or batch.
    pub counted: u64,
    /// Readings its `WHERE` left out.
    pub filtered: u64,
    /// Readings rejected for this query, by reason ([`RejectReason::EVERY`] order).
    pub rejected: [u64; RejectReason::EVERY.len()],
    /// Results emitted.
    pub emitted: u64,
}

impl QueryCounts {
    fn reject(&mut self, reason: RejectReason, n: u64) {
        self.rejected[reason.index()] += n;
    }

    /// Readings rejected for `reason`.
    pub fn rejected_for(&self, reason: RejectReason) -> u64 {
        self.rejected[reason.index()]
    }

    fn merge(&mut self, other: &QueryCounts) {
        self.counted += other.counted;
        self.filtered += other.filtered;
        for (mine, theirs) in self.rejected.iter_mut().zip(other.rejected) {
            *mine += theirs;
        }
    }
}

/// What a query holds at run time, and what a checkpoint saves of it.
#[derive(Debug, Serialize, Deserialize)]
pub struct QueryState {
    /// Its windows or batch.
    pub windows: QueryWindows,
    /// Its numbers since the start.
    pub counts: QueryCounts,
}

/// Buffers one evaluation reuses (one set per thread).
#[derive(Debug, Default)]
pub struct Scratch {
    key: Vec<u8>,
    inputs: Vec<Input>,
    hash: Vec<u8>,
    /// The record being judged (counted up per record), the record `key` was made for and
    /// from which fields, and its hash: queries grouping by the same fields share one encoding.
    record: u64,
    key_record: u64,
    key_of: usize,
    key_hash: u64,
}

impl Scratch {
    /// The next record is about to be judged.
    #[inline]
    pub(crate) fn next_record(&mut self) {
        self.record = self.record.wrapping_add(1);
    }

    /// Encodes the key of `record` on `fields` unless it already is (`key_of` names the
    /// fields: queries with the same fields have the same).
    #[inline]
    fn key(&mut self, record: &Record<'_>, fields: &[usize], key_of: usize) -> Result<(), RejectReason> {
        if self.key_record == self.record && self.key_of == key_of {
            return Ok(());
        }
        self.key_record = self.record.wrapping_sub(1);
        self.key.clear();
        for &slot in fields {
            encode_key(record.value(slot)?, &mut self.key)?;
        }
        self.key_hash = key_hash(&self.key);
        self.key_of = key_of;
        self.key_record = self.record;
        Ok(())
    }
}

/// What a query makes of a reading.
pub(crate) enum Verdict {
    /// Its `WHERE` leaves it out.
    Filtered,
    /// A value of the wrong type (or the like) for this query.
    Rejected(RejectReason),
    /// Counted: the row is in the scratch buffers.
    Counted,
}

/// One query, ready to run: its plan with fields as extractor slots (its state is apart, in a
/// [`QueryState`], so that emitting can read the plan while the state changes).
#[derive(Debug)]
pub(crate) struct Runner {
    pub(crate) plan: Plan,
    filter: Option<Expr<usize>>,
    key_slots: Vec<usize>,
    /// The first query of the set with the same key fields (its key is shared).
    pub(crate) key_of: usize,
    args: Vec<Arg>,
    kinds: Vec<StateKind>,
    pub(crate) limit: u32,
}

impl Runner {
    /// `plan` reading from `slots` (the extractor slot of each of its fields).
    pub(crate) fn new(plan: Plan, slots: &[usize], limit: u32) -> Runner {
        let slot = |field: &usize| slots[*field];
        let filter = plan.filter.as_ref().map(|(e, _)| e.map(&slot));
        let key_slots = plan.keys.iter().map(|k| slots[k.field]).collect();
        let args = plan.states.iter().map(|s| Arg::new(s.arg.as_ref().map(|e| e.map(&slot)))).collect();
        let kinds = plan.states.iter().map(|s| s.kind).collect();
        Runner { plan, filter, key_slots, key_of: 0, args, kinds, limit }
    }

    /// The extractor slots of the group key's fields.
    pub(crate) fn key_slots(&self) -> &[usize] {
        &self.key_slots
    }

    /// Judges `record`, leaving a counted row's key and inputs in `scratch`.
    #[inline]
    pub(crate) fn judge(&self, record: &Record<'_>, scratch: &mut Scratch) -> Verdict {
        match self.evaluate(record, scratch) {
            Ok(true) => Verdict::Counted,
            Ok(false) => Verdict::Filtered,
            Err(reason) => Verdict::Rejected(reason),
        }
    }

    fn evaluate(&self, record: &Record<'_>, scratch: &mut Scratch) -> Result<bool, RejectReason> {
        let leaf = |slot: &usize| record.value(*slot);
        if let Some(filter) = &self.filter {
            if !filter.holds(&leaf)? {
                return Ok(false);
            }
        }
        scratch.key(record, &self.key_slots, self.key_of)?;
        scratch.inputs.clear();
        for (arg, &kind) in self.args.iter().zip(&self.kinds) {
            let value = match arg {
                Arg::Row => {
                    scratch.inputs.push(Input::Present);
                    continue;
                }
                Arg::Field(slot) => record.value(*slot)?,
                Arg::Expr(e) => e.eval(&leaf)?,
            };
            scratch.inputs.push(Input::of(kind, value, |v| hash_value(v, &mut scratch.hash))?);
        }
        Ok(true)
    }

    /// Takes `record` (read from `partition` at `position`, event time `t`, lateness judged
    /// against `horizon`: see [`EventTimeWindows::on_input_at`]); the reason it is rejected for
    /// this query, if it is. The caller keeps the input's watermarks.
    #[inline]
    pub(crate) fn on_record(
        &self,
        state: &mut QueryState,
        record: &Record<'_>,
        at: (u32, i64, i64),
        horizon: i64,
        scratch: &mut Scratch,
    ) -> Option<RejectReason> {
        let verdict = self.judge(record, scratch);
        let counted = match verdict {
            Verdict::Counted => self.count(&mut state.windows, scratch, at, horizon),
            Verdict::Filtered | Verdict::Rejected(_) => Ok(()),
        };
        let rejected = match (verdict, counted) {
            (Verdict::Rejected(reason), _) | (_, Err(reason)) => Some(reason),
            (Verdict::Filtered, _) => {
                state.counts.filtered += 1;
                None
            }
            (Verdict::Counted, Ok(())) => {
                state.counts.counted += 1;
                None
            }
        };
        if let Some(reason) = rejected {
            state.counts.reject(reason, 1);
        }
        rejected
    }

    fn count(
        &self,
        windows: &mut QueryWindows,
        scratch: &Scratch,
        (partition, position, t): (u32, i64, i64),
        horizon: i64,
    ) -> Result<(), RejectReason> {
        let row = row(scratch, &self.kinds, self.limit);
        let added = match windows {
            QueryWindows::Batches(batches) => Some(batches.on_input(&row)),
            QueryWindows::Windows(windows) => {
                match windows.on_input_at(partition, position, t, &row, horizon) {
                    (Admission::Counted, added) => added,
                    (Admission::Late, _) => return Err(RejectReason::Late),
                    (Admission::Future, _) => return Err(RejectReason::FutureTimestamp),
                }
            }
        };
        match added {
            Some(false) => Err(RejectReason::TooManyGroups),
            _ => Ok(()),
        }
    }

    /// Merges a parsing thread's groups and counts of the open batch (processing time).
    pub(crate) fn on_partial(&self, state: &mut QueryState, groups: &Groups, counts: &QueryCounts) {
        state.counts.merge(counts);
        if let QueryWindows::Batches(batches) = &mut state.windows {
            let refused = batches.current_mut().merge_limited(groups, self.limit);
            state.counts.counted -= refused.min(state.counts.counted);
            state.counts.reject(RejectReason::TooManyGroups, refused);
        }
    }

    /// Counts `record` into a parsing thread's partial `groups` and `counts` (processing time;
    /// the group limit is applied when the partial is merged).
    pub(crate) fn count_partial(
        &self,
        record: &Record<'_>,
        scratch: &mut Scratch,
        groups: &mut Groups,
        counts: &mut QueryCounts,
    ) {
        match self.judge(record, scratch) {
            Verdict::Counted => {
                crate::operator::Contents::add(groups, &row(scratch, &self.kinds, 0));
                counts.counted += 1;
            }
            Verdict::Filtered => counts.filtered += 1,
            Verdict::Rejected(reason) => counts.reject(reason, 1),
        }
    }
}

/// An aggregate's argument, with the common cases spared the expression evaluator.
#[derive(Debug)]
enum Arg {
    /// `count(*)`: every row.
    Row,
    /// A field as it is.
    Field(usize),
    /// Anything else.
    Expr(Expr<usize>),
}

impl Arg {
    fn new(arg: Option<Expr<usize>>) -> Arg {
        match arg {
            None => Arg::Row,
            Some(Expr::Leaf(slot)) => Arg::Field(slot),
            Some(e) => Arg::Expr(e),
        }
    }
}

/// The row a counted verdict left in `scratch`, for groups of `kinds` limited to `limit`.
fn row<'s>(scratch: &'s Scratch, kinds: &'s [StateKind], limit: u32) -> Row<'s> {
    Row { key: &scratch.key, hash: scratch.key_hash, inputs: &scratch.inputs, kinds, limit }
}

/// The event-time settings of a query: the run's, with the query's own window if it has one.
pub(crate) fn query_config(run: EventTimeConfig, window: Window) -> EventTimeConfig {
    let spec = match window {
        Window::Run => run.window,
        Window::Tumble { size } => WindowSpec::tumbling(size).unwrap_or(run.window),
        Window::Hop { slide, size } => WindowSpec::new(size, slide).unwrap_or(run.window),
    };
    EventTimeConfig { window: spec, ..run }
}
