//! Each input partition's saved state, in the group's state topic (one partition per input
//! partition, the latest message the newest state): what a new owner restores, on any machine.
//!
//! Any saved state is a correct place to go on from (the owner's decisions depend only on the
//! partition's input), so reading an older one than the newest costs replaying more input, never
//! a wrong answer: the reader looks at the last message, and falls back to scanning the partition.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use iotstream_engine::state::{check_version, Snapshot};
use iotstream_engine::EventTimeWindows;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::kafka::Connection;

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
    consumer: BaseConsumer,
    topic: String,
}

impl StateReader {
    /// A reader of `topic`.
    pub fn new(connection: &Connection, topic: &str) -> anyhow::Result<StateReader> {
        let consumer: BaseConsumer = connection
            .config(&[
                ("enable.partition.eof", "true"),
                ("group.id", "iotstream-state-reader"),
                ("enable.auto.commit", "false"),
            ])
            .create()
            .map_err(|e| connection.error("cannot create the state reader", &e))?;
        Ok(StateReader { consumer, topic: topic.to_owned() })
    }

    /// The newest saved state of `partition`, if there is one.
    pub fn load(&self, partition: i32) -> anyhow::Result<Option<SavedPartition>> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(&self.topic, partition, WAIT)
            .with_context(|| format!("cannot read the offsets of {} partition {partition}", self.topic))?;
        if high <= low {
            return Ok(None);
        }
        if let Some(saved) = self.read_from(partition, high - 1)? {
            return Ok(Some(saved));
        }
        self.read_from(partition, low)
    }

    /// The last decodable state from `offset` to the partition's end.
    fn read_from(&self, partition: i32, offset: i64) -> anyhow::Result<Option<SavedPartition>> {
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(&self.topic, partition, Offset::Offset(offset))?;
        self.consumer.assign(&assignment).context("cannot read the state topic")?;
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        while Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    if let Some(saved) = message.payload().and_then(decode) {
                        last = Some(saved);
                    } else {
                        tracing::warn!(
                            partition,
                            offset = message.offset(),
                            "unreadable saved state skipped"
                        );
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => return Ok(last),
                Some(Err(error)) => tracing::debug!(%error, "reading saved states"),
                None => {}
            }
        }
        anyhow::bail!(
            "the state topic {} did not answer for partition {partition} within {WAIT:?}",
            self.topic
        )
    }
}

impl std::fmt::Debug for StateReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateReader").field("topic", &self.topic).finish_non_exhaustive()
    }
}

fn decode(bytes: &[u8]) -> Option<SavedPartition> {
    let snapshot: Snapshot<SavedPartition> = postcard::from_bytes(bytes).ok()?;
    check_version(snapshot.version).ok()?;
    Some(snapshot.state)
}
