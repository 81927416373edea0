//! Kafka: a consumer on its own thread, handing the pipeline batches of messages and committing
//! the positions the pipeline acknowledges (only after the results that include them are written).
//!
//! Two modes:
//! - **live** (default): a consumer-group member (`subscribe`), so several instances split the
//!   partitions. When a rebalance takes partitions away, the thread flushes what it holds, asks the
//!   pipeline to emit its open batch and to hand back the positions reached, commits them, and only
//!   then lets the partitions go, so a clean rebalance neither loses nor double-counts messages.
//! - **once**: every partition of the topic assigned explicitly (no group join, which takes seconds),
//!   read from the start position to the end seen through partition-EOF events (Tansu's memory engine
//!   answers offset queries wrongly; EOF is right on every engine), then stop.
//!
//! Broker outages (broker down, transport failures) are logged, rate-limited, and ridden out:
//! librdkafka reconnects by itself and the thread keeps polling. Commits run on a thread of their
//! own and are retried (see `commits`). Start-up waits for the broker in short slices, so that a
//! stop (Ctrl-C, SIGTERM) ends it within a fraction of a second. A partition resumed from a
//! position that the broker has since deleted (retention) is reported as data loss.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::Consumer as _;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::commits::{Committer, RetryPolicy};
use super::consumption::{commit, Assignment, Consumption, KafkaConsumer, StartFrom, StartPositions};
use super::poller::Poller;
use super::{within, Connection, Context, Error, Input, KafkaArgs};
use crate::channel::{Command, Control, Source, SourceEvent, Telemetry, CHANNEL_DEPTH};
use crate::connectors::options::SourceOptions;
use crate::parallel;
use crate::signals::{Stop, Stopped};

/// How long start-up waits for each answer from the broker (metadata, offsets, watermarks).
const BROKER_TIMEOUT: Duration = Duration::from_secs(30);

/// `analyze --kafka`: what to read and as which consumer group.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Kafka")]
pub struct KafkaSourceArgs {
    /// Brokers, topic and client settings.
    #[command(flatten)]
    pub connection: KafkaArgs,
    /// Consumer group: instances with the same group split the partitions, and offsets are
    /// committed under it.
    #[arg(long, default_value = "iotstream", requires = "brokers")]
    pub group: String,
    /// Event time across instances: every instance of the group computes the windows of the
    /// partitions it owns, and one of them merges them into exact global results (see the
    /// README's "Scale-out"). Partition states live in the group's topics, not on local disk.
    #[arg(long, requires = "brokers")]
    pub scale_out: bool,
    /// Where to start reading a partition this process gets for the first time: the group's
    /// committed offset (falling back to earliest), the earliest message, or only new ones.
    #[arg(long, value_enum, default_value_t = StartFrom::Committed, requires = "brokers")]
    pub from: StartFrom,
}

impl KafkaSourceArgs {
    /// `--kafka` needs a topic.
    pub fn check(&self) -> Result<(), String> {
        let KafkaArgs { brokers, topic, .. } = &self.connection;
        if brokers.is_some() && topic.is_none() {
            return Err(Error::NoTopic.to_string());
        }
        if brokers.is_none() && topic.is_some() {
            return Err("--topic names a Kafka topic and needs --kafka (MQTT topics: --mqtt-topic)".into());
        }
        Ok(())
    }

    /// The topic read, if the input is Kafka.
    pub fn named_topic(&self) -> Option<String> {
        self.connection.topic.clone()
    }

    /// The consumer group.
    pub fn consumer_group(&self) -> Option<String> {
        Some(self.group.clone())
    }

    /// The connection and the topic read, when `--kafka` is given. A run that reads what the
    /// topic holds now (`once`) cannot do without the broker; a live run waits for it to come
    /// (back), and says so.
    pub fn input(&self, once: bool, stop: &Stop) -> Result<Option<Input>, Error> {
        if self.connection.brokers.is_none() {
            return Ok(None);
        }
        let connection = Connection { stop: stop.clone(), ..self.connection.connect()? };
        match connection.probe(stop) {
            Ok(()) => {}
            Err(error) if once || stop.is_requested() => return Err(error),
            Err(error) => tracing::warn!("{error}; retrying until it answers"),
        }
        Ok(Some((connection, self.connection.topic()?.to_owned())))
    }
}

