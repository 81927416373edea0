//! Scale-out owners: event-time windows kept per input partition, each judged on its own
//! partition's input alone, completed windows handed out as shares (see [`crate::merge`]).
//!
//! Every decision about partition p (its watermark, which readings are late, when its windows
//! complete, the revision of each share) depends only on p's readings in p's order: whoever owns
//! p, from a snapshot of its state or from the start, computes the same shares. Idleness is not
//! judged here (it would depend on when an owner happens to run): owners report their
//! partitions' clocks, and the merger judges idleness on the reported times.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::contents::Contents;
use super::windows::{Admission, EventTimeConfig, EventTimeWindows, WindowShare};
use crate::aggregate::Aggregate;
use crate::reading::{EventTime, Reading, STATE_COUNT};
use crate::watermark::PartitionClock;

/// One operator per owned partition, and the shares they completed, waiting to be published;
/// each window holds `C` (the seed's [`Aggregate`] unless said otherwise).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "C: Contents")]
pub struct PartitionWindows<C: Contents = Aggregate> {
    config: EventTimeConfig,
    /// When an owner may call a caught-up partition idle (its operator ignores idleness).
    idle_timeout: Option<i64>,
    partitions: BTreeMap<u32, EventTimeWindows<C>>,
    /// Shares completed and not yet taken for publishing.
    #[serde(skip)]
    shares: Vec<(u32, WindowShare<C>)>,
    /// Per partition, the position up to which its state is saved where a new owner finds it.
    saved: BTreeMap<u32, i64>,
}

impl<C: Contents> PartitionWindows<C> {
    /// Owners of no partition yet, cutting windows by `config` (whose idle timeout is ignored).
    pub fn new(config: EventTimeConfig) -> PartitionWindows<C> {
        let idle_timeout = config.idle_timeout;
        let config = EventTimeConfig { idle_timeout: None, ..config };
        PartitionWindows {
            config,
            idle_timeout,
            partitions: BTreeMap::new(),
            shares: Vec::new(),
            saved: BTreeMap::new(),
        }
    }

    /// How windows are cut (idle timeout and all, as given).
    pub fn config(&self) -> EventTimeConfig {
        EventTimeConfig { idle_timeout: self.idle_timeout, ..self.config }
    }

    /// Counts `input` at event time `t` from `partition` at `position` into that partition's
    /// windows.
    #[inline]
    pub fn on_input(
        &mut self,
        partition: u32,
        position: i64,
        t: i64,
        input: &C::Input<'_>,
        now: EventTime,
    ) -> (Admission, Option<C::Added>) {
        let config = self.config;
        let windows = self.partitions.entry(partition).or_insert_with(|| EventTimeWindows::new(config));
        windows.on_input(partition, position, t, input, now)
    }

    /// Completes what each partition's own watermark has passed; the shares wait in
    /// [`PartitionWindows::take_shares`].
    pub fn on_advance(&mut self, now: EventTime) {
        for (&partition, windows) in self.partitions.iter_mut() {
            self.shares.extend(windows.on_advance_shares(now).into_iter().map(|share| (partition, share)));
        }
    }

    /// For each partition that is caught up and has been silent for the idle timeout at `now`,
    /// what its open windows hold (those changed since last asked): the merger counts them when
    /// idleness, not the partition's own watermark, closes a window. They never change the
    /// partition's own decisions, so a new owner still computes the same shares.
    pub fn provisional(&mut self, now: EventTime) -> Vec<(u32, WindowShare<C>)> {
        let mut provisional = Vec::new();
        let timeout = self.idle_timeout;
        for (&partition, windows) in self.partitions.iter_mut() {
            if is_idle(windows, partition, timeout, now) {
                provisional.extend(windows.on_early_shares().into_iter().map(|share| (partition, share)));
            }
        }
        provisional
    }

    /// The shares completed since the last call, per partition in completion order.
    pub fn take_shares(&mut self) -> Vec<(u32, WindowShare<C>)> {
        std::mem::take(&mut self.shares)
    }

    /// Partitions assigned: each starts empty unless restored.
    pub fn on_partitions(&mut self, partitions: &[u32], now: EventTime) {
        let config = self.config;
        for &partition in partitions {
            let windows = self.partitions.entry(partition).or_insert_with(|| EventTimeWindows::new(config));
            windows.on_partitions(&[partition], now);
        }
    }

