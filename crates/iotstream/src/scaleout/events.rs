//! What scale-out's own threads (the consumer taking partitions over, the merge log's reader)
//! queue for its driver hook, and the ring that tells the driver, in its place among the input,
//! that something is queued.

use std::sync::mpsc as std_mpsc;

use iotstream_engine::{EventTimeWindows, ScaleOutStatus, WindowResult};
use tokio::sync::mpsc;

use crate::channel::{Control, SourceEvent};

/// News for the hook.
#[derive(Debug)]
pub enum Event {
    /// A partition is taken over from its saved state, which covers its input before `next`
    /// (queued before the partition is assigned, so before its first message).
    Restored {
        /// The input partition.
        partition: i32,
        /// Where reading goes on.
        next: i64,
        /// Its windows as saved.
        windows: Box<EventTimeWindows>,
    },
    /// What the merge log produced.
    Merged(Box<MergeUpdate>),
}

/// What the merge log produced since the last update.
#[derive(Debug)]
pub struct MergeUpdate {
    /// Global results for this instance's live views (the dashboard) only.
    pub live: Vec<WindowResult>,
    /// Global results to write to every sink: this instance merges.
    pub publish: Vec<WindowResult>,
    /// With `publish`: the last log offset they cover, to mark as published once written.
    pub through: Option<i64>,
    /// The group as the log shows it.
    pub status: ScaleOutStatus,
}

/// Where scale-out's threads queue news: the hook's queue, and the pipeline's channel to ring on.
#[derive(Clone, Debug)]
pub struct Queue {
    /// The hook's queue.
    pub news: std_mpsc::Sender<Event>,
    /// The pipeline's events, where the ring goes.
    pub ring: mpsc::Sender<SourceEvent>,
}

impl Queue {
    /// Queues `event` and rings; false once the pipeline has gone.
    pub fn send(&self, event: Event) -> bool {
        self.news.send(event).is_ok() && self.ring.blocking_send(SourceEvent::Control(Control::Ring)).is_ok()
    }
}
