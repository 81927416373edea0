//! Event time through the binary: windows over disordered input equal an independent oracle's
//! over the sorted input, late readings are reported, and partial results are marked.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{bin, run};
use iotstream_engine::{StatsRecord, WindowResult};
use serde_json::Value;

/// Splits JSON lines into window results and stats records.
fn records(stdout: &[u8]) -> (Vec<WindowResult>, Vec<StatsRecord>) {
    let mut windows = Vec::new();
    let mut stats = Vec::new();
    for line in String::from_utf8_lossy(stdout).lines() {
        let value: Value = serde_json::from_str(line).expect("json");
        match value["type"].as_str() {
            Some("window") => windows.push(serde_json::from_value(value).expect("window")),
            Some("stats") => stats.push(serde_json::from_value(value).expect("stats")),
            other => panic!("unknown record type {other:?}"),
        }
    }
    (windows, stats)
}

fn simulate(path: &Path, extra: &[&str]) {
    let mut args =
        vec!["simulate", "360000", "--seed", "77", "--start", "2016-11-16T13:00:00Z", "--interval", "10ms"];
    args.extend_from_slice(extra);
    args.extend(["--output", path.to_str().unwrap()]);
    run(&args);
}

/// A simulated hour with disorder: the engine over the disordered file equals the oracle over the
/// sorted one, window by window.
#[test]
fn an_hour_with_disorder_equals_the_oracle_over_the_sorted_file() {
    let dir = tempfile::tempdir().unwrap();
    let sorted = dir.path().join("sorted.jsonl");
    let shuffled = dir.path().join("shuffled.jsonl");
    simulate(&sorted, &[]);
    simulate(&shuffled, &["--disorder", "4s"]);
    assert_ne!(std::fs::read(&sorted).unwrap(), std::fs::read(&shuffled).unwrap());

    let out = run(&[
        "analyze",
        "--input",
        shuffled.to_str().unwrap(),
        "--once",
        "--format",
        "jsonl",
        "--time",
        "event",
        "--window",
        "1m",
        "--max-delay",
        "4s",
    ]);
    let (windows, stats) = records(&out.stdout);
    assert_eq!(windows.len(), 60);
    assert!(windows.iter().all(|w| w.is_final && w.revision == 0));
    let last = stats.last().expect("a closing stats record");
    assert_eq!(last.readings, 360_000);
    assert_eq!(last.rejected, 0, "nothing late within the delay");

    let expected = common::python_oracle(&sorted, 60);
    assert_eq!(expected.len(), windows.len());
    for (ours, theirs) in windows.iter().zip(&expected) {
        common::agrees_with_python(ours, theirs).unwrap();
    }
}

/// `analyze --once` in event time over `path` with 10 s windows and a 2 s delay, plus `extra`.
fn event_windows_once(path: &Path, extra: &[&str]) -> (Vec<WindowResult>, Vec<StatsRecord>) {
    let mut args = vec!["analyze", "--input", path.to_str().unwrap(), "--once", "--format", "jsonl"];
    args.extend(["--time", "event", "--window", "10s", "--max-delay", "2s"]);
    args.extend_from_slice(extra);
    records(&run(&args).stdout)
}

/// Readings delayed beyond the delay are reported late, and every reading is accounted for.
#[test]
fn late_readings_are_counted_and_reported_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.jsonl");
    let mut args =
        vec!["simulate", "60000", "--seed", "3", "--start", "2016-11-16T13:00:00Z", "--interval", "10ms"];
    args.extend(["--disorder", "2s", "--late-ratio", "0.02", "--output", path.to_str().unwrap()]);
    run(&args);
    let (windows, stats) = event_windows_once(&path, &[]);
    let counted: u64 = windows.iter().map(|w| w.messages).sum();
    let last = stats.last().unwrap();
    let late: u64 = last.late_by_state.values().sum();
    assert!(late > 0, "some readings are late");
    assert_eq!(last.rejected_by_reason["late"], late);
    assert_eq!(counted + late, 60_000, "every reading is in a window or reported late");
    let (windows, stats) = event_windows_once(&path, &["--allowed-lateness", "10s"]);
    let late_now: u64 = stats.last().unwrap().late_by_state.values().sum();
    assert!(late_now < late, "allowed lateness takes late readings back: {late_now} vs {late}");
    assert!(windows.iter().any(|w| w.revision > 0), "updated windows are re-emitted with a new revision");
    let finals: std::collections::BTreeMap<_, _> =
        windows.iter().filter(|w| w.is_final).map(|w| (w.window_start, w.messages)).collect();
    assert_eq!(finals.values().sum::<u64>() + late_now, 60_000);
}

