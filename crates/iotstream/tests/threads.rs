//! Parsing on several threads never changes an answer: every configuration (processing and event
//! time, with and without stats records or the dashboard, late data and rejections included)
//! writes the same bytes with 1, 2 and 4 parsing threads.
//!
//! Event time and live views parse on the threads and count in input order on one (the ordered
//! stage); processing time without live views merges partial aggregates. Either way the output
//! must not depend on the thread count. Only what is wall clock is blanked before comparing: a
//! stats record's `at`, and processing-time batch bounds.
//!
//! And the one-thread output, which the others are compared with, is checked on its own: every
//! input line is accounted for (counted, or rejected with its reason: the four garbage lines by
//! theirs), so that every thread count losing or inventing the same lines cannot pass.

mod common;

use std::path::Path;

use common::run;

/// Readings out of order, some late beyond the bound, then lines the parser rejects, and a guid
/// with an escape (the general parser's path), then more readings.
fn input(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("input.jsonl");
    let file = path.to_str().unwrap();
    run(&[
        "simulate",
        "60000",
        "--seed",
        "7",
        "--start",
        "2016-11-16T13:00:00Z",
        "--interval",
        "5ms",
        "--disorder",
        "2s",
        "--late-ratio",
        "0.01",
        "--output",
        file,
    ]);
    let mut data = std::fs::read(&path).unwrap();
    data.extend_from_slice(b"garbage\n\n[1]\n{\"guid\":\"x\"}\n");
    data.extend_from_slice(
        br#"{"guid":"esc\u0041ped","state":"CA","eventTime":"2016-11-16T13:04:59Z","payload":{"data":{"temperature":3}}}"#,
    );
    data.push(b'\n');
    let tail = data.clone();
    // The same readings again (whole lines): in event time they are all late (beyond the watermark)
    // or count again.
    let third = tail[..tail.len() / 3].iter().rposition(|&b| b == b'\n').map_or(0, |end| end + 1);
    data.extend_from_slice(&tail[..third]);
    std::fs::write(&path, data).unwrap();
    path
}

/// The output of `analyze --once` over `input` with `threads`, wall-clock fields blanked.
fn output(input: &Path, threads: &str, extra: &[&str]) -> String {
    let mut args = vec!["analyze", "--input", input.to_str().unwrap(), "--once", "--format", "jsonl"];
    args.extend_from_slice(extra);
    args.extend(["--threads", threads, "-q"]);
    let out = run(&args);
    let text = String::from_utf8(out.stdout).unwrap();
    let processing = !extra.contains(&"event");
    text.lines().map(|line| blank_wall_clock(line, processing)).collect::<Vec<_>>().join("\n")
}

fn blank_wall_clock(line: &str, processing: bool) -> String {
    let mut value: serde_json::Value = serde_json::from_str(line).expect("a jsonl record");
    let object = value.as_object_mut().unwrap();
    if object.get("type").and_then(|t| t.as_str()) == Some("stats") {
        object.insert("at".into(), serde_json::Value::Null);
    } else if processing {
        object.insert("window_start".into(), serde_json::Value::Null);
        object.insert("window_end".into(), serde_json::Value::Null);
    }
    value.to_string()
}

fn same_for_every_thread_count(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let input = input(dir.path());
    let one = output(&input, "1", extra);
    every_line_accounted_for(&one, &std::fs::read(&input).unwrap(), extra);
    for threads in ["2", "4"] {
        let many = output(&input, threads, extra);
        assert!(many == one, "{extra:?}: {threads} threads differ from one:\n{many}\n---\n{one}");
    }
}

/// Reasons of the garbage lines [`input`] appends, one line each.
const GARBAGE: [&str; 4] = ["malformed_json", "empty", "not_object", "missing_field"];

/// Every line of `input` is in `output` (jsonl records): counted as a reading or rejected, by the
/// last stats record's totals when there are stats records, else by the windows' (processing
/// time: each line in one batch); the garbage lines rejected for their reasons, once each, and
/// nothing else rejected but late readings.
fn every_line_accounted_for(output: &str, input: &[u8], extra: &[&str]) {
    let lines = input.iter().filter(|&&b| b == b'\n').count() as u64;
    let records: Vec<serde_json::Value> = output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last_stats = records.iter().rfind(|r| r["type"] == "stats");
    let (counted, field): (Vec<&serde_json::Value>, &str) = match last_stats {
        Some(last) => (vec![last], "readings"),
        None => (records.iter().filter(|r| r["type"] == "window").collect(), "messages"),
    };
    let total = |field: &str| counted.iter().map(|r| r[field].as_u64().unwrap_or(0)).sum::<u64>();
    assert_eq!(total(field) + total("rejected"), lines, "{extra:?}: every line accounted for ({field})");
    let reasons = counted.first().and_then(|r| r["rejected_by_reason"].as_object()).expect("reasons");
    for reason in reasons.keys() {
        let rejected: u64 =
            counted.iter().map(|r| r["rejected_by_reason"][reason].as_u64().unwrap_or(0)).sum();
        let want = u64::from(GARBAGE.contains(&reason.as_str()));
        assert!(
            reason == "late" || rejected == want,
            "{extra:?}: {rejected} rejected as {reason}, {want} expected"
        );
    }
}

#[test]
fn event_time_with_stats_records() {
    same_for_every_thread_count(&["--time", "event", "--window", "10s", "--max-delay", "1s"]);
}

#[test]
fn event_time_sliding_with_allowed_lateness() {
    same_for_every_thread_count(&[
        "--time",
        "event",
        "--window",
        "10s",
        "--slide",
        "5s",
        "--max-delay",
        "500ms",
        "--allowed-lateness",
        "3s",
    ]);
}

#[cfg(feature = "http")]
#[test]
fn event_time_with_the_dashboard() {
    same_for_every_thread_count(&["--time", "event", "--window", "30s", "--http", "127.0.0.1:0"]);
}

#[test]
fn processing_time_with_and_without_stats_records() {
    same_for_every_thread_count(&[]);
    same_for_every_thread_count(&["--stats-every", "1h"]);
    #[cfg(feature = "http")]
    same_for_every_thread_count(&["--http", "127.0.0.1:0"]);
}
