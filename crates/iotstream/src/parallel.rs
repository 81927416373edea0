//! Parsing on several cores: chunks of lines (files) and message batches (Kafka) are parsed by a
//! pool of worker threads, and the pipeline takes what they made of them in input order.
//!
//! Three kinds of work, by [`Mode`] and [`Parsers`]:
//! - **partial aggregates** (processing time without live views): exact because aggregates merge
//!   exactly in any order (see `iotstream_engine::aggregate`), and arrival order within a batch
//!   does not matter;
//! - **ordered readings** (event time, or any run keeping the per-sensor table for stats records,
//!   the status and sensor lookups): the workers do the expensive part, parsing, and hand back
//!   each line's or message's outcome as a compact reading, in input order; the pipeline then does
//!   the cheap ordered part (watermarks, lateness, window updates, the sensor table) exactly as one
//!   thread would, reading by reading. Results are the same bytes for any number of threads;
//! - **records** (SQL queries): the workers extract every query's fields from each message in
//!   one pass (the queries' extractor, with the message shapes each worker has learnt) and hand
//!   back the records with the input, in input order; the pipeline counts each record for every
//!   query in order (watermarks, lateness, per-query rejections and their dead letters).
//!
//! Results still come out **in input order**: the dispatcher queues a slot per event, in the
//! order the source sent them, and a collector thread hands the slots to the pipeline in that
//! order, waiting for a worker where a slot is still being parsed. So the pipeline sees exactly the
//! sequence a single thread would have produced, only faster: the positions it acknowledges (a
//! file's next line, a partition's next offset) never get ahead of input that is still being
//! parsed, a rebalance's revocation arrives after every batch polled before it, and the end of
//! input after everything before it.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use iotstream_engine::lines::lines;
use iotstream_engine::query::{CompiledQueries, Records};
use iotstream_engine::Parser;
use tokio::sync::mpsc;

use crate::channel::{
    Chunk, Compact, Control, Covers, Data, FieldBatch, FieldItem, GuidAt, Item, MessageBatch, Ordered,
    OrderedInput, Partial, RejectedMessage, SourceError, SourceEvent, SourceReceiver, CHANNEL_DEPTH,
};

/// What the parsing threads make of their input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Partial aggregates, merged by the pipeline in any order ([`Data::Parsed`]).
    #[default]
    Aggregate,
    /// Compact readings in input order, for the pipeline's ordered part ([`Data::Ordered`]).
    Ordered,
    /// Records of the queries' fields in input order ([`Data::Fields`]; with
    /// [`Parsers::Queries`]).
    Records,
}

/// What the parsing threads read messages with: the seed's parser, or the queries' extractor
/// (compiled once, shared read-only by every thread).
#[derive(Clone, Debug)]
pub enum Parsers {
    /// The seed's analyses.
    Seed(Parser),
    /// SQL queries.
    Queries(Arc<CompiledQueries>),
}

impl Default for Parsers {
    fn default() -> Self {
        Parsers::Seed(Parser::default())
    }
}

/// Most rejected lines a worker reports in full per chunk (the rest are only counted), so that a
/// file of garbage does not turn into a copy of itself in memory.
const REPORTED_PER_CHUNK: usize = 16;

/// Parses one chunk into a partial aggregate, with room for `sensors` distinct sensors.
pub fn parse_chunk(parser: &Parser, chunk: &Chunk, sensors: usize) -> Partial {
    let mut partial = Partial::sized(sensors);
    let mut next_line = chunk.first_line;
    let mut examples = Vec::new();
    for (line_number, line) in (chunk.first_line..).zip(lines(chunk.data())) {
        next_line = line_number + 1;
        if let Some(reason) = partial.count(parser.parse(line)) {
            if examples.len() < REPORTED_PER_CHUNK {
                examples.push((line_number, reason, line[..line.len().min(120)].to_vec()));
            }
        }
    }
    partial.covers = Covers::Lines { next_line, examples };
    partial
}

