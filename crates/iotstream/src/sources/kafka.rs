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

mod commits;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use tokio::sync::mpsc;

use crate::channel::{Control, MessageBatch, Positions, Revoke, Source, SourceEvent, CHANNEL_DEPTH};
use iotstream_engine::Parser;

use super::SourceOptions;
use crate::instruments;
use crate::kafka::{within, Connection, KafkaArgs, LoggingContext};
use crate::parallel;
use crate::scaleout;
use crate::scaleout::follower::FollowerConfig;
use crate::scaleout::state::StateReader;
use crate::signals::{Stop, Stopped};
use commits::{Committer, RetryPolicy};

/// Messages per batch handed to the pipeline.
const BATCH_MESSAGES: usize = 4096;
/// How long one poll waits for a message.
const POLL: Duration = Duration::from_millis(100);
/// How long polled messages (and end-of-partition news) wait for more before they are handed to
/// the pipeline, in a live run. Messages trickling in arrive a few per fetch; handing each fetch
/// over woke the pipeline per few messages, and those wake-ups, not the messages, were the cost.
/// A full batch (a backlog) goes at once.
const LINGER: Duration = Duration::from_millis(2);
/// How long a rebalance waits for the pipeline to release partitions.
const REVOKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long start-up waits for each answer from the broker (metadata, offsets, watermarks).
const BROKER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the end of a run waits for its final offset commit.
const FINAL_COMMIT_GRACE: Duration = Duration::from_secs(10);

/// `analyze --kafka`: what to read and as which consumer group.
#[derive(Debug, clap::Args)]
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
    pub fn check(&self) -> anyhow::Result<()> {
        let KafkaArgs { brokers, topic, .. } = &self.connection;
        anyhow::ensure!(brokers.is_none() || topic.is_some(), "--topic is required with --kafka");
        anyhow::ensure!(
            brokers.is_some() || topic.is_none(),
            "--topic names a Kafka topic and needs --kafka (MQTT topics: --mqtt-topic)"
        );
        Ok(())
    }
}

/// `analyze --kafka`: connects and starts the consumer; with several threads, message batches of
/// all partitions are parsed on them and seen by the pipeline in the order they were polled (see
/// [`crate::parallel`]).
pub fn open(
    args: &KafkaSourceArgs,
    once: bool,
    max_line_bytes: usize,
    options: &SourceOptions,
) -> anyhow::Result<Source> {
    let connection = args.connection.connect()?;
    let topic = args.connection.topic()?.to_owned();
    let scale_out = match &options.scale_out {
        Some(plan) => Some(ScaleOutSource {
            states: Mutex::new(StateReader::new(&connection, &plan.state_topic)?),
            follower: plan.follower(&connection),
        }),
        None => None,
    };
    let mut source = spawn(KafkaSourceConfig {
        scale_out,
        connection,
        topic,
        group: args.group.clone(),
        from: args.from,
        once,
        own_all: options.own_all,
        resume: options.resume.clone(),
        keep_bytes: options.keep_bytes,
        stop: options.stop.clone(),
    })?;
    if options.threads > 1 {
        let parser = Parser::new(max_line_bytes);
        source.events = parallel::spawn(source.events, options.threads, parser, options.mode);
    }
    Ok(source)
}

/// Where to start reading a partition the first time this process gets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StartFrom {
    /// The oldest message still in the topic.
    Earliest,
    /// Only messages produced from now on.
    Latest,
    /// Where this consumer group left off (its committed offsets), or the earliest if none.
    Committed,
}

/// What to consume.
#[derive(Debug)]
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
    /// Scale-out: where partition states are found, and the merge log to follow.
    pub scale_out: Option<ScaleOutSource>,
}

/// The scale-out side of a consumer.
#[derive(Debug)]
pub struct ScaleOutSource {
    /// Reads a partition's saved state when it is assigned.
    pub states: Mutex<StateReader>,
    /// The merge log reader, started with the consumer.
    pub follower: FollowerConfig,
}

