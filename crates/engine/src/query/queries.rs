//! [`QuerySet`]: every query of a run behind one operator API, the one type the binary drives.
//!
//! One extractor reads the union of the queries' fields (and the event time) from each
//! message; each query then judges the record on its own. A message that is no record (bad
//! JSON, no event time, too far in the future) is rejected for every query, with today's
//! reasons; a value of the wrong type for one query rejects the reading for that query only,
//! and the caller learns the reason per query (to count it and dead-letter it with the query's
//! name). In event time the watermark belongs to the input: the set keeps one, which every
//! valid reading moves whatever the queries make of it, and which closes every query's windows;
//! lateness is judged per query window, against it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::operator::{EventTimeConfig, EventTimeWindows, MicroBatches};
use crate::parse::RejectReason;
use crate::query::bind::plan;
use crate::query::error::QueryError;
use crate::query::extract::{Extractor, FieldPath, Record, Records};
use crate::query::groups::Groups;
use crate::query::plan::Plan;
use crate::query::rows::{rows, Emission};
use crate::query::runner::{query_config, QueryCounts, QueryState, QueryWindows, Runner, Scratch};
use crate::query::value::Cell;
use crate::reading::EventTime;
use crate::watermark::Watermarks;
use crate::window::WindowSpec;

/// How a run cuts results: what every query of it shares.
#[derive(Clone, Debug, PartialEq)]
pub enum Time {
    /// Processing-time batches of `period` µs (the seed's `--window`).
    Processing {
        /// Batch length (µs).
        period: i64,
    },
    /// Event time: windows on the readings' `field`, closed by watermarks.
    Event {
        /// The time field (`eventTime` by default).
        field: FieldPath,
        /// Windows (for queries without their own), watermarks, lateness, skew, idleness.
        config: EventTimeConfig,
    },
}

/// The run's settings queries depend on.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Processing or event time.
    pub time: Time,
    /// At most this many groups per query and window slice (0: no limit).
    pub max_groups: u32,
    /// Longer messages are rejected as `too_large`.
    pub max_line_bytes: usize,
}

/// A query's live numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryLive {
    /// The query's name.
    pub name: Arc<str>,
    /// Readings counted, left out by `WHERE`, rejected by reason, results emitted.
    pub counts: QueryCounts,
    /// Groups held over open windows (or the open batch).
    pub groups_open: u64,
    /// Windows held (event time).
    pub open_windows: u64,
}

/// A run's queries, compiled: what never changes while they run, shared (`Arc`) with the
/// parsing threads, which extract records and, in processing time, count partials with it.
#[derive(Debug)]
pub struct CompiledQueries {
    settings: Settings,
    extractor: Extractor,
    pub(crate) runners: Vec<Runner>,
    names: Vec<Arc<str>>,
    columns: Vec<Arc<[String]>>,
}

impl CompiledQueries {
    /// The plans, in the order given.
    pub fn plans(&self) -> impl Iterator<Item = &Plan> {
        self.runners.iter().map(|r| &r.plan)
    }

    /// The run's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The extractor every thread parses with.
    pub fn extractor(&self) -> &Extractor {
        &self.extractor
    }

    /// A buffer for records (one per parsing thread).
    pub fn records(&self) -> Records {
        Records::new(&self.extractor)
    }

    /// Query `i`'s name.
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("", |n| n)
    }

    /// An empty partial for a parsing thread (processing time).
    pub fn partial(&self) -> QueryPartial {
        let n = self.runners.len();
        QueryPartial {
            groups: vec![Groups::default(); n],
            counts: vec![QueryCounts::default(); n],
            scratch: Scratch::default(),
        }
    }

    /// Counts `record` into a parsing thread's `partial` (processing time; the partials are
    /// merged in input order with [`QuerySet::on_partial`], the same as one thread).
    pub fn count_partial(&self, partial: &mut QueryPartial, record: &Record<'_>) {
        partial.scratch.next_record();
        for (i, runner) in self.runners.iter().enumerate() {
            let (groups, counts) = (&mut partial.groups[i], &mut partial.counts[i]);
            runner.count_partial(record, &mut partial.scratch, groups, counts);
        }
    }
}

/// Every query of a run and its state. See the module docs.
#[derive(Debug)]
pub struct QuerySet {
    compiled: Arc<CompiledQueries>,
    pub(crate) states: Vec<QueryState>,
    /// The input's watermarks (event time).
    pub(crate) watermarks: Watermarks,
    scratch: Scratch,
    rejections: Vec<(usize, RejectReason)>,
}

