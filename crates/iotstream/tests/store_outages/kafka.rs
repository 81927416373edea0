//! The Kafka outage scenario of `tests/store_outages.rs` and its helpers, shared with the fault
//! suite (`tests/faults.rs`, which runs it against the `store-ack-before-commit` mutant): Kafka
//! input into PostgreSQL, the database stopped mid-run. The scenario returns what the engine did
//! wrong, its failure beginning with one of [`reasons`] when a mutant is named for it.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::postgres::{Postgres, PASSWORD};
use crate::common::process::Process;
use crate::common::{bin, history, reference, run, without_partitions, Broker};

/// The verdicts a mutant can be caught by (`tests/faults.rs`, `MUST_CATCH`).
pub mod reasons {
    /// The group's committed offset passed what the store holds.
    pub const PAST_THE_STORE: &str = "committed past the windows the store holds";
}

/// Event-time windows of one second over readings 10 ms apart, in order: window `w` holds the
/// readings at offsets `100 w .. 100 w + 100` of a one-partition topic.
pub const WINDOWS: [&str; 8] =
    ["--time", "event", "--window", "1s", "--max-delay", "1s", "--format", "jsonl"];
pub const PER_WINDOW: u64 = 100;

/// `count` readings 10 ms apart, in order.
pub fn simulate(path: &Path, count: u64) {
    let count = count.to_string();
    let args = ["simulate", &count, "--seed", "31", "--start", "2016-11-16T13:00:00Z", "--interval", "10ms"];
    run(&[&args[..], &["--output", path.to_str().unwrap()]].concat());
}

/// Sends `lines` to `topic`, with `produce` (one partition).
pub fn produce(broker: &Broker, topic: &str, dir: &Path, lines: &[&str]) {
    let chunk = dir.join("chunk.jsonl");
    std::fs::write(&chunk, lines.join("\n") + "\n").unwrap();
    let args = ["produce", "--kafka", &broker.address, "--topic", topic, "--partitions", "1", "--input"];
    run(&[&args[..], &[chunk.to_str().unwrap()]].concat());
}

/// The offset `group` has committed on partition 0 of `topic` (0 if none).
pub fn committed(broker: &Broker, topic: &str, group: &str) -> u64 {
    let out = crate::common::python("committed.py", &[&broker.address, topic, group]);
    let offsets: serde_json::Value = serde_json::from_slice(&out.stdout).expect("committed.py's JSON");
    offsets["0"].as_u64().unwrap_or(0)
}

/// Kafka input into PostgreSQL, the database stopped mid-run: the committed offset stays within
/// what the store holds while more input is read; after a `kill -9` during the outage, a run
/// from the committed offsets completes the store exactly. `mutant`: the engine's, if any.
pub fn kafka_offsets_within_the_store(mutant: Option<&str>) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    simulate(&input, 4000);
    let expected = reference(&input, &WINDOWS);
    let text = std::fs::read_to_string(&input).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut chunks = lines.chunks(PER_WINDOW as usize);
    let broker = Broker::sqlite();
    let server = Postgres::start();
    server.create_database("acks");
    let url = server.url("acks");
    let (topic, group) = ("outage-in", "outage-group");
    produce(&broker, topic, dir.path(), chunks.next().unwrap());
    let analyze = |once: bool| {
        let mut command = bin();
        command.args(["analyze", "--kafka", &broker.address, "--topic", topic, "--group", group]);
        command.args(["--store", &url]).args(WINDOWS).env("PGPASSWORD", PASSWORD);
        command.args(mutant.map(|m| ["--fault-mutant", m]).into_iter().flatten());
        if once {
            command.arg("--once");
        }
        command
    };
    let mut engine = Process::start(analyze(false), dir.path(), "live");
    let feed = |chunks: &mut std::slice::Chunks<&str>, until: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !until() {
            assert!(Instant::now() < deadline, "no evidence within 60 s");
            produce(&broker, topic, dir.path(), chunks.next().expect("input left to produce"));
        }
    };
    feed(&mut chunks, &|| server.windows("acks") >= 5 && committed(&broker, topic, group) > 0);
    server.stop();
    feed(&mut chunks, &|| engine.log().contains("the store is unavailable"));
    // Five more windows' readings while the store is down, and time for the commits (every
    // second) that an engine acknowledging what the store does not hold would make.
    for chunk in chunks.by_ref().take(5) {
        produce(&broker, topic, dir.path(), chunk);
    }
    std::thread::sleep(Duration::from_secs(3));
    let during = committed(&broker, topic, group);
    engine.kill_9();
    server.start_again();
    let held = server.windows("acks");
    eprintln!("committed offset {during} during the outage; the store holds {held} windows");
    assert!(during > 0, "offsets were committed before the outage");
    if during > held * PER_WINDOW {
        let readings = held * PER_WINDOW;
        let reason = reasons::PAST_THE_STORE;
        return Err(format!("offset {during} {reason} ({held} windows, {readings} readings)"));
    }
    for chunk in chunks {
        produce(&broker, topic, dir.path(), chunk);
    }
    let out = analyze(true).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The topic's results name their partition; the file's have none.
    let got: Vec<String> = history(&url).iter().map(|l| without_partitions(l)).collect();
    let expected: Vec<String> = expected.iter().map(|l| without_partitions(l)).collect();
    let differ: Vec<(&String, &String)> = got.iter().zip(&expected).filter(|(a, b)| a != b).collect();
    match got == expected {
        true => Ok(()),
        false => Err(format!("{} windows, {} expected; differing: {differ:#?}", got.len(), expected.len())),
    }
}
