//! The window operator against [`Reference`], the rules rebuilt from first principles with plain
//! collections: the same calls in the same order must give the same results, bit for bit, whatever
//! the window shape, lateness, idleness, partitions, input order, partial results and snapshots in
//! between.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::reference::{Reference, Rules, Summary};
use super::windows::{Admission, EventTimeConfig, EventTimeWindows, WindowShare};
use crate::parse::Parser;
use crate::reading::{EventTime, STATE_CODES};
use crate::result::WindowResult;
use crate::window::WindowSpec;

const SECOND: i64 = 1_000_000;
const BASE: i64 = 1_479_302_790 * SECOND; // 2016-11-16T13:26:30Z

/// One call on both operators.
#[derive(Clone, Debug)]
enum Step {
    /// A reading from `partition`: sensor, state index, event time offset (µs), temperature.
    Reading { partition: u32, sensor: u32, state: usize, t: i64, temperature: f64 },
    /// Processing time moves on by this much (µs) and the watermark advances.
    Advance(i64),
    /// Advance as shares (scale-out owners).
    AdvanceShares(i64),
    /// Partial results of open windows.
    Early,
    /// The same as shares (provisional shares of an idle partition).
    EarlyShares,
    /// A partition is assigned (it holds the watermark back until it delivers).
    Assign(u32),
    /// A partition has caught up (it may go idle).
    CaughtUp(u32),
    /// Save the sliced operator and go on from the saved copy.
    Snapshot,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (0u32..3, 0u32..12, 0usize..4, 0i64..40_000, -40.0f64..120.0).prop_map(
            |(partition, sensor, state, t, temperature)| Step::Reading {
                partition,
                sensor,
                state,
                // Tenths of a second, over 4000 s, so that they land on and near boundaries.
                t: t * 100_000,
                temperature: (temperature * 10.0).round() / 10.0,
            }
        ),
        2 => pause().prop_map(Step::Advance),
        1 => pause().prop_map(Step::AdvanceShares),
        1 => Just(Step::Early),
        1 => Just(Step::EarlyShares),
        1 => (0u32..4).prop_map(Step::Assign),
        1 => (0u32..3).prop_map(Step::CaughtUp),
        1 => Just(Step::Snapshot),
    ]
}

/// How far processing time moves: anywhere up to 3 s, or whole quarters of a second, so that
/// silences land exactly on the idle timeout too.
fn pause() -> impl Strategy<Value = i64> {
    prop_oneof![0i64..3_000_000, (0i64..13).prop_map(|q| q * 250_000)]
}

/// A window shape: size a multiple of the slide, or not; tumbling or sliding.
fn config() -> impl Strategy<Value = EventTimeConfig> {
    let shape = prop_oneof![
        (1i64..8).prop_map(|size| (size, size)),
        (1i64..6, 1i64..8).prop_map(|(slide, k)| (slide * k, slide)),
        (2i64..12, 1i64..12).prop_filter_map("slide no longer than size", |(size, slide)| {
            (slide <= size).then_some((size, slide))
        }),
    ];
    (shape, 0i64..4, 0i64..6, prop::option::of(1i64..5)).prop_map(|((size, slide), delay, lateness, idle)| {
        EventTimeConfig {
            window: WindowSpec::new(size * SECOND, slide * SECOND).unwrap(),
            max_delay: delay * SECOND,
            allowed_lateness: lateness * SECOND,
            max_skew: None,
            idle_timeout: idle.map(|s| s * SECOND),
        }
    })
}

/// The input order: readings drift forward over the run with jumps back, so that some are on
/// time, some late within the lateness, some too late, and some late for only part of their
/// windows (another partition's watermark behind).
fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), 1..250).prop_map(|mut steps| {
        let n = steps.len() as i64;
        for (i, step) in steps.iter_mut().enumerate() {
            let drift = (i as i64) * 3_000 * SECOND / n;
            if let Step::Reading { t, .. } = step {
                *t = BASE + drift + *t / 4;
            }
        }
        steps
    })
}

fn line(sensor: u32, state: usize, t: i64, temperature: f64) -> String {
    format!(
        r#"{{"guid":"g{sensor}","state":"{}","eventTime":"{}","payload":{{"data":{{"temperature":{temperature}}}}}}}"#,
        STATE_CODES[state],
        EventTime(t)
    )
}

/// An engine result, as the reference describes windows.
fn of_result(r: &WindowResult) -> Summary {
    Summary {
        start: r.window_start.as_micros(),
        end: r.window_end.as_micros(),
        is_final: r.is_final,
        revision: r.revision,
        messages: r.messages,
        sensors: r.sensors,
        states: r
            .states
            .iter()
            .map(|s| {
                (
                    s.state.clone(),
                    s.messages,
                    s.sensors,
                    s.avg_temperature,
                    s.min_temperature,
                    s.max_temperature,
                )
            })
            .collect(),
    }
}

fn of_results(results: &[WindowResult]) -> Vec<Summary> {
    results.iter().map(of_result).collect()
}

/// Engine shares, as the reference describes windows (`is_final` as the call made them).
fn of_shares(shares: &[WindowShare], is_final: bool) -> Vec<Summary> {
    let summary = |s: &WindowShare| {
        let mut result = WindowResult::from_aggregate(EventTime(s.start), EventTime(s.end), &s.aggregate);
        (result.is_final, result.revision) = (is_final, s.revision);
        of_result(&result)
    };
    shares.iter().map(summary).collect()
}

