//! What the consumer's callbacks do, from inside `poll` on the consumer thread: rebalances (where
//! assigned partitions start, and revoked ones handed back through the pipeline first), statistics
//! (consumer lag), and the batch of messages being gathered.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use tokio::sync::mpsc;

use super::{Callbacks, Context};
use crate::channel::{Control, MessageBatch, Positions, Revoke, SourceEvent, Telemetry};
use crate::instruments;

/// Messages per batch handed to the pipeline.
const BATCH_MESSAGES: usize = 4096;
/// How long a rebalance waits for the pipeline to release partitions.
const REVOKE_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Where partitions newly assigned to this process start reading; what the pipeline must know
/// before their first messages goes to `events` first.
pub trait Assignment: Send + Sync {
    /// Sets the start offsets of the partitions in `tpl` (of `topic`).
    fn assign(&self, tpl: &mut TopicPartitionList, topic: &str, events: &mpsc::Sender<SourceEvent>);
}

/// The usual start: `--from` for partitions this process has never had, a checkpoint's position
/// over it.
pub struct StartPositions {
    /// `--from`.
    pub from: StartFrom,
    /// Checkpointed positions, applied when a partition is first assigned.
    pub resume: BTreeMap<i32, i64>,
    /// Partitions this process has been assigned before (`--from` applies to new ones only).
    pub seen: Mutex<HashSet<i32>>,
}

impl Assignment for StartPositions {
    fn assign(&self, tpl: &mut TopicPartitionList, topic: &str, _events: &mpsc::Sender<SourceEvent>) {
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
                let _ = tpl.set_partition_offset(topic, partition, start);
            }
        }
    }
}

/// The consumer, with what its callbacks share with the consumer thread.
pub type KafkaConsumer = BaseConsumer<Context<Consumption>>;

/// What the callbacks librdkafka makes from inside `poll` (on the consumer thread) work with.
pub struct Consumption {
    /// The pipeline's side of the source.
    pub events: mpsc::Sender<SourceEvent>,
    /// The topic read.
    pub topic: String,
    /// Where newly assigned partitions start.
    assignment: Box<dyn Assignment>,
    /// Messages polled but not yet handed over; here so a rebalance can flush them first.
    pending: Mutex<MessageBatch>,
    /// Live runs: partitions whose end was reached since, said after the pending batch.
    pub caught_up: Mutex<Vec<i32>>,
    keep_bytes: usize,
    /// Set once the final positions are committed: the revocation that closing the consumer
    /// triggers must not wait for a pipeline that has finished.
    pub closing: AtomicBool,
    /// The latest consumer lag that found the channel full; handed over with the next batch.
    lag: Mutex<Option<Vec<(i32, i64)>>>,
}

impl Callbacks for Consumption {
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
        if let Err(mpsc::error::TrySendError::Full(SourceEvent::Telemetry(Telemetry::Lag(lag)))) =
            self.events.try_send(SourceEvent::Telemetry(Telemetry::Lag(lag)))
        {
            *self.lag.lock().unwrap_or_else(|p| p.into_inner()) = Some(lag);
        }
    }
}

impl ConsumerContext for Context<Consumption> {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let outcome = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.assignment.assign(tpl, &self.topic, &self.events);
                tracing::info!(?partitions, "partitions assigned");
                let _ =
                    self.events.blocking_send(SourceEvent::Control(Control::Assigned(partitions.clone())));
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

impl Consumption {
    /// For a consumer of `topic` handing `events` to the pipeline, payloads kept up to
    /// `keep_bytes`, partitions started as `assignment` says.
    pub fn new(
        events: mpsc::Sender<SourceEvent>,
        topic: String,
        assignment: Box<dyn Assignment>,
        keep_bytes: usize,
    ) -> Consumption {
        Consumption {
            events,
            topic,
            assignment,
            pending: Mutex::new(MessageBatch::default()),
            caught_up: Mutex::new(Vec::new()),
            keep_bytes,
            closing: AtomicBool::new(false),
            lag: Mutex::new(None),
        }
    }

    /// Hands over pending messages, waits for the pipeline to emit and return the positions of
    /// `partitions`, and commits them synchronously before the partitions move away.
    fn release(&self, consumer: &KafkaConsumer, partitions: Vec<i32>) {
        if self.closing.load(Ordering::SeqCst) || !self.flush() {
            return;
        }
        let (reply, answer) = std_mpsc::sync_channel(1);
        let revoke = SourceEvent::Control(Control::Revoke(Revoke { partitions, reply }));
        if self.events.blocking_send(revoke).is_err() {
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
    pub fn push(&self, payload: &[u8], partition: i32, offset: i64) -> bool {
        let full = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.push(payload, self.keep_bytes, partition, offset);
            pending.len() >= BATCH_MESSAGES
        };
        !full || self.flush()
    }

    /// Hands the pending batch to the pipeline, then the ends of partitions reached after it.
    /// False if the pipeline is gone.
    pub fn flush(&self) -> bool {
        let lag = self.lag.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(lag) = lag {
            if self.events.blocking_send(SourceEvent::Telemetry(Telemetry::Lag(lag))).is_err() {
                return false;
            }
        }
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if !batch.is_empty() && self.events.blocking_send(SourceEvent::messages(batch)).is_err() {
            return false;
        }
        let caught_up = std::mem::take(&mut *self.caught_up.lock().unwrap_or_else(|p| p.into_inner()));
        caught_up
            .into_iter()
            .all(|p| self.events.blocking_send(SourceEvent::Control(Control::CaughtUp(p))).is_ok())
    }
}

/// Commits `positions` synchronously, for the partitions still assigned (a rebalance may have
/// taken some since, and committed them itself); false if the commit failed (it is logged).
pub fn commit(consumer: &KafkaConsumer, positions: &Positions) -> bool {
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