/// Parses one message batch into a partial aggregate, with room for `sensors` distinct sensors;
/// every rejected message is kept (it becomes a dead letter).
pub fn parse_batch(parser: &Parser, batch: &MessageBatch, sensors: usize) -> Partial {
    let mut partial = Partial::sized(sensors);
    let mut positions: Vec<(i32, i64)> = Vec::new();
    let mut rejects = Vec::new();
    for (payload, meta) in batch.iter() {
        if let Some(reason) = partial.count(parser.parse(payload)) {
            let (partition, offset) = (meta.partition, meta.offset);
            rejects.push(RejectedMessage { partition, offset, reason, payload: payload.to_vec() });
        }
        // A batch holds few partitions: a short list beats a map here.
        match positions.iter_mut().find(|(p, _)| *p == meta.partition) {
            Some((_, next)) => *next = meta.offset + 1,
            None => positions.push((meta.partition, meta.offset + 1)),
        }
    }
    partial.covers = Covers::Messages { positions, rejects };
    partial
}

/// Parses one chunk or message batch, keeping every outcome in order (see [`Mode::Ordered`]).
pub fn parse_ordered(parser: &Parser, input: OrderedInput) -> Ordered {
    let data = input.data();
    // About 190 bytes a line in the seed's format; a batch knows its count.
    let expected = match &input {
        OrderedInput::Lines(chunk) => chunk.data().len() / 128,
        OrderedInput::Messages(batch) => batch.len(),
    };
    let mut items = Vec::with_capacity(expected);
    let mut guids = Vec::new();
    let mut parse = |bytes: &[u8]| {
        let outcome = parser.parse(bytes).map(|reading| Compact {
            sensor: reading.sensor,
            state: reading.state,
            event_time: reading.event_time,
            temperature: reading.temperature,
            guid: guid_at(bytes, reading.guid, &mut guids),
        });
        items.push(Item { start: offset_in(data, bytes), outcome });
    };
    match &input {
        OrderedInput::Lines(chunk) => lines(chunk.data()).for_each(&mut parse),
        OrderedInput::Messages(batch) => batch.iter().for_each(|(payload, _)| parse(payload)),
    }
    Ordered { input, items, guids }
}

/// Extracts the queries' fields of every line or message of `input` into `records` (kept by the
/// worker: its learnt message shapes), which hands them over with the input.
pub fn parse_fields(queries: &CompiledQueries, records: &mut Records, input: OrderedInput) -> FieldBatch {
    let data = input.data();
    let expected = match &input {
        OrderedInput::Lines(chunk) => chunk.data().len() / 128,
        OrderedInput::Messages(batch) => batch.len(),
    };
    let mut items = Vec::with_capacity(expected);
    let mut extract = |bytes: &[u8]| {
        let outcome = records.push(queries.extractor(), bytes).map(|i| u32::try_from(i).unwrap_or(u32::MAX));
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        items.push(FieldItem { start: offset_in(data, bytes), len, outcome });
    };
    match &input {
        OrderedInput::Lines(chunk) => lines(chunk.data()).for_each(&mut extract),
        OrderedInput::Messages(batch) => batch.iter().for_each(|(payload, _)| extract(payload)),
    }
    FieldBatch { records: records.take(), items, input }
}

/// Where `bytes`, a slice of `data`, starts in it.
fn offset_in(data: &[u8], bytes: &[u8]) -> usize {
    (bytes.as_ptr() as usize).saturating_sub(data.as_ptr() as usize)
}

/// Where a parsed guid is: in its line's (or message's) bytes when the parser borrowed it (the
/// common case), else (escapes decoded) kept in `owned`.
fn guid_at(line: &[u8], guid: iotstream_engine::Guid<'_>, owned: &mut Vec<String>) -> GuidAt {
    let bytes = guid.as_bytes();
    let (at, base) = (bytes.as_ptr() as usize, line.as_ptr() as usize);
    if at >= base && at + bytes.len() <= base + line.len() {
        if let (Ok(offset), Ok(len)) = (u32::try_from(at - base), u32::try_from(bytes.len())) {
            return GuidAt::Input(offset, len);
        }
    }
    owned.push(guid.into_string());
    GuidAt::Owned(u32::try_from(owned.len() - 1).unwrap_or(u32::MAX))
}

/// Work for a parsing thread, and where its result goes.
enum Work {
    Lines(Chunk),
    Messages(MessageBatch),
}

