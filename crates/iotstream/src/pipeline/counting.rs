//! Counting: every line or message, parsed here or on a parsing thread, goes through one path
//! into the operator, the per-sensor table, the sensor alert rules and the run's tallies, in
//! input order; rejected ones are logged (rate-limited) and, from partitioned sources, queued as
//! dead letters. Positions move past input only once it is counted.
//!
//! Whether the pipeline parses a line itself or a worker did (see `crate::parallel`) changes only
//! where its reading comes from ([`Line`]); what is done with it is written once, so the results
//! are the same bytes whatever the number of threads.

use iotstream_engine::aggregate::RejectCounts;
use iotstream_engine::lines::lines;
use iotstream_engine::live::SensorTable;
use iotstream_engine::{EventTime, Operator, Parser, Reading, RejectReason};

use iotstream_engine::query::QuerySet;
use iotstream_engine::MicroBatches;

use super::positions::Progress;
use super::querying::{Queries, Tallies};
use super::settings::Settings;
use super::totals::RunSummary;
use crate::alerts::Alerting;
use crate::channel::{
    Chunk, Covers, FieldBatch, Item, MessageBatch, MessageMeta, Ordered, OrderedInput, Partial,
};
use crate::sinks::RejectSink;
use crate::telemetry::RejectLog;

/// The dead-letter queue counting hands rejected messages to, if the run has one.
pub type DeadLetters = Option<Box<dyn RejectSink>>;

/// The engine and the tallies around it.
pub struct Counting {
    pub(super) parser: Parser,
    /// The seed's analyses (idle in a run of queries).
    pub(super) operator: Operator,
    /// The SQL queries, in a run of queries.
    pub(super) queries: Option<Box<Queries>>,
    /// The last reading of every sensor (when something shows live views).
    pub(super) sensors: SensorTable,
    /// Keep `sensors` up to date (only when stats or a status are shown: a lookup per reading).
    track_sensors: bool,
    /// Rejections since start, by reason.
    pub(super) rejected: RejectCounts,
    pub(super) rejects: RejectLog,
    /// Readings and rejections since start (results are counted where they are written).
    pub(super) totals: RunSummary,
    /// How far the input is counted, per partition.
    pub(super) progress: Progress,
    /// Alert rules: sensor rules judge each counted reading.
    pub(super) alerts: Option<Alerting>,
    /// Processing time of the input being counted (read once per chunk or batch).
    now: EventTime,
}

/// One line or message as counting sees it: its reading (or why it is none), its guid when the
/// sensor table or the alert rules need the text, and its bytes when it is rejected.
pub trait Line<'a> {
    /// What the parser made of it.
    fn reading(&self) -> Result<Reading<'a>, RejectReason>;
    /// The guid's text of `reading` (asked for only by a sensor new to the table, and by rules).
    fn guid(&self, reading: &Reading<'_>) -> String;
    /// Its bytes (a line up to its `\n`, a message whole).
    fn bytes(&self) -> &'a [u8];
    /// Has sensor alert rules judge `reading`, which they name by guid.
    fn judge(&self, reading: &Reading<'_>, alerts: &mut Alerting);
}

/// A line or message parsed here.
struct Parsing<'a> {
    parser: Parser,
    bytes: &'a [u8],
}

impl<'a> Line<'a> for Parsing<'a> {
    #[inline]
    fn reading(&self) -> Result<Reading<'a>, RejectReason> {
        self.parser.parse(self.bytes)
    }

    fn guid(&self, reading: &Reading<'_>) -> String {
        reading.guid.to_string()
    }

    fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn judge(&self, reading: &Reading<'_>, alerts: &mut Alerting) {
        alerts.on_reading(reading);
    }
}

/// A line or message a parsing thread made a compact reading of; its guid is found in the input.
struct Parsed<'a> {
    ordered: &'a Ordered,
    item: &'a Item,
    /// The message's payload; a line's bytes are found when needed.
    payload: Option<&'a [u8]>,
}