/// `analyze --kafka`: connects and starts the consumer; with several threads, message batches of
/// all partitions are parsed on them and seen by the pipeline in the order they were polled (see
/// [`crate::parallel`]).
pub fn open(args: &KafkaSourceArgs, once: bool, options: &SourceOptions) -> Result<Source, Error> {
    start(config(args, once, options)?, options)
}

/// What `args` and `options` ask to consume.
pub fn config(
    args: &KafkaSourceArgs,
    once: bool,
    options: &SourceOptions,
) -> Result<KafkaSourceConfig, Error> {
    Ok(KafkaSourceConfig {
        connection: args.connection.connect()?,
        topic: args.connection.topic()?.to_owned(),
        group: args.group.clone(),
        from: args.from,
        once,
        own_all: options.own_all,
        resume: options.resume.clone(),
        keep_bytes: options.keep_bytes,
        stop: options.stop.clone(),
        assignment: None,
        alongside: None,
    })
}

/// Starts the consumer `config` describes, with `options.threads` parsing threads behind it.
pub fn start(config: KafkaSourceConfig, options: &SourceOptions) -> Result<Source, Error> {
    let mut source = spawn(config)?;
    if options.threads > 1 {
        source.events =
            parallel::spawn(source.events, options.threads, options.parsers.clone(), options.mode);
    }
    Ok(source)
}

/// What to consume.
pub struct KafkaSourceConfig {
    /// Brokers and client options.
    pub connection: Connection,
    /// Topic to read.
    pub topic: String,
    /// Consumer group (offsets are committed under it).
    pub group: String,
    /// Start position for partitions seen for the first time.
    pub from: StartFrom,
    /// Read to the end and stop, instead of following the topic.
    pub once: bool,
    /// Positions from a checkpoint: where to resume each partition (over `from` and the group's
    /// committed offsets).
    pub resume: BTreeMap<i32, i64>,
    /// Payloads are kept up to this many bytes (the parser's limit + 1).
    pub keep_bytes: usize,
    /// Assign every partition to this process instead of joining the group (with checkpoints the
    /// process owns the topic's state, and a restart must not wait for a dead member to time out).
    pub own_all: bool,
    /// Asked for by Ctrl-C or SIGTERM: start-up stops waiting for the broker.
    pub stop: Stop,
    /// Where newly assigned partitions start (default: `from`, or the checkpoint's positions).
    pub assignment: Option<Box<dyn Assignment>>,
    /// Started with the consumer, with its event and control channels: what runs beside it.
    pub alongside: Option<Alongside>,
}

/// Something that runs beside a consumer and speaks to the pipeline on its channels (scale-out's
/// merge log reader); started once the channels exist.
pub type Alongside =
    Box<dyn FnOnce(&mpsc::Sender<SourceEvent>, &std_mpsc::Sender<Command>) -> Result<(), Error> + Send>;

/// Connects and starts the consumer thread.
pub fn spawn(mut config: KafkaSourceConfig) -> Result<Source, Error> {
    let (tx, events) = mpsc::channel(CHANNEL_DEPTH);
    let (control_tx, control) = std_mpsc::channel();
    if let Some(alongside) = config.alongside.take() {
        alongside(&tx, &control_tx)?;
    }
    let context = Context::new(consumption(&mut config, tx));
    let consumer = Arc::new(create_consumer(&config, context)?);
    let expected = if config.once || config.own_all {
        let partitions = assign_all(&consumer, &config)?;
        let assigned = SourceEvent::Control(Control::Assigned(partitions.iter().copied().collect()));
        // The channel is new and empty, so this cannot block.
        let _ = consumer.context().events.try_send(assigned);
        config.once.then_some(partitions)
    } else {
        None
    };
    if !config.once && !config.own_all {
        consumer.subscribe(&[&config.topic]).map_err(|e| config.connection.error("cannot subscribe", &e))?;
        tracing::info!(topic = %config.topic, group = %config.group, "joining consumer group");
    }
    let committer = Committer::spawn(RetryPolicy::DEFAULT, {
        let consumer = Arc::clone(&consumer);
        move |positions| commit(&consumer, positions)
    })
    .map_err(|e| Error::Start("the Kafka commit thread", e))?;
    let poller = Poller::new(consumer, committer, control, expected, config.stop.clone());
    let thread = std::thread::Builder::new()
        .name("kafka-source".into())
        .spawn(move || poller.run())
        .map_err(|e| Error::Start("the Kafka consumer thread", e))?;
    Ok(Source { events, control: Some(control_tx), thread: Some(thread) })
}

