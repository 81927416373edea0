//! Kafka outputs: results (one JSON message per result), dead letters (rejected messages with their
//! reason and origin in headers) and readings (what `simulate --kafka` and `produce` send).
//!
//! Results and dead letters use an unbounded delivery timeout: a broker outage delays them and is
//! logged, but never fails the run or drops a message. `write_result` and [`DeadLetters::flush`]
//! return only once the broker has acknowledged, because offsets are committed right after; or,
//! once a stop is overdue (`crate::signals`), with [`SinkError::Stopped`]: then nothing they hold
//! is acknowledged, and the next run writes it again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use iotstream_engine::query::Emission as QueryEmission;
use iotstream_engine::{RejectReason, WindowResult};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use super::{Callbacks, Connection, Context, Error, Input};
use crate::signals::{Stop, STOP_SLICE};
use crate::sinks::{Emission, Outputs, RejectSink, ResultSink, SinkError};

/// How often a wait for the broker's acknowledgements is logged again.
const FLUSH_LOG_EVERY: Duration = Duration::from_secs(10);

/// Kafka outputs of `analyze --kafka`.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Kafka")]
pub struct KafkaSinkArgs {
    /// Also send each result, as JSON, to this topic (keyed by window and partitions; a SQL
    /// query's rows one message each, keyed by query, window and group).
    #[arg(long, requires = "brokers")]
    pub results_topic: Option<String>,
    /// Send every rejected message to this topic, with its reason and origin in headers.
    #[arg(long, requires = "brokers")]
    pub dead_letter_topic: Option<String>,
    /// Dead letters keep at most this many bytes of the original message (a size: 1048576, 1MiB).
    #[arg(
        long,
        default_value_t = iotstream_engine::parse::DEFAULT_MAX_LINE_BYTES,
        value_parser = iotstream_engine::units::parse_size_usize
    )]
    pub dead_letter_max_bytes: usize,
}

impl KafkaSinkArgs {
    /// How much of a rejected message a dead letter keeps.
    pub fn dead_letter_bytes(&self) -> usize {
        self.dead_letter_max_bytes
    }
}

/// Adds the results topic and the dead-letter topic, if asked for, to `outputs`; `kafka` is the
/// connection and the topic read (both need a Kafka input).
pub fn open(args: &KafkaSinkArgs, kafka: Option<&Input>, outputs: &mut Outputs) -> Result<(), Error> {
    let Some((connection, source_topic)) = kafka else { return Ok(()) };
    if let Some(results) = &args.results_topic {
        connection.ensure_topic(results, 1)?;
        outputs.sinks.push(Box::new(KafkaResultSink::new(connection, results)?));
    }
    if let Some(dead) = &args.dead_letter_topic {
        connection.ensure_topic(dead, 1)?;
        let dead_letters = DeadLetters::new(connection, dead, args.dead_letter_max_bytes)?;
        outputs.dead_letters =
            Some(Box::new(TopicDeadLetters { dead_letters, source_topic: source_topic.clone() }));
    }
    Ok(())
}

/// Producer settings tuned for throughput: large batches, a short linger, lz4.
const THROUGHPUT: [(&str, &str); 6] = [
    ("linger.ms", "20"),
    ("batch.num.messages", "10000"),
    ("batch.size", "1000000"),
    ("compression.type", "lz4"),
    ("queue.buffering.max.messages", "1000000"),
    ("queue.buffering.max.kbytes", "1048576"),
];

/// A producer's deliveries: counted, failures logged (rate-limited through the client's logging).
#[derive(Default)]
pub struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl Callbacks for Deliveries {}