/// Connects and starts the consumer thread.
pub fn spawn(mut config: KafkaSourceConfig) -> anyhow::Result<Source> {
    let (tx, events) = mpsc::channel(CHANNEL_DEPTH);
    let (control_tx, control) = std_mpsc::channel();
    let (states, follower) = match config.scale_out.take() {
        Some(ScaleOutSource { states, follower }) => (Some(states), Some(follower)),
        None => (None, None),
    };
    if let Some(follower) = follower {
        // It runs as long as the pipeline takes events: no handle to join.
        drop(scaleout::follower::spawn(follower, tx.clone(), control_tx.clone())?);
    }
    let context = SourceContext {
        logging: LoggingContext::default(),
        events: tx,
        topic: config.topic.clone(),
        from: config.from,
        seen: Mutex::new(HashSet::new()),
        pending: Mutex::new(MessageBatch::default()),
        caught_up: Mutex::new(Vec::new()),
        keep_bytes: config.keep_bytes,
        resume: config.resume.clone(),
        closing: AtomicBool::new(false),
        lag: Mutex::new(None),
        states,
    };
    let consumer = Arc::new(create_consumer(&config, context)?);
    let expected = if config.once || config.own_all {
        let partitions = assign_all(&consumer, &config)?;
        let assigned = SourceEvent::Assigned(partitions.iter().copied().collect());
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
    .context("cannot start the Kafka commit thread")?;
    let poller =
        Poller { consumer, committer, control, expected, eof: BTreeSet::new(), ended: false, since: None };
    let thread = std::thread::Builder::new()
        .name("kafka-source".into())
        .spawn(move || poller.run())
        .context("cannot start the Kafka consumer thread")?;
    Ok(Source { events, control: Some(control_tx), thread: Some(thread) })
}

fn create_consumer(
    config: &KafkaSourceConfig,
    context: SourceContext,
) -> anyhow::Result<BaseConsumer<SourceContext>> {
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
fn assign_all(
    consumer: &BaseConsumer<SourceContext>,
    config: &KafkaSourceConfig,
) -> anyhow::Result<BTreeSet<i32>> {
    tracing::info!(topic = %config.topic, "reading the topic's partitions");
    let metadata = within(&config.stop, BROKER_TIMEOUT, |t| consumer.fetch_metadata(Some(&config.topic), t))?
        .map_err(|e| config.connection.error("cannot read topic metadata", &e))?;
    let partitions: BTreeSet<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == config.topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    anyhow::ensure!(!partitions.is_empty(), "topic {} does not exist (or has no partitions)", config.topic);
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
    consumer: &BaseConsumer<SourceContext>,
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
        let _ = consumer.context().events.try_send(SourceEvent::DataLoss(lost));
    }
    Ok(())
}

/// Messages lost when a partition is to be read from `start` but its log now begins at
/// `log_start` (its low watermark); `None` when nothing is missing.
pub fn lost_before(start: i64, log_start: i64) -> Option<u64> {
    (start >= 0 && start < log_start).then(|| log_start.abs_diff(start))
}

/// The callbacks librdkafka makes from inside `poll`, on the consumer thread.
struct SourceContext {
    logging: LoggingContext,
    events: mpsc::Sender<SourceEvent>,
    topic: String,
    from: StartFrom,
    /// Partitions this process has been assigned before (`--from` applies to new ones only).
    seen: Mutex<HashSet<i32>>,
    /// Messages polled but not yet handed over; here so a rebalance can flush them first.
    pending: Mutex<MessageBatch>,
    /// Live runs: partitions whose end was reached since, said after the pending batch.
    caught_up: Mutex<Vec<i32>>,
    keep_bytes: usize,
    /// Checkpointed positions, applied when a partition is first assigned.
    resume: BTreeMap<i32, i64>,
    /// Set once the final positions are committed: the revocation that closing the consumer
    /// triggers must not wait for a pipeline that has finished.
    closing: AtomicBool,
    /// The latest consumer lag that found the channel full; handed over with the next batch.
    lag: Mutex<Option<Vec<(i32, i64)>>>,
    /// Scale-out: where assigned partitions' saved states are found.
    states: Option<Mutex<StateReader>>,
}

impl ClientContext for SourceContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        self.logging.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.logging.report(&error, reason);
    }

    /// The client's periodic statistics: each partition's lag behind its end, handed to the
    /// pipeline as an event (for `/metrics` and stats records). Never blocks the client: when the
    /// channel is full, the lag goes with the next batch instead.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else { return };
        // librdkafka reports -1 while it does not know (and -1 for its internal UA partition).
        let lag: Vec<(i32, i64)> = topic
            .partitions
            .iter()
            .filter(|(partition, stats)| **partition >= 0 && stats.consumer_lag >= 0)
            .map(|(partition, stats)| (*partition, stats.consumer_lag))
            .collect();
        if lag.is_empty() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(SourceEvent::Lag(lag))) =
            self.events.try_send(SourceEvent::Lag(lag))
        {
            *self.lag.lock().unwrap_or_else(|p| p.into_inner()) = Some(lag);
        }
    }
}

impl ConsumerContext for SourceContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let outcome = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.start_positions(tpl);
                tracing::info!(?partitions, "partitions assigned");
                let _ = self.events.blocking_send(SourceEvent::Assigned(partitions.clone()));
                consumer.assign(tpl)
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(?partitions, "partitions revoked: emitting and committing first");
                self.release(consumer, partitions);
                consumer.unassign()
            }
            other => {
                tracing::warn!(error = ?other, "rebalance failed; dropping the assignment");
                consumer.unassign()
            }
        };
        if let Err(error) = outcome {
            self.logging.report(&error, "rebalance");
        }
    }
}

