//! Processing-time micro-batches: the seed's model, one result per interval of processing time
//! covering the readings (and rejections) that arrived during it.

use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;
use crate::parse::RejectReason;
use crate::reading::{EventTime, Reading};
use crate::result::WindowResult;

/// Processing-time micro-batches, as Spark Streaming's `StreamingContext(sc, 3)` makes them.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct MicroBatches {
    current: Aggregate,
    batch_start: EventTime,
}

impl MicroBatches {
    /// Starts the first batch at processing time `now`.
    pub fn new(now: EventTime) -> MicroBatches {
        MicroBatches { current: Aggregate::default(), batch_start: now }
    }

    /// Counts a reading into the open batch.
    #[inline]
    pub fn on_reading(&mut self, reading: &Reading<'_>) {
        self.current.add(reading);
    }

    /// Counts a rejected message into the open batch.
    pub fn on_rejected(&mut self, reason: RejectReason) {
        self.current.reject(reason);
    }

    /// Adds a partial aggregate built elsewhere (another thread's share of the same batch).
    pub fn on_partial(&mut self, partial: &Aggregate) {
        self.current.merge(partial);
    }

    /// Closes the open batch at `now` and starts the next one there.
    pub fn on_tick(&mut self, now: EventTime) -> WindowResult {
        let result = WindowResult::from_aggregate(self.batch_start, now, &self.current);
        self.current = Aggregate::default();
        self.batch_start = now;
        result
    }

    /// The open batch so far.
    pub fn current(&self) -> &Aggregate {
        &self.current
    }
}
