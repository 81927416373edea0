//! The merge as a value: the engine's `Merger` over the data partition's records, the fences that
//! keep a deposed owner's records out, and the numbering of the results. A pure function of the
//! records in their order, and serde, so a snapshot of it taken by one merger and the records
//! after it give another merger the same results with the same numbers.

use std::collections::BTreeMap;

use iotstream_engine::merge::{seed_result, Emitted, MergeRecord, Merger};
use iotstream_engine::operator::Contents;
use iotstream_engine::watermark::PartitionClock;
use iotstream_engine::{Aggregate, EventTime, EventTimeConfig, PartitionStatus, WindowResult};
use serde::{Deserialize, Serialize};

use crate::scaleout::records::{Data, DataEntry, MergeStatus};

/// What the merger last heard of a partition's owner (for status only).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reporter {
    /// The instance.
    pub instance: String,
    /// Its consumer lag.
    pub lag: Option<i64>,
    /// When it reported (its clock, µs).
    pub at: i64,
}

/// The merge state (of windows holding `C`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "C: Contents")]
pub struct MergeState<C: Contents = Aggregate> {
    merger: Merger<C>,
    partitions: u32,
    /// Per partition, the highest assignment version its records came under: a record under an
    /// older one is from an owner the partition has since left, and is refused.
    fences: BTreeMap<u32, u64>,
    /// Results produced so far: the next one is number `produced + 1`.
    produced: u64,
    /// Records refused by the fences.
    fenced: u64,
    /// Who last reported each partition.
    reporters: BTreeMap<u32, Reporter>,
}

impl<C: Contents> MergeState<C> {
    /// A merge of nothing yet, over `partitions` partitions, with early results every
    /// `early_every` µs if given.
    pub fn new(config: EventTimeConfig, partitions: u32, early_every: Option<i64>) -> MergeState<C> {
        MergeState {
            merger: Merger::new(config, partitions).with_early(early_every),
            partitions,
            fences: BTreeMap::new(),
            produced: 0,
            fenced: 0,
            reporters: BTreeMap::new(),
        }
    }

    /// Takes one data record; the results it produces, numbered, as `emit` makes them.
    pub fn apply_with<T>(
        &mut self,
        entry: &DataEntry<C>,
        mut emit: impl FnMut(Emitted, C) -> T,
    ) -> Vec<(u64, T)> {
        let Data::Merge { version, lag, record } = &entry.data else { return Vec::new() };
        if let Some(partition) = partition_of(record) {
            let fence = self.fences.entry(partition).or_insert(*version);
            if *version < *fence {
                self.fenced += 1;
                return Vec::new();
            }
            *fence = *version;
            if let MergeRecord::Progress(progress) = record {
                let reporter = Reporter { instance: entry.instance.clone(), lag: *lag, at: progress.at };
                self.reporters.insert(partition, reporter);
            }
        }
        let results = self.merger.record_with(record, &mut emit);
        results
            .into_iter()
            .map(|result| {
                self.produced += 1;
                (self.produced, result)
            })
            .collect()
    }

    /// Results produced so far (the number of the last one).
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// Records refused because a newer owner had written for their partition.
    pub fn fenced(&self) -> u64 {
        self.fenced
    }

    /// The engine's merger.
    pub fn merger(&self) -> &Merger<C> {
        &self.merger
    }

    /// The merge as the others' status shows it.
    pub fn status(&self) -> MergeStatus {
        let clocks = self.merger.partitions();
        let partitions = (0..self.partitions)
            .map(|partition| {
                let reporter = self.reporters.get(&partition).cloned().unwrap_or_default();
                partition_status(partition, clocks.get(&partition), self.merger.max_delay(), reporter)
            })
            .collect();
        MergeStatus {
            watermark: self.merger.watermark(),
            open_windows: self.merger.open_windows() as u64,
            partitions,
        }
    }
}

/// The seed's merge: window results over every partition.
impl MergeState<Aggregate> {
    /// Takes one data record; the results it produces, numbered.
    pub fn apply(&mut self, entry: &DataEntry) -> Vec<(u64, WindowResult)> {
        let all: Vec<i32> = (0..self.partitions).filter_map(|p| i32::try_from(p).ok()).collect();
        self.apply_with(entry, |emitted, total| {
            let mut result = seed_result(emitted, total);
            result.partitions = Some(all.clone());
            result
        })
    }
}