impl<'a> Line<'a> for Parsed<'a> {
    #[inline]
    fn reading(&self) -> Result<Reading<'a>, RejectReason> {
        self.item.outcome.map(|compact| compact.reading())
    }

    fn guid(&self, _: &Reading<'_>) -> String {
        self.ordered.guid(self.item)
    }

    fn bytes(&self) -> &'a [u8] {
        self.payload.unwrap_or_else(|| self.ordered.line(self.item))
    }

    fn judge(&self, reading: &Reading<'_>, alerts: &mut Alerting) {
        // The compact reading has no guid: the text, which only the rules need, is found now.
        let guid = self.ordered.guid(self.item);
        alerts.on_reading(&Reading { guid: guid.as_str().into(), ..*reading });
    }
}

impl Counting {
    /// Counting for a run of `settings` (of `queries`, if given), its first batch (if any)
    /// starting at `now`.
    pub fn new(
        settings: &Settings,
        queries: Option<QuerySet>,
        alerts: Option<Alerting>,
        now: EventTime,
    ) -> Counting {
        let operator = match queries {
            Some(_) => Operator::Batches(MicroBatches::new(now)),
            None => settings.operator().build(now),
        };
        Counting {
            parser: settings.parser(),
            operator,
            queries: queries.map(|set| Box::new(Queries::new(set, now))),
            sensors: SensorTable::default(),
            track_sensors: settings.tracks_sensors(),
            rejected: RejectCounts::default(),
            rejects: RejectLog::default(),
            totals: RunSummary::default(),
            progress: Progress::default(),
            alerts,
            now,
        }
    }

    /// Lines of a file or pipe, parsed here.
    pub fn on_chunk(&mut self, chunk: &Chunk, now: EventTime) {
        self.now = now;
        if let Some((queries, mut tallies)) = self.querying(&mut None) {
            return queries.on_lines(&mut tallies, chunk.first_line, lines(chunk.data()));
        }
        let parser = self.parser;
        self.count_lines(chunk.first_line, lines(chunk.data()).map(|bytes| Parsing { parser, bytes }));
    }

    /// Messages of a partitioned source, parsed here.
    pub fn on_messages(&mut self, batch: &MessageBatch, dead_letters: &mut DeadLetters, now: EventTime) {
        self.now = now;
        if let Some((queries, mut tallies)) = self.querying(dead_letters) {
            return queries.on_messages(&mut tallies, batch);
        }
        let parser = self.parser;
        let messages = batch.iter().map(|(bytes, meta)| (Parsing { parser, bytes }, meta));
        self.count_messages(messages, dead_letters);
    }

    /// A chunk or message batch a parsing thread made readings of, counted in input order.
    pub fn on_ordered(&mut self, ordered: &Ordered, dead_letters: &mut DeadLetters, now: EventTime) {
        self.now = now;
        match &ordered.input {
            OrderedInput::Lines(chunk) => {
                let lines = ordered.items.iter().map(|item| Parsed { ordered, item, payload: None });
                self.count_lines(chunk.first_line, lines);
            }
            OrderedInput::Messages(batch) => {
                let messages = ordered.items.iter().zip(batch.iter());
                let messages = messages
                    .map(|(item, (payload, meta))| (Parsed { ordered, item, payload: Some(payload) }, meta));
                self.count_messages(messages, dead_letters);
            }
        }
    }

    /// A chunk or message batch whose fields a parsing thread extracted for the queries.
    pub fn on_fields(&mut self, fields: &FieldBatch, dead_letters: &mut DeadLetters, now: EventTime) {
        self.now = now;
        if let Some((queries, mut tallies)) = self.querying(dead_letters) {
            queries.on_fields(&mut tallies, fields);
        }
    }

