//! Golden tests: the engine's answers over fixed inputs. Every folder under `tests/golden/` is a
//! case (see its README): `expected.json` holds an answer computed elsewhere (Apache Spark running
//! the seed's code); `case.json` + `expected.jsonl` hold the results of the operator those
//! settings build, in the `--format jsonl` schema, record for record.
//!
//! `GOLDEN_BLESS=1 cargo test -p iotstream-engine --test golden` rewrites the `expected.jsonl`
//! files from the engine's current answers (review the diff before committing it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use iotstream_engine::lines::lines;
use iotstream_engine::{
    Aggregate, EventTime, EventTimeConfig, Operator, OperatorConfig, Parser, WindowResult, WindowSpec,
};
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

/// The case folders holding `file`.
fn cases_with(file: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("golden folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join(file).exists())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases with {file} found");
    cases
}

fn cases() -> Vec<PathBuf> {
    cases_with("expected.json")
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

/// A case's settings (`case.json`): how results are cut, and where the run is interrupted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// `processing` (one batch over the whole input) or `event`.
    time: String,
    #[serde(default)]
    window_seconds: i64,
    slide_seconds: Option<i64>,
    #[serde(default)]
    max_delay_seconds: i64,
    #[serde(default)]
    allowed_lateness_seconds: i64,
    /// Snapshot the operator after this many lines and go on with a restored copy, as a run
    /// resuming from a checkpoint does.
    resume_after: Option<usize>,
}

impl Case {
    fn operator(&self) -> OperatorConfig {
        const SECOND: i64 = 1_000_000;
        match self.time.as_str() {
            "processing" => OperatorConfig::Batches { period: 3 * SECOND },
            "event" => {
                let size = self.window_seconds * SECOND;
                let slide = self.slide_seconds.map_or(size, |s| s * SECOND);
                let config = EventTimeConfig {
                    window: WindowSpec::new(size, slide).expect("valid window in case.json"),
                    max_delay: self.max_delay_seconds * SECOND,
                    allowed_lateness: self.allowed_lateness_seconds * SECOND,
                    max_skew: None,
                    idle_timeout: None,
                };
                OperatorConfig::Windows { config, emit_every: None }
            }
            other => panic!("case.json: unknown time {other:?}"),
        }
    }
}

/// Feeds `input` line by line (positions are line numbers), closing what each line completes, and
/// ends it; with `resume_after`, the operator is snapshotted there and replaced by its restored
/// copy. Returns every result emitted, as JSON lines.
fn run_case(case: &Case, input: &[u8]) -> String {
    let parser = Parser::default();
    let now = EventTime(0);
    let mut operator = case.operator().build(now);
    let mut results = Vec::new();
    for (number, line) in (1..).zip(lines(input)) {
        match parser.parse(line) {
            Ok(reading) => {
                let _ = operator.on_reading(0, number, &reading, now);
            }
            Err(reason) => operator.on_rejected(reason),
        }
        results.extend(operator.on_input(now));
        if case.resume_after == Some(number as usize) {
            let snapshot = postcard::to_stdvec(&operator).expect("snapshot");
            operator = postcard::from_bytes::<Operator>(&snapshot).expect("restore");
        }
    }
    results.extend(operator.on_end(now, results.len() as u64));
    results.iter().map(|r| serde_json::to_string(r).expect("json") + "\n").collect()
}

#[test]
fn golden_cases_give_their_recorded_results() {
    let bless = std::env::var_os("GOLDEN_BLESS").is_some();
    for case in cases_with("case.json") {
        let settings: Case =
            serde_json::from_str(&std::fs::read_to_string(case.join("case.json")).expect("case.json"))
                .expect("case.json");
        let input = std::fs::read(case.join("input.jsonl")).expect("input.jsonl");
        let got = run_case(&settings, &input);
        let path = case.join("expected.jsonl");
        if bless {
            std::fs::write(&path, &got).expect("write expected.jsonl");
            continue;
        }
        let want = std::fs::read_to_string(&path).expect("expected.jsonl (GOLDEN_BLESS=1 writes it)");
        for (i, (got, want)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(got, want, "{}: record {}", case.display(), i + 1);
        }
        assert_eq!(got.lines().count(), want.lines().count(), "{}: records", case.display());
    }
}

/// A resumed case gives exactly what the same settings give without the interruption.
#[test]
fn resuming_from_a_snapshot_changes_nothing() {
    for case in cases_with("case.json") {
        let mut settings: Case =
            serde_json::from_str(&std::fs::read_to_string(case.join("case.json")).expect("case.json"))
                .expect("case.json");
        let Some(at) = settings.resume_after.take() else { continue };
        let input = std::fs::read(case.join("input.jsonl")).expect("input.jsonl");
        let uninterrupted = run_case(&settings, &input);
        settings.resume_after = Some(at);
        assert_eq!(run_case(&settings, &input), uninterrupted, "{}", case.display());
    }
}