impl ProducerContext for Context<Deliveries> {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        let deliveries = &self.callbacks;
        match result {
            Ok(_) => {
                deliveries.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                deliveries.failed.fetch_add(1, Ordering::Relaxed);
                self.logging.report(error, "delivery");
                let mut first = deliveries.first_failure.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// A producer with delivery accounting.
pub struct Sender {
    producer: ThreadedProducer<Context<Deliveries>>,
    topic: String,
    /// The run's stop: waiting for room in the queue or for acknowledgements gives way to it.
    stop: Stop,
    /// A message was not queued because the stop came first.
    gave_way: AtomicBool,
}

impl Sender {
    /// Connects a producer for `topic`. `patient` producers never give up on a message.
    pub fn new(connection: &Connection, topic: &str, patient: bool) -> Result<Sender, Error> {
        let mut config = connection.config(&THROUGHPUT);
        if patient {
            config.set("message.timeout.ms", "0");
        }
        let producer = config
            .create_with_context(Context::new(Deliveries::default()))
            .map_err(|e| connection.error("cannot create the Kafka producer", &e))?;
        Ok(Sender::of(producer, connection, topic))
    }

    fn of(producer: ThreadedProducer<Context<Deliveries>>, connection: &Connection, topic: &str) -> Sender {
        Sender {
            producer,
            topic: topic.to_owned(),
            stop: connection.stop.clone(),
            gave_way: AtomicBool::new(false),
        }
    }

    /// A patient producer that keeps the order of what it sends to a partition, retries
    /// included (one request in flight): logs whose order is their meaning (scale-out).
    pub fn ordered(connection: &Connection, topic: &str) -> Result<Sender, Error> {
        let mut config = connection.config(&THROUGHPUT);
        config.set("message.timeout.ms", "0").set("max.in.flight.requests.per.connection", "1");
        let producer = config
            .create_with_context(Context::new(Deliveries::default()))
            .map_err(|e| connection.error("cannot create the Kafka producer", &e))?;
        Ok(Sender::of(producer, connection, topic))
    }

    /// Queues one message, waiting while the local queue is full.
    pub fn send(&self, key: Option<&[u8]>, payload: &[u8], headers: Option<OwnedHeaders>) {
        self.send_to(None, key, payload, headers);
    }

    /// Queues one message for `partition` (or the partitioner's choice), waiting while the local
    /// queue is full.
    pub fn send_to(
        &self,
        partition: Option<i32>,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: Option<OwnedHeaders>,
    ) {
        let mut record = BaseRecord::to(&self.topic).payload(payload);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if self.stop.overdue() =>
                {
                    self.gave_way.store(true, Ordering::SeqCst);
                    return;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((error, _)) => {
                    self.producer.context().callbacks.failed.fetch_add(1, Ordering::Relaxed);
                    self.producer.context().logging.report(&error, "send");
                    return;
                }
            }
        }
    }

    /// Waits until every queued message is acknowledged, logging while the broker is away;
    /// [`SinkError::Stopped`] once a stop is overdue.
    pub fn flush(&self) -> Result<(), SinkError> {
        let mut said = Instant::now();
        while let Err(error) = self.producer.flush(self.stop.patience(STOP_SLICE)) {
            if self.stop.overdue() {
                return Err(SinkError::Stopped("the Kafka broker"));
            }
            if said.elapsed() >= FLUSH_LOG_EVERY {
                said = Instant::now();
                tracing::warn!(%error, in_flight = self.producer.in_flight_count(), topic = %self.topic, "waiting for the broker to acknowledge");
            }
        }
        self.check()
    }

    /// Messages acknowledged so far.
    pub fn delivered(&self) -> u64 {
        self.producer.context().callbacks.delivered.load(Ordering::Relaxed)
    }

    /// An error if any message failed for good, or was not queued because a stop came first.
    pub fn check(&self) -> Result<(), SinkError> {
        if self.gave_way.load(Ordering::SeqCst) {
            return Err(SinkError::Stopped("the Kafka broker"));
        }
        let failed = self.producer.context().callbacks.failed.load(Ordering::Relaxed);
        if failed == 0 {
            return Ok(());
        }
        let first =
            self.producer.context().callbacks.first_failure.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Err(SinkError::Delivery(format!(
            "{failed} messages could not be delivered to {} (first error: {})",
            self.topic,
            first.unwrap_or_default()
        )))
    }
}

/// `--results-topic`: each result as one JSON message.
///
/// The key is the window and the input partitions it covers, so a result re-emitted for the same
/// window and input replaces the earlier one in a compacted topic.
pub struct KafkaResultSink {
    sender: Sender,
}

impl KafkaResultSink {
    /// Connects.
    pub fn new(connection: &Connection, topic: &str) -> Result<KafkaResultSink, Error> {
        Ok(KafkaResultSink { sender: Sender::new(connection, topic, true)? })
    }
}

/// The compaction key of a result.
pub fn result_key(result: &WindowResult) -> String {
    let partitions = result.partitions.as_deref().unwrap_or_default();
    let partitions: Vec<String> = partitions.iter().map(i32::to_string).collect();
    format!("{}/{}/{}", result.window_start, result.window_end, partitions.join(","))
}

impl ResultSink for KafkaResultSink {
    fn write(&mut self, emission: &Emission<'_>) -> Result<(), SinkError> {
        for result in emission.windows {
            let payload = serde_json::to_vec(result)?;
            self.sender.send(Some(result_key(result).as_bytes()), &payload, None);
            self.sender.flush()?;
        }
        if !emission.queries.is_empty() {
            for result in emission.queries {
                self.send_rows(result)?;
            }
            self.sender.flush()?;
        }
        Ok(())
    }
}

impl KafkaResultSink {
    /// Queues a query's rows, one message each (its `--format jsonl` line), keyed by query,
    /// window and group: a row re-emitted (a partial result, then the final one, a revision)
    /// replaces the earlier one in a compacted topic.
    fn send_rows(&self, result: &QueryEmission) -> Result<(), SinkError> {
        let mut lines = Vec::new();
        result.write_jsonl(&mut lines);
        for (row, key) in lines.split(|b| *b == b'\n').zip(&result.keys) {
            let key = format!(
                "{}/{}/{}/{}",
                result.query,
                result.window_start,
                result.window_end,
                serde_json::to_string(key)?
            );
            self.sender.send(Some(key.as_bytes()), row, None);
        }
        Ok(())
    }
}

/// Where a rejected message came from.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
}

/// [`DeadLetters`] for messages of one source topic.
pub struct TopicDeadLetters {
    /// The producer.
    pub dead_letters: DeadLetters,
    /// The topic the rejected messages came from.
    pub source_topic: String,
}

impl RejectSink for TopicDeadLetters {
    fn reject(
        &mut self,
        payload: &[u8],
        reason: RejectReason,
        query: Option<&str>,
        partition: i32,
        offset: i64,
    ) {
        let origin = Origin { topic: &self.source_topic, partition, offset };
        self.dead_letters.send(payload, reason, query, origin);
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.dead_letters.flush()
    }
}

/// `--dead-letter-topic`: every rejected message, its bytes cut to a cap, with headers
/// `iotstream.reason`, `iotstream.source.topic`, `iotstream.source.partition`,
/// `iotstream.source.offset` and `iotstream.truncated`, and `iotstream.query` naming the SQL
/// query that rejected it when it was rejected for one query only (a message rejected by three
/// queries is three dead letters).
pub struct DeadLetters {
    sender: Sender,
    cap: usize,
}

impl DeadLetters {
    /// Connects; payloads longer than `cap` bytes are cut.
    pub fn new(connection: &Connection, topic: &str, cap: usize) -> Result<DeadLetters, Error> {
        Ok(DeadLetters { sender: Sender::new(connection, topic, true)?, cap })
    }

    /// Queues one dead letter (rejected for `query` alone, if one is named).
    pub fn send(&self, payload: &[u8], reason: RejectReason, query: Option<&str>, origin: Origin<'_>) {
        let partition = origin.partition.to_string();
        let offset = origin.offset.to_string();
        let truncated = if payload.len() > self.cap { "true" } else { "false" };
        let mut headers = OwnedHeaders::new()
            .insert(Header { key: "iotstream.reason", value: Some(reason.as_str()) })
            .insert(Header { key: "iotstream.source.topic", value: Some(origin.topic) })
            .insert(Header { key: "iotstream.source.partition", value: Some(&partition) })
            .insert(Header { key: "iotstream.source.offset", value: Some(&offset) })
            .insert(Header { key: "iotstream.truncated", value: Some(truncated) });
        if let Some(query) = query {
            headers = headers.insert(Header { key: "iotstream.query", value: Some(query) });
        }
        self.sender.send(None, &payload[..payload.len().min(self.cap)], Some(headers));
    }

    /// Waits until every dead letter is acknowledged.
    pub fn flush(&self) -> Result<(), SinkError> {
        self.sender.flush()
    }
}