fn rules(config: &EventTimeConfig) -> Rules {
    Rules {
        size: config.window.size(),
        slide: config.window.slide(),
        max_delay: config.max_delay,
        allowed_lateness: config.allowed_lateness,
        idle_timeout: config.idle_timeout,
    }
}

/// The engine's late readings by state code (states with none left out).
fn late_by_code(late: &[u64]) -> BTreeMap<&'static str, u64> {
    (0..late.len()).filter(|&i| late[i] > 0).map(|i| (STATE_CODES[i], late[i])).collect()
}

/// The engine's admission of a reading, and the reference's (counted or late).
fn admit(
    engine: &mut EventTimeWindows,
    reference: &mut Reference,
    parser: &Parser,
    (partition, position, now): (u32, i64, i64),
    step: &Step,
) -> (bool, bool) {
    let Step::Reading { partition: _, sensor, state, t, temperature } = *step else { unreachable!() };
    let text = line(sensor, state, t, temperature);
    let reading = parser.parse(text.as_bytes()).expect("valid line");
    let admission = engine.on_reading(partition, position, &reading, EventTime(now));
    let counted =
        reference.on_reading(partition, position, (sensor, STATE_CODES[state], temperature), t, now);
    (admission == Admission::Counted, counted)
}

/// Runs `steps` on the engine and the reference, comparing every answer on the way.
fn same_answers(config: EventTimeConfig, steps: &[Step]) -> Result<(), TestCaseError> {
    let parser = Parser::default();
    let mut engine = EventTimeWindows::new(config);
    let mut reference = Reference::new(rules(&config));
    let mut now = BASE;
    for (position, step) in steps.iter().enumerate() {
        let position = position as i64;
        match step {
            Step::Reading { partition, .. } => {
                let (a, b) = admit(&mut engine, &mut reference, &parser, (*partition, position, now), step);
                prop_assert_eq!(a, b, "admission at step {}", position);
            }
            Step::Advance(by) => {
                now += by;
                prop_assert_eq!(of_results(&engine.on_advance(EventTime(now))), reference.on_advance(now));
            }
            Step::AdvanceShares(by) => {
                now += by;
                prop_assert_eq!(
                    of_shares(&engine.on_advance_shares(EventTime(now)), true),
                    reference.on_advance(now)
                );
            }
            Step::Early => prop_assert_eq!(of_results(&engine.on_early()), reference.on_early()),
            Step::EarlyShares => {
                prop_assert_eq!(of_shares(&engine.on_early_shares(), false), reference.on_early())
            }
            Step::Assign(p) => {
                engine.on_partitions(&[*p], EventTime(now));
                reference.on_assign(*p, now);
            }
            Step::CaughtUp(p) => {
                engine.on_caught_up(*p);
                reference.on_caught_up(*p);
            }
            Step::Snapshot => {
                let bytes = postcard::to_stdvec(&engine).expect("encodes");
                engine = postcard::from_bytes(&bytes).expect("decodes");
            }
        }
        prop_assert_eq!(engine.pinned_positions(), reference.pinned_positions(), "pinned at {}", position);
        prop_assert_eq!(engine.open_windows(), reference.open_windows());
        prop_assert_eq!(late_by_code(engine.late_by_state()), reference.late_by_state().clone());
        prop_assert_eq!(engine.watermark().map(|w| w.as_micros()), reference.watermark());
    }
    prop_assert_eq!(of_results(&engine.on_end()), reference.on_end());
    prop_assert_eq!(engine.slices(), 0, "every slice forgotten at the end");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn windows_answer_as_the_first_principles_reference(config in config(), steps in steps()) {
        same_answers(config, &steps)?;
    }

    /// The same, ending with shares (what scale-out owners publish at the end).
    #[test]
    fn shares_at_the_end_are_the_first_principles_windows(config in config(), steps in steps()) {
        let parser = Parser::default();
        let mut engine = EventTimeWindows::new(config);
        let mut reference = Reference::new(rules(&config));
        for (position, step) in steps.iter().enumerate() {
            if let Step::Reading { partition, .. } = step {
                admit(&mut engine, &mut reference, &parser, (*partition, position as i64, BASE), step);
            }
        }
        prop_assert_eq!(of_shares(&engine.on_end_shares(), true), reference.on_end());
    }
}

#[test]
fn one_reading_updates_one_slice_however_many_windows_overlap() {
    let config = EventTimeConfig {
        window: WindowSpec::new(60 * SECOND, SECOND).unwrap(),
        max_delay: 0,
        allowed_lateness: 0,
        max_skew: None,
        idle_timeout: None,
    };
    let mut op = EventTimeWindows::new(config);
    let parser = Parser::default();
    for (i, t) in [BASE, BASE + 1, BASE + SECOND / 2].into_iter().enumerate() {
        let text = line(1, 0, t, 20.0);
        op.on_reading(0, i as i64, &parser.parse(text.as_bytes()).unwrap(), EventTime(BASE));
    }
    assert_eq!((op.slices(), op.open_windows()), (1, 60));
    let results = op.on_end();
    assert_eq!(results.len(), 60);
    assert!(results.iter().all(|r| r.messages == 3 && r.sensors == 1));
    assert_eq!(op.slices(), 0);
}
