//! Scale-out: one exact answer from the shares of many owners.
//!
//! When several instances split a topic's partitions, each runs event-time windows over the
//! partitions it owns, one operator per partition, and publishes each completed window as its
//! exact, mergeable [`WindowShare`] (per partition, with a revision), plus the partition's clock
//! (its latest event time, when it was last active, whether it is caught up) as
//! [`PartitionProgress`]. Everything goes into one log in one order, and a [`Merger`] reading that
//! log computes the global windows:
//! - the global watermark is the minimum over **every** partition of the topic (each one holds it
//!   until its owner has reported), with the idleness rules of [`crate::watermark`], judged on
//!   the owners' reported times, never on the merger's own clock;
//! - a window is emitted, final, once the global watermark passes its end: every partition has
//!   then completed it, and its shares are in the log before the progress that says so;
//! - a share of a window already emitted (late readings within the allowed lateness) re-emits it
//!   with the next revision; a share no newer than the one held (an owner replaying input after a
//!   handover) changes nothing.
//!
//! The merger is a function of the log alone: any instance that reads the same log from the
//! start, or from a snapshot of a merger (serde) and on from where it was taken, reaches the same
//! state and emits the same results in the same order, which is how another instance takes over
//! from a merger that died. Its clock is the log's too: "now" is the latest time an owner
//! reported (or a [`MergeRecord::Tick`]), never the merging instance's own. Distinct sensors are
//! exact whatever the topic's keying: shares carry their sensor maps, and merging unites them.
//!
//! Early results (`--emit-every`): owners publish what their open windows hold
//! ([`MergeRecord::Early`]), and each time the log's clock passes a multiple of the period, the
//! merger emits a partial result of every open window whose contents changed since.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;
use crate::operator::{Contents, EventTimeConfig, WindowShare};
use crate::reading::EventTime;
use crate::result::WindowResult;
use crate::watermark::{PartitionClock, Watermarks};

/// An input partition's clock, as its owner reported it at `at` (the owner's wall clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionProgress {
    /// The input partition.
    pub partition: u32,
    /// Its clock.
    pub clock: PartitionClock,
    /// When the owner reported it (µs since the epoch).
    pub at: i64,
}

/// One entry of the merge log, whose shares hold `C` (the seed's [`Aggregate`] unless said
/// otherwise).
#[allow(clippy::large_enum_variant)] // shares are most of the log; boxing them buys nothing
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "C: Contents")]
pub enum MergeRecord<C: Contents = Aggregate> {
    /// A partition's share of a window.
    Share {
        /// The input partition.
        partition: u32,
        /// Its share.
        share: WindowShare<C>,
    },
    /// A partition's clock.
    Progress(PartitionProgress),
    /// What an idle partition's open window holds: the partition's contribution if idleness
    /// closes the window before the partition's own share of it arrives.
    Provisional {
        /// The input partition.
        partition: u32,
        /// The window's contents so far (its revision is meaningless).
        share: WindowShare<C>,
    },
    /// The merging instance has written every result the log up to `through` (an offset)
    /// produced: an instance taking over writes only what comes after. (The consumer-group path
    /// marks publication here; the log-decided group marks it in its control records.)
    Published {
        /// The last log offset covered.
        through: i64,
    },
    /// What a partition's open window holds now, for early (partial) results only: it never
    /// counts in a final result.
    Early {
        /// The input partition.
        partition: u32,
        /// The window's contents so far (its revision is meaningless).
        share: WindowShare<C>,
    },
    /// The log's clock moves on without news from any owner (every partition idle): the
    /// watermark then follows it.
    Tick {
        /// The time (µs since the epoch).
        at: i64,
    },
}

/// Which result a merger emits: the window, its revision, and whether it is final (an early,
/// partial result is not, and has the revision of the window's next final result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Emitted {
    /// Window start (µs).
    pub start: i64,
    /// Window end (µs).
    pub end: i64,
    /// 0 for the first final result; each update by late readings adds one.
    pub revision: u32,
    /// False for an early result of a window still open.
    pub is_final: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "C: Contents")]