/// What the consumer's callbacks share with its thread.
fn consumption(config: &mut KafkaSourceConfig, events: mpsc::Sender<SourceEvent>) -> Consumption {
    let assignment = config.assignment.take().unwrap_or_else(|| {
        let seen = Mutex::new(HashSet::new());
        Box::new(StartPositions { from: config.from, resume: config.resume.clone(), seen })
    });
    Consumption::new(events, config.topic.clone(), assignment, config.keep_bytes)
}

fn create_consumer(
    config: &KafkaSourceConfig,
    context: Context<Consumption>,
) -> Result<KafkaConsumer, Error> {
    let settings = config.connection.config(&[
        ("group.id", &config.group),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
        // Tansu rebalances more than Apache Kafka; below 6 s, rebalances during consumption were seen.
        ("session.timeout.ms", "6000"),
        // End-of-partition events: how --once knows it is done, and how event time knows a quiet
        // partition has no backlog (and may go idle).
        ("enable.partition.eof", "true"),
        ("fetch.wait.max.ms", "100"),
        ("queued.min.messages", "100000"),
        // Consumer lag per partition for /metrics (a few kB of JSON a second, parsed off the hot path).
        ("statistics.interval.ms", "1000"),
    ]);
    tracing::debug!(options = ?config.connection.options, "Kafka consumer settings");
    settings
        .create_with_context(context)
        .map_err(|e| config.connection.error("cannot create the Kafka consumer", &e))
}

/// `--once` and checkpoints: assigns every partition of the topic at its start position, after
/// checking that no start position has been deleted by the broker; returns the partitions.
fn assign_all(consumer: &KafkaConsumer, config: &KafkaSourceConfig) -> Result<BTreeSet<i32>, Error> {
    tracing::info!(topic = %config.topic, "reading the topic's partitions");
    let metadata = within(&config.stop, BROKER_TIMEOUT, |t| consumer.fetch_metadata(Some(&config.topic), t))?
        .map_err(|e| config.connection.error("cannot read topic metadata", &e))?;
    let partitions: BTreeSet<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == config.topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(Error::NoSuchTopic(config.topic.clone()));
    }
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        tpl.add_partition(&config.topic, p);
    }
    let committed = match config.from {
        StartFrom::Committed => {
            within(&config.stop, BROKER_TIMEOUT, |t| consumer.committed_offsets(tpl.clone(), t))?
                .map_err(|e| config.connection.error("cannot read committed offsets", &e))?
        }
        _ => tpl.clone(),
    };
    for element in committed.elements() {
        let start = match (config.from, element.offset()) {
            _ if config.resume.contains_key(&element.partition()) => {
                Offset::Offset(config.resume[&element.partition()])
            }
            (StartFrom::Latest, _) => Offset::End,
            (StartFrom::Committed, Offset::Offset(o)) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        tpl.set_partition_offset(&config.topic, element.partition(), start)
            .map_err(|e| config.connection.error("bad start offset", &e))?;
    }
    check_retention(consumer, config, &mut tpl)?;
    consumer.assign(&tpl).map_err(|e| config.connection.error("cannot assign partitions", &e))?;
    tracing::info!(topic = %config.topic, partitions = partitions.len(), from = ?config.from, "assigned every partition");
    Ok(partitions)
}

