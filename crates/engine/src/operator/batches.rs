//! Processing-time micro-batches: the seed's model, one result per interval of processing time
//! covering the readings (and rejections) that arrived during it.

use serde::{Deserialize, Serialize};

use super::contents::Contents;
use crate::aggregate::Aggregate;
use crate::parse::RejectReason;
use crate::reading::{EventTime, Reading};
use crate::result::WindowResult;

/// Processing-time micro-batches, as Spark Streaming's `StreamingContext(sc, 3)` makes them,
/// holding `C` per batch (the seed's [`Aggregate`] unless said otherwise).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(bound = "C: Contents")]
pub struct MicroBatches<C: Contents = Aggregate> {
    current: C,
    batch_start: EventTime,
}

impl<C: Contents> MicroBatches<C> {
    /// Starts the first batch at processing time `now`.
    pub fn new(now: EventTime) -> MicroBatches<C> {
        MicroBatches { current: C::default(), batch_start: now }
    }

    /// Counts an input into the open batch.
    #[inline]
    pub fn on_input(&mut self, input: &C::Input<'_>) -> C::Added {
        self.current.add(input)
    }

    /// Adds a partial built elsewhere (another thread's share of the same batch).
    pub fn on_partial(&mut self, partial: &C) {
        self.current.merge(partial);
    }

    /// Closes the open batch at `now`, starts the next one there, and returns the closed one's
    /// start and contents.
    pub fn take(&mut self, now: EventTime) -> (EventTime, C) {
        let start = std::mem::replace(&mut self.batch_start, now);
        (start, std::mem::take(&mut self.current))
    }

    /// The open batch so far.
    pub fn current(&self) -> &C {
        &self.current
    }

    /// The open batch, to merge into it in ways of its own (a query's group limit).
    pub fn current_mut(&mut self) -> &mut C {
        &mut self.current
    }

    /// Where the open batch started (processing time).
    pub fn batch_start(&self) -> EventTime {
        self.batch_start
    }
}

/// The seed's batches: readings and rejections in, [`WindowResult`]s out.
impl MicroBatches<Aggregate> {
    /// Counts a reading into the open batch.
    #[inline]
    pub fn on_reading(&mut self, reading: &Reading<'_>) {
        self.current.add(reading);
    }

    /// Counts a rejected message into the open batch.
    pub fn on_rejected(&mut self, reason: RejectReason) {
        self.current.reject(reason);
    }

    /// Closes the open batch at `now` and starts the next one there.
    pub fn on_tick(&mut self, now: EventTime) -> WindowResult {
        let (start, aggregate) = self.take(now);
        WindowResult::from_aggregate(start, now, &aggregate)
    }
}