impl Work {
    fn into_input(self) -> OrderedInput {
        match self {
            Work::Lines(chunk) => OrderedInput::Lines(chunk),
            Work::Messages(batch) => OrderedInput::Messages(batch),
        }
    }
}

/// What a parsing thread hands back.
enum Output {
    Partial(Box<Partial>),
    Ordered(Box<Ordered>),
    Fields(Box<FieldBatch>),
}

impl Output {
    fn into_event(self) -> SourceEvent {
        match self {
            Output::Partial(partial) => SourceEvent::Data(Data::Parsed(partial)),
            Output::Ordered(ordered) => SourceEvent::Data(Data::Ordered(ordered)),
            Output::Fields(fields) => SourceEvent::Data(Data::Fields(fields)),
        }
    }
}

/// What a parsing thread keeps from one piece of work to the next.
#[derive(Default)]
struct Worker {
    /// Distinct sensors in its last partial: the next one likely sees about as many.
    sensors: usize,
    /// Its records buffer (queries), with the message shapes it has learnt.
    records: Option<Records>,
}

/// Parses `work` with `parsers` as `mode` asks.
fn parse_work(parsers: &Parsers, work: Work, mode: Mode, worker: &mut Worker) -> Output {
    match parsers {
        Parsers::Seed(parser) => parse_seed(parser, work, mode, &mut worker.sensors),
        Parsers::Queries(queries) => {
            let records = worker.records.get_or_insert_with(|| queries.records());
            Output::Fields(Box::new(parse_fields(queries, records, work.into_input())))
        }
    }
}

/// Parses `work` for the seed's analyses; `sensors` sizes a partial's sensor map, and is updated.
fn parse_seed(parser: &Parser, work: Work, mode: Mode, sensors: &mut usize) -> Output {
    match (mode, work) {
        (Mode::Ordered | Mode::Records, Work::Lines(chunk)) => {
            Output::Ordered(Box::new(parse_ordered(parser, OrderedInput::Lines(chunk))))
        }
        (Mode::Ordered | Mode::Records, Work::Messages(batch)) => {
            Output::Ordered(Box::new(parse_ordered(parser, OrderedInput::Messages(batch))))
        }
        (Mode::Aggregate, work) => {
            let partial = match &work {
                Work::Lines(chunk) => parse_chunk(parser, chunk, *sensors),
                Work::Messages(batch) => parse_batch(parser, batch, *sensors),
            };
            *sensors = partial.aggregate.sensors() as usize;
            // Hands a chunk's buffer back to the reader's pool now, not after the collector took it.
            drop(work);
            Output::Partial(Box::new(partial))
        }
    }
}

/// One place in the output order: an event to forward as it is, or one being parsed.
enum Slot {
    Ready(SourceEvent),
    Parsing(std_mpsc::Receiver<Output>),
}

/// Puts `threads` parsing workers between a source and the pipeline: chunks and message batches
/// come out as [`Data::Parsed`] partial aggregates or [`Data::Ordered`] readings (by
/// `mode`), in input order, with every other event
/// (end of input, failures, assignments, revocations) in its place among them.
pub fn spawn(mut source: SourceReceiver, threads: usize, parsers: Parsers, mode: Mode) -> SourceReceiver {
    let threads = threads.max(1);
    let (out, events) = mpsc::channel(CHANNEL_DEPTH);
    let (work, queue) = std_mpsc::sync_channel::<(Work, std_mpsc::SyncSender<Output>)>(threads * 2);
    // Enough slots to keep every worker busy while the collector waits for the oldest one.
    let (slots, ordered) = std_mpsc::sync_channel::<Slot>(threads * 2 + CHANNEL_DEPTH);
    let queue = Arc::new(Mutex::new(queue));
    for i in 0..threads {
        let (queue, parsers) = (Arc::clone(&queue), parsers.clone());
        std::thread::Builder::new()
            .name(format!("parser-{i}"))
            .spawn(move || work_loop(&queue, &parsers, mode))
            .expect("spawning a thread only fails when the OS is out of resources");
    }
    std::thread::Builder::new()
        .name("dispatcher".into())
        .spawn(move || {
            while let Some(event) = source.blocking_recv() {
                let work_item = match event {
                    SourceEvent::Data(Data::Chunk(chunk)) => Work::Lines(chunk),
                    SourceEvent::Data(Data::Messages(batch)) => Work::Messages(batch),
                    other => {
                        let last = other.is_last();
                        if slots.send(Slot::Ready(other)).is_err() || last {
                            return;
                        }
                        continue;
                    }
                };
                // The reply channel has room for the one result, so a worker never waits on it.
                let (reply, result) = std_mpsc::sync_channel(1);
                if slots.send(Slot::Parsing(result)).is_err() || work.send((work_item, reply)).is_err() {
                    return;
                }
            }
            // The source went away without saying why: the collector ends the stream after the
            // slots before this, and the pipeline treats a closed stream as the end.
        })
        .expect("spawning a thread only fails when the OS is out of resources");
    spawn_collector(ordered, out);
    events
}

