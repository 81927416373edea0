//! Scale-out, as a property: partitions owned by instances that die at random moments and are
//! taken over from their last snapshot, their shares interleaved in any order into one log,
//! give the same global windows as one owner per partition that never dies — and, without late
//! readings, the windows a naive count over all readings gives. Partitions that fall silent are
//! declared idle by their owners (what their open windows hold, then an idle clock) and stop
//! holding the watermark, then resume.

use std::collections::{BTreeMap, BTreeSet};

use iotstream_engine::merge::{MergeRecord, Merger, PartitionProgress};
use iotstream_engine::reading::STATE_CODES;
use iotstream_engine::watermark::PartitionClock;
use iotstream_engine::{EventTime, EventTimeConfig, EventTimeWindows, Parser, WindowResult, WindowSpec};
use proptest::prelude::*;

const SECOND: i64 = 1_000_000;
const BASE: i64 = 1_479_302_790 * SECOND;
const PARTITIONS: u32 = 3;

#[derive(Clone, Debug)]
struct Item {
    sensor: u32,
    state: usize,
    t: i64,
    temperature: i32,
    /// When it reaches its owner (µs): the owner's clock.
    arrival: i64,
}

impl Item {
    /// Readings are keyed by sensor, as `simulate` keys them by guid.
    fn partition(&self) -> u32 {
        self.sensor % PARTITIONS
    }

    fn line(&self) -> String {
        format!(
            r#"{{"guid":"g{}","state":"{}","eventTime":"{}","payload":{{"data":{{"temperature":{}}}}}}}"#,
            self.sensor,
            STATE_CODES[self.state],
            EventTime(self.t),
            self.temperature
        )
    }
}

fn config(lateness: i64) -> EventTimeConfig {
    EventTimeConfig {
        window: WindowSpec::new(10 * SECOND, 5 * SECOND).unwrap(),
        max_delay: 2 * SECOND,
        allowed_lateness: lateness,
        max_skew: None,
        idle_timeout: None,
    }
}

/// The idle timeout of the idleness properties.
const IDLE: i64 = 3 * SECOND;

/// Readings over a minute, each partition's in time order but for a jitter below the delay bound,
/// so none is late.
fn items() -> impl Strategy<Value = Vec<Item>> {
    arriving(Just(0..1_500i64).boxed())
}

/// Readings over a minute arriving with a jitter below the delay bound, or, one in six, 2.5 to 7 s
/// after their event time: beyond the 2 s bound, so late; within 3 s of lateness some revise a
/// window already emitted, the others are dropped as late.
fn items_with_late() -> impl Strategy<Value = Vec<Item>> {
    arriving(prop_oneof![5 => Just(0..1_500i64), 1 => Just(2_500..7_000i64)].boxed())
}

/// Readings whose arrival (event time plus a jitter, in ms, from `jitter`'s range) orders them.
fn arriving(jitter: BoxedStrategy<std::ops::Range<i64>>) -> impl Strategy<Value = Vec<Item>> {
    let reading = (0u32..40, 0usize..51, 0i64..60_000, -200i32..1200, jitter.prop_flat_map(|range| range));
    prop::collection::vec(reading, 1..150).prop_map(|raw| {
        let mut items: Vec<(i64, Item)> = raw
            .into_iter()
            .map(|(sensor, state, ms, temperature, jitter)| {
                let t = BASE + ms * 1000;
                let arrival = t + jitter * 1000;
                (arrival, Item { sensor, state, t, temperature, arrival })
            })
            .collect();
        items.sort_by_key(|(arrival, _)| *arrival);
        items.into_iter().map(|(_, item)| item).collect()
    })
}

