//! The types that travel between the threads of a run: what sources send the pipeline
//! ([`SourceEvent`]: input as [`Data`], the input's course as [`Control`], measurements as
//! [`Telemetry`]), what the pipeline tells sources ([`Command`]: positions to commit), and the
//! dashboard's questions ([`SensorQuery`]).
//!
//! This module depends on nothing else in the crate, so that sources, the parsing pool, the
//! pipeline and the sinks all depend on it and never on each other.

use iotstream_engine::live::LastReading;
use iotstream_engine::query::Records;
use iotstream_engine::reading::{SensorId, StateCode};
use iotstream_engine::{Aggregate, EventTime, Reading, RejectReason};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::mpsc;

/// A run of whole lines (each ending in `\n`, the last one possibly not) from one input.
///
/// The bytes live in a buffer that may come from a [`BufferPool`]: dropping the chunk (after it is
/// parsed, on whichever thread) hands the buffer back, so a file is read into the same few buffers
/// over and over instead of a fresh allocation (page faults, zeroing) per block.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The buffer; only `start..end` is this chunk's.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    /// 1-based number of the first line in the chunk, for error messages and resume positions.
    pub first_line: u64,
    /// Where the buffer goes back to when the chunk is dropped.
    pool: Option<BufferPool>,
}

impl Chunk {
    /// A chunk owning all of `data`.
    pub fn from_vec(data: Vec<u8>, first_line: u64) -> Chunk {
        Chunk { end: data.len(), buffer: data, start: 0, first_line, pool: None }
    }

    /// A chunk of `buffer[..end]`, whose buffer returns to `pool` when the chunk is dropped.
    pub fn pooled(buffer: Vec<u8>, end: usize, first_line: u64, pool: &BufferPool) -> Chunk {
        Chunk { buffer, start: 0, end, first_line, pool: Some(pool.clone()) }
    }

    /// The lines' bytes. Lines longer than the parser's limit are there whole when they fit a read
    /// buffer, else cut to `limit + 1` bytes: either way the parser rejects them as too large,
    /// and one huge line is never held in memory whole.
    pub fn data(&self) -> &[u8] {
        &self.buffer[self.start..self.end]
    }

    /// Drops the first `n` bytes.
    pub fn advance(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.put(std::mem::take(&mut self.buffer));
        }
    }
}

/// Read buffers for reuse, shared by a source and whoever drops its chunks.
#[derive(Clone, Debug, Default)]
pub struct BufferPool {
    free: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl BufferPool {
    /// Buffers kept for reuse at most: more than can be in flight (the channels' depths and one
    /// per parsing thread), so that a steady run allocates nothing, yet a bounded amount of memory.
    const KEEP: usize = 32;

    /// A buffer of at least `len` bytes (its length is its size; old contents are left in it).
    pub fn take(&self, len: usize) -> Vec<u8> {
        let reused = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match reused {
            Some(mut buffer) => {
                if buffer.len() < len {
                    buffer.resize(len, 0);
                }
                buffer
            }
            // Zeroed memory straight from the allocator: fresh pages from the OS are zero already,
            // so this costs no pass over the buffer.
            None => vec![0; len],
        }
    }

    /// Buffers waiting for reuse.
    pub fn kept(&self) -> usize {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Returns a buffer for reuse.
    pub fn put(&self, buffer: Vec<u8>) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < Self::KEEP {
            free.push(buffer);
        }
    }
}

/// Messages from a partitioned source (Kafka): payloads back to back in one buffer.
#[derive(Clone, Debug, Default)]
pub struct MessageBatch {
    /// The payloads, concatenated (each cut to the parser's limit + 1 bytes).
    pub data: Vec<u8>,
    /// Where each payload ends in `data`, and where it came from.
    pub messages: Vec<MessageMeta>,
}

/// One message's place in a [`MessageBatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    /// End of the payload in `data` (the start is the previous message's end).
    pub end: usize,
    /// Source partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

impl MessageBatch {
    /// Appends a payload, keeping at most `limit` bytes of it.
    pub fn push(&mut self, payload: &[u8], limit: usize, partition: i32, offset: i64) {
        self.data.extend_from_slice(&payload[..payload.len().min(limit)]);
        self.messages.push(MessageMeta { end: self.data.len(), partition, offset });
    }