/// Reads a file on the parsing threads themselves: each takes the next block (in turn, under a
/// lock, with its place in the output order) and parses it right away, while the bytes the OS just
/// copied are still in its core's cache. A separate reading thread would compete with the parsers
/// for the cores and hand every block to another core's cache, which on two cores costs more than
/// the reading itself. Lines before `start_line` are skipped (a resumed run).
pub fn spawn_reading<R: ChunkReader>(
    lines: R,
    start_line: u64,
    threads: usize,
    parsers: Parsers,
    mode: Mode,
) -> SourceReceiver {
    let (out, events) = mpsc::channel(CHANNEL_DEPTH);
    let (slots, ordered) = std_mpsc::sync_channel::<Slot>(threads.max(1) * 2 + CHANNEL_DEPTH);
    let shared = Arc::new(Mutex::new(SharedReader { lines, start_line, slots: Some(slots) }));
    for i in 0..threads.max(1) {
        let (shared, parsers) = (Arc::clone(&shared), parsers.clone());
        std::thread::Builder::new()
            .name(format!("parser-{i}"))
            .spawn(move || read_and_parse(&shared, &parsers, mode))
            .expect("spawning a thread only fails when the OS is out of resources");
    }
    spawn_collector(ordered, out);
    events
}

/// Input that comes in chunks of whole lines (a file's line reader), read by the parsing threads.
pub trait ChunkReader: Send + 'static {
    /// The next chunk, skipping lines before `start_line`; `None` at the end.
    fn next_chunk_from(&mut self, start_line: u64) -> std::io::Result<Option<Chunk>>;
}

/// The input the reading workers share, and the output order's queue (dropped at the end).
struct SharedReader<R> {
    lines: R,
    start_line: u64,
    slots: Option<std_mpsc::SyncSender<Slot>>,
}

fn read_and_parse<R: ChunkReader>(shared: &Mutex<SharedReader<R>>, parsers: &Parsers, mode: Mode) {
    let mut worker = Worker::default();
    loop {
        let (chunk, reply) = {
            let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
            let start_line = shared.start_line;
            let next = shared.lines.next_chunk_from(start_line);
            // Taken while the lock is held, so the slots queue in the order the blocks were read.
            let Some(slots) = shared.slots.as_ref() else { return };
            let chunk = match next {
                Ok(Some(chunk)) => chunk,
                end => {
                    let last = match end {
                        Err(e) => SourceEvent::Control(Control::Failed(SourceError::Read(e))),
                        _ => SourceEvent::end(),
                    };
                    let _ = slots.send(Slot::Ready(last));
                    // Dropping the queue's last sender lets the collector finish after the end.
                    shared.slots = None;
                    return;
                }
            };
            let (reply, result) = std_mpsc::sync_channel(1);
            if slots.send(Slot::Parsing(result)).is_err() {
                shared.slots = None;
                return;
            }
            (chunk, reply)
        };
        // A partial's chunk goes back to the pool before the next block is read; ordered
        // readings keep theirs (the pipeline may need a late line's bytes) until it is done.
        let output = parse_work(parsers, Work::Lines(chunk), mode, &mut worker);
        let _ = reply.send(output);
    }
}

