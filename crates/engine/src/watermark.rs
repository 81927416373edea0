//! Watermarks: how far event time has progressed, per input partition and overall.
//!
//! Each partition's watermark is the latest event time seen on it minus the bounded
//! out-of-orderness (`max_delay`). The engine's watermark is the minimum over partitions, so a slow
//! partition holds windows open until its readings are in. Two exceptions keep windows closing when
//! sensors go quiet: a partition that is caught up (its source has nothing more to give) and has
//! been silent for `idle_timeout` (processing time) stops holding the watermark back, and when
//! every partition is idle the watermark advances with the wall clock from where it stood. A
//! partition with a backlog is never idle, however long it is silent (a broker outage must not
//! close windows whose readings are still to come). The watermark never moves backwards.
//!
//! All times are microseconds; processing time ("now") is passed in by the caller.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One partition's progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionClock {
    /// Latest event time seen.
    pub max_event_time: i64,
    /// Processing time of the latest reading (or of the assignment, before the first one).
    pub last_active: i64,
    /// The source has delivered everything it has for this partition (no backlog).
    #[serde(default)]
    pub caught_up: bool,
}

/// Per-partition and overall watermarks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Watermarks {
    max_delay: i64,
    idle_timeout: Option<i64>,
    partitions: BTreeMap<u32, PartitionClock>,
    global: i64,
}

impl Watermarks {
    /// Watermarks with bounded out-of-orderness `max_delay` and, if given, idleness after
    /// `idle_timeout` of processing time without readings.
    pub fn new(max_delay: i64, idle_timeout: Option<i64>) -> Watermarks {
        Watermarks { max_delay, idle_timeout, partitions: BTreeMap::new(), global: i64::MIN }
    }

    /// The watermark of `partition` (`None` before its first reading).
    pub fn partition(&self, partition: u32) -> Option<i64> {
        self.partitions.get(&partition).map(|c| c.max_event_time.saturating_sub(self.max_delay))
    }

    /// How far event time has gone for lateness on `partition`: its own watermark, or the
    /// overall one if that is later.
    #[inline]
    pub fn horizon(&self, partition: u32) -> i64 {
        self.partition(partition).unwrap_or(i64::MIN).max(self.global)
    }

    /// The overall watermark as last computed (`i64::MIN` before any input).
    pub fn global(&self) -> i64 {
        self.global
    }

    /// Every partition's clock, for checkpoints and status.
    pub fn partitions(&self) -> &BTreeMap<u32, PartitionClock> {
        &self.partitions
    }

    /// Announces a partition that will deliver readings (a Kafka assignment): until its first
    /// reading, or until it has been idle for the idle timeout, it holds the watermark where it is,
    /// so a partition that is slow to start cannot find its windows already closed.
    pub fn register(&mut self, partition: u32, now: i64) {
        let clock = self.partitions.entry(partition).or_insert(PartitionClock {
            max_event_time: i64::MIN,
            last_active: now,
            caught_up: false,
        });
        // A (re)assignment, after a restart say, starts the idle clock afresh: downtime is not
        // silence.
        clock.last_active = clock.last_active.max(now);
        clock.caught_up = false;
    }

    /// The source says `partition` has no backlog (end of partition, or a file read so far).
    pub fn caught_up(&mut self, partition: u32) {
        if let Some(clock) = self.partitions.get_mut(&partition) {
            clock.caught_up = true;
        }
    }

    /// [`Watermarks::horizon`] of `partition`, then [`Watermarks::observe`] of a reading at
    /// `event_time` on it at processing time `now`, if given: one map lookup instead of two, as
    /// every reading of a query run needs both.
    #[inline]
    pub fn horizon_then_observe(&mut self, partition: u32, observed: Option<(i64, i64)>) -> i64 {
        let Some(clock) = self.partitions.get_mut(&partition) else {
            let horizon = self.global;
            if let Some((event_time, now)) = observed {
                self.observe(partition, event_time, now);
            }
            return horizon;
        };
        let horizon = clock.max_event_time.saturating_sub(self.max_delay).max(self.global);
        if let Some((event_time, now)) = observed {
            clock.max_event_time = clock.max_event_time.max(event_time);
            clock.last_active = clock.last_active.max(now);
            clock.caught_up = false;
        }
        horizon
    }