#[test]
fn processing_time_flags_are_checked_together() {
    let out =
        bin().args(["analyze", "--input", "-", "--slide", "1s", "--emit-every", "1s"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--slide, --emit-every only apply with --time event"), "{stderr}");
}

/// Live: partial results while windows are open, marked as such, and final ones once the input
/// goes quiet while it is still open (all partitions idle: the watermark follows the wall clock).
#[test]
fn live_event_time_emits_partials_and_closes_windows_when_input_goes_quiet() {
    let producer = bin()
        .args(["simulate", "1500", "--rate", "1000", "--seed", "1"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(producer.status.success());
    let mut child = bin()
        .args(["analyze", "--input", "-", "--format", "jsonl", "--time", "event", "--window", "1s"])
        .args(["--max-delay", "0s", "--emit-every", "500ms", "--idle-timeout", "1s", "--stats-every", "1s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The readings go in, and the pipe stays open: only idleness can close the last windows.
    let mut input = child.stdin.take().unwrap();
    input.write_all(&producer.stdout).unwrap();
    input.flush().unwrap();
    let lines = common::lines_of(child.stdout.take().unwrap());
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while final_messages(&out) < 1500 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).expect("all windows final while the input is still open");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    assert!(child.try_wait().unwrap().is_none(), "still running: the input has not ended");
    drop(input);
    let status =
        common::wait_timeout(&mut child, Duration::from_secs(30)).expect("exits at the end of input");
    assert!(status.success());
    out.extend(lines.iter().flat_map(|line| (line + "\n").into_bytes()));
    let (windows, stats) = records(&out);
    assert!(windows.iter().any(|w| !w.is_final), "partial results");
    let finals: u64 = windows.iter().filter(|w| w.is_final).map(|w| w.messages).sum();
    assert_eq!(finals, 1500, "the end of input added nothing final");
    assert!(!stats.is_empty());
    let last = stats.last().unwrap();
    assert_eq!(last.readings, 1500);
    assert!(last.sensors > 0 && last.watermark.is_some());
}

/// Readings in final results among the JSON lines so far.
fn final_messages(out: &[u8]) -> u64 {
    records(out).0.iter().filter(|w| w.is_final).map(|w| w.messages).sum()
}

/// The engine's golden event-time cases (`crates/engine/tests/golden/*/case.json`, written by the
/// engine) against the Python oracle fed the same lines with the same settings: the same records
/// in the same order — sliding windows, revisions by late readings, and the resumed run — and the
/// binary over the same input with the same settings reports the readings the oracle finds late.
#[test]
fn engine_golden_cases_agree_with_the_python_oracle() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/golden");
    let mut checked = 0;
    for entry in std::fs::read_dir(&golden).expect("golden folder") {
        let case = entry.expect("entry").path();
        let Ok(settings) = std::fs::read_to_string(case.join("case.json")) else { continue };
        let settings: Value = serde_json::from_str(&settings).expect("case.json");
        if settings["time"] != "event" {
            continue;
        }
        let expected: Vec<WindowResult> = std::fs::read_to_string(case.join("expected.jsonl"))
            .expect("expected.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).expect("window"))
            .collect();
        let args = oracle_args(&settings);
        let mut theirs = common::python_oracle_with(&case.join("input.jsonl"), &args);
        let late = theirs.pop().expect("the oracle's late count");
        let late: BTreeMap<String, u64> =
            serde_json::from_value(late["late_by_state"].clone()).expect("late");
        assert_eq!(binary_late(&case.join("input.jsonl"), &args), late, "{}: late readings", case.display());
        assert_eq!(expected.len(), theirs.len(), "{}: records", case.display());
        for (ours, theirs) in expected.iter().zip(&theirs) {
            let at = (case.display(), ours.window_start, ours.revision);
            assert_eq!(
                (ours.is_final, i64::from(ours.revision)),
                (true, theirs["revision"].as_i64().unwrap()),
                "{at:?}"
            );
            common::agrees_with_python(ours, theirs).unwrap_or_else(|e| panic!("{at:?}: {e}"));
        }
        checked += 1;
    }
    assert!(checked >= 2, "the sliding/late and resumed cases");
}

/// Late readings by state (states with none left out) in the last stats record of `analyze
/// --once` over `input`, with the settings the oracle was given as `args`.
fn binary_late(input: &Path, args: &[String]) -> BTreeMap<String, u64> {
    let mut command = vec!["analyze".to_owned(), "--input".into(), input.to_str().unwrap().into()];
    command.extend(["--once", "--format", "jsonl", "--time", "event", "--window"].map(String::from));
    command.push(format!("{}s", args[0]));
    for pair in args[1..].chunks(2) {
        command.extend([pair[0].clone(), format!("{}s", pair[1])]);
    }
    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    let (_, stats) = records(&run(&command).stdout);
    let mut late = stats.last().expect("a stats record").late_by_state.clone();
    late.retain(|_, n| *n > 0);
    late
}

/// The oracle's arguments for a golden case's settings.
fn oracle_args(settings: &Value) -> Vec<String> {
    let seconds = |key: &str| settings[key].as_i64().map(|s| s.to_string());
    let mut args = vec![seconds("window_seconds").expect("window_seconds")];
    let options = [("slide_seconds", "--slide"), ("allowed_lateness_seconds", "--allowed-lateness")];
    args.extend(["--max-delay".into(), seconds("max_delay_seconds").unwrap_or_else(|| "0".into())]);
    for (key, flag) in options {
        if let Some(value) = seconds(key) {
            args.extend([flag.to_owned(), value]);
        }
    }
    args
}