impl SourceContext {
    /// Applies `--from` to partitions this process has never had.
    fn start_positions(&self, tpl: &mut TopicPartitionList) {
        if let Some(states) = &self.states {
            return self.take_over(tpl, states);
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let start = match self.from {
            StartFrom::Earliest => Offset::Beginning,
            StartFrom::Latest => Offset::End,
            StartFrom::Committed => Offset::Stored,
        };
        for partition in tpl.elements().iter().map(|e| e.partition()).collect::<Vec<_>>() {
            if !seen.insert(partition) {
                continue;
            }
            // A checkpoint's position wins: the engine's state matches it, not the group's offset.
            let start = self.resume.get(&partition).map_or(start, |&offset| Offset::Offset(offset));
            if !matches!(start, Offset::Stored) {
                let _ = tpl.set_partition_offset(&self.topic, partition, start);
            }
        }
    }

    /// Scale-out: each assigned partition goes on from its saved state, if it has one, else from
    /// its start (its windows must be those of an owner that read it all). The pipeline gets the
    /// state before the partition's first message.
    fn take_over(&self, tpl: &mut TopicPartitionList, states: &Mutex<StateReader>) {
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let mut saved =
            states.lock().unwrap_or_else(|p| p.into_inner()).load(&partitions).unwrap_or_else(|error| {
                // Reading them all again gives the same windows, only later.
                tracing::warn!(
                    ?partitions,
                    "no saved states ({error:#}); reading the partitions from their start"
                );
                BTreeMap::new()
            });
        for partition in partitions {
            let start = match saved.remove(&partition) {
                Some(state) => {
                    let (next, windows) = (state.next, Box::new(state.windows));
                    let _ = self.events.blocking_send(SourceEvent::Restored { partition, next, windows });
                    Offset::Offset(next)
                }
                None => Offset::Beginning,
            };
            let _ = tpl.set_partition_offset(&self.topic, partition, start);
        }
    }

    /// Hands over pending messages, waits for the pipeline to emit and return the positions of
    /// `partitions`, and commits them synchronously before the partitions move away.
    fn release(&self, consumer: &BaseConsumer<Self>, partitions: Vec<i32>) {
        if self.closing.load(Ordering::SeqCst) || !self.flush() {
            return;
        }
        let (reply, answer) = std_mpsc::sync_channel(1);
        if self.events.blocking_send(SourceEvent::Revoke(Revoke { partitions, reply })).is_err() {
            return;
        }
        match answer.recv_timeout(REVOKE_TIMEOUT) {
            Ok(positions) => {
                // Here and now, before the partitions move: the commit thread's retries would be late.
                if !commit(consumer, &positions) {
                    instruments::record_commit_failure();
                }
            }
            Err(_) => tracing::warn!("the pipeline did not release partitions in time; not committing them"),
        }
    }

    /// Adds a message to the pending batch; hands the batch over when full. False if the pipeline is gone.
    fn push(&self, payload: &[u8], partition: i32, offset: i64) -> bool {
        let full = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.push(payload, self.keep_bytes, partition, offset);
            pending.len() >= BATCH_MESSAGES
        };
        !full || self.flush()
    }

    /// Hands the pending batch to the pipeline, then the ends of partitions reached after it.
    /// False if the pipeline is gone.
    fn flush(&self) -> bool {
        let lag = self.lag.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(lag) = lag {
            if self.events.blocking_send(SourceEvent::Lag(lag)).is_err() {
                return false;
            }
        }
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if !batch.is_empty() && self.events.blocking_send(SourceEvent::Messages(batch)).is_err() {
            return false;
        }
        let caught_up = std::mem::take(&mut *self.caught_up.lock().unwrap_or_else(|p| p.into_inner()));
        caught_up.into_iter().all(|p| self.events.blocking_send(SourceEvent::CaughtUp(p)).is_ok())
    }
}

/// Commits `positions` synchronously, for the partitions still assigned (a rebalance may have
/// taken some since, and committed them itself); false if the commit failed (it is logged).
fn commit(consumer: &BaseConsumer<SourceContext>, positions: &Positions) -> bool {
    let context = consumer.context();
    let assigned: BTreeSet<i32> = match consumer.assignment() {
        Ok(tpl) => tpl.elements().iter().map(|e| e.partition()).collect(),
        Err(error) => {
            context.logging.report(&error, "commit");
            return false;
        }
    };
    let mut tpl = TopicPartitionList::new();
    for &(partition, next) in positions.iter().filter(|(p, _)| assigned.contains(p)) {
        if let Err(error) = tpl.add_partition_offset(&context.topic, partition, Offset::Offset(next)) {
            context.logging.report(&error, "commit");
            return false;
        }
    }
    if tpl.count() == 0 {
        return true;
    }
    match consumer.commit(&tpl, CommitMode::Sync) {
        Ok(()) => true,
        Err(error) => {
            context.logging.report(&error, "commit");
            false
        }
    }
}

