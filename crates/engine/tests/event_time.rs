//! Event-time windows: edge cases, and property tests against a naive oracle.
//!
//! The oracle replays the arrival order with the documented rule written as plainly as possible
//! (a list of readings per window, a running maximum for the watermark), sharing no code with the
//! engine.

use std::collections::{BTreeMap, BTreeSet};

use iotstream_engine::reading::STATE_CODES;
use iotstream_engine::{
    Admission, EventTime, EventTimeConfig, EventTimeWindows, Parser, WindowResult, WindowSpec,
};
use proptest::prelude::*;

const SECOND: i64 = 1_000_000;
const BASE: i64 = 1_479_302_790 * SECOND; // 2016-11-16T13:26:30Z

#[derive(Clone, Debug)]
struct Item {
    sensor: u32,
    state: usize,
    t: i64,
    temperature: i32,
}

fn line(item: &Item) -> String {
    format!(
        r#"{{"guid":"g{}","state":"{}","eventTime":"{}","payload":{{"data":{{"temperature":{}}}}}}}"#,
        item.sensor,
        STATE_CODES[item.state],
        EventTime(item.t),
        item.temperature
    )
}

fn config(size: i64, slide: i64, max_delay: i64, lateness: i64) -> EventTimeConfig {
    EventTimeConfig {
        window: WindowSpec::new(size, slide).unwrap(),
        max_delay,
        allowed_lateness: lateness,
        max_skew: None,
        idle_timeout: None,
    }
}

/// Feeds `items` in order, advancing the watermark after the readings whose index is in
/// `advance_after` (and at the end); returns every result emitted and the late items.
fn run(
    config: EventTimeConfig,
    items: &[Item],
    advance_after: &BTreeSet<usize>,
) -> (Vec<WindowResult>, Vec<usize>) {
    let parser = Parser::default();
    let mut op = EventTimeWindows::new(config);
    let mut results = Vec::new();
    let mut late = Vec::new();
    let now = EventTime(0);
    for (i, item) in items.iter().enumerate() {
        let text = line(item);
        let reading = parser.parse(text.as_bytes()).expect("valid");
        if op.on_reading(0, i as i64, &reading, now) == Admission::Late {
            late.push(i);
        }
        if advance_after.contains(&i) {
            results.extend(op.on_advance(now));
        }
    }
    results.extend(op.on_advance(now));
    results.extend(op.on_end());
    (results, late)
}

/// The last revision of every window, keyed by start.
fn finals(results: &[WindowResult]) -> BTreeMap<i64, WindowResult> {
    let mut finals = BTreeMap::new();
    for r in results.iter().filter(|r| r.is_final) {
        finals.insert(r.window_start.as_micros(), r.clone());
    }
    finals
}

/// The oracle: per window, the items it must hold, and the late items.
fn oracle(config: &EventTimeConfig, items: &[Item]) -> (BTreeMap<i64, Vec<usize>>, Vec<usize>) {
    let (size, slide) = (config.window.size(), config.window.slide());
    let mut windows: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    let mut late = Vec::new();
    let mut max_seen: Option<i64> = None;
    for (i, item) in items.iter().enumerate() {
        let watermark = max_seen.map(|m| m - config.max_delay);
        let mut counted = false;
        let mut start = item.t.div_euclid(slide) * slide;
        while start > item.t - size {
            let on_time = watermark.is_none_or(|w| w < start + size + config.allowed_lateness);
            if on_time {
                windows.entry(start).or_default().push(i);
                counted = true;
            }
            start -= slide;
        }
        if !counted {
            late.push(i);
        }
        max_seen = Some(max_seen.map_or(item.t, |m| m.max(item.t)));
    }
    (windows, late)
}

