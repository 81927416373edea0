//! The control partition on Kafka, and an instance's control loop over it: the log is read with
//! `assign()` (no consumer group), each step reads it to its end, applies every record to the
//! ledger, stops the partitions the ledger took away, starts the ones it may run, and writes what
//! the [`Actor`] says. Every instance that has read to the same offset holds the same ledger, so
//! ownership and the merger's role follow from the log alone, on any broker.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};

use super::error::Error;
use super::ledger::{Actor, Holding, Ledger, Timing};
use super::records::{encode, Assembler, Control, ControlEntry, Unreadable};
use crate::connectors::kafka::sink::Sender;
use crate::connectors::kafka::{Connection, Context};

/// How long one poll of the control partition waits for more.
const POLL: Duration = Duration::from_millis(20);
/// Leases every second; an instance silent for 6 s is gone (the consumer groups' session timeout).
pub const TIMING: Timing = Timing { interval: 1_000_000, timeout: 6_000_000 };
/// How often the control loop reads and decides.
const STEP: Duration = Duration::from_millis(100);

/// The control partition (partition 0 of `topic`): a writer and a reader from an offset.
pub struct ControlLog {
    producer: Sender,
    consumer: BaseConsumer<Context>,
    assembler: Assembler,
    /// The reader has reached the partition's end and read nothing since.
    at_end: bool,
    /// Messages that were no record of ours, skipped.
    unreadable: u64,
}

impl ControlLog {
    /// Opens `topic`'s control partition for writing, and for reading from `from`.
    pub fn open(connection: &Connection, topic: &str, from: i64) -> Result<ControlLog, Error> {
        // In order, retries included; its batching delay (20 ms) is small against a lease's 1 s.
        let producer = Sender::ordered(connection, topic)?;
        let consumer: BaseConsumer<Context> = connection
            // Assigned, never subscribed: this reader joins no group, whatever its id.
            .config(&[
                ("group.id", "iotstream-control-reader"),
                ("enable.partition.eof", "true"),
                ("enable.auto.commit", "false"),
                ("fetch.wait.max.ms", "50"),
            ])
            .create_with_context(Context::quiet())
            .map_err(|e| Error::client("cannot create the control log's reader", e))?;
        let mut assignment = TopicPartitionList::new();
        let unreadable = |e| Error::client("cannot read the control log", e);
        assignment.add_partition_offset(topic, 0, Offset::Offset(from)).map_err(unreadable)?;
        consumer.assign(&assignment).map_err(unreadable)?;
        Ok(ControlLog { producer, consumer, assembler: Assembler::default(), at_end: false, unreadable: 0 })
    }

    /// Queues `entry` (in parts if large) for the control partition.
    pub fn write(&self, entry: &ControlEntry) -> Result<(), Error> {
        let frames = encode(entry).map_err(Unreadable::Garbled)?;
        for frame in frames {
            self.producer.send_to(Some(0), None, &frame, None);
        }
        Ok(())
    }

    /// Waits until what was written is acknowledged.
    pub fn flush(&self) -> Result<(), Error> {
        self.producer.flush().map_err(|e| Error::Flush(e.to_string()))
    }

    /// The records read since the last call, with their offsets, and whether the reader is at
    /// the partition's end. Messages that are no record of ours are counted and skipped.
    pub fn read(&mut self) -> Result<(Vec<(i64, ControlEntry)>, bool), Error> {
        let mut read = Vec::new();
        while let Some(message) = self.consumer.poll(POLL) {
            match message {
                Ok(message) => {
                    self.at_end = false;
                    let Some(bytes) = message.payload() else { continue };
                    match self.assembler.take::<ControlEntry>(bytes, message.offset()) {
                        Ok(Some((entry, offset))) => read.push((offset, entry)),
                        Ok(None) => {}
                        Err(error) => {
                            self.unreadable += 1;
                            // Said at the first, second, fourth… so that garbage cannot flood the log.
                            if self.unreadable.is_power_of_two() {
                                let (offset, count) = (message.offset(), self.unreadable);
                                tracing::warn!(%error, offset, count, "unreadable control records skipped");
                            }
                        }
                    }
                }
                Err(KafkaError::PartitionEOF(_)) => {
                    self.at_end = true;
                    break;
                }
                Err(error) => return Err(Error::client("cannot read the control log", error)),
            }
        }
        Ok((read, self.at_end))
    }
}

/// What a step of the control loop changed in what the instance runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Moves {
    /// Partitions to stop (and save) now.
    pub stop: BTreeSet<u32>,
    /// Partitions to start (from their saved state) now.
    pub start: BTreeSet<u32>,
}