impl QuerySet {
    /// Plans `queries` (name, SQL) for a run with `settings`: the first refusal, if any.
    pub fn new(queries: &[(String, String)], settings: Settings) -> Result<QuerySet, QueryError> {
        let time_field = match &settings.time {
            Time::Event { field, .. } => Some(field),
            Time::Processing { .. } => None,
        };
        let mut plans: Vec<Plan> = Vec::new();
        for (name, sql) in queries {
            if plans.iter().any(|p| p.name == *name) {
                return Err(QueryError::DuplicateName { name: name.clone() });
            }
            plans.push(plan(name, sql, time_field)?);
        }
        let mut paths: Vec<FieldPath> = plans.iter().flat_map(|p| p.fields.iter().cloned()).collect();
        paths.sort();
        paths.dedup();
        let (extractor, slots) = Extractor::new(&paths, time_field, settings.max_line_bytes);
        let slot_of = |path: &FieldPath| paths.iter().position(|p| p == path).map_or(0, |i| slots[i]);
        let states = plans.iter().map(|plan| blank_state(&settings.time, plan, EventTime(0))).collect();
        let mut runners: Vec<Runner> = plans
            .into_iter()
            .map(|plan| {
                let slots: Vec<usize> = plan.fields.iter().map(slot_of).collect();
                Runner::new(plan, &slots, settings.max_groups)
            })
            .collect();
        // Queries grouping by the same fields share one key encoding per record.
        for i in 0..runners.len() {
            let same = (0..i).find(|&j| runners[j].key_slots() == runners[i].key_slots());
            runners[i].key_of = same.unwrap_or(i);
        }
        let names = runners.iter().map(|r| Arc::from(r.plan.name.as_str())).collect();
        let columns =
            runners.iter().map(|r| r.plan.columns.iter().map(|c| c.name.clone()).collect()).collect();
        let scratch = Scratch::default();
        let watermarks = match &settings.time {
            Time::Event { config, .. } => Watermarks::new(config.max_delay, config.idle_timeout),
            Time::Processing { .. } => Watermarks::new(0, None),
        };
        let compiled = Arc::new(CompiledQueries { settings, extractor, runners, names, columns });
        Ok(QuerySet { compiled, states, watermarks, scratch, rejections: Vec::new() })
    }

    /// The compiled queries, to share with parsing threads.
    pub fn compiled(&self) -> &Arc<CompiledQueries> {
        &self.compiled
    }

    /// Starts processing-time batches at `now` (call once before the first record).
    pub fn start(&mut self, now: EventTime) {
        for state in &mut self.states {
            if let QueryWindows::Batches(_) = state.windows {
                state.windows = QueryWindows::Batches(MicroBatches::new(now));
            }
        }
    }

    /// The plans, in the order given.
    pub fn plans(&self) -> impl Iterator<Item = &Plan> {
        self.compiled.plans()
    }

    /// The run's settings.
    pub fn settings(&self) -> &Settings {
        &self.compiled.settings
    }

    /// The extractor every thread parses with.
    pub fn extractor(&self) -> &Extractor {
        &self.compiled.extractor
    }

    /// A buffer for records (one per parsing thread).
    pub fn records(&self) -> Records {
        self.compiled.records()
    }

    /// Counts `record`, read from `partition` at `position` at processing time `now`. Returns
    /// the queries (by index) that rejected it and why, or the reason every query does
    /// (`future_timestamp`, decided once for the input).
    pub fn on_record(
        &mut self,
        partition: u32,
        position: i64,
        record: &Record<'_>,
        now: EventTime,
    ) -> Result<&[(usize, RejectReason)], RejectReason> {
        let t = record.event_time().map_or(i64::MIN, EventTime::as_micros);
        let event_time = match &self.compiled.settings.time {
            Time::Event { config, .. } if config.too_far_ahead(t, now) => {
                return Err(RejectReason::FutureTimestamp);
            }
            Time::Event { .. } => true,
            Time::Processing { .. } => false,
        };
        // The horizon is the one before this reading; observing it first changes nothing for
        // the runners, which see only the horizon.
        let observed = event_time.then_some((t, now.as_micros()));
        let horizon = self.watermarks.horizon_then_observe(partition, observed);
        self.rejections.clear();
        self.scratch.next_record();
        for (i, (runner, state)) in self.compiled.runners.iter().zip(&mut self.states).enumerate() {
            let at = (partition, position, t);
            if let Some(reason) = runner.on_record(state, record, at, horizon, &mut self.scratch) {
                self.rejections.push((i, reason));
            }
        }
        Ok(&self.rejections)
    }

