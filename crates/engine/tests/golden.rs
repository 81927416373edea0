//! Golden tests: the engine's answers over fixed inputs, against answers computed elsewhere
//! (Apache Spark running the seed's code). Every folder under `tests/golden/` with an
//! `expected.json` is a case.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use iotstream_engine::lines::lines;
use iotstream_engine::{Aggregate, EventTime, Parser, WindowResult};
use serde::Deserialize;

/// The seed's four analyses, as `shared/peers` writes them.
#[derive(Deserialize)]
struct SeedAnswer {
    avg_temp_by_state: BTreeMap<String, f64>,
    avg_temp_by_state_order: Vec<String>,
    total_messages: u64,
    sensors_by_state: BTreeMap<String, u64>,
    total_sensors: u64,
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("golden folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("expected.json").exists())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases found");
    cases
}

fn analyse(input: &[u8]) -> WindowResult {
    let parser = Parser::default();
    let mut aggregate = Aggregate::default();
    for line in lines(input) {
        match parser.parse(line) {
            Ok(reading) => aggregate.add(&reading),
            Err(reason) => aggregate.reject(reason),
        }
    }
    WindowResult::from_aggregate(EventTime(0), EventTime(0), &aggregate)
}

/// Checks `result` against a seed answer: counts exactly, averages to 1e-9 relative, and the
/// descending order of averages.
pub fn assert_matches_seed(result: &WindowResult, expected: &str) {
    let expected: SeedAnswer = serde_json::from_str(expected).expect("expected.json");
    assert_eq!(result.messages, expected.total_messages);
    assert_eq!(result.sensors, expected.total_sensors);
    let order: Vec<&str> = result.states.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(order, expected.avg_temp_by_state_order);
    for state in &result.states {
        let want = expected.avg_temp_by_state[&state.state];
        let relative = (state.avg_temperature - want).abs() / want.abs();
        assert!(relative <= 1e-9, "{}: {} vs {want}", state.state, state.avg_temperature);
        assert_eq!(state.sensors, expected.sensors_by_state[&state.state], "{}", state.state);
    }
    assert_eq!(result.states.len(), expected.sensors_by_state.len());
}

#[test]
fn golden_cases_match_spark() {
    for case in cases() {
        let input = std::fs::read(case.join("input.jsonl")).expect("input.jsonl");
        let expected = std::fs::read_to_string(case.join("expected.json")).expect("expected.json");
        let result = analyse(&input);
        assert_eq!(result.rejected, 0, "{}", case.display());
        assert_matches_seed(&result, &expected);
    }
}

#[test]
fn chunking_does_not_change_the_answer() {
    let case = &cases()[0];
    let input = std::fs::read(case.join("input.jsonl")).expect("input.jsonl");
    let whole = analyse(&input);
    // Cut at line boundaries into uneven pieces, aggregate each, merge.
    let parser = Parser::default();
    let mut merged = Aggregate::default();
    let all: Vec<&[u8]> = lines(&input).collect();
    for piece in all.chunks(997) {
        let mut part = Aggregate::default();
        for line in piece {
            part.add(&parser.parse(line).expect("valid fixture"));
        }
        merged.merge(&part);
    }
    assert_eq!(WindowResult::from_aggregate(EventTime(0), EventTime(0), &merged), whole);
}