    /// Records a reading at `event_time` on `partition`, read at processing time `now`.
    pub fn observe(&mut self, partition: u32, event_time: i64, now: i64) {
        let clock = self.partitions.entry(partition).or_insert(PartitionClock {
            max_event_time: event_time,
            last_active: now,
            caught_up: false,
        });
        clock.max_event_time = clock.max_event_time.max(event_time);
        clock.last_active = clock.last_active.max(now);
        clock.caught_up = false;
    }

    /// Recomputes the overall watermark at processing time `now`; returns it.
    pub fn advance(&mut self, now: i64) -> i64 {
        let idle = |c: &PartitionClock| {
            c.caught_up && self.idle_timeout.is_some_and(|t| now.saturating_sub(c.last_active) >= t)
        };
        let active = self.partitions.values().filter(|c| !idle(c)).map(|c| c.max_event_time).min();
        let latest = self.partitions.values().map(|c| c.max_event_time).max().filter(|&t| t != i64::MIN);
        let last_input = self.partitions.values().map(|c| c.last_active).max();
        let candidate = match (active, self.idle_timeout, latest, last_input) {
            (Some(min), ..) => min.saturating_sub(self.max_delay),
            // All idle: carry on from the latest event time at the pace of the wall clock.
            (None, Some(timeout), Some(latest), Some(last_input)) => {
                let quiet_for = now.saturating_sub(last_input).saturating_sub(timeout).max(0);
                latest.saturating_sub(self.max_delay).saturating_add(quiet_for)
            }
            _ => i64::MIN,
        };
        self.global = self.global.max(candidate);
        self.global
    }

    /// Takes a partition's clock as its owner reported it (scale-out: a merger's view of
    /// partitions owned elsewhere). Event time and activity only move forward: a report from an
    /// owner replaying older input never takes them back.
    pub fn report(&mut self, partition: u32, reported: PartitionClock) {
        let clock = self.partitions.entry(partition).or_insert(reported);
        clock.max_event_time = clock.max_event_time.max(reported.max_event_time);
        clock.last_active = clock.last_active.max(reported.last_active);
        clock.caught_up = reported.caught_up;
    }

    /// Restores a saved state (checkpoints).
    pub fn restore(&mut self, partitions: BTreeMap<u32, PartitionClock>, global: i64) {
        self.partitions = partitions;
        self.global = global;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_partition_holds_the_watermark() {
        let mut w = Watermarks::new(10, None);
        assert_eq!(w.advance(0), i64::MIN);
        w.observe(0, 100, 0);
        w.observe(1, 50, 0);
        assert_eq!(w.advance(0), 40);
        assert_eq!(w.partition(0), Some(90));
        w.observe(1, 200, 1);
        assert_eq!(w.advance(1), 90);
        w.observe(1, 20, 2); // older data never moves it back
        assert_eq!(w.advance(2), 90);
    }

    #[test]
    fn a_registered_partition_holds_the_watermark_until_it_delivers_or_idles() {
        let mut w = Watermarks::new(10, Some(1000));
        w.register(1, 0);
        w.observe(0, 500, 0);
        assert_eq!(w.advance(10), i64::MIN, "partition 1 has not delivered yet");
        w.observe(1, 300, 20);
        assert_eq!(w.advance(20), 290);
        let mut quiet = Watermarks::new(10, Some(1000));
        quiet.register(1, 0);
        quiet.observe(0, 500, 900);
        assert_eq!(quiet.advance(1000), i64::MIN, "not caught up: it may have a backlog");
        quiet.caught_up(1);
        assert_eq!(quiet.advance(1000), 490, "an empty partition stops holding it once idle");
    }

    #[test]
    fn idle_partitions_stop_holding_it_back_and_all_idle_follows_the_clock() {
        let mut w = Watermarks::new(10, Some(1000));
        w.observe(0, 100, 0);
        w.observe(1, 500, 900);
        assert_eq!(w.advance(1000), 90, "partition 0 silent but not caught up: it holds");
        w.caught_up(0);
        w.caught_up(1);
        assert_eq!(w.advance(900), 90);
        assert_eq!(w.advance(1000), 490, "partition 0 idle");
        assert_eq!(w.advance(1900), 490, "both idle, just now");
        assert_eq!(w.advance(2400), 990, "both idle for 500 more");
        w.observe(0, 120, 2500);
        assert_eq!(w.advance(2500), 990, "never backwards");
        w.register(1, 2500);
        assert_eq!(w.advance(5000), 990, "a re-assigned partition holds it again until caught up");
    }
}
