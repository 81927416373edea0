//! The store's rules that only show across runs (docs/STORE.md): an older revision or a partial
//! result never overwrites a newer one, on both databases, exercised by a replay that would
//! otherwise overwrite; a version-1 PostgreSQL store (made here with the version-1 schema) is
//! migrated and read back; two writers starting together on one empty PostgreSQL database migrate
//! it once, the second waiting on the advisory lock (and a stop ending that wait); retention over
//! several prunes keeps exactly the windows recent enough.

#![cfg(all(feature = "store-sqlite", feature = "store-postgres"))]

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::postgres::{self, Postgres, PASSWORD};
use common::process::{wait_until, Process, Reaped};
use common::{bin, run, wait_timeout};
use serde_json::Value;

/// Event-time windows of 100 ms taking late readings for 3 s, with partial results.
const REVISED: [&str; 12] = [
    "--time",
    "event",
    "--window",
    "100ms",
    "--max-delay",
    "300ms",
    "--allowed-lateness",
    "3s",
    "--emit-every",
    "50ms",
    "--format",
    "jsonl",
];

/// `count` readings 10 ms apart from `start`, out of order within 300 ms, 3 % of them late beyond
/// that (revisions within the allowed lateness).
fn simulate(path: &Path, count: u64, start: &str) {
    let count = count.to_string();
    let args = ["simulate", &count, "--seed", "41", "--start", start, "--interval", "10ms"];
    let disorder = ["--disorder", "300ms", "--late-ratio", "0.03", "--output", path.to_str().unwrap()];
    run(&[&args[..], &disorder[..]].concat());
}

fn analyze(input: &Path, store: &str, flags: &[&str]) {
    let out = bin()
        .args(["analyze", "--input", input.to_str().unwrap(), "--once", "--store", store])
        .args(flags)
        .env("PGPASSWORD", PASSWORD)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn history(store: &str) -> Vec<String> {
    let out = bin().args(["history", "--store", store]).env("PGPASSWORD", PASSWORD).output().unwrap();
    assert!(out.status.success(), "history: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// The furthest result per window of a jsonl output (the last of `(final, revision, messages)`):
/// what the store must hold for it.
fn furthest(jsonl: &str) -> Vec<String> {
    let mut windows: BTreeMap<i64, ((bool, u64, u64), String)> = BTreeMap::new();
    for line in jsonl.lines().filter(|l| l.contains(r#""type":"window""#)) {
        let value: Value = serde_json::from_str(line).unwrap();
        let rank = (
            value["final"].as_bool().unwrap(),
            value["revision"].as_u64().unwrap(),
            value["messages"].as_u64().unwrap(),
        );
        let start = value["window_start"].as_str().unwrap().as_bytes();
        let start = iotstream_engine::EventTime::parse_rfc3339(start).unwrap().as_micros();
        let kept = windows.entry(start).or_insert((rank, line.to_owned()));
        if rank >= kept.0 {
            *kept = (rank, line.to_owned());
        }
    }
    windows.into_values().map(|(_, line)| line).collect()
}

/// The whole input into `store` and a jsonl file, fed slowly on stdin so that late readings come
/// after their windows were emitted (revisions); what the file says is furthest per window.
fn fed_slowly(input: &str, store: &str, dir: &Path) -> Vec<String> {
    let out = dir.join("slow.jsonl");
    let mut command = bin();
    command.args(["analyze", "--input", "-", "--once", "--store", store, "-o", out.to_str().unwrap()]);
    command.args(REVISED).env("PGPASSWORD", PASSWORD);
    let (mut engine, mut stdin) = Process::start_piped(command, dir, "slow");
    for chunk in input.lines().collect::<Vec<_>>().chunks(50) {
        stdin.write_all((chunk.join("\n") + "\n").as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let status = wait_timeout(&mut engine.child, Duration::from_secs(60)).expect("the run ends");
    assert!(status.success(), "{}", engine.log());
    furthest(&std::fs::read_to_string(out).unwrap())
}

/// The whole input into `store`, fed slowly (late readings revise windows already emitted), then
/// a replay of its first two thirds at once, as after a crash: at its end the windows it cut off
/// are emitted final with fewer readings, and windows the slow run revised come out at revision
/// 0. The store still holds the slow run's furthest results: nothing older overwrote them.
fn a_replay_never_overwrites_a_newer_result(store: &str, dir: &Path) {
    let full = dir.join("full.jsonl");
    simulate(&full, 4000, "2016-11-16T13:00:00Z");
    let text = std::fs::read_to_string(&full).unwrap();
    let want = fed_slowly(&text, store, dir);
    let revised = want.iter().filter(|l| !l.contains(r#""revision":0"#)).count();
    assert!(revised >= 2, "late readings revised windows: {revised}");
    assert_eq!(history(store), want, "{store}: the slow run's furthest results");
    let prefix = dir.join("prefix.jsonl");
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&prefix, lines[..lines.len() * 2 / 3].join("\n") + "\n").unwrap();
    let out = run(&[&["analyze", "--input", prefix.to_str().unwrap(), "--once"][..], &REVISED].concat());
    let replayed = furthest(&String::from_utf8_lossy(&out.stdout));
    let older = replayed.iter().filter(|l| !want.contains(l)).count();
    eprintln!("{store}: {revised} windows revised by the slow run, {older} older in the replay");
    assert!(older >= 2, "the replay has older results for some windows: {older}");
    analyze(&prefix, store, &REVISED);
    assert_eq!(history(store), want, "{store}: a replay of older results overwrote newer ones");
}

#[test]
fn a_replay_never_overwrites_a_newer_result_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("history.sqlite").display());
    a_replay_never_overwrites_a_newer_result(&store, dir.path());
}

#[test]
fn a_replay_never_overwrites_a_newer_result_in_postgresql() {
    if postgres::skip("revisions in PostgreSQL") {
        return;
    }
    let server = Postgres::start();
    server.create_database("revisions");
    let dir = tempfile::tempdir().unwrap();
    a_replay_never_overwrites_a_newer_result(&server.url("revisions"), dir.path());
}
