//! Counting for SQL queries: every line or message, its fields extracted here or on a parsing
//! thread, counted for every query in input order (the one ordered stage), with the rejections
//! of the run (a message that is no record for any query: today's reasons, counted, logged and
//! dead-lettered as the seed's are) and of each query (counted by the query set per query and
//! reason, logged and dead-lettered with the query's name).
//!
//! Whether the pipeline extracted a line itself or a worker did changes only where its record
//! comes from; what is done with it is written once, so the answers are the same bytes whatever
//! the number of threads.

use std::sync::Arc;

use iotstream_engine::aggregate::RejectCounts;
use iotstream_engine::query::{CompiledQueries, QuerySet, Record, Records};
use iotstream_engine::{EventTime, RejectReason};

use super::positions::Progress;
use super::totals::RunSummary;
use crate::channel::{FieldBatch, MessageBatch, OrderedInput};
use crate::sinks::RejectSink;
use crate::telemetry::RejectLog;

/// The run's queries and what counting them keeps.
pub struct Queries {
    /// Every query's state.
    pub set: QuerySet,
    /// The compiled queries (names, the extractor), beside the set so that a query's name can be
    /// read while the set's answer about a record is held.
    compiled: Arc<CompiledQueries>,
    /// Records of lines and messages extracted here (one thread), with the shapes learnt.
    records: Records,
}

/// What counting keeps for every analysis, lent to the queries while they count a piece of
/// input.
pub struct Tallies<'a> {
    /// Processing time of the input.
    pub now: EventTime,
    /// The run's rejections (messages no query counts), by reason.
    pub rejected: &'a mut RejectCounts,
    /// Readings and rejections since start.
    pub totals: &'a mut RunSummary,
    /// The rate-limited log of rejections.
    pub log: &'a mut RejectLog,
    /// How far the input is counted.
    pub progress: &'a mut Progress,
    /// Where rejected messages of partitioned sources go.
    pub dead_letters: &'a mut Option<Box<dyn RejectSink>>,
}

/// Where a message was, for logs and dead letters.
#[derive(Clone, Copy)]
enum Place {
    Line(u64),
    Message(i32, i64),
}

impl Queries {
    /// `set`, before any input (processing-time batches start at `now`).
    pub fn new(mut set: QuerySet, now: EventTime) -> Queries {
        set.start(now);
        let compiled = Arc::clone(set.compiled());
        let records = compiled.records();
        Queries { set, compiled, records }
    }

    /// Lines of a file or pipe, from line `first` on, extracted here.
    pub fn on_lines<'m>(&mut self, t: &mut Tallies<'_>, first: u64, lines: impl Iterator<Item = &'m [u8]>) {
        let mut next = first;
        for (line_number, line) in (first..).zip(lines) {
            self.records.clear();
            match self.records.push(self.compiled.extractor(), line) {
                Ok(at) => {
                    let record = self.records.get(at, line);
                    count(&mut self.set, &self.compiled, t, Ok(&record), line, Place::Line(line_number));
                }
                Err(reason) => {
                    count(&mut self.set, &self.compiled, t, Err(reason), line, Place::Line(line_number))
                }
            }
            next = line_number + 1;
        }
        self.lines_read(t, next);
    }

    /// Messages of a partitioned source, extracted here.
    pub fn on_messages(&mut self, t: &mut Tallies<'_>, batch: &MessageBatch) {
        for (payload, meta) in batch.iter() {
            self.records.clear();
            let place = Place::Message(meta.partition, meta.offset);
            match self.records.push(self.compiled.extractor(), payload) {
                Ok(at) => {
                    let record = self.records.get(at, payload);
                    count(&mut self.set, &self.compiled, t, Ok(&record), payload, place);
                }
                Err(reason) => count(&mut self.set, &self.compiled, t, Err(reason), payload, place),
            }
            t.progress.read_message(meta.partition, meta.offset);
        }
    }

    /// A chunk or message batch whose records a parsing thread extracted, in input order.
    pub fn on_fields(&mut self, t: &mut Tallies<'_>, fields: &FieldBatch) {
        let (set, compiled) = (&mut self.set, &self.compiled);
        let record = |item: &crate::channel::FieldItem, message| {
            item.outcome.map(|at| fields.records.get(at as usize, message))
        };
        match &fields.input {
            OrderedInput::Lines(chunk) => {
                let mut next = chunk.first_line;
                for (line_number, item) in (chunk.first_line..).zip(&fields.items) {
                    let line = fields.message(item);
                    let record = record(item, line);
                    count(set, compiled, t, record.as_ref().map_err(|r| *r), line, Place::Line(line_number));
                    next = line_number + 1;
                }
                self.lines_read(t, next);
            }
            OrderedInput::Messages(batch) => {
                for (item, (payload, meta)) in fields.items.iter().zip(batch.iter()) {
                    let record = record(item, payload);
                    let place = Place::Message(meta.partition, meta.offset);
                    count(set, compiled, t, record.as_ref().map_err(|r| *r), payload, place);
                    t.progress.read_message(meta.partition, meta.offset);
                }
            }
        }
    }

    /// A file or pipe is counted up to `next`: it hands over what it has at once, so there is
    /// no backlog behind it.
    fn lines_read(&mut self, t: &mut Tallies<'_>, next: u64) {
        t.progress.read_lines(next);
        self.set.on_caught_up(0);
    }
}

/// Counts one message (its record, or why it is none) for every query.
#[inline]
fn count(
    set: &mut QuerySet,
    compiled: &CompiledQueries,
    t: &mut Tallies<'_>,
    record: Result<&Record<'_>, RejectReason>,
    bytes: &[u8],
    place: Place,
) {
    let (partition, position) = match place {
        Place::Line(n) => (0, n as i64),
        Place::Message(partition, offset) => (u32::try_from(partition).unwrap_or(0), offset),
    };
    let counted = record.and_then(|record| set.on_record(partition, position, record, t.now));
    match counted {
        Ok([]) => t.totals.readings += 1,
        Ok(refused) => {
            t.totals.readings += 1;
            for &(query, reason) in refused {
                reject(t, bytes, reason, Some(compiled.name(query)), place);
            }
        }
        Err(reason) => {
            t.rejected.add(reason);
            t.totals.rejected += 1;
            reject(t, bytes, reason, None, place);
        }
    }
}

/// A message rejected for every query (`query` none) or for one: logged, rate-limited, and from
/// partitioned sources queued as a dead letter naming the query.
fn reject(t: &mut Tallies<'_>, bytes: &[u8], reason: RejectReason, query: Option<&str>, place: Place) {
    let of = query.map(|q| format!(", query {q}")).unwrap_or_default();
    match place {
        Place::Line(n) => t.log.record(reason, &format_args!("line {n}{of}"), bytes),
        Place::Message(partition, offset) => {
            t.log.record(reason, &format_args!("partition {partition} offset {offset}{of}"), bytes);
            if let Some(dead_letters) = t.dead_letters {
                dead_letters.reject(bytes, reason, query, partition, offset);
            }
        }
    }
}
