//! A stop (SIGTERM) while the run waits on an outside system that does not answer: the process is
//! gone within 2 s of the signal, and what was not written is kept for the next run exactly as
//! after a `kill -9` (docs/DURABILITY.md, "Stops"). The outside system is stopped mid-run, the
//! signal is sent once the run's log shows it waiting on that system (evidence, not time), and the
//! next run's results are compared with an uninterrupted run's.

#![cfg(feature = "store-postgres")]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::postgres::{self, Postgres, PASSWORD};
use common::process::{signal, Process};
use common::{bin, run, wait_timeout};

/// Event-time windows of one second: many windows from few readings.
const WINDOWS: [&str; 8] = ["--time", "event", "--window", "1s", "--max-delay", "1s", "--format", "jsonl"];

/// How long a stop may take, from the signal to the process's end (the promise).
const STOP_WITHIN: Duration = Duration::from_secs(2);

/// Readings 10 ms apart, shuffled within half a second.
fn simulate(path: &Path, count: u64) {
    let count = count.to_string();
    let args = ["simulate", &count, "--seed", "23", "--start", "2016-11-16T13:00:00Z", "--interval", "10ms"];
    run(&[&args[..], &["--disorder", "500ms", "--output", path.to_str().unwrap()]].concat());
}

/// The window lines an uninterrupted run prints for `input`.
fn reference(input: &Path) -> Vec<String> {
    let out = run(&[&["analyze", "--input", input.to_str().unwrap(), "--once"][..], &WINDOWS].concat());
    window_lines(&String::from_utf8_lossy(&out.stdout))
}

fn window_lines(text: &str) -> Vec<String> {
    text.lines().filter(|l| l.contains(r#""type":"window""#)).map(str::to_owned).collect()
}

/// `analyze` reading `input` into `store`, checkpointing often into `state`.
fn analyze(input: &Path, store: &str, state: &Path) -> Command {
    let mut command = bin();
    command
        .args(["analyze", "--input", input.to_str().unwrap(), "--store", store, "--state-dir"])
        .arg(state)
        .args(["--checkpoint-interval", "200ms"])
        .args(WINDOWS)
        .env("PGPASSWORD", PASSWORD);
    command
}

/// Writes the next 100 of `lines` into `pipe`, then pauses: a paced producer.
fn feed(pipe: &mut std::fs::File, lines: &mut impl Iterator<Item = String>) {
    let chunk: String = lines.take(100).collect();
    assert!(!chunk.is_empty(), "the input ran out before the evidence came");
    pipe.write_all(chunk.as_bytes()).expect("the engine reads its input");
    std::thread::sleep(Duration::from_millis(50));
}

/// SIGTERM to `engine`: its exit status and how long it took, `None` if it did not end in 20 s.
fn stop(engine: &mut Process) -> Option<(std::process::ExitStatus, Duration)> {
    let asked = Instant::now();
    signal(&engine.child, "TERM");
    wait_timeout(&mut engine.child, Duration::from_secs(20)).map(|status| (status, asked.elapsed()))
}

/// `iotstream history` of `store`, jsonl.
fn history(store: &str) -> Vec<String> {
    let out = bin().args(["history", "--store", store]).env("PGPASSWORD", PASSWORD).output().unwrap();
    assert!(out.status.success(), "history: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// PostgreSQL stopped mid-run, then SIGTERM while the store retries: the run gives way within 2 s
/// and checkpoints nothing the store does not hold; the next run, with the database back, leaves
/// it holding exactly what an uninterrupted run writes.
#[test]
fn a_stop_during_a_store_outage_ends_within_2_s_and_the_next_run_stores_everything() {
    if postgres::skip("a stop during a PostgreSQL outage") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    simulate(&full, 4000);
    let expected = reference(&full);
    let server = Postgres::start();
    server.create_database("stopped");
    let url = server.url("stopped");
    // The first run reads a FIFO at the input's path; the next one finds the whole file there.
    let input = dir.path().join("input.jsonl");
    assert!(Command::new("mkfifo").arg(&input).status().unwrap().success());
    let state = dir.path().join("state");
    let mut engine = Process::start(analyze(&input, &url, &state), dir.path(), "first");
    let mut pipe = std::fs::OpenOptions::new().write(true).open(&input).unwrap();
    let mut lines =
        std::fs::read_to_string(&full).unwrap().lines().map(|l| format!("{l}\n")).collect::<Vec<_>>();
    let mut lines = lines.drain(..);
    while server.windows("stopped") < 5 {
        feed(&mut pipe, &mut lines);
    }
    server.stop();
    // More windows close while the database is down: the store retries them.
    while !engine.log().contains("the store is unavailable") {
        feed(&mut pipe, &mut lines);
    }
    let (status, took) = stop(&mut engine).expect("the run ends on SIGTERM");
    let log = engine.log();
    eprintln!("the store's outage: stopped {took:?} after SIGTERM");
    assert!(status.success(), "{status}: {log}");
    assert!(took < STOP_WITHIN, "stopped within 2 s of the signal, not {took:?}: {log}");
    assert!(log.contains("stopped while waiting for the store"), "{log}");
    drop(pipe);

    server.start_again();
    std::fs::remove_file(&input).unwrap();
    std::fs::copy(&full, &input).unwrap();
    let out = analyze(&input, &url, &state).arg("--once").output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("resumed from checkpoint"), "the next run resumes: {log}");
    assert_eq!(history(&url), expected, "the store holds what an uninterrupted run writes");
}
