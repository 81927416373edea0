//! A scenario's input, and what must come of it: the windows of two oracles (the binary's own
//! uninterrupted run, and the independent Python oracle) and the poison to be dead-lettered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::check;
use crate::common::{python_oracle, run};
use crate::scenario::{WINDOW_FLAGS, WINDOW_SECONDS};

/// The readings a scenario produces, poison mixed in if asked.
pub struct Input {
    /// What is produced, line by line.
    pub produced: PathBuf,
    /// The valid readings alone, in event-time order.
    pub readings: PathBuf,
    /// Lines produced (readings and poison).
    pub lines: u64,
    /// Each poison message with the reason it must be dead-lettered with.
    pub poison: Vec<(Vec<u8>, &'static str)>,
    /// How many poison messages were mixed in (each of [`Input::poison`] several times).
    pub injected: usize,
}

/// Poison is mixed in at this many places.
const POISON_PLACES: u64 = 4;

impl Input {
    /// `readings` simulated readings (10 ms apart in event time, from a fixed seed), with every
    /// kind of poison mixed in at a few places if `poison`.
    pub fn prepare(dir: &Path, readings: u64, poison: bool) -> Input {
        let path = dir.join("readings.jsonl");
        let count = readings.to_string();
        let args =
            ["simulate", &count, "--seed", "2016", "--start", "2016-11-16T13:00:00Z", "--interval", "10ms"];
        run(&[&args[..], &["--output", path.to_str().expect("a UTF-8 path")]].concat());
        if !poison {
            return Input {
                produced: path.clone(),
                readings: path,
                lines: readings,
                poison: Vec::new(),
                injected: 0,
            };
        }
        let kinds = poison_kinds();
        let every = (readings / POISON_PLACES).max(1);
        let mut mixed = Vec::new();
        let mut injected = 0;
        let valid = std::fs::read(&path).expect("readings");
        for (i, line) in valid.split(|&b| b == b'\n').filter(|l| !l.is_empty()).enumerate() {
            mixed.extend_from_slice(line);
            mixed.push(b'\n');
            if i as u64 % every == every / 2 {
                for (bad, _) in &kinds {
                    mixed.extend_from_slice(bad);
                    mixed.push(b'\n');
                    injected += 1;
                }
            }
        }
        let produced = dir.join("mixed.jsonl");
        std::fs::write(&produced, &mixed).expect("mixed input");
        let lines = readings + injected as u64;
        Input { produced, readings: path, lines, poison: kinds, injected }
    }
}

/// One poison message of every kind the parser rejects, a multi-megabyte one among them, with the
/// reason each must be dead-lettered with.
fn poison_kinds() -> Vec<(Vec<u8>, &'static str)> {
    let reading = |body: &str| format!(r#"{{"guid":"p",{body}}}"#).into_bytes();
    let time = r#""eventTime":"2016-11-16T13:00:00Z""#;
    vec![
        (b"\xff\xfe".to_vec(), "not_utf8"),
        (Vec::new(), "empty"),
        (vec![b'x'; 3_000_000], "too_large"),
        (b"{not json".to_vec(), "malformed_json"),
        (b"[1,2]".to_vec(), "not_object"),
        (reading(r#""state":"CA""#), "missing_field"),
        (
            reading(&format!(r#""state":"CA",{time},"payload":{{"data":{{"temperature":"hot"}}}}"#)),
            "wrong_type",
        ),
        (
            reading(&format!(r#""guid":"q","state":"CA",{time},"payload":{{"data":{{"temperature":1}}}}"#)),
            "duplicate_field",
        ),
        (
            reading(&format!(r#""state":"XX",{time},"payload":{{"data":{{"temperature":1}}}}"#)),
            "unknown_state",
        ),
        (
            reading(&format!(r#""state":"CA",{time},"payload":{{"data":{{"temperature":1e999}}}}"#)),
            "non_finite",
        ),
        (
            reading(&format!(r#""state":"CA",{time},"payload":{{"data":{{"temperature":1e30}}}}"#)),
            "out_of_range",
        ),
        (reading(r#""state":"CA","eventTime":"noon","payload":{"data":{"temperature":1}}"#), "bad_timestamp"),
    ]
}

/// The windows every scenario must end with, by start (µs).
pub struct Expected {
    /// The binary's own uninterrupted `--once` run over the produced lines, from a file: each
    /// window's JSON (without `partitions`).
    pub binary: BTreeMap<i64, String>,
    /// The independent Python oracle over the valid readings.
    pub python: BTreeMap<i64, Value>,
}

impl Expected {
    /// Both oracles over `input`.
    pub fn of(dir: &Path, input: &Input) -> Expected {
        let output = dir.join("oracle.jsonl");
        let produced = input.produced.to_str().expect("a UTF-8 path");
        let mut args = vec!["analyze", "--input", produced, "--once", "--format", "jsonl"];
        args.extend(WINDOW_FLAGS);
        args.extend(["--output", output.to_str().expect("a UTF-8 path")]);
        run(&args);
        let binary = check::windows(&output, false)
            .expect("the oracle's output")
            .into_iter()
            .map(|w| (w.result.window_start.as_micros(), w.raw))
            .collect();
        let python = python_oracle(&input.readings, WINDOW_SECONDS)
            .into_iter()
            .map(|w| (w["window_start"].as_i64().expect("window_start"), w))
            .collect();
        Expected { binary, python }
    }
}