struct MergedWindow<C: Contents> {
    /// The latest share of each partition.
    shares: BTreeMap<u32, WindowShare<C>>,
    /// What idle partitions' open windows held, for partitions with no share yet.
    provisional: BTreeMap<u32, WindowShare<C>>,
    /// What open partitions' windows held, for early results only.
    #[serde(default)]
    early: BTreeMap<u32, WindowShare<C>>,
    /// Revision of the last emission, if any.
    emitted: Option<u32>,
    /// Changed since the last emission.
    changed: bool,
    /// Changed since the last early result.
    #[serde(default)]
    changed_early: bool,
}

impl<C: Contents> Default for MergedWindow<C> {
    fn default() -> Self {
        MergedWindow {
            shares: BTreeMap::new(),
            provisional: BTreeMap::new(),
            early: BTreeMap::new(),
            emitted: None,
            changed: false,
            changed_early: false,
        }
    }
}

impl<C: Contents> MergedWindow<C> {
    /// The window's end (every share of it has the same).
    fn end(&self) -> Option<i64> {
        self.shares.values().chain(self.provisional.values()).chain(self.early.values()).next().map(|s| s.end)
    }

    /// What an early result holds: each partition's share, else what it holds open, else what it
    /// provisionally held.
    fn early_contents(&self) -> C {
        let mut total = C::default();
        let partitions: std::collections::BTreeSet<&u32> =
            self.shares.keys().chain(self.early.keys()).chain(self.provisional.keys()).collect();
        for p in partitions {
            let share = self.shares.get(p).or_else(|| self.early.get(p)).or_else(|| self.provisional.get(p));
            if let Some(share) = share {
                total.merge(&share.aggregate);
            }
        }
        total
    }

    /// Each partition's share, or what it provisionally holds.
    fn contributions(&self) -> impl Iterator<Item = &WindowShare<C>> {
        let provisional =
            self.provisional.iter().filter(|(p, _)| !self.shares.contains_key(p)).map(|(_, s)| s);
        self.shares.values().chain(provisional)
    }
}

/// The global windows over every partition's shares (of `C`, the seed's [`Aggregate`] unless
/// said otherwise).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "C: Contents")]
pub struct Merger<C: Contents = Aggregate> {
    config: EventTimeConfig,
    partitions: u32,
    windows: BTreeMap<i64, MergedWindow<C>>,
    watermarks: Watermarks,
    /// The latest owner time reported: the merger's notion of "now" for idleness.
    now: i64,
    /// Shares ignored because they were no newer than the one held.
    replayed: u64,
    /// Shares of the same window, partition and revision with different contents (owners that
    /// disagree: nondeterminism somewhere; the first one is kept).
    conflicts: u64,
    /// Shares of windows already past the allowed lateness globally (a partition that went idle,
    /// then delivered old readings): counted, not merged.
    late_shares: u64,
    /// The period of early results on the log's clock (µs), if asked for.
    #[serde(default)]
    early_every: Option<i64>,
    /// The log's time at which the next early results are due.
    #[serde(default = "never")]
    early_due: i64,
}

/// Before any time: early results are due at the first clock.
fn never() -> i64 {
    i64::MIN
}

impl<C: Contents> Merger<C> {
    /// A merger for windows cut by `config` over a topic of `partitions` partitions.
    pub fn new(config: EventTimeConfig, partitions: u32) -> Merger<C> {
        let mut watermarks = Watermarks::new(config.max_delay, config.idle_timeout);
        for partition in 0..partitions {
            // Every partition holds the watermark until its owner reports.
            watermarks.register(partition, i64::MIN);
        }
        Merger {
            config,
            partitions,
            windows: BTreeMap::new(),
            watermarks,
            now: i64::MIN,
            replayed: 0,
            conflicts: 0,
            late_shares: 0,
            early_every: None,
            early_due: i64::MIN,
        }
    }

    /// Also emits early, partial results of open windows every `every` µs of the log's clock.
    pub fn with_early(mut self, every: Option<i64>) -> Merger<C> {
        self.early_every = every.filter(|&e| e > 0);
        self
    }