    /// Each payload with its metadata, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &MessageMeta)> {
        let starts = std::iter::once(0).chain(self.messages.iter().map(|m| m.end));
        starts.zip(&self.messages).map(|(start, meta)| (&self.data[start..meta.end], meta))
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True with no messages.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// Next offsets to read, per partition: what a commit stores.
pub type Positions = Vec<(i32, i64)>;

/// A source is giving up partitions (a consumer-group rebalance). The pipeline emits what it has,
/// then replies with the positions to commit for those partitions before they move elsewhere.
#[derive(Debug)]
pub struct Revoke {
    /// The partitions going away.
    pub partitions: Vec<i32>,
    /// Where to send the positions to commit.
    pub reply: std_mpsc::SyncSender<Positions>,
}

/// What the pipeline (or scale-out, beside it) tells a source that keeps positions (Kafka, MQTT).
#[derive(Debug)]
pub enum Command {
    /// Everything before these positions is in results that have been written: commit them.
    Commit(Positions),
    /// A checkpoint holding everything before these positions has been saved: a source whose
    /// messages cannot be read again once acknowledged (MQTT) acknowledges them now.
    Checkpointed(Positions),
    /// Commit these positions, close the connection (leaving the consumer group) and stop.
    Shutdown(Positions),
    /// Leave the consumer group and join it again (scale-out: a partition has had no owner for
    /// too long, a broker that did not reassign a dead member's partitions).
    Rejoin,
}

/// The pipeline's side of a source: events in, and for sources that keep positions, a way to
/// acknowledge them.
pub struct Source {
    /// Events from the source thread.
    pub events: SourceReceiver,
    /// Acknowledgements back to it (`None` for files and the generator).
    pub control: Option<std_mpsc::Sender<Command>>,
    /// The source thread, joined at shutdown so that its final commit completes.
    pub thread: Option<JoinHandle<()>>,
}

impl Source {
    /// A source that needs no acknowledgements.
    pub fn plain(events: SourceReceiver) -> Source {
        Source { events, control: None, thread: None }
    }
}

/// What a source sends: input to count, news about the input, and measurements.
#[derive(Debug)]
pub enum SourceEvent {
    /// Input.
    Data(Data),
    /// The input's course: partitions coming and going, its end, its failure.
    Control(Control),
    /// Measurements of the source, for metrics and stats records.
    Telemetry(Telemetry),
}

/// Input to count.
#[derive(Debug)]
pub enum Data {
    /// Lines of a file or pipe.
    Chunk(Chunk),
    /// Messages from a partitioned source.
    Messages(MessageBatch),
    /// A chunk already parsed and aggregated by a worker thread (see `parallel`).
    Parsed(Box<Partial>),
    /// A chunk or message batch parsed by a worker thread, each reading kept in input order for
    /// the pipeline's ordered part (event time, live views: see `parallel`).
    Ordered(Box<Ordered>),
    /// A chunk or message batch whose fields a worker thread extracted for the run's SQL
    /// queries, each message's record kept in input order for the ordered stage.
    Fields(Box<FieldBatch>),
}

/// The input's course.
#[derive(Debug)]
pub enum Control {
    /// Partitions are being taken away.
    Revoke(Revoke),
    /// These partitions are now assigned (they hold event time back until they deliver).
    Assigned(Vec<i32>),
    /// The source has nothing more for this partition for now (end of partition).
    CaughtUp(i32),
    /// Many messages wait for a checkpoint before they can be acknowledged (MQTT with a state
    /// directory, whose broker stops sending at 65,535 unacknowledged): save one soon.
    CheckpointWanted,
    /// Something beside the source (scale-out) has queued news for the driver's extension on a
    /// channel of its own; sent after it, so that the extension finds it in its place among the
    /// input.
    Ring,
    /// The input ended (a file's end, a generator's count).
    End,
    /// Reading failed; the run stops with this error.
    Failed(SourceError),
}

/// Measurements of the source.
#[derive(Debug)]
pub enum Telemetry {
    /// Messages not yet read, per partition (Kafka's consumer lag, reported about once a second).
    Lag(Vec<(i32, i64)>),
    /// Messages deleted (retention) before they were read, per partition: the position to resume
    /// from was below the partition's first offset.
    DataLoss(Vec<(i32, u64)>),
}

/// Why a source stopped reading.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading the input failed.
    #[error("reading input failed: {0}")]
    Read(#[source] std::io::Error),
    /// A parsing thread died (a bug): partial results are not reported.
    #[error("a parsing thread failed")]
    Parser,
    /// The MQTT journal could not be written.
    #[error("cannot write the MQTT journal: {0}")]
    Journal(#[source] std::io::Error),
    /// The MQTT broker refused topic filters: nothing would arrive.
    #[error("the MQTT broker refused {refused} of the topic filters {filters:?}")]
    Refused {
        /// How many.
        refused: usize,
        /// The filters asked for.
        filters: Vec<String>,
    },
}

impl SourceEvent {
    /// More lines.
    pub fn chunk(chunk: Chunk) -> SourceEvent {
        SourceEvent::Data(Data::Chunk(chunk))
    }

    /// More messages.
    pub fn messages(batch: MessageBatch) -> SourceEvent {
        SourceEvent::Data(Data::Messages(batch))
    }

    /// The end of the input.
    pub fn end() -> SourceEvent {
        SourceEvent::Control(Control::End)
    }

    /// True for the last event a source sends (its end or its failure).
    pub fn is_last(&self) -> bool {
        matches!(self, SourceEvent::Control(Control::End | Control::Failed(_)))
    }
}

/// The receiving end the pipeline reads.
pub type SourceReceiver = mpsc::Receiver<SourceEvent>;

/// Chunks in flight between a source and the pipeline: enough to overlap reading with parsing.
pub const CHANNEL_DEPTH: usize = 8;

/// What a worker made of one chunk or message batch.
#[derive(Debug, Default)]
pub struct Partial {
    /// Everything counted, valid and rejected.
    pub aggregate: Aggregate,
    /// Valid readings.
    pub readings: u64,
    /// Rejected lines or messages.
    pub rejected: u64,
    /// Where the input came from, and what the pipeline must do about its rejections.
    pub covers: Covers,
}

impl Partial {
    /// An empty partial with room for `sensors` distinct sensors.
    pub fn sized(sensors: usize) -> Partial {
        Partial { aggregate: Aggregate::with_sensor_capacity(sensors), ..Partial::default() }
    }

    /// Counts one parsed line or message; the reason if it was rejected.
    #[inline]
    pub fn count(&mut self, parsed: Result<Reading<'_>, RejectReason>) -> Option<RejectReason> {
        match parsed {
            Ok(reading) => {
                self.aggregate.add(&reading);
                self.readings += 1;
                None
            }
            Err(reason) => {
                self.aggregate.reject(reason);
                self.rejected += 1;
                Some(reason)
            }
        }
    }
}

/// The input a [`Partial`] covers.
#[derive(Debug)]
pub enum Covers {
    /// Lines of a file.
    Lines {
        /// Number of the line after the chunk.
        next_line: u64,
        /// Some rejected lines: line number, reason and the first 120 bytes.
        examples: Vec<(u64, RejectReason, Vec<u8>)>,
    },
    /// Messages of a partitioned source.
    Messages {
        /// Next offset per partition, after the batch (in the order partitions appeared).
        positions: Vec<(i32, i64)>,
        /// Every rejected message, whole (as kept by the source): each becomes a dead letter.
        rejects: Vec<RejectedMessage>,
    },
}

impl Default for Covers {
    fn default() -> Self {
        Covers::Lines { next_line: 1, examples: Vec::new() }
    }
}

/// Input parsed by a worker with the outcome of every line or message kept, in input order: what
/// event time (watermarks, lateness) and live views (the per-sensor table) need, when parsing runs
/// on several threads. The input travels along, so that a reading the pipeline finds late is still
/// logged (and dead-lettered) with its bytes, exactly as on one thread.
#[derive(Debug)]
pub struct Ordered {
    /// The chunk or message batch parsed.
    pub input: OrderedInput,
    /// One per line or message, in order.
    pub items: Vec<Item>,
    /// Guids that are not plain bytes of the input (they had escapes), see [`GuidAt::Owned`].
    pub guids: Vec<String>,
}

/// What an [`Ordered`] was parsed from.
#[derive(Debug)]
pub enum OrderedInput {
    /// Lines of a file.
    Lines(Chunk),
    /// Messages of a partitioned source.
    Messages(MessageBatch),
}

impl OrderedInput {
    /// The bytes that [`Item`] ranges point into.
    pub fn data(&self) -> &[u8] {
        match self {
            OrderedInput::Lines(chunk) => chunk.data(),
            OrderedInput::Messages(batch) => &batch.data,
        }
    }
}

/// One line or message: where its bytes start in the input, and what the parser made of it.
/// Kept small (48 bytes): the pipeline reads one per reading, written on another core.
#[derive(Clone, Copy, Debug)]
pub struct Item {
    /// Start of its bytes in [`OrderedInput::data`] (a line ends at the next `\n`, a message
    /// where its batch says).
    pub start: usize,
    /// The reading, or why it is none.
    pub outcome: Result<Compact, RejectReason>,
}

/// A parsed reading without borrows: what the operator and the sensor table use of it.
#[derive(Clone, Copy, Debug)]
pub struct Compact {
    /// Hash of the guid.
    pub sensor: SensorId,
    /// The state.
    pub state: StateCode,
    /// Event time.
    pub event_time: EventTime,
    /// Temperature.
    pub temperature: f64,
    /// Where its guid's text is (needed only when the sensor table meets a new sensor).
    pub guid: GuidAt,
}

/// Where a [`Compact`] reading's guid is.
#[derive(Clone, Copy, Debug)]
pub enum GuidAt {
    /// This many bytes of the input, this far from the start of the reading's line or message.
    Input(u32, u32),
    /// This index into [`Ordered::guids`].
    Owned(u32),
}

impl Compact {
    /// The reading the operator takes. Its guid is left empty: the operator counts sensors by
    /// their hash, and only the sensor table keeps guids (see [`Ordered::guid`]).
    pub fn reading(&self) -> Reading<'static> {
        Reading {
            guid: "".into(),
            sensor: self.sensor,
            state: self.state,
            event_time: self.event_time,
            temperature: self.temperature,
        }
    }
}

impl Ordered {
    /// The guid text of the reading `item` holds.
    pub fn guid(&self, item: &Item) -> String {
        let Ok(reading) = &item.outcome else { return String::new() };
        match reading.guid {
            GuidAt::Input(offset, len) => {
                let start = item.start + offset as usize;
                let bytes = self.input.data().get(start..start + len as usize).unwrap_or_default();
                String::from_utf8_lossy(bytes).into_owned()
            }
            GuidAt::Owned(index) => self.guids.get(index as usize).cloned().unwrap_or_default(),
        }
    }