    /// The source has nothing more for `partition` for now.
    pub fn on_caught_up(&mut self, partition: u32) {
        if let Some(windows) = self.partitions.get_mut(&partition) {
            windows.on_caught_up(partition);
        }
    }

    /// Takes over `partition` from its saved state, which covers its input before `position`.
    pub fn restore(&mut self, partition: u32, windows: EventTimeWindows<C>, position: i64) {
        self.partitions.insert(partition, windows);
        self.saved.insert(partition, position);
    }

    /// The state of `partition`, to save for whoever owns it next.
    pub fn state(&self, partition: u32) -> Option<&EventTimeWindows<C>> {
        self.partitions.get(&partition)
    }

    /// The state of `partition` is saved up to `position`: input before it may be acknowledged.
    pub fn saved(&mut self, partition: u32, position: i64) {
        self.saved.insert(partition, position);
    }

    /// Gives `partition` up (another owner takes it over from its saved state).
    pub fn release(&mut self, partition: u32) {
        self.partitions.remove(&partition);
        self.saved.remove(&partition);
    }

    /// Owned partitions.
    pub fn owned(&self) -> impl Iterator<Item = u32> + '_ {
        self.partitions.keys().copied()
    }

    /// Each owned partition's clock at `now`, as owners report it to the merger: `caught_up`
    /// says the owner judged it idle (caught up and silent for the idle timeout), after
    /// [`PartitionWindows::provisional`] gave out what it holds. The merger takes that judgement
    /// as it is, so it never closes a window with a partition whose contents it has not seen.
    pub fn clocks(&self, now: EventTime) -> Vec<(u32, PartitionClock)> {
        let timeout = self.idle_timeout;
        let clock = |(&p, w): (&u32, &EventTimeWindows<C>)| {
            let clock = w.watermarks().partitions().get(&p)?;
            Some((p, PartitionClock { caught_up: is_idle(w, p, timeout, now), ..*clock }))
        };
        self.partitions.iter().filter_map(clock).collect()
    }

    /// Input that may be acknowledged, per partition: what a saved state covers. A partition never
    /// saved pins position 0: a new owner finding no saved state reads it from the start.
    pub fn pinned_positions(&self) -> BTreeMap<u32, i64> {
        self.partitions.keys().map(|&p| (p, self.saved.get(&p).copied().unwrap_or(0))).collect()
    }

    /// The lowest partition watermark and the windows held over owned partitions.
    pub fn watermark_and_windows(&self) -> (Option<EventTime>, u64) {
        let watermark = self.partitions.values().filter_map(|w| w.watermark()).min();
        let open = self.partitions.values().map(|w| w.open_windows() as u64).sum();
        (watermark, open)
    }

    /// Each owned partition's windows.
    pub fn partitions(&self) -> impl Iterator<Item = (u32, &EventTimeWindows<C>)> {
        self.partitions.iter().map(|(&p, w)| (p, w))
    }
}

/// The seed's owners: readings in.
impl PartitionWindows<Aggregate> {
    /// Counts `reading` from `partition` at `position` into that partition's windows.
    #[inline]
    pub fn on_reading(
        &mut self,
        partition: u32,
        position: i64,
        reading: &Reading<'_>,
        now: EventTime,
    ) -> Admission {
        self.on_input(partition, position, reading.event_time.as_micros(), reading, now).0
    }

    /// The lowest partition watermark, windows held and late readings over owned partitions.
    pub fn live(&self) -> (Option<EventTime>, u64, [u64; STATE_COUNT]) {
        let (watermark, open) = self.watermark_and_windows();
        let mut late = [0; STATE_COUNT];
        for windows in self.partitions.values() {
            for (total, n) in late.iter_mut().zip(windows.late_by_state()) {
                *total += n;
            }
        }
        (watermark, open, late)
    }
}

/// True when the owner of `partition` may call it idle at `now`: caught up and silent for the idle
/// timeout.
fn is_idle<C: Contents>(
    windows: &EventTimeWindows<C>,
    partition: u32,
    timeout: Option<i64>,
    now: EventTime,
) -> bool {
    let Some(timeout) = timeout else { return false };
    windows
        .watermarks()
        .partitions()
        .get(&partition)
        .is_some_and(|clock| clock.caught_up && now.as_micros().saturating_sub(clock.last_active) >= timeout)
}