    /// Takes one record of the log; returns the windows it completes or revises, oldest first,
    /// then the early results that come due, as `emit` makes them from what is emitted and the
    /// merged contents.
    pub fn record_with<T>(
        &mut self,
        record: &MergeRecord<C>,
        mut emit: impl FnMut(Emitted, C) -> T,
    ) -> Vec<T> {
        let moved = match record {
            MergeRecord::Share { partition, share } => self.take_share(*partition, share),
            MergeRecord::Progress(progress) => self.take_progress(progress),
            MergeRecord::Provisional { partition, share } => self.take_provisional(*partition, share),
            MergeRecord::Early { partition, share } => self.take_early(*partition, share),
            MergeRecord::Published { .. } => false,
            MergeRecord::Tick { at } => {
                self.now = self.now.max(*at);
                true
            }
        };
        if !moved {
            return Vec::new();
        }
        let mut results = self.emit_with(&mut emit);
        results.extend(self.early_with(&mut emit));
        results
    }

    /// What a partition's open window holds now (early results only).
    fn take_early(&mut self, partition: u32, share: &WindowShare<C>) -> bool {
        if partition >= self.partitions || self.forgotten(share.end) || self.early_every.is_none() {
            return false;
        }
        let window = self.windows.entry(share.start).or_default();
        if !window.shares.contains_key(&partition) {
            window.early.insert(partition, share.clone());
            window.changed_early = true;
        }
        false
    }

    /// Early results of the open windows changed since the last ones, once the log's clock has
    /// passed the next multiple of the period.
    fn early_with<T>(&mut self, emit: &mut impl FnMut(Emitted, C) -> T) -> Vec<T> {
        let Some(every) = self.early_every else { return Vec::new() };
        if self.now == i64::MIN || self.now < self.early_due {
            return Vec::new();
        }
        self.early_due = self.now.saturating_sub(self.now.rem_euclid(every)).saturating_add(every);
        let watermark = self.watermarks.global();
        let mut results = Vec::new();
        for (&start, window) in self.windows.iter_mut() {
            let Some(end) = window.end() else { continue };
            if end <= watermark || !window.changed_early {
                continue;
            }
            window.changed_early = false;
            let revision = window.emitted.map_or(0, |r| r + 1);
            results.push(emit(Emitted { start, end, revision, is_final: false }, window.early_contents()));
        }
        results
    }

    /// A partition's share of a window; false when it is ignored unseen.
    fn take_share(&mut self, partition: u32, share: &WindowShare<C>) -> bool {
        if partition >= self.partitions {
            return false;
        }
        if self.forgotten(share.end) {
            self.late_shares += 1;
            return false;
        }
        let window = self.windows.entry(share.start).or_default();
        match window.shares.get(&partition) {
            Some(held) if held.revision > share.revision => self.replayed += 1,
            Some(held) if held.revision == share.revision => {
                self.replayed += 1;
                if held.aggregate != share.aggregate {
                    self.conflicts += 1;
                }
            }
            _ => {
                let unchanged =
                    window.provisional.remove(&partition).is_some_and(|p| p.aggregate == share.aggregate);
                window.early.remove(&partition);
                window.shares.insert(partition, share.clone());
                window.changed_early = true;
                // A share equal to what the partition provisionally held changes no result.
                window.changed |= !unchanged || window.emitted.is_none();
            }
        }
        true
    }

    /// What an idle partition's open window holds, until the partition's own share replaces it.
    fn take_provisional(&mut self, partition: u32, share: &WindowShare<C>) -> bool {
        if partition >= self.partitions || self.forgotten(share.end) {
            return false;
        }
        let window = self.windows.entry(share.start).or_default();
        let newer = window.provisional.get(&partition).is_none_or(|held| held.aggregate != share.aggregate);
        if !window.shares.contains_key(&partition) && newer {
            window.provisional.insert(partition, share.clone());
            window.changed = true;
        }
        true
    }

    /// A partition's clock moved on.
    fn take_progress(&mut self, progress: &PartitionProgress) -> bool {
        if progress.partition >= self.partitions {
            return false;
        }
        self.now = self.now.max(progress.at);
        self.watermarks.report(progress.partition, progress.clock);
        true
    }