    /// The bytes of `item`, a line of this chunk (up to its `\n`).
    pub fn line(&self, item: &Item) -> &[u8] {
        let rest = self.input.data().get(item.start..).unwrap_or_default();
        &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())]
    }
}

/// Input whose messages a worker extracted for the run's queries: the records (each message's
/// fields, strings as positions in its bytes) and the input they point into, which travels
/// along, so that the ordered stage reads values from it and dead-letters rejected messages.
#[derive(Debug)]
pub struct FieldBatch {
    /// The chunk or message batch.
    pub input: OrderedInput,
    /// The records, one per message that is one.
    pub records: Records,
    /// One per line or message, in order.
    pub items: Vec<FieldItem>,
}

/// One line or message of a [`FieldBatch`]: where its bytes are, and its record's index in
/// [`FieldBatch::records`] (or why it is no record for any query).
#[derive(Clone, Copy, Debug)]
pub struct FieldItem {
    /// Start of its bytes in [`OrderedInput::data`].
    pub start: usize,
    /// Its length (a line without its `\n`).
    pub len: u32,
    /// Its record, or why it has none.
    pub outcome: Result<u32, RejectReason>,
}

impl FieldBatch {
    /// The bytes of `item`.
    pub fn message(&self, item: &FieldItem) -> &[u8] {
        let data = self.input.data();
        data.get(item.start..item.start + item.len as usize).unwrap_or_default()
    }
}

/// A message the parser rejected, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedMessage {
    /// Source partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Why.
    pub reason: RejectReason,
    /// The payload (as kept by the source: cut to the parser's limit + 1 or the dead-letter size).
    pub payload: Vec<u8>,
}

/// A request for a sensor's last reading (the dashboard's `/api/sensors/{guid}`), answered by the
/// engine between two pieces of input.
#[derive(Debug)]
pub struct SensorQuery {
    /// The sensor.
    pub guid: String,
    /// Where the answer goes.
    pub reply: tokio::sync::oneshot::Sender<Option<LastReading>>,
}