/// One partition's log of records, as its owners publish them, each with the owner's clock then:
/// shares as windows complete, then its clock; an owner dies after each step in `deaths`, and the
/// next restarts from the last snapshot (taken every `every` readings) and replays from there.
/// With an idle timeout, a partition silent for that long (its source caught up) is declared idle:
/// what its open windows hold, then its idle clock.
fn partition_log(
    config: EventTimeConfig,
    partition: u32,
    items: &[&Item],
    deaths: &BTreeSet<usize>,
    every: usize,
) -> Vec<(i64, MergeRecord)> {
    let parser = Parser::default();
    let mut log = Vec::new();
    let mut owner = EventTimeWindows::new(config);
    let mut snapshot = (0, postcard::to_stdvec(&owner).unwrap());
    let mut next = 0;
    let mut died = BTreeSet::new();
    while next < items.len() {
        let now = items[next].arrival;
        if let (Some(timeout), Some(before)) =
            (config.idle_timeout, next.checked_sub(1).map(|i| items[i].arrival))
        {
            if now - before >= timeout {
                declare_idle(&mut owner, partition, before + timeout, &mut log);
            }
        }
        let text = items[next].line();
        let reading = parser.parse(text.as_bytes()).unwrap();
        let _ = owner.on_reading(partition, next as i64, &reading, EventTime(now));
        for share in owner.on_advance_shares(EventTime(now)) {
            log.push((now, MergeRecord::Share { partition, share }));
        }
        log.push((now, progress(partition, owner.watermarks().partitions()[&partition], now)));
        next += 1;
        if next % every == 0 {
            snapshot = (next, postcard::to_stdvec(&owner).unwrap());
        }
        if deaths.contains(&next) && died.insert(next) {
            // The owner is gone; whoever takes the partition over restores the last snapshot.
            owner = postcard::from_bytes(&snapshot.1).unwrap();
            next = snapshot.0;
        }
    }
    for share in owner.on_end_shares() {
        log.push((i64::MAX, MergeRecord::Share { partition, share }));
    }
    let end = PartitionClock { max_event_time: i64::MAX, last_active: 0, caught_up: true };
    log.push((i64::MAX, progress(partition, end, i64::MAX)));
    log
}

/// The owner of a partition silent since its last reading finds it idle at `at`: it publishes
/// what its open windows hold, then the clock that says so (as `scaleout`'s hook does).
fn declare_idle(owner: &mut EventTimeWindows, partition: u32, at: i64, log: &mut Vec<(i64, MergeRecord)>) {
    owner.on_caught_up(partition);
    for share in owner.on_early_shares() {
        log.push((at, MergeRecord::Provisional { partition, share }));
    }
    log.push((at, progress(partition, owner.watermarks().partitions()[&partition], at)));
}

fn progress(partition: u32, clock: PartitionClock, at: i64) -> MergeRecord {
    MergeRecord::Progress(PartitionProgress { partition, clock, at })
}

/// Interleaves the partitions' logs, each in its own order, picking the next log by `choices`.
fn interleave(logs: Vec<Vec<(i64, MergeRecord)>>, choices: &[usize]) -> Vec<MergeRecord> {
    let mut logs: Vec<Vec<MergeRecord>> =
        logs.into_iter().map(|log| log.into_iter().rev().map(|(_, record)| record).collect()).collect();
    let mut merged = Vec::new();
    let mut choice = choices.iter().cycle();
    while logs.iter().any(|log| !log.is_empty()) {
        let open: Vec<usize> = (0..logs.len()).filter(|&i| !logs[i].is_empty()).collect();
        let pick = open[choice.next().copied().unwrap_or(0) % open.len()];
        merged.extend(logs[pick].pop());
    }
    merged
}

/// Every result the merger emits over `log`.
fn merge(config: EventTimeConfig, log: &[MergeRecord]) -> (Vec<WindowResult>, Merger) {
    let mut merger = Merger::new(config, PARTITIONS);
    let results = log.iter().flat_map(|record| merger.on_record(record)).collect();
    (results, merger)
}

/// The latest revision of each window.
fn latest(results: &[WindowResult]) -> BTreeMap<EventTime, WindowResult> {
    let mut latest = BTreeMap::new();
    for result in results {
        latest.insert(result.window_start, result.clone());
    }
    latest
}

/// Interleaves the partitions' logs as time orders them (each in its own order, the next record
/// the earliest of the logs' next ones, ties broken by `choices`): as owners append to one log.
fn in_time(mut logs: Vec<Vec<(i64, MergeRecord)>>, choices: &[usize]) -> Vec<MergeRecord> {
    logs.iter_mut().for_each(|log| log.reverse());
    let mut merged = Vec::new();
    let mut choice = choices.iter().cycle();
    while let Some(first) = logs.iter().filter_map(|log| log.last().map(|r| r.0)).min() {
        let due: Vec<usize> =
            (0..logs.len()).filter(|&i| logs[i].last().is_some_and(|r| r.0 == first)).collect();
        let pick = due[choice.next().copied().unwrap_or(0) % due.len()];
        merged.extend(logs[pick].pop().map(|(_, record)| record));
    }
    merged
}

fn logs(
    config: EventTimeConfig,
    items: &[Item],
    deaths: &BTreeSet<usize>,
    every: usize,
) -> Vec<Vec<(i64, MergeRecord)>> {
    (0..PARTITIONS)
        .map(|p| {
            let mine: Vec<&Item> = items.iter().filter(|i| i.partition() == p).collect();
            partition_log(config, p, &mine, deaths, every)
        })
        .collect()
}