    /// True when a window ending at `end` is past the allowed lateness: nothing changes it now.
    fn forgotten(&self, end: i64) -> bool {
        end.saturating_add(self.config.allowed_lateness) <= self.watermarks.global()
    }

    /// Emits each window the global watermark has passed that changed since its last emission,
    /// as `emit` makes it; forgets windows past the allowed lateness.
    fn emit_with<T>(&mut self, emit: &mut impl FnMut(Emitted, C) -> T) -> Vec<T> {
        let watermark = self.watermarks.advance(self.now);
        let mut results = Vec::new();
        for (&start, window) in self.windows.iter_mut() {
            let Some(end) = window.end() else { continue };
            if end > watermark {
                break;
            }
            if !window.changed {
                continue;
            }
            let mut total = C::default();
            for share in window.contributions() {
                total.merge(&share.aggregate);
            }
            let revision = window.emitted.map_or(0, |r| r + 1);
            results.push(emit(Emitted { start, end, revision, is_final: true }, total));
            window.emitted = Some(revision);
            window.changed = false;
        }
        let lateness = self.config.allowed_lateness;
        self.windows.retain(|_, w| w.end().is_some_and(|end| end.saturating_add(lateness) > watermark));
        results
    }

    /// The global watermark (`None` until every partition has reported, or gone idle).
    pub fn watermark(&self) -> Option<EventTime> {
        let w = self.watermarks.global();
        (w != i64::MIN).then_some(EventTime(w))
    }

    /// The allowed delay behind each partition's latest event time.
    pub fn max_delay(&self) -> i64 {
        self.config.max_delay
    }

    /// Each partition's clock as last reported.
    pub fn partitions(&self) -> &BTreeMap<u32, PartitionClock> {
        self.watermarks.partitions()
    }

    /// Windows held (open, or still revisable).
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// The log's clock: the latest time an owner reported (µs; `i64::MIN` before any).
    pub fn now(&self) -> i64 {
        self.now
    }

    /// True when every partition has reported and each is idle as its owner judged it: only the
    /// log's clock ([`MergeRecord::Tick`]) moves the watermark on then.
    pub fn all_idle(&self) -> bool {
        let clocks = self.watermarks.partitions();
        clocks.len() == self.partitions as usize && clocks.values().all(|c| c.caught_up)
    }

    /// Shares that changed nothing (replays after handovers, stale shares).
    pub fn replayed(&self) -> u64 {
        self.replayed
    }

    /// Shares that contradicted one already held (same window, partition and revision).
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// Shares that came after their window was past the allowed lateness everywhere.
    pub fn late_shares(&self) -> u64 {
        self.late_shares
    }
}

/// The seed's merger: [`WindowResult`]s out.
impl Merger<Aggregate> {
    /// Takes one record of the log; returns the results it completes or revises, oldest first.
    pub fn on_record(&mut self, record: &MergeRecord) -> Vec<WindowResult> {
        self.record_with(record, seed_result)
    }

    /// A partition's share of a window.
    pub fn on_share(&mut self, partition: u32, share: &WindowShare) -> Vec<WindowResult> {
        self.on_record(&MergeRecord::Share { partition, share: share.clone() })
    }

    /// What an idle partition's open window holds, until the partition's own share replaces it.
    pub fn on_provisional(&mut self, partition: u32, share: &WindowShare) -> Vec<WindowResult> {
        self.on_record(&MergeRecord::Provisional { partition, share: share.clone() })
    }

    /// A partition's clock moved on.
    pub fn on_progress(&mut self, progress: &PartitionProgress) -> Vec<WindowResult> {
        self.on_record(&MergeRecord::Progress(*progress))
    }
}

/// The seed's result for what a merger emits.
pub fn seed_result(emitted: Emitted, total: Aggregate) -> WindowResult {
    let mut result = WindowResult::from_aggregate(EventTime(emitted.start), EventTime(emitted.end), &total);
    result.revision = emitted.revision;
    result.is_final = emitted.is_final;
    result
}

#[cfg(test)]
mod tests;
