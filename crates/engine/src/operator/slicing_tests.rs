//! The sliced window operator against the per-window operator it replaced ([`ReferenceWindows`]):
//! the same calls in the same order must give the same results, bit for bit, whatever the window
//! shape, lateness, partitions, input order, partial results and snapshots in between.

use proptest::prelude::*;

use super::reference::ReferenceWindows;
use super::windows::{EventTimeConfig, EventTimeWindows};
use crate::parse::Parser;
use crate::reading::{EventTime, STATE_CODES};
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
        2 => (0i64..3_000_000).prop_map(Step::Advance),
        1 => (0i64..3_000_000).prop_map(Step::AdvanceShares),
        1 => Just(Step::Early),
        1 => Just(Step::EarlyShares),
        1 => (0u32..4).prop_map(Step::Assign),
        1 => (0u32..3).prop_map(Step::CaughtUp),
        1 => Just(Step::Snapshot),
    ]
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

/// Runs `steps` on both operators, comparing every answer on the way.
fn same_answers(config: EventTimeConfig, steps: &[Step]) -> Result<(), TestCaseError> {
    let parser = Parser::default();
    let mut sliced = EventTimeWindows::new(config);
    let mut reference = ReferenceWindows::new(config);
    let mut now = BASE;
    for (position, step) in steps.iter().enumerate() {
        let position = position as i64;
        match step {
            Step::Reading { partition, sensor, state, t, temperature } => {
                let text = line(*sensor, *state, *t, *temperature);
                let reading = parser.parse(text.as_bytes()).expect("valid line");
                let (a, b) = (
                    sliced.on_reading(*partition, position, &reading, EventTime(now)),
                    reference.on_reading(*partition, position, &reading, EventTime(now)),
                );
                prop_assert_eq!(a, b, "admission at step {}", position);
            }
            Step::Advance(by) => {
                now += by;
                prop_assert_eq!(sliced.on_advance(EventTime(now)), reference.on_advance(EventTime(now)));
            }
            Step::AdvanceShares(by) => {
                now += by;
                prop_assert_eq!(
                    sliced.on_advance_shares(EventTime(now)),
                    reference.on_advance_shares(EventTime(now))
                );
            }
            Step::Early => prop_assert_eq!(sliced.on_early(), reference.on_early()),
            Step::EarlyShares => prop_assert_eq!(sliced.on_early_shares(), reference.on_early_shares()),
            Step::Assign(p) => {
                sliced.on_partitions(&[*p], EventTime(now));
                reference.on_partitions(&[*p], EventTime(now));
            }
            Step::CaughtUp(p) => {
                sliced.on_caught_up(*p);
                reference.on_caught_up(*p);
            }
            Step::Snapshot => {
                let bytes = postcard::to_stdvec(&sliced).expect("encodes");
                sliced = postcard::from_bytes(&bytes).expect("decodes");
            }
        }
        prop_assert_eq!(sliced.pinned_positions(), reference.pinned_positions(), "pinned at {}", position);
        prop_assert_eq!(sliced.open_windows(), reference.open_windows());
        prop_assert_eq!(sliced.late_by_state(), reference.late_by_state());
        prop_assert_eq!(sliced.watermark(), reference.watermark());
    }
    prop_assert_eq!(sliced.on_end(), reference.on_end());
    prop_assert_eq!(sliced.slices(), 0, "every slice forgotten at the end");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn sliced_windows_answer_as_per_window_ones(config in config(), steps in steps()) {
        same_answers(config, &steps)?;
    }

    /// The same, ending with shares (what scale-out owners publish at the end).
    #[test]
    fn sliced_shares_at_the_end_are_the_per_window_ones(config in config(), steps in steps()) {
        let parser = Parser::default();
        let mut sliced = EventTimeWindows::new(config);
        let mut reference = ReferenceWindows::new(config);
        for (position, step) in steps.iter().enumerate() {
            if let Step::Reading { partition, sensor, state, t, temperature } = step {
                let text = line(*sensor, *state, *t, *temperature);
                let reading = parser.parse(text.as_bytes()).expect("valid line");
                sliced.on_reading(*partition, position as i64, &reading, EventTime(BASE));
                reference.on_reading(*partition, position as i64, &reading, EventTime(BASE));
            }
        }
        prop_assert_eq!(sliced.on_end_shares(), reference.on_end_shares());
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