/// Partitions' owners dying at `deaths` (snapshots every `every` readings) and their logs
/// interleaved by `choices` give the windows of one owner per partition that never dies, each
/// revision once.
fn handovers_change_no_window(
    config: EventTimeConfig,
    items: &[Item],
    deaths: &BTreeSet<usize>,
    every: usize,
    choices: &[usize],
) -> Result<(), TestCaseError> {
    let (reference, _) = merge(config, &interleave(logs(config, items, &BTreeSet::new(), usize::MAX), &[0]));
    let (results, merger) = merge(config, &interleave(logs(config, items, deaths, every), choices));
    prop_assert_eq!(merger.conflicts(), 0, "replays reproduce the same shares");
    // The furthest contents agree; their revision numbers need not: whether a late reading's
    // share reaches the merger before or after it emitted the window (a revision) depends on how
    // the partitions' logs interleave, as it depends on timing in a live run.
    let settled = |results: &[WindowResult]| {
        let mut latest = latest(results);
        latest.values_mut().for_each(|r| r.revision = 0);
        latest
    };
    prop_assert_eq!(settled(&results), settled(&reference));
    // No window twice with the same revision.
    let keys: BTreeSet<(EventTime, u32)> = results.iter().map(|r| (r.window_start, r.revision)).collect();
    prop_assert_eq!(keys.len(), results.len());
    prop_assert!(results.iter().all(|r| r.is_final));
    Ok(())
}

/// `items` but those of `partition` from `from` for `length` (ms into the minute): the partition
/// falls silent there, long enough for its owner to declare it idle, then resumes (unless the
/// silence runs to the end).
fn silence(items: Vec<Item>, (partition, from, length): (u32, i64, i64)) -> Vec<Item> {
    let (from, until) = (BASE + from * 1000, BASE + (from + length) * 1000);
    items.into_iter().filter(|i| i.partition() != partition || i.t < from || i.t >= until).collect()
}

/// The starts of the windows over `t`, from the definition: multiples of the slide in
/// `(t - size, t]`.
fn starts(config: EventTimeConfig, t: i64) -> Vec<i64> {
    let (size, slide) = (config.window.size(), config.window.slide());
    let last = t.div_euclid(slide);
    (last - size / slide..=last).map(|k| k * slide).filter(|&start| t < start + size).collect()
}

/// Per window start, messages and distinct sensors of every reading in it.
fn naive(config: EventTimeConfig, items: &[Item]) -> BTreeMap<i64, (u64, u64)> {
    let mut naive: BTreeMap<i64, (u64, BTreeSet<u32>)> = BTreeMap::new();
    for item in items {
        for start in starts(config, item.t) {
            let window = naive.entry(start).or_default();
            window.0 += 1;
            window.1.insert(item.sensor);
        }
    }
    naive.into_iter().map(|(start, (n, sensors))| (start, (n, sensors.len() as u64))).collect()
}

fn counts(results: &[WindowResult]) -> BTreeMap<i64, (u64, u64)> {
    latest(results).values().map(|r| (r.window_start.as_micros(), (r.messages, r.sensors))).collect()
}

/// Merges `log`, checking after each record that idle partitions no longer hold the watermark:
/// it is at least the lowest latest event time, less the delay, of the partitions that are not
/// idle (caught up and silent for the idle timeout on the log's clock), once all have reported.
fn merge_checking_idleness(
    config: EventTimeConfig,
    log: &[MergeRecord],
) -> Result<(Vec<WindowResult>, Merger), TestCaseError> {
    let mut merger = Merger::new(config, PARTITIONS);
    let mut clocks: BTreeMap<u32, PartitionClock> = BTreeMap::new();
    let mut now = i64::MIN;
    let mut results = Vec::new();
    for record in log {
        results.extend(merger.on_record(record));
        let MergeRecord::Progress(progress) = record else { continue };
        now = now.max(progress.at);
        let clock = clocks.entry(progress.partition).or_insert(progress.clock);
        clock.max_event_time = clock.max_event_time.max(progress.clock.max_event_time);
        clock.last_active = clock.last_active.max(progress.clock.last_active);
        clock.caught_up = progress.clock.caught_up;
        let idle = |c: &PartitionClock| c.caught_up && now.saturating_sub(c.last_active) >= IDLE;
        let active = clocks.values().filter(|c| !idle(c)).map(|c| c.max_event_time).min();
        if let (true, Some(active)) = (clocks.len() == PARTITIONS as usize, active) {
            let watermark = merger.watermark().map_or(i64::MIN, |w| w.as_micros());
            let bound = active.saturating_sub(config.max_delay);
            prop_assert!(
                watermark >= bound,
                "watermark {} held below {} by an idle partition",
                watermark,
                bound
            );
        }
    }
    Ok((results, merger))
}