/// One instance's control loop: its log, ledger and actor, and what it runs.
pub struct ControlLoop {
    log: ControlLog,
    ledger: Ledger,
    actor: Actor,
    timing: Timing,
    partitions: usize,
    running: BTreeSet<u32>,
    saved: BTreeMap<u32, i64>,
    clock: Instant,
}

impl ControlLoop {
    /// The loop of instance `me` over `log`, for `partitions` input partitions.
    pub fn new(log: ControlLog, me: &str, timing: Timing, partitions: usize) -> ControlLoop {
        ControlLoop {
            log,
            ledger: Ledger::starting(0),
            actor: Actor::new(me),
            timing,
            partitions,
            running: BTreeSet::new(),
            saved: BTreeMap::new(),
            clock: Instant::now(),
        }
    }

    /// Reads the log, and once at its end decides and writes; returns the partitions to stop and
    /// to start. `saved` is each stopped partition's saved position (the caller saves first).
    pub fn step(&mut self, saved: &BTreeMap<u32, i64>) -> Result<Moves, Error> {
        let now = i64::try_from(self.clock.elapsed().as_micros()).unwrap_or(i64::MAX);
        let (records, at_end) = self.log.read()?;
        for (offset, entry) in records {
            self.ledger.apply(entry, offset, now);
        }
        self.saved.extend(saved);
        if !at_end {
            return Ok(Moves::default());
        }
        let me = self.actor.name().to_owned();
        let stop = self.ledger.to_stop(&me, &self.running);
        let start: BTreeSet<u32> = self.ledger.runnable(&me).difference(&self.running).copied().collect();
        self.running.retain(|p| !stop.contains(p));
        self.running.extend(&start);
        let running = self.running.iter().map(|&p| (p, self.saved.get(&p).copied())).collect();
        let holding = Holding { running, saved: self.saved.clone() };
        for record in self.actor.due(&self.ledger, now, self.timing, &holding, self.partitions) {
            self.log.write(&ControlEntry { instance: me.clone(), record })?;
        }
        Ok(Moves { stop, start })
    }

    /// Writes the last lease of an instance that stops (everything it ran saved and released).
    pub fn leave(&mut self) -> Result<(), Error> {
        let now = i64::try_from(self.clock.elapsed().as_micros()).unwrap_or(i64::MAX);
        let saved: Vec<(u32, Option<i64>)> =
            self.running.iter().map(|&p| (p, self.saved.get(&p).copied())).collect();
        let version = self.ledger.state().assignment.version;
        let record: Control = self.actor.leaving(now, &saved, version);
        self.log.write(&ControlEntry { instance: self.actor.name().to_owned(), record })?;
        self.running.clear();
        self.log.flush()
    }

    /// The ledger as read so far.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The partitions this instance runs.
    pub fn running(&self) -> &BTreeSet<u32> {
        &self.running
    }
}

/// The merger's election from the control log `topic`, on a thread of its own (so that a busy
/// merge log never delays a lease): `leading` says whether instance `me` merges now. Once
/// `stopping` is set it writes its last lease, so that the others elect a merger at once, and
/// ends. Input partitions still come from the consumer group: the loop assigns none.
pub fn elect(
    connection: &Connection,
    topic: &str,
    me: &str,
    leading: Arc<AtomicBool>,
    stopping: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, Error> {
    let mut control = ControlLoop::new(ControlLog::open(connection, topic, 0)?, me, TIMING, 0);
    let me = me.to_owned();
    let run = move || {
        let mut failing = false;
        while !stopping.load(Ordering::SeqCst) {
            let stepped = control.step(&BTreeMap::new());
            if let Err(error) = &stepped {
                if !failing {
                    tracing::warn!(%error, "the group's control log");
                }
            }
            failing = stepped.is_err();
            let merges = control.ledger().merges(&me);
            if leading.swap(merges, Ordering::SeqCst) != merges {
                let term = control.ledger().state().term;
                match merges {
                    true => tracing::info!(term, "this instance now merges the group's windows"),
                    false => tracing::info!(term, "this instance no longer merges the group's windows"),
                }
            }
            std::thread::sleep(STEP);
        }
        leading.store(false, Ordering::SeqCst);
        if let Err(error) = control.leave() {
            tracing::warn!(%error, "could not tell the group that this instance leaves");
        }
    };
    std::thread::Builder::new().name("group-control".into()).spawn(run).map_err(Error::Start)
}