/// A partition's line of the status: its clock as the merge holds it, and who reported it.
pub fn partition_status(
    partition: u32,
    clock: Option<&PartitionClock>,
    max_delay: i64,
    reporter: Reporter,
) -> PartitionStatus {
    let watermark = clock
        .map(|c| c.max_event_time)
        .filter(|&t| t != i64::MIN)
        .map(|t| EventTime(t.saturating_sub(max_delay)));
    PartitionStatus {
        partition,
        owner: reporter.instance,
        watermark,
        caught_up: clock.is_some_and(|c| c.caught_up),
        lag: reporter.lag,
        reported_at: EventTime(reporter.at.max(0)),
    }
}

/// The input partition a record is about (a tick is about none).
fn partition_of<C: Contents>(record: &MergeRecord<C>) -> Option<u32> {
    match record {
        MergeRecord::Share { partition, .. }
        | MergeRecord::Provisional { partition, .. }
        | MergeRecord::Early { partition, .. } => Some(*partition),
        MergeRecord::Progress(progress) => Some(progress.partition),
        MergeRecord::Tick { .. } | MergeRecord::Published { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotstream_engine::merge::PartitionProgress;
    use iotstream_engine::watermark::PartitionClock;
    use iotstream_engine::{Parser, WindowShare, WindowSpec};

    const SECOND: i64 = 1_000_000;
    const BASE: i64 = 1_479_302_790 * SECOND;

    fn config() -> EventTimeConfig {
        EventTimeConfig {
            window: WindowSpec::new(10 * SECOND, 10 * SECOND).unwrap(),
            max_delay: 0,
            allowed_lateness: 0,
            max_skew: None,
            idle_timeout: None,
        }
    }

    fn share(readings: usize) -> MergeRecord {
        let line = format!(
            r#"{{"guid":"g","state":"CA","eventTime":"{}","payload":{{"data":{{"temperature":70}}}}}}"#,
            EventTime(BASE + SECOND)
        );
        let mut aggregate = Aggregate::default();
        for _ in 0..readings {
            aggregate.add(&Parser::default().parse(line.as_bytes()).unwrap());
        }
        let share = WindowShare { start: BASE, end: BASE + 10 * SECOND, revision: 0, aggregate };
        MergeRecord::Share { partition: 0, share }
    }

    fn clock(t: i64) -> MergeRecord {
        let clock = PartitionClock { max_event_time: t, last_active: 0, caught_up: false };
        MergeRecord::Progress(PartitionProgress { partition: 0, clock, at: 0 })
    }

    fn data(instance: &str, version: u64, record: MergeRecord) -> DataEntry {
        DataEntry { instance: instance.into(), data: Data::Merge { version, lag: None, record } }
    }

    #[test]
    fn a_deposed_owners_records_are_refused_once_the_new_owner_has_written() {
        let mut state = MergeState::new(config(), 1, None);
        state.apply(&data("a", 1, share(2)));
        // b took the partition over at version 3 and wrote; a, paused, wrote under version 1.
        state.apply(&data("b", 3, share(2)));
        assert!(state.apply(&data("a", 1, share(9))).is_empty());
        assert_eq!(state.fenced(), 1);
        let results = state.apply(&data("b", 3, clock(BASE + 20 * SECOND)));
        assert_eq!(results.len(), 1);
        assert_eq!((results[0].0, results[0].1.messages), (1, 2), "the first result, a's contents unseen");
    }

    #[test]
    fn a_snapshot_goes_on_with_the_same_numbers() {
        let mut state = MergeState::new(config(), 1, None);
        state.apply(&data("a", 1, share(1)));
        state.apply(&data("a", 1, clock(BASE + 11 * SECOND)));
        let mut copy: MergeState = postcard::from_bytes(&postcard::to_stdvec(&state).unwrap()).unwrap();
        let later = MergeRecord::Share {
            partition: 0,
            share: WindowShare {
                start: BASE + 10 * SECOND,
                end: BASE + 20 * SECOND,
                revision: 0,
                aggregate: Aggregate::default(),
            },
        };
        for record in [later, clock(BASE + 25 * SECOND)] {
            assert_eq!(state.apply(&data("a", 1, record.clone())), copy.apply(&data("a", 1, record)));
        }
        assert_eq!(state.produced(), 2);
    }
}
