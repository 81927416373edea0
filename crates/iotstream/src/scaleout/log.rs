//! Writing the merge log: an owner's shares and partition clocks, the merger's publication marks,
//! and (to the state topic) each owned partition's saved state.
//!
//! Order is the log's meaning (a partition's clock may say a window is complete only after its
//! share is in), so one producer with one request in flight writes it. A state is saved only after
//! every share before it is acknowledged: a new owner restoring it must never skip a share that
//! was lost.

use std::collections::BTreeMap;

use iotstream_engine::merge::{MergeRecord, PartitionProgress};
use iotstream_engine::state::{Snapshot, SNAPSHOT_VERSION};
use iotstream_engine::watermark::PartitionClock;
use iotstream_engine::{EventTimeWindows, WindowShare};
use serde::{Deserialize, Serialize};

use super::state::SavedPartition;
use crate::connectors::kafka::sink::Sender;
use crate::connectors::kafka::{self, Connection};
use crate::sinks::SinkError;

/// Where an owner's shares, partition clocks and saved partition states go (the group's merge
/// log and state topic).
pub trait ShareSink: Send {
    /// Queues a partition's share of a completed window.
    fn share(&mut self, partition: u32, share: &WindowShare);
    /// Queues what an idle partition's open window holds.
    fn provisional(&mut self, partition: u32, share: &WindowShare);
    /// Queues the owned partitions' clocks (and their consumer lag) as of `at`.
    fn progress(&mut self, clocks: &[(u32, PartitionClock)], lag: &BTreeMap<i32, i64>, at: i64);
    /// Queues the mark that the global results up to log offset `through` are written.
    fn published(&mut self, through: i64);
    /// Saves a partition's state, covering its input before `next`, once every share queued
    /// before it is durable; returns once the state is.
    fn save_state(&mut self, partition: u32, next: i64, windows: &EventTimeWindows) -> Result<(), SinkError>;
    /// Returns once everything queued is durable.
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// One record of the merge log as written: who wrote it, and for a clock, its owner's lag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The writing instance.
    pub instance: String,
    /// For a partition's clock: messages behind the partition's end, as the owner's consumer saw.
    pub lag: Option<i64>,
    /// The record.
    pub record: MergeRecord,
}

/// Encodes a log entry (versioned, like checkpoints).
pub fn encode(entry: &Entry) -> Vec<u8> {
    // Plain data without maps keyed by anything but numbers: postcard cannot fail on it.
    postcard::to_stdvec(&Snapshot { version: SNAPSHOT_VERSION, state: entry }).expect("log entries serialise")
}

/// Decodes a log entry; `None` for bytes that are not one (reported by the caller).
pub fn decode(bytes: &[u8]) -> Option<Entry> {
    let snapshot: Snapshot<Entry> = postcard::from_bytes(bytes).ok()?;
    iotstream_engine::state::check_version(snapshot.version).ok()?;
    Some(snapshot.state)
}

/// The merge log and the state topic, as one owner writes them.
pub struct ShareLog {
    log: Sender,
    states: Sender,
    instance: String,
}

impl ShareLog {
    /// Producers for `merge_topic` and `state_topic`.
    pub fn new(
        connection: &Connection,
        merge_topic: &str,
        state_topic: &str,
        instance: &str,
    ) -> Result<ShareLog, kafka::Error> {
        Ok(ShareLog {
            log: Sender::ordered(connection, merge_topic)?,
            states: Sender::ordered(connection, state_topic)?,
            instance: instance.to_owned(),
        })
    }

    fn append(&self, key: &str, lag: Option<i64>, record: MergeRecord) {
        let entry = Entry { instance: self.instance.clone(), lag, record };
        self.log.send_to(Some(0), Some(key.as_bytes()), &encode(&entry), None);
    }
}

impl ShareSink for ShareLog {
    fn share(&mut self, partition: u32, share: &WindowShare) {
        let key = format!("share/{partition}/{}", share.start);
        self.append(&key, None, MergeRecord::Share { partition, share: share.clone() });
    }

    fn provisional(&mut self, partition: u32, share: &WindowShare) {
        let key = format!("open/{partition}/{}", share.start);
        self.append(&key, None, MergeRecord::Provisional { partition, share: share.clone() });
    }

    fn progress(&mut self, clocks: &[(u32, PartitionClock)], lag: &BTreeMap<i32, i64>, at: i64) {
        for &(partition, clock) in clocks {
            let lag = i32::try_from(partition).ok().and_then(|p| lag.get(&p)).copied();
            let record = MergeRecord::Progress(PartitionProgress { partition, clock, at });
            self.append(&format!("clock/{partition}"), lag, record);
        }
    }

    fn published(&mut self, through: i64) {
        self.append("published", None, MergeRecord::Published { through });
    }

    fn save_state(&mut self, partition: u32, next: i64, windows: &EventTimeWindows) -> Result<(), SinkError> {
        // Every share the state counts as emitted must be in the log first.
        self.log.flush()?;
        let saved = SavedPartition { partition, next, windows: windows.clone() };
        let bytes = postcard::to_stdvec(&Snapshot { version: SNAPSHOT_VERSION, state: &saved })
            .map_err(|e| SinkError::Other(format!("encoding a partition's state: {e}")))?;
        let target = i32::try_from(partition).map_err(|e| SinkError::Other(e.to_string()))?;
        self.states.send_to(Some(target), Some(partition.to_string().as_bytes()), &bytes, None);
        self.states.flush()
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.log.flush()
    }
}