fn check_against_oracle(results: &[WindowResult], late: &[usize], config: &EventTimeConfig, items: &[Item]) {
    let (expected, expected_late) = oracle(config, items);
    assert_eq!(late, expected_late, "late readings");
    let finals = finals(results);
    assert_eq!(finals.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "windows");
    for (start, members) in &expected {
        let result = &finals[start];
        assert_eq!(result.messages, members.len() as u64, "window {start}");
        let sensors: BTreeSet<u32> = members.iter().map(|&i| items[i].sensor).collect();
        assert_eq!(result.sensors, sensors.len() as u64);
        let sum: i64 = members.iter().map(|&i| i64::from(items[i].temperature)).sum();
        let total: f64 = result.states.iter().map(|s| s.avg_temperature * s.messages as f64).sum();
        assert!((total - sum as f64).abs() < 1e-6, "window {start}: {total} vs {sum}");
        assert_eq!(result.window_end.as_micros() - start, config.window.size());
    }
}

#[test]
fn a_reading_at_the_lateness_boundary() {
    // Window [0, 10 s), no delay, 2 s lateness. The watermark reaches 12 s minus 1 µs: a reading
    // for the window is still on time; at 12 s it is late.
    let cfg = config(10 * SECOND, 10 * SECOND, 0, 2 * SECOND);
    let item = |t: i64| Item { sensor: 1, state: 4, t: BASE + t, temperature: 50 };
    let base_window = BASE.div_euclid(10 * SECOND) * 10 * SECOND;
    let offset = BASE - base_window;
    let on_time = [item(1), item(12 * SECOND - 1 - offset), item(5 - offset + SECOND)];
    let (results, late) = run(cfg, &on_time, &BTreeSet::new());
    assert!(late.is_empty());
    assert_eq!(finals(&results)[&base_window].messages, 2);
    let too_late = [item(1), item(12 * SECOND - offset), item(SECOND - offset)];
    let (_, late) = run(cfg, &too_late, &BTreeSet::new());
    assert_eq!(late, [2]);
}

#[test]
fn late_readings_within_the_lateness_update_the_window_with_a_new_revision() {
    let cfg = config(10 * SECOND, 10 * SECOND, 0, 30 * SECOND);
    let start = (BASE / (10 * SECOND)) * 10 * SECOND;
    let items = [
        Item { sensor: 1, state: 0, t: start + SECOND, temperature: 10 },
        Item { sensor: 2, state: 0, t: start + 15 * SECOND, temperature: 20 },
        Item { sensor: 3, state: 0, t: start + 2 * SECOND, temperature: 30 },
    ];
    let advance_after: BTreeSet<usize> = [0, 1, 2].into();
    let (results, late) = run(cfg, &items, &advance_after);
    assert!(late.is_empty());
    let first: Vec<(i64, u32, u64)> = results
        .iter()
        .filter(|r| r.window_start.as_micros() == start)
        .map(|r| (r.window_start.as_micros(), r.revision, r.messages))
        .collect();
    assert_eq!(first, [(start, 0, 1), (start, 1, 2)]);
}

#[test]
fn readings_from_the_far_future_are_refused_and_do_not_move_the_watermark() {
    let mut cfg = config(10 * SECOND, 10 * SECOND, 0, 0);
    cfg.max_skew = Some(60 * SECOND);
    let mut op = EventTimeWindows::new(cfg);
    let parser = Parser::default();
    let now = EventTime(BASE);
    let future = line(&Item { sensor: 1, state: 0, t: BASE + 3600 * SECOND, temperature: 1 });
    assert_eq!(op.on_reading(0, 0, &parser.parse(future.as_bytes()).unwrap(), now), Admission::Future);
    let present = line(&Item { sensor: 1, state: 0, t: BASE, temperature: 1 });
    assert_eq!(op.on_reading(0, 1, &parser.parse(present.as_bytes()).unwrap(), now), Admission::Counted);
    assert_eq!(op.pinned_positions().get(&0), Some(&1));
    assert_eq!(op.watermark(), None);
    op.on_advance(now);
    assert_eq!(op.watermark(), Some(EventTime(BASE)));
}