/// With partitions going idle and resuming, owners dying at `deaths` and the log in time order
/// (ties by `choices`): the watermark never waits for an idle partition, and the windows are
/// those of owners that never die. Without late readings, idleness closes each window once, with
/// every partition's contents: the windows a naive count gives, no revision.
fn idleness_changes_no_window(
    config: EventTimeConfig,
    items: &[Item],
    deaths: &BTreeSet<usize>,
    every: usize,
    choices: &[usize],
    late: bool,
) -> Result<(), TestCaseError> {
    let uninterrupted = in_time(logs(config, items, &BTreeSet::new(), usize::MAX), &[0]);
    let (reference, _) = merge_checking_idleness(config, &uninterrupted)?;
    let (results, merger) =
        merge_checking_idleness(config, &in_time(logs(config, items, deaths, every), choices))?;
    prop_assert_eq!(merger.conflicts(), 0, "replays reproduce the same shares");
    let settled = |results: &[WindowResult]| {
        let mut latest = latest(results);
        latest.values_mut().for_each(|r| r.revision = 0);
        latest
    };
    prop_assert_eq!(settled(&results), settled(&reference));
    let keys: BTreeSet<(EventTime, u32)> = results.iter().map(|r| (r.window_start, r.revision)).collect();
    prop_assert_eq!(keys.len(), results.len());
    prop_assert!(results.iter().all(|r| r.is_final));
    if !late {
        prop_assert_eq!(results.len(), latest(&results).len(), "a revision without late readings");
        prop_assert_eq!(counts(&results), naive(config, items));
    }
    Ok(())
}

fn idle_config(lateness: i64) -> EventTimeConfig {
    EventTimeConfig { idle_timeout: Some(IDLE), ..config(lateness) }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn handovers_and_interleavings_change_no_window(
        items in items(),
        deaths in prop::collection::btree_set(1usize..60, 0..6),
        every in 1usize..12,
        choices in prop::collection::vec(0usize..3, 1..40),
        lateness in prop_oneof![Just(0), Just(3 * SECOND)],
    ) {
        handovers_change_no_window(config(lateness), &items, &deaths, every, &choices)?;
    }

    /// The same with late readings: some revise windows already merged (within the lateness),
    /// the others are dropped as late, and a handover replaying them must do the same.
    #[test]
    fn handovers_and_interleavings_change_no_window_with_late_readings(
        items in items_with_late(),
        deaths in prop::collection::btree_set(1usize..60, 0..6),
        every in 1usize..12,
        choices in prop::collection::vec(0usize..3, 1..40),
        lateness in prop_oneof![Just(0), Just(3 * SECOND)],
    ) {
        handovers_change_no_window(config(lateness), &items, &deaths, every, &choices)?;
    }

    #[test]
    fn merged_windows_count_every_reading(items in items()) {
        let config = config(0);
        let (results, _) = merge(config, &interleave(logs(config, &items, &BTreeSet::new(), usize::MAX), &[1, 2]));
        prop_assert_eq!(counts(&results), naive(config, &items));
    }

    /// A partition falls silent, is declared idle by its owner (what its open windows hold, then
    /// its idle clock) and resumes; others may idle too between readings more than the timeout
    /// apart. Owners die and replay, the log is in time order.
    #[test]
    fn idle_partitions_neither_hold_the_watermark_nor_lose_readings(
        items in items(),
        quiet in (0u32..PARTITIONS, 5_000i64..40_000, 4_000i64..25_000),
        deaths in prop::collection::btree_set(1usize..60, 0..6),
        every in 1usize..12,
        choices in prop::collection::vec(0usize..3, 1..40),
        lateness in prop_oneof![Just(0), Just(3 * SECOND)],
    ) {
        let items = silence(items, quiet);
        idleness_changes_no_window(idle_config(lateness), &items, &deaths, every, &choices, false)?;
    }

    /// The same with late readings: some revise windows, others are dropped as late.
    #[test]
    fn idle_partitions_with_late_readings_change_no_window(
        items in items_with_late(),
        quiet in (0u32..PARTITIONS, 5_000i64..40_000, 4_000i64..25_000),
        deaths in prop::collection::btree_set(1usize..60, 0..6),
        every in 1usize..12,
        choices in prop::collection::vec(0usize..3, 1..40),
        lateness in prop_oneof![Just(0), Just(3 * SECOND)],
    ) {
        let items = silence(items, quiet);
        idleness_changes_no_window(idle_config(lateness), &items, &deaths, every, &choices, true)?;
    }
}