    /// The queries, in a run of queries, with the tallies they count into.
    fn querying<'a>(
        &'a mut self,
        dead_letters: &'a mut DeadLetters,
    ) -> Option<(&'a mut Queries, Tallies<'a>)> {
        let queries = self.queries.as_deref_mut()?;
        let tallies = Tallies {
            now: self.now,
            rejected: &mut self.rejected,
            totals: &mut self.totals,
            log: &mut self.rejects,
            progress: &mut self.progress,
            dead_letters,
        };
        Some((queries, tallies))
    }

    /// A chunk or message batch parsed and aggregated by a worker thread (processing time only).
    /// Partials arrive in input order, so positions only ever move past input that is counted.
    pub fn on_partial(
        &mut self,
        partial: &Partial,
        dead_letters: &mut DeadLetters,
    ) -> Result<(), iotstream_engine::OperatorError> {
        self.operator.on_partial(&partial.aggregate)?;
        self.totals.readings += partial.readings;
        self.totals.rejected += partial.rejected;
        self.rejected.merge(partial.aggregate.rejected());
        match &partial.covers {
            Covers::Lines { next_line, examples } => {
                self.progress.read_lines(*next_line);
                for (line_number, reason, line) in examples {
                    self.rejects.record(*reason, &format_args!("line {line_number}"), line);
                }
            }
            Covers::Messages { positions, rejects } => {
                for reject in rejects {
                    let (partition, offset) = (reject.partition, reject.offset);
                    self.reject_message(&reject.payload, reject.reason, partition, offset, dead_letters);
                }
                for &(partition, next) in positions {
                    self.progress.advance(partition, next);
                }
            }
        }
        Ok(())
    }

    /// Lines from line `first` on (partition 0, positions are line numbers).
    fn count_lines<'a, L: Line<'a>>(&mut self, first: u64, lines: impl Iterator<Item = L>) {
        let mut next = first;
        for (line_number, line) in (first..).zip(lines) {
            if let Err(reason) = self.count(&line, 0, line_number as i64) {
                self.rejects.record(reason, &format_args!("line {line_number}"), line.bytes());
            }
            next = line_number + 1;
        }
        self.progress.read_lines(next);
        // A file or pipe hands over what it has as soon as it has it: no backlog behind a chunk.
        self.operator.on_caught_up(0);
    }

    /// Messages, each with where it came from.
    fn count_messages<'a, 'm, L: Line<'a>>(
        &mut self,
        messages: impl Iterator<Item = (L, &'m MessageMeta)>,
        dead_letters: &mut DeadLetters,
    ) {
        for (message, meta) in messages {
            let partition = u32::try_from(meta.partition).unwrap_or(0);
            if let Err(reason) = self.count(&message, partition, meta.offset) {
                self.reject_message(message.bytes(), reason, meta.partition, meta.offset, dead_letters);
            }
            self.progress.read_message(meta.partition, meta.offset);
        }
    }

    /// Counts one line or message wherever it belongs; the reason if it counts nowhere.
    #[inline]
    fn count<'a, L: Line<'a>>(
        &mut self,
        line: &L,
        partition: u32,
        position: i64,
    ) -> Result<(), RejectReason> {
        let outcome = match line.reading() {
            Ok(reading) => {
                if self.track_sensors {
                    self.sensors.update_with(&reading, || line.guid(&reading), self.now);
                }
                let counted = self.operator.on_reading(partition, position, &reading, self.now);
                if let (Ok(()), Some(alerts)) = (counted, &mut self.alerts) {
                    if alerts.wants_readings() {
                        line.judge(&reading, alerts);
                    }
                }
                counted
            }
            Err(reason) => {
                self.operator.on_rejected(reason);
                Err(reason)
            }
        };
        self.tally(outcome)
    }

    /// Adds what became of one message to the run's totals; passes the outcome on.
    #[inline]
    fn tally(&mut self, outcome: Result<(), RejectReason>) -> Result<(), RejectReason> {
        match outcome {
            Ok(()) => self.totals.readings += 1,
            Err(reason) => {
                self.rejected.add(reason);
                self.totals.rejected += 1;
            }
        }
        outcome
    }

    /// A rejected message of a partitioned source: logged, and queued as a dead letter.
    fn reject_message(
        &mut self,
        payload: &[u8],
        reason: RejectReason,
        partition: i32,
        offset: i64,
        dead_letters: &mut DeadLetters,
    ) {
        self.rejects.record(reason, &format_args!("partition {partition} offset {offset}"), payload);
        if let Some(dead_letters) = dead_letters {
            dead_letters.reject(payload, reason, None, partition, offset);
        }
    }

    /// Messages and readings seen so far (what source-idle alert rules watch).
    pub fn inputs(&self) -> u64 {
        self.totals.readings + self.totals.rejected
    }
}