#[test]
fn partial_results_are_marked_and_precede_the_final_one() {
    let cfg = config(10 * SECOND, 10 * SECOND, 0, 0);
    let mut op = EventTimeWindows::new(cfg);
    let parser = Parser::default();
    let text = line(&Item { sensor: 1, state: 0, t: BASE, temperature: 1 });
    op.on_reading(0, 7, &parser.parse(text.as_bytes()).unwrap(), EventTime(0));
    let partial = op.on_early();
    assert_eq!(partial.len(), 1);
    assert!(!partial[0].is_final);
    assert!(op.on_early().is_empty(), "nothing changed since");
    assert_eq!(op.pinned_positions().get(&0), Some(&7), "a partial result does not release input");
    let last = op.on_end();
    assert_eq!((last.len(), last[0].is_final, last[0].revision), (1, true, 0));
    assert!(op.pinned_positions().is_empty());
}

/// Readings in event-time order, 0–3 per 100 ms, over about a minute.
fn ordered_items() -> impl Strategy<Value = Vec<Item>> {
    prop::collection::vec((0u32..30, 0i64..300_000, -50i32..150), 1..300).prop_map(|raw| {
        let mut t = BASE;
        raw.into_iter()
            .map(|(sensor, step, temperature)| {
                t += step;
                // A sensor keeps its state, as in the seed.
                Item { sensor, state: sensor as usize * 7 % 51, t, temperature }
            })
            .collect()
    })
}

/// Reorders `items` so that none is displaced by more than `bound` µs of event time: sort by
/// `t + jitter` with jitter in [0, bound).
fn disorder(items: &[Item], jitter: &[f64], bound: i64) -> Vec<Item> {
    let mut keyed: Vec<(i64, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.t + (jitter[i % jitter.len()] * bound as f64) as i64, i))
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, i)| items[i].clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any reordering within the maximum delay gives identical final windows and nothing late.
    #[test]
    fn reordering_within_the_delay_changes_nothing(
        items in ordered_items(),
        jitter in prop::collection::vec(0.0f64..1.0, 1..50),
        sliding in any::<bool>(),
        cuts in prop::collection::btree_set(0usize..300, 0..20),
    ) {
        let cfg = if sliding { config(4 * SECOND, 2 * SECOND, 3 * SECOND, 0) } else { config(5 * SECOND, 5 * SECOND, 3 * SECOND, 0) };
        let (sorted, sorted_late) = run(cfg, &items, &BTreeSet::new());
        prop_assert!(sorted_late.is_empty());
        let shuffled = disorder(&items, &jitter, 3 * SECOND);
        let (results, late) = run(cfg, &shuffled, &cuts);
        prop_assert!(late.is_empty(), "late: {late:?}");
        let strip = |m: BTreeMap<i64, WindowResult>| -> BTreeMap<i64, WindowResult> {
            m.into_iter().map(|(k, mut r)| { r.revision = 0; (k, r) }).collect()
        };
        prop_assert_eq!(strip(finals(&results)), strip(finals(&sorted)));
        check_against_oracle(&results, &late, &cfg, &shuffled);
    }

    /// With disorder beyond the delay, the late readings and the windows are exactly the oracle's,
    /// whenever the watermark is advanced; and each window's final revisions count up from 0.
    #[test]
    fn beyond_the_delay_matches_the_oracle(
        items in ordered_items(),
        jitter in prop::collection::vec(0.0f64..1.0, 1..50),
        lateness in 0i64..3,
        cuts in prop::collection::btree_set(0usize..300, 0..20),
    ) {
        let cfg = config(5 * SECOND, 5 * SECOND, SECOND, lateness * SECOND);
        let shuffled = disorder(&items, &jitter, 8 * SECOND);
        let (results, late) = run(cfg, &shuffled, &cuts);
        check_against_oracle(&results, &late, &cfg, &shuffled);
        let mut revisions: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for r in results.iter().filter(|r| r.is_final) {
            revisions.entry(r.window_start.as_micros()).or_default().push(r.revision);
        }
        for (start, revs) in revisions {
            prop_assert_eq!(revs.clone(), (0..revs.len() as u32).collect::<Vec<_>>(), "window {}", start);
        }
    }
}