/// Reports as data loss every partition whose start position (a checkpoint's, or the group's
/// committed offset) is below the partition's first offset: retention or a deletion removed those
/// messages before they were read, and the consumer would otherwise skip them without a word. The
/// pipeline counts them in the metrics and stats records. Such a partition is read from its first
/// offset, not left to the broker's answer to a fetch below it (Tansu answered one with its first
/// batch again for every batch-sized step up to it: those messages were counted many times).
fn check_retention(
    consumer: &KafkaConsumer,
    config: &KafkaSourceConfig,
    tpl: &mut TopicPartitionList,
) -> Result<(), Stopped> {
    let mut lost = Vec::new();
    let starts: Vec<(i32, Offset)> = tpl.elements().iter().map(|e| (e.partition(), e.offset())).collect();
    for (partition, start) in starts {
        let Offset::Offset(start) = start else { continue };
        let watermarks =
            within(&config.stop, BROKER_TIMEOUT, |t| consumer.fetch_watermarks(&config.topic, partition, t))?;
        match watermarks {
            Ok((log_start, _)) => {
                if let Some(messages) = lost_before(start, log_start) {
                    tracing::error!(
                        partition, resume_from = start, log_start, lost = messages,
                        "data loss: messages were deleted from the partition (retention) before they were read"
                    );
                    lost.push((partition, messages));
                    let _ = tpl.set_partition_offset(&config.topic, partition, Offset::Offset(log_start));
                }
            }
            Err(error) => {
                tracing::warn!(partition, %error, "cannot check the partition for deleted messages")
            }
        }
    }
    if !lost.is_empty() {
        // The channel is new and holds one event at most: this cannot block or fail for space.
        let _ = consumer.context().events.try_send(SourceEvent::Telemetry(Telemetry::DataLoss(lost)));
    }
    Ok(())
}

/// Messages lost when a partition is to be read from `start` but its log now begins at
/// `log_start` (its low watermark); `None` when nothing is missing.
pub fn lost_before(start: i64, log_start: i64) -> Option<u64> {
    (start >= 0 && start < log_start).then(|| log_start.abs_diff(start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::MessageBatch;
    use rdkafka::error::KafkaError;

    #[test]
    fn batches_keep_payload_boundaries_and_cut_long_ones() {
        let mut batch = MessageBatch::default();
        batch.push(b"one", 10, 0, 5);
        batch.push(b"", 10, 1, 7);
        batch.push(b"a long payload", 4, 2, 9);
        let got: Vec<(&[u8], i32, i64)> = batch.iter().map(|(p, m)| (p, m.partition, m.offset)).collect();
        assert_eq!(got, [(&b"one"[..], 0, 5), (b"", 1, 7), (b"a lo", 2, 9)]);
    }

    /// Tansu (the test broker) cannot delete records (DeleteRecords fails), so the detection is
    /// tested here, on the watermark values the broker would report.
    #[test]
    fn a_start_below_the_partitions_first_offset_is_data_loss() {
        assert_eq!(lost_before(10, 50), Some(40), "offsets 10 to 49 were deleted unread");
        assert_eq!(lost_before(50, 50), None);
        assert_eq!(lost_before(70, 50), None);
        assert_eq!(lost_before(0, 0), None);
    }

    #[test]
    fn waiting_for_the_broker_ends_at_a_stop_an_answer_or_a_lasting_error() {
        use rdkafka::types::RDKafkaErrorCode;
        use std::time::Instant;
        let timeout = || Err::<u8, _>(KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut));
        let (trigger, stop) = Stop::manual();
        let mut calls = 0;
        let outcome = within(&stop, BROKER_TIMEOUT, |_| {
            calls += 1;
            if calls == 2 {
                trigger.send_replace(true);
            }
            timeout()
        });
        assert_eq!((outcome.err(), calls), (Some(Stopped), 2), "transient errors are retried until the stop");

        let stop = Stop::default();
        let mut calls = 0;
        let answer = within(&stop, BROKER_TIMEOUT, |_| {
            calls += 1;
            if calls < 3 {
                timeout()
            } else {
                Ok(7)
            }
        });
        assert_eq!(answer.unwrap().unwrap(), 7);
        let bad = within(&stop, BROKER_TIMEOUT, |_| Err::<u8, _>(KafkaError::Subscription("no".into())));
        assert!(bad.unwrap().is_err(), "other errors come back at once");
        let started = Instant::now();
        assert!(within(&stop, Duration::from_millis(600), |_| timeout()).unwrap().is_err());
        assert!(started.elapsed() < Duration::from_secs(2), "and transient ones after the timeout");
    }
}