    /// Merges a parsing thread's partial into the open batches.
    pub fn on_partial(&mut self, partial: &QueryPartial) {
        for (i, (runner, state)) in self.compiled.runners.iter().zip(&mut self.states).enumerate() {
            runner.on_partial(state, &partial.groups[i], &partial.counts[i]);
        }
    }

    /// A piece of input has been counted: event time closes what the watermark completes.
    pub fn on_input(&mut self, now: EventTime) -> Vec<Emission> {
        let watermark = self.watermarks.advance(now.as_micros());
        self.each(|state, e| match &mut state.windows {
            QueryWindows::Windows(w) => e.complete(w, watermark),
            QueryWindows::Batches(_) => Vec::new(),
        })
    }

    /// The clock ticked: batches close, event time advances (idleness).
    pub fn on_tick(&mut self, now: EventTime) -> Vec<Emission> {
        let watermark = self.watermarks.advance(now.as_micros());
        self.each(|state, e| match &mut state.windows {
            QueryWindows::Batches(b) => vec![e.batch(b, now)],
            QueryWindows::Windows(w) => e.complete(w, watermark),
        })
    }

    /// Early, partial results of open windows changed since their last (`--emit-every`).
    pub fn on_early(&mut self) -> Vec<Emission> {
        let watermark = self.watermarks.global();
        self.each(|state, e| match &mut state.windows {
            QueryWindows::Windows(w) => {
                let spec = w.config().window;
                w.early_at(watermark, |start, groups| e.window(spec, start, 0, false, groups))
            }
            QueryWindows::Batches(_) => Vec::new(),
        })
    }

    /// The input is complete: every window final, every batch's tail (a query emits at least
    /// once per run).
    pub fn on_end(&mut self, now: EventTime) -> Vec<Emission> {
        let mut out = self.on_end_batches(now);
        let watermark = self.watermarks.advance(now.as_micros());
        out.extend(self.each(|state, e| match &mut state.windows {
            QueryWindows::Windows(w) => {
                let mut out = e.complete(w, watermark);
                out.extend(e.complete(w, i64::MAX));
                out
            }
            QueryWindows::Batches(_) => Vec::new(),
        }));
        out
    }

    /// A clean stop with input still to come and no checkpoint: open batches, completed windows
    /// and partial results of the open ones.
    pub fn on_stop(&mut self, now: EventTime) -> Vec<Emission> {
        let mut out = self.on_end_batches(now);
        out.extend(self.on_input(now));
        out.extend(self.on_early());
        out
    }

    /// The open batches that hold input, or whose query has emitted nothing yet.
    fn on_end_batches(&mut self, now: EventTime) -> Vec<Emission> {
        self.each(|state, e| match &mut state.windows {
            QueryWindows::Batches(b) if !b.current().is_empty() || state.counts.emitted == 0 => {
                vec![e.batch(b, now)]
            }
            _ => Vec::new(),
        })
    }

    /// Partitions are taken away (a rebalance): batches holding input are emitted. Windows keep
    /// theirs while partitions remain (their positions stay pinned); when `everything` this run
    /// holds is taken, the revoked partitions are read again from their pinned positions, by
    /// this run too, so the windows' completed and partial results are emitted, as on a clean
    /// stop, and [`QuerySet::after_revoke`] drops them: each reading counts in one run's final
    /// results only (the seed's rule, `Operator::on_revoke`).
    pub fn on_revoke(&mut self, now: EventTime, everything: bool) -> Vec<Emission> {
        let mut out = self.each(|state, e| match &mut state.windows {
            QueryWindows::Batches(b) if !b.current().is_empty() => vec![e.batch(b, now)],
            _ => Vec::new(),
        });
        if everything && matches!(self.compiled.settings.time, Time::Event { .. }) {
            out.extend(self.on_input(now));
            out.extend(self.on_early());
        }
        out
    }

    /// After a revoke's positions were handed back: when `everything` was taken, windows and the
    /// input's watermarks start afresh (see [`QuerySet::on_revoke`]); counts are kept.
    pub fn after_revoke(&mut self, everything: bool) {
        let Time::Event { config, .. } = &self.compiled.settings.time else { return };
        if !everything {
            return;
        }
        self.watermarks = Watermarks::new(config.max_delay, config.idle_timeout);
        for (runner, state) in self.compiled.runners.iter().zip(&mut self.states) {
            state.windows = blank_state(&self.compiled.settings.time, &runner.plan, EventTime(0)).windows;
        }
    }

    /// Partitions assigned at `now` hold event time back until they deliver.
    pub fn on_partitions(&mut self, partitions: &[u32], now: EventTime) {
        for &partition in partitions {
            self.watermarks.register(partition, now.as_micros());
        }
    }

