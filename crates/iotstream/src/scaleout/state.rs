//! Each input partition's saved state, in the group's state topic (one partition per input
//! partition, the latest message the newest state): what a new owner restores, on any machine.
//!
//! Any saved state is a correct place to go on from (the owner's decisions depend only on the
//! partition's input), so reading an older one than the newest costs replaying more input, never
//! a wrong answer: the reader looks at the last message, and falls back to scanning the partition.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use iotstream_engine::state::{check_windows_version, Snapshot};
use iotstream_engine::EventTimeWindows;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::error::Error;
use crate::connectors::kafka::{Connection, Context};

/// How long to wait for the state topic to answer.
const WAIT: Duration = Duration::from_secs(10);

/// One partition's saved state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedPartition {
    /// The input partition.
    pub partition: u32,
    /// The next offset to read: the state covers everything before it.
    pub next: i64,
    /// Its windows, watermark and late decisions.
    pub windows: EventTimeWindows,
}

/// Reads saved states.
pub struct StateReader {
    consumer: BaseConsumer<Context>,
    topic: String,
}

impl StateReader {
    /// A reader of `topic`.
    pub fn new(connection: &Connection, topic: &str) -> Result<StateReader, Error> {
        let consumer = connection
            .config(&[
                // Assigned, never subscribed: it joins no group, whatever its id.
                ("group.id", "iotstream-state-reader"),
                ("enable.partition.eof", "true"),
                ("enable.auto.commit", "false"),
                // A handover waits for this read: answer as soon as there is anything.
                ("fetch.wait.max.ms", "10"),
            ])
            .create_with_context(Context::default())
            .map_err(|e| connection.error("cannot create the state reader", &e))?;
        Ok(StateReader { consumer, topic: topic.to_owned() })
    }

    /// The newest saved state of each of `partitions` that has one.
    pub fn load(&self, partitions: &[i32]) -> Result<BTreeMap<i32, SavedPartition>, Error> {
        let mut starts = BTreeMap::new();
        for &partition in partitions {
            let (low, high) = self.consumer.fetch_watermarks(&self.topic, partition, WAIT).map_err(|e| {
                Error::client(format!("cannot read the offsets of {} partition {partition}", self.topic), e)
            })?;
            if high > low {
                starts.insert(partition, (low, high - 1));
            }
        }
        let mut saved = self.read(starts.iter().map(|(&p, &(_, last))| (p, last)))?;
        // An offset that held no state (a broker's end offset can be off): scan those whole.
        let missing: Vec<(i32, i64)> =
            starts.iter().filter(|(p, _)| !saved.contains_key(p)).map(|(&p, &(low, _))| (p, low)).collect();
        if !missing.is_empty() {
            saved.extend(self.read(missing.into_iter())?);
        }
        Ok(saved)
    }

    /// The last decodable state of each partition from its given offset to its end.
    fn read(&self, from: impl Iterator<Item = (i32, i64)>) -> Result<BTreeMap<i32, SavedPartition>, Error> {
        let mut assignment = TopicPartitionList::new();
        for (partition, offset) in from {
            assignment
                .add_partition_offset(&self.topic, partition, Offset::Offset(offset))
                .map_err(|e| Error::client("cannot read the state topic", e))?;
        }
        let mut open: BTreeSet<i32> = assignment.elements().iter().map(|e| e.partition()).collect();
        let mut saved = BTreeMap::new();
        if open.is_empty() {
            return Ok(saved);
        }
        self.consumer.assign(&assignment).map_err(|e| Error::client("cannot read the state topic", e))?;
        let deadline = Instant::now() + WAIT;
        while !open.is_empty() && Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => match message.payload().and_then(decode) {
                    Some(state) => {
                        saved.insert(message.partition(), state);
                    }
                    None => tracing::warn!(
                        partition = message.partition(),
                        offset = message.offset(),
                        "unreadable saved state skipped"
                    ),
                },
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    open.remove(&partition);
                }
                Some(Err(error)) => self.consumer.context().logging.report(&error, "reading saved states"),
                None => {}
            }
        }
        if !open.is_empty() {
            let (topic, seconds) = (self.topic.clone(), WAIT.as_secs());
            return Err(Error::Silent { what: "state topic", topic, answer: "answer", seconds });
        }
        Ok(saved)
    }
}

impl std::fmt::Debug for StateReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateReader").field("topic", &self.topic).finish_non_exhaustive()
    }
}

fn decode(bytes: &[u8]) -> Option<SavedPartition> {
    let snapshot: Snapshot<SavedPartition> = postcard::from_bytes(bytes).ok()?;
    // Always windows: a state from before slicing is passed over like a damaged one.
    check_windows_version(snapshot.version, true).ok()?;
    Some(snapshot.state)
}