/// The consumer thread's loop.
struct Poller {
    /// Shared with the commit thread.
    consumer: Arc<BaseConsumer<SourceContext>>,
    committer: Committer,
    control: std_mpsc::Receiver<Control>,
    /// `--once`: the partitions that must reach their end.
    expected: Option<BTreeSet<i32>>,
    eof: BTreeSet<i32>,
    /// `--once`: every partition reached its end; waiting for the final commit.
    ended: bool,
    /// Live runs: since when something polled waits to be handed over (see [`LINGER`]).
    since: Option<Instant>,
}

impl Poller {
    fn run(mut self) {
        loop {
            match self.next_control() {
                Some(Control::Commit(positions)) => self.committer.commit(positions),
                Some(Control::Rejoin) => self.rejoin(),
                // Kafka resumes from a checkpoint's own positions: commits follow results.
                Some(Control::Checkpointed(_)) => {}
                Some(Control::Shutdown(positions)) => {
                    self.committer.finish(positions, FINAL_COMMIT_GRACE);
                    self.consumer.context().closing.store(true, Ordering::SeqCst);
                    // Dropping the consumer closes it: it leaves the group so others take over now.
                    tracing::debug!("Kafka consumer closing");
                    return;
                }
                None if self.ended => {}
                None => {
                    if !self.poll_once() {
                        return;
                    }
                }
            }
        }
    }

    /// A pending control message; after the end, waits for one instead of polling.
    fn next_control(&self) -> Option<Control> {
        if self.ended {
            return match self.control.recv_timeout(POLL) {
                Ok(c) => Some(c),
                Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => Some(Control::Shutdown(Vec::new())),
            };
        }
        match self.control.try_recv() {
            Ok(c) => Some(c),
            Err(std_mpsc::TryRecvError::Empty) => None,
            Err(std_mpsc::TryRecvError::Disconnected) => Some(Control::Shutdown(Vec::new())),
        }
    }

    /// Leaves the group and joins again: a rebalance that hands out every partition anew.
    fn rejoin(&self) {
        let topic = self.consumer.context().topic.clone();
        self.consumer.unsubscribe();
        if let Err(error) = self.consumer.subscribe(&[&topic]) {
            self.consumer.context().logging.report(&error, "rejoin");
        }
    }

    /// Polls one message (or event); hands over what has lingered long enough. False when the
    /// pipeline has gone away.
    fn poll_once(&mut self) -> bool {
        let wait = self.since.map_or(POLL, |since| LINGER.saturating_sub(since.elapsed()));
        let polled = self.consumer.poll(wait);
        let context = self.consumer.context();
        let alive = match polled {
            None => self.hand_over(),
            Some(Ok(message)) => {
                self.since.get_or_insert_with(Instant::now);
                context.push(message.payload().unwrap_or_default(), message.partition(), message.offset())
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => self.on_eof(partition),
            Some(Err(error)) => {
                context.logging.report(&error, "poll");
                true
            }
        };
        match self.since {
            Some(since) if alive && since.elapsed() >= LINGER => self.hand_over(),
            _ => alive,
        }
    }

    /// Hands the pending batch to the pipeline (then the ends of partitions reached after it).
    fn hand_over(&mut self) -> bool {
        self.since = None;
        self.consumer.context().flush()
    }

    /// A partition reached its end: a live run says so with the next hand-over; `--once` hands
    /// everything over now and ends when all partitions have.
    fn on_eof(&mut self, partition: i32) -> bool {
        let Some(expected) = &self.expected else {
            let mut caught_up = self.consumer.context().caught_up.lock().unwrap_or_else(|p| p.into_inner());
            if !caught_up.contains(&partition) {
                caught_up.push(partition);
            }
            self.since.get_or_insert_with(Instant::now);
            return true;
        };
        let context = self.consumer.context();
        if !context.flush() || context.events.blocking_send(SourceEvent::CaughtUp(partition)).is_err() {
            return false;
        }
        if !self.eof.insert(partition) {
            return true;
        }
        let context = self.consumer.context();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&context.topic, partition);
        // Stop fetching it: messages produced after the end we saw belong to a later run.
        if let Err(error) = self.consumer.pause(&tpl) {
            context.logging.report(&error, "pause");
        }
        if !expected.is_subset(&self.eof) {
            return true;
        }
        self.ended = true;
        context.flush() && context.events.blocking_send(SourceEvent::End).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
