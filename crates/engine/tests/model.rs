//! Property tests of the engine against a naive reference: a plain list of readings, summarised
//! with the most obvious code (sorting, `HashSet`s of strings) and no shared logic.

use std::collections::{BTreeMap, HashSet};

use iotstream_engine::reading::STATE_CODES;
use iotstream_engine::{Aggregate, EventTime, MicroBatches, Parser, WindowResult};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Generated {
    guid: String,
    state: &'static str,
    temperature: f64,
}

fn reading() -> impl Strategy<Value = Generated> {
    (0u32..40, 0usize..STATE_CODES.len(), -400i32..1200, any::<bool>()).prop_map(
        |(sensor, state, tenths, noisy)| {
            // Mostly one-decimal values like the seed's, sometimes values with long binary expansions.
            let temperature = if noisy { f64::from(tenths) / 7.0 } else { f64::from(tenths) / 10.0 };
            Generated { guid: format!("0-ZZZ12345678-{sensor:03}"), state: STATE_CODES[state], temperature }
        },
    )
}

fn line(r: &Generated) -> String {
    format!(
        r#"{{"guid":"{}","destination":"0-AAA12345678","state":"{}", "eventTime":"2016-11-16T13:26:39.447974Z", "payload":{{"format":"urn:example:sensor:temp", "data":{{"temperature":{}}}}}}}"#,
        r.guid, r.state, r.temperature
    )
}

/// The reference: per state (count, values), distinct (state, guid) pairs, distinct guids.
fn reference(readings: &[Generated]) -> (BTreeMap<&str, Vec<f64>>, BTreeMap<&str, usize>, usize) {
    let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut pairs: HashSet<(&str, &str)> = HashSet::new();
    let mut guids: HashSet<&str> = HashSet::new();
    for r in readings {
        values.entry(r.state).or_default().push(r.temperature);
        pairs.insert((r.state, &r.guid));
        guids.insert(&r.guid);
    }
    let mut sensors: BTreeMap<&str, usize> = BTreeMap::new();
    for (state, _) in pairs {
        *sensors.entry(state).or_default() += 1;
    }
    (values, sensors, guids.len())
}

fn aggregate(lines: &[String]) -> Aggregate {
    let parser = Parser::default();
    let mut agg = Aggregate::default();
    for l in lines {
        agg.add(&parser.parse(l.as_bytes()).expect("generated lines are valid"));
    }
    agg
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn engine_matches_the_reference(readings in prop::collection::vec(reading(), 0..400)) {
        let lines: Vec<String> = readings.iter().map(line).collect();
        let result = WindowResult::from_aggregate(EventTime(0), EventTime(1), &aggregate(&lines));
        let (values, sensors, guids) = reference(&readings);
        prop_assert_eq!(result.messages, readings.len() as u64);
        prop_assert_eq!(result.sensors, guids as u64);
        prop_assert_eq!(result.states.len(), values.len());
        for s in &result.states {
            let v = &values[s.state.as_str()];
            prop_assert_eq!(s.messages, v.len() as u64);
            prop_assert_eq!(s.sensors, sensors[s.state.as_str()] as u64);
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            prop_assert!((s.avg_temperature - mean).abs() <= 1e-9 * mean.abs().max(1.0));
            prop_assert_eq!(s.min_temperature, v.iter().cloned().fold(f64::INFINITY, f64::min));
            prop_assert_eq!(s.max_temperature, v.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
        }
        // Sorted by average descending, ties by state.
        for pair in result.states.windows(2) {
            prop_assert!(pair[0].avg_temperature > pair[1].avg_temperature
                || (pair[0].avg_temperature == pair[1].avg_temperature && pair[0].state < pair[1].state));
        }
    }

    /// Any split of the input into batches, merged, gives bit-for-bit the same totals, in any
    /// order of merging.
    #[test]
    fn any_split_gives_the_same_totals(
        readings in prop::collection::vec(reading(), 0..300),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        reverse in any::<bool>(),
    ) {
        let lines: Vec<String> = readings.iter().map(line).collect();
        let whole = aggregate(&lines);
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(lines.len() + 1)).collect();
        bounds.extend([0, lines.len()]);
        bounds.sort_unstable();
        let mut parts: Vec<Aggregate> = bounds.windows(2).map(|w| aggregate(&lines[w[0]..w[1]])).collect();
        if reverse {
            parts.reverse();
        }
        let mut merged = Aggregate::default();
        for part in &parts {
            merged.merge(part);
        }
        prop_assert_eq!(&merged, &whole);
        // The same through the micro-batch operator fed in pieces.
        let mut batches = MicroBatches::new(EventTime(0));
        for part in &parts {
            batches.on_partial(part);
        }
        prop_assert_eq!(batches.on_tick(EventTime(1)), WindowResult::from_aggregate(EventTime(0), EventTime(1), &whole));
    }
}
