//! The consumer thread's loop: polls messages into batches for the pipeline, hands them over
//! when full or when they have lingered, notes partitions' ends, and commits what the pipeline
//! acknowledges.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer as _;
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::topic_partition_list::TopicPartitionList;

use super::commits::Committer;
use super::consumption::KafkaConsumer;
use crate::channel::{Command, Control, SourceEvent};
use crate::signals::Stop;

/// How long one poll waits for a message.
const POLL: Duration = Duration::from_millis(100);
/// How long polled messages (and end-of-partition news) wait for more before they are handed to
/// the pipeline, in a live run. Messages trickling in arrive a few per fetch; handing each fetch
/// over woke the pipeline per few messages, and those wake-ups, not the messages, were the cost.
/// A full batch (a backlog) goes at once.
const LINGER: Duration = Duration::from_millis(2);
/// How long the end of a run waits for its final offset commit (after a stop, at most what is
/// left of the stop's grace: `crate::signals`).
const FINAL_COMMIT_GRACE: Duration = Duration::from_secs(10);

/// The consumer thread's loop.
pub struct Poller {
    /// Shared with the commit thread.
    consumer: Arc<KafkaConsumer>,
    committer: Committer,
    control: std_mpsc::Receiver<Command>,
    /// `--once`: the partitions that must reach their end.
    expected: Option<BTreeSet<i32>>,
    eof: BTreeSet<i32>,
    /// `--once`: every partition reached its end; waiting for the final commit.
    ended: bool,
    /// Live runs: since when something polled waits to be handed over (see [`LINGER`]).
    since: Option<Instant>,
    /// The run's stop, which bounds the wait for the final commit.
    stop: Stop,
}

impl Poller {
    /// The loop of `consumer`, committing through `committer` what `control` says; `expected`:
    /// with `--once`, the partitions to read to their end.
    pub fn new(
        consumer: Arc<KafkaConsumer>,
        committer: Committer,
        control: std_mpsc::Receiver<Command>,
        expected: Option<BTreeSet<i32>>,
        stop: Stop,
    ) -> Poller {
        let eof = BTreeSet::new();
        Poller { consumer, committer, control, expected, eof, ended: false, since: None, stop }
    }

    /// Polls and commits until the pipeline says stop (or goes away).
    pub fn run(mut self) {
        loop {
            match self.next_control() {
                Some(Command::Commit(positions)) => self.committer.commit(positions),
                Some(Command::Rejoin) => self.rejoin(),
                // Kafka resumes from a checkpoint's own positions: commits follow results.
                Some(Command::Checkpointed(_)) => {}
                Some(Command::Shutdown(positions)) => {
                    self.committer.finish(positions, self.stop.patience(FINAL_COMMIT_GRACE));
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
    fn next_control(&self) -> Option<Command> {
        if self.ended {
            return match self.control.recv_timeout(POLL) {
                Ok(c) => Some(c),
                Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => Some(Command::Shutdown(Vec::new())),
            };
        }
        match self.control.try_recv() {
            Ok(c) => Some(c),
            Err(std_mpsc::TryRecvError::Empty) => None,
            Err(std_mpsc::TryRecvError::Disconnected) => Some(Command::Shutdown(Vec::new())),
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
        if !context.flush()
            || context.events.blocking_send(SourceEvent::Control(Control::CaughtUp(partition))).is_err()
        {
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
        context.flush() && context.events.blocking_send(SourceEvent::end()).is_ok()
    }
}
