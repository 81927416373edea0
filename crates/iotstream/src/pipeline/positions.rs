//! How far the input is processed, what of it is safe to acknowledge, and the acknowledgements.
//!
//! A position is the next line (files: partition 0) or offset (Kafka) to read. Everything before a
//! position has been counted, but only what is in written results may be acknowledged: the
//! operator pins, per partition, the first position still in a result not yet emitted, and
//! [`Progress::safe`] never goes past it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc as std_mpsc;

use iotstream_engine::Coverage;

use crate::channel::{Command, Positions};

/// Where acknowledgements go: the source's control channel, or a recorder in tests.
pub trait Acknowledge: Send {
    /// Hands `command` (positions to commit) to the source.
    fn acknowledge(&mut self, command: Command);
}

impl Acknowledge for std_mpsc::Sender<Command> {
    fn acknowledge(&mut self, command: Command) {
        // A source that has gone needs no more positions.
        let _ = self.send(command);
    }
}

/// The input processed so far.
#[derive(Debug, Default)]
pub struct Progress {
    /// Next position per partition, over everything counted.
    next: BTreeMap<i32, i64>,
    /// Partitions with messages since the last result (batches) or ever (windows).
    covered: BTreeSet<i32>,
    /// True once a partitioned source has sent anything (results then name their partitions).
    partitioned: bool,
}

impl Progress {
    /// Resumes from a checkpoint's positions.
    pub fn restore(positions: BTreeMap<i32, i64>) -> Progress {
        Progress { next: positions, ..Progress::default() }
    }

    /// The positions, for a checkpoint.
    pub fn positions(&self) -> &BTreeMap<i32, i64> {
        &self.next
    }

    /// A file or pipe has been counted up to (not including) line `next_line`.
    pub fn read_lines(&mut self, next_line: u64) {
        self.next.insert(0, next_line as i64);
    }

    /// The message at `offset` of `partition` has been counted.
    pub fn read_message(&mut self, partition: i32, offset: i64) {
        self.advance(partition, offset + 1);
    }

    /// Everything before `next` on `partition` has been counted.
    pub fn advance(&mut self, partition: i32, next: i64) {
        self.partitioned = true;
        self.next.insert(partition, next);
        self.covered.insert(partition);
    }

    /// The partitions a result being emitted covers (`None` for unpartitioned input); batches
    /// start covering afresh after each result.
    pub fn result_partitions(&mut self, coverage: Coverage) -> Option<Vec<i32>> {
        let partitions = self.partitioned.then(|| self.covered.iter().copied().collect());
        if coverage == Coverage::SinceLastResult {
            self.covered.clear();
        }
        partitions
    }

    /// Positions safe to acknowledge: everything counted, except input still in results not yet
    /// emitted (`pinned`, per partition).
    pub fn safe(&self, pinned: &BTreeMap<u32, i64>) -> Positions {
        self.next
            .iter()
            .map(|(&p, &next)| {
                let limit = u32::try_from(p).ok().and_then(|p| pinned.get(&p)).copied().unwrap_or(next);
                (p, next.min(limit))
            })
            .collect()
    }

    /// `partitions` go away (a rebalance): their safe positions, which are then forgotten.
    pub fn release(&mut self, partitions: &[i32], pinned: &BTreeMap<u32, i64>) -> Positions {
        let safe: BTreeMap<i32, i64> = self.safe(pinned).into_iter().collect();
        let released = partitions.iter().filter_map(|p| safe.get(p).map(|o| (*p, *o))).collect();
        for p in partitions {
            self.next.remove(p);
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_positions_stop_at_pinned_input() {
        let mut progress = Progress::default();
        progress.read_message(0, 9);
        progress.read_message(1, 4);
        progress.advance(2, 7);
        assert_eq!(progress.safe(&BTreeMap::new()), vec![(0, 10), (1, 5), (2, 7)]);
        assert_eq!(progress.safe(&[(0, 3), (1, 8)].into()), vec![(0, 3), (1, 5), (2, 7)]);
        assert_eq!(progress.release(&[0, 5], &[(0, 3)].into()), vec![(0, 3)]);
        assert_eq!(progress.positions().keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn batches_cover_partitions_since_the_last_result_windows_since_start() {
        let mut progress = Progress::default();
        assert_eq!(progress.result_partitions(Coverage::SinceLastResult), None, "a file names none");
        progress.read_message(3, 0);
        assert_eq!(progress.result_partitions(Coverage::SinceLastResult), Some(vec![3]));
        assert_eq!(progress.result_partitions(Coverage::SinceLastResult), Some(vec![]));
        progress.read_message(1, 0);
        assert_eq!(progress.result_partitions(Coverage::SinceStart), Some(vec![1]));
        assert_eq!(progress.result_partitions(Coverage::SinceStart), Some(vec![1]));
    }
}