    /// The source has nothing more for `partition` for now.
    pub fn on_caught_up(&mut self, partition: u32) {
        self.watermarks.caught_up(partition);
    }

    /// Per partition, the earliest position some query still needs after a crash.
    pub fn pinned_positions(&self) -> BTreeMap<u32, i64> {
        let mut pinned = BTreeMap::new();
        for state in &self.states {
            if let QueryWindows::Windows(w) = &state.windows {
                for (partition, position) in w.pinned_positions() {
                    let p = pinned.entry(partition).or_insert(position);
                    *p = (*p).min(position);
                }
            }
        }
        pinned
    }

    /// The event-time watermark (the input's, shared by every query).
    pub fn watermark(&self) -> Option<EventTime> {
        let w = self.watermarks.global();
        (w != i64::MIN).then_some(EventTime(w))
    }

    /// The input's watermarks, per partition and overall (event time).
    pub fn watermarks(&self) -> &Watermarks {
        &self.watermarks
    }

    /// Each query's live numbers.
    pub fn live(&self) -> Vec<QueryLive> {
        let live = |(state, name): (&QueryState, &Arc<str>)| {
            let (groups_open, open_windows) = match &state.windows {
                QueryWindows::Batches(b) => (b.current().len() as u64, 0),
                QueryWindows::Windows(w) => {
                    (w.slice_contents().map(|(_, g)| g.len() as u64).sum(), w.open_windows() as u64)
                }
            };
            QueryLive { name: name.clone(), counts: state.counts.clone(), groups_open, open_windows }
        };
        self.states.iter().zip(&self.compiled.names).map(live).collect()
    }

    /// Query `i`'s name.
    pub fn name(&self, i: usize) -> &str {
        self.compiled.name(i)
    }

    /// Runs `f` for each query's state with what it needs to make emissions; counts them.
    fn each(&mut self, mut f: impl FnMut(&mut QueryState, &Emitter<'_>) -> Vec<Emission>) -> Vec<Emission> {
        let mut out = Vec::new();
        let compiled = &self.compiled;
        for (i, (runner, state)) in compiled.runners.iter().zip(&mut self.states).enumerate() {
            let emitter =
                Emitter { plan: &runner.plan, name: &compiled.names[i], columns: &compiled.columns[i] };
            let emissions = f(state, &emitter);
            state.counts.emitted += emissions.len() as u64;
            out.extend(emissions);
        }
        out
    }
}

/// A parsing thread's share of the open batches (processing time).
#[derive(Debug)]
pub struct QueryPartial {
    groups: Vec<Groups>,
    counts: Vec<QueryCounts>,
    scratch: Scratch,
}

/// Makes one query's emissions.
struct Emitter<'a> {
    plan: &'a Plan,
    name: &'a Arc<str>,
    columns: &'a Arc<[String]>,
}

impl Emitter<'_> {
    fn emission(
        &self,
        start: EventTime,
        end: EventTime,
        is_final: bool,
        revision: u32,
        (rows, keys): (Vec<Vec<Cell>>, Vec<Vec<Cell>>),
    ) -> Emission {
        Emission {
            query: self.name.clone(),
            window_start: start,
            window_end: end,
            is_final,
            revision,
            columns: self.columns.clone(),
            rows,
            keys,
        }
    }

    fn window(
        &self,
        spec: WindowSpec,
        start: i64,
        revision: u32,
        is_final: bool,
        groups: Groups,
    ) -> Emission {
        let end = EventTime(spec.end(start));
        self.emission(EventTime(start), end, is_final, revision, rows(self.plan, &groups, false))
    }

    /// What `watermark` completes or revises in `windows`.
    fn complete(&self, windows: &mut EventTimeWindows<Groups>, watermark: i64) -> Vec<Emission> {
        let spec = windows.config().window;
        windows.complete_at(watermark, |start, revision, groups| {
            self.window(spec, start, revision, true, groups)
        })
    }

    fn batch(&self, batches: &mut MicroBatches<Groups>, now: EventTime) -> Emission {
        let (start, groups) = batches.take(now);
        self.emission(start, now, true, 0, rows(self.plan, &groups, true))
    }
}

/// A query's state before any input.
pub(crate) fn blank_state(time: &Time, plan: &Plan, now: EventTime) -> QueryState {
    let windows = match time {
        Time::Processing { .. } => QueryWindows::Batches(MicroBatches::new(now)),
        Time::Event { config, .. } => {
            QueryWindows::Windows(EventTimeWindows::new(query_config(*config, plan.window)))
        }
    };
    QueryState { windows, counts: QueryCounts::default() }
}