/// Hands the slots to the pipeline in order, waiting for each one still being parsed.
fn spawn_collector(ordered: std_mpsc::Receiver<Slot>, out: mpsc::Sender<SourceEvent>) {
    std::thread::Builder::new()
        .name("collector".into())
        .spawn(move || {
            for slot in ordered {
                let event = match slot {
                    Slot::Ready(event) => event,
                    Slot::Parsing(result) => match result.recv() {
                        Ok(output) => output.into_event(),
                        // A worker died (a bug): fail the run rather than report partial results.
                        Err(_) => SourceEvent::Control(Control::Failed(SourceError::Parser)),
                    },
                };
                let failed = matches!(event, SourceEvent::Control(Control::Failed(_)));
                if out.blocking_send(event).is_err() || failed {
                    return;
                }
            }
        })
        .expect("spawning a thread only fails when the OS is out of resources");
}

/// The queue of work shared by the parsing threads, each item with where its result goes.
type WorkQueue = Mutex<std_mpsc::Receiver<(Work, std_mpsc::SyncSender<Output>)>>;

fn work_loop(queue: &WorkQueue, parsers: &Parsers, mode: Mode) {
    let mut worker = Worker::default();
    loop {
        // Hold the lock only to take work, not while parsing it.
        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok((work, reply)) = next else { return };
        let output = parse_work(parsers, work, mode, &mut worker);
        // The collector may be gone (the run stopped); there is nothing to do about it then.
        let _ = reply.send(output);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotstream_engine::RejectReason;

    /// A valid reading, as one line.
    const LINE: &str = r#"{"guid":"g","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#;

    #[test]
    fn partials_count_what_the_lines_hold() {
        let chunk = Chunk::from_vec(format!("{LINE}\nnope\n{LINE}\n").into_bytes(), 10);
        let partial = parse_chunk(&Parser::default(), &chunk, 0);
        assert_eq!((partial.readings, partial.rejected), (2, 1));
        let Covers::Lines { next_line, examples } = &partial.covers else { panic!("{partial:?}") };
        assert_eq!(*next_line, 13);
        assert_eq!(examples, &[(11, RejectReason::MalformedJson, b"nope".to_vec())]);
        assert_eq!(partial.aggregate.messages(), 2);
    }

    #[test]
    fn ordered_readings_keep_order_positions_and_guids() {
        let escaped = LINE.replace(r#""guid":"g""#, r#""guid":"\u0067h""#);
        let text = format!("{LINE}\nnope\n{escaped}\n");
        let ordered = parse_ordered(&Parser::default(), OrderedInput::Lines(Chunk::from_vec(text.into(), 1)));
        let items = &ordered.items;
        assert_eq!(items.len(), 3);
        assert_eq!(ordered.line(&items[1]), b"nope");
        assert_eq!(items[1].outcome.unwrap_err(), RejectReason::MalformedJson);
        assert_eq!((ordered.guid(&items[0]), ordered.guid(&items[2])), ("g".into(), "gh".into()));
        assert!(matches!(items[2].outcome, Ok(Compact { guid: GuidAt::Owned(0), .. })));
        // Read once per reading by the pipeline, written on another core: small on purpose.
        assert!(std::mem::size_of::<Item>() <= 48, "{}", std::mem::size_of::<Item>());
    }

    #[test]
    fn batches_keep_every_reject_and_the_next_offsets() {
        let mut batch = MessageBatch::default();
        batch.push(LINE.as_bytes(), 1000, 0, 5);
        batch.push(b"bad", 1000, 1, 7);
        batch.push(LINE.as_bytes(), 1000, 0, 6);
        batch.push(b"{}", 1000, 2, 0);
        let partial = parse_batch(&Parser::default(), &batch, 0);
        assert_eq!((partial.readings, partial.rejected), (2, 2));
        let Covers::Messages { positions, rejects } = &partial.covers else { panic!("{partial:?}") };
        assert_eq!(positions, &[(0, 7), (1, 8), (2, 1)]);
        let got: Vec<_> =
            rejects.iter().map(|r| (r.partition, r.offset, r.reason, r.payload.as_slice())).collect();
        assert_eq!(
            got,
            [(1, 7, RejectReason::MalformedJson, &b"bad"[..]), (2, 0, RejectReason::MissingField, b"{}")]
        );
    }

    #[test]
    fn output_keeps_the_input_order() {
        // Chunks of very different sizes finish out of order on the workers; the pipeline must still
        // see them (and the events between them) in the order the source sent them.
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (tx, rx) = mpsc::channel(4);
        let mut events = spawn(rx, 3, Parsers::default(), Mode::Aggregate);
        std::thread::spawn(move || {
            let mut first = 1;
            for i in 0..60u64 {
                let n = if i % 3 == 0 { 2000 } else { 1 };
                let chunk = Chunk::from_vec(format!("{LINE}\n").repeat(n).into_bytes(), first);
                first += n as u64;
                tx.blocking_send(SourceEvent::chunk(chunk)).unwrap();
                if i % 10 == 9 {
                    tx.blocking_send(SourceEvent::Control(Control::CaughtUp(i as i32))).unwrap();
                }
            }
            tx.blocking_send(SourceEvent::end()).unwrap();
        });
        let seen = runtime.block_on(async {
            let mut seen = Vec::new();
            loop {
                match events.recv().await {
                    Some(SourceEvent::Data(Data::Parsed(partial))) => match partial.covers {
                        Covers::Lines { next_line, .. } => seen.push(next_line as i64),
                        other => panic!("{other:?}"),
                    },
                    Some(SourceEvent::Control(Control::CaughtUp(i))) => seen.push(-i64::from(i)),
                    Some(SourceEvent::Control(Control::End)) => return seen,
                    other => panic!("{other:?}"),
                }
            }
        });
        let mut expected = Vec::new();
        let mut next = 1;
        for i in 0..60i64 {
            next += if i % 3 == 0 { 2000 } else { 1 };
            expected.push(next);
            if i % 10 == 9 {
                expected.push(-i);
            }
        }
        assert_eq!(seen, expected);
    }

    #[test]
    fn the_pool_counts_everything_before_the_end() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (tx, rx) = mpsc::channel(4);
        let mut events = spawn(rx, 3, Parsers::default(), Mode::Aggregate);
        std::thread::spawn(move || {
            for i in 0..50 {
                let chunk = Chunk::from_vec(format!("{LINE}\n{LINE}\n").into_bytes(), i * 2 + 1);
                tx.blocking_send(SourceEvent::chunk(chunk)).unwrap();
            }
            tx.blocking_send(SourceEvent::end()).unwrap();
        });
        let readings = runtime.block_on(async {
            let mut readings = 0;
            loop {
                match events.recv().await {
                    Some(SourceEvent::Data(Data::Parsed(partial))) => readings += partial.readings,
                    Some(SourceEvent::Control(Control::End)) => return readings,
                    other => panic!("{other:?}"),
                }
            }
        });
        assert_eq!(readings, 100);
    }

    #[test]
    fn reading_workers_keep_order_and_resume_position() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut text = String::new();
        for i in 1..=3000 {
            text.push_str(if i % 500 == 0 { "bad" } else { LINE });
            text.push('\n');
        }
        for (start_line, expected_readings, expected_rejected) in
            [(1, 2994, 6), (1001, 1996, 4), (4000, 0, 0)]
        {
            let lines = crate::connectors::file::LineReader::new(
                Box::new(std::io::Cursor::new(text.clone().into_bytes())),
                1000,
                4096,
            );
            let mut events = spawn_reading(lines, start_line, 3, Parsers::default(), Mode::Aggregate);
            let (readings, rejected, lines_seen) = runtime.block_on(async {
                let (mut readings, mut rejected, mut next) = (0, 0, start_line.min(3001));
                loop {
                    match events.recv().await {
                        Some(SourceEvent::Data(Data::Parsed(partial))) => {
                            readings += partial.readings;
                            rejected += partial.rejected;
                            let Covers::Lines { next_line, examples } = &partial.covers else { panic!() };
                            // In order: each chunk starts where the last one ended.
                            assert_eq!(*next_line, next + partial.readings + partial.rejected);
                            for (n, _, bytes) in examples {
                                assert_eq!((n % 500, bytes.as_slice()), (0, &b"bad"[..]));
                            }
                            next = *next_line;
                        }
                        Some(SourceEvent::Control(Control::End)) => return (readings, rejected, next),
                        other => panic!("{other:?}"),
                    }
                }
            });
            assert_eq!(
                (readings, rejected),
                (expected_readings, expected_rejected),
                "from line {start_line}"
            );
            assert_eq!(lines_seen, 3001);
        }
    }
}
