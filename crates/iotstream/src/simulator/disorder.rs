//! Out-of-order delivery for the simulator: the same readings, emitted in a different order.
//!
//! Each reading gets an emission key `event time + jitter`, with jitter uniform in `[0, bound)`;
//! readings leave in key order. A reading is then never overtaken by one more than `bound` younger,
//! which is exactly the bounded out-of-orderness a watermark with that delay tolerates. A fraction
//! `late_ratio` of readings gets a jitter of 2–4 × bound instead: late data. The jitter comes from
//! its own random stream, so the readings themselves are identical with and without disorder.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

use super::rng::Rng;

/// How to disorder the stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DisorderConfig {
    /// Maximum displacement in event time of an on-time reading (µs).
    pub bound_micros: i64,
    /// Fraction of readings delayed beyond the bound (0–1).
    pub late_ratio: f64,
}

/// A reading waiting to be emitted, ordered by key, then by generation order.
struct Pending {
    key: i64,
    sequence: u64,
    line: Vec<u8>,
    guid: Range<usize>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.key, self.sequence) == (other.key, other.sequence)
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.key, self.sequence).cmp(&(other.key, other.sequence))
    }
}

/// Readings held back until their emission key is due.
pub(super) struct Reorder {
    config: DisorderConfig,
    rng: Rng,
    heap: BinaryHeap<Reverse<Pending>>,
    sequence: u64,
}

impl Reorder {
    pub(super) fn new(config: DisorderConfig, seed: u64) -> Reorder {
        // A stream of its own, so the readings do not depend on whether they are disordered.
        Reorder { config, rng: Rng::new(seed ^ 0x5DEE_CE66_D1CE_4E5B), heap: BinaryHeap::new(), sequence: 0 }
    }

    /// Holds a generated reading made at `event_time`.
    pub(super) fn push(&mut self, line: Vec<u8>, guid: Range<usize>, event_time: i64) {
        let bound = self.config.bound_micros as f64;
        let late = self.rng.uniform(0.0, 1.0) < self.config.late_ratio;
        let jitter =
            if late { self.rng.uniform(2.0, 4.0) * bound } else { self.rng.uniform(0.0, 1.0) * bound };
        let key = event_time.saturating_add(jitter as i64);
        self.sequence += 1;
        self.heap.push(Reverse(Pending { key, sequence: self.sequence, line, guid }));
    }

    /// The next reading whose key is at most `frontier` (no later reading can have a smaller key),
    /// appended to `out`; returns where its guid is.
    pub(super) fn pop(&mut self, frontier: i64, out: &mut Vec<u8>) -> Option<Range<usize>> {
        if self.heap.peek().is_none_or(|Reverse(p)| p.key > frontier) {
            return None;
        }
        let Reverse(pending) = self.heap.pop()?;
        let start = out.len();
        out.extend_from_slice(&pending.line);
        Some(pending.guid.start + start..pending.guid.end + start)
    }
}
