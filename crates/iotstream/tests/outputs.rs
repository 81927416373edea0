//! Results to every kind of writable path with `--state-dir` (docs/DURABILITY.md, "Where results
//! go"): a regular file (synced, cut back on resume: exactly once, here as `/dev/stdout`
//! redirected to a file), `/dev/null` (nothing to keep), a FIFO and `/dev/stdout` on a pipe
//! (neither synced nor cut back: a resumed run writes again what came after its checkpoint, so a
//! reader sees every window at least once, never a changed one). Each kind was refused or failed
//! before (`cannot sync the result file`); a FIFO without a reader gives way to a stop.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::Reaped;
use common::{bin, run, wait_timeout};

/// Event-time windows of one second over readings 10 ms apart: many windows from few readings.
const WINDOWS: [&str; 8] = ["--time", "event", "--window", "1s", "--max-delay", "1s", "--format", "jsonl"];
/// Checkpoints every second (long enough that a kill right after a window lands before the next
/// one), and the debug line each one logs (the evidence that one was taken).
const CHECKPOINTS: [&str; 2] = ["--checkpoint-interval", "1s"];
const CHECKPOINT_LOG: (&str, &str) = ("RUST_LOG", "info,iotstream::pipeline=debug");

fn simulate(path: &Path, count: u64) {
    let count = count.to_string();
    let args = ["simulate", &count, "--seed", "5", "--start", "2016-11-16T13:00:00Z", "--interval", "10ms"];
    run(&[&args[..], &["--disorder", "300ms", "--output", path.to_str().unwrap()]].concat());
}

/// The window lines of `text`, by window start (the first of each start kept, and how many there
/// were of it).
fn windows(text: &str) -> BTreeMap<String, (String, usize)> {
    let mut seen: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for line in text.lines().filter(|l| l.contains(r#""type":"window""#)) {
        let value: serde_json::Value = serde_json::from_str(line).expect("a whole JSON line");
        let start = value["window_start"].to_string();
        let entry = seen.entry(start).or_insert_with(|| (line.to_owned(), 0));
        assert_eq!(entry.0, line, "a window written twice must be written the same");
        entry.1 += 1;
    }
    seen
}

/// What an uninterrupted run writes for `input`.
fn reference(input: &Path) -> String {
    let out = run(&[&["analyze", "--input", input.to_str().unwrap(), "--once"][..], &WINDOWS].concat());
    String::from_utf8(out.stdout).unwrap()
}

fn analyze(input: &Path, output: &str, state: &Path) -> Command {
    let mut command = bin();
    command
        .args(["analyze", "--input", input.to_str().unwrap(), "--output", output, "--state-dir"])
        .arg(state)
        .args(WINDOWS)
        .args(CHECKPOINTS)
        .env(CHECKPOINT_LOG.0, CHECKPOINT_LOG.1);
    command
}

#[test]
fn dev_null_with_a_state_dir_runs_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    simulate(&input, 2000);
    let state = dir.path().join("state");
    for run in ["first", "resumed"] {
        let out = analyze(&input, "/dev/null", &state).arg("--once").output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{run} run: {log}");
        assert!(log.contains("checkpoint saved"), "{run} run checkpointed: {log}");
        if run == "resumed" {
            assert!(log.contains("resumed from checkpoint") && log.contains("cannot be cut back"), "{log}");
        }
    }
}

/// A FIFO at `path`, made with `mkfifo`.
fn fifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success(), "mkfifo");
}

/// Reads `path` (a FIFO) to its end on a thread, line by line, into the returned channel, with
/// the number of window lines read so far.
fn read_fifo(path: PathBuf) -> (std::sync::mpsc::Receiver<String>, Arc<AtomicUsize>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    std::thread::spawn(move || {
        // Each run opens the FIFO anew: read until no writer comes back for a while.
        for _ in 0..2 {
            let file = std::fs::File::open(&path).unwrap();
            for line in BufReader::new(file).lines().map_while(Result::ok) {
                if line.contains(r#""type":"window""#) {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                let _ = tx.send(line);
            }
        }
    });
    (rx, count)
}

/// Feeds `lines` into the FIFO `input` 50 at a time until the engine has taken a checkpoint and
/// then written at least two more windows (`written` counts what its output holds so far), then
/// kills it with -9: the kill lands on windows no checkpoint covers.
fn feed_and_kill(
    engine: &mut Reaped,
    input: &Path,
    lines: &[String],
    log: &Path,
    written: impl Fn() -> usize,
) {
    let mut pipe = std::fs::OpenOptions::new().write(true).open(input).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut chunks = lines.chunks(50);
    // The checkpoints seen so far, and how much was written when the last of them was seen.
    let mut seen = (0, 0);
    loop {
        let saved = checkpoints(&std::fs::read_to_string(log).unwrap_or_default());
        let now = written();
        if saved != seen.0 {
            seen = (saved, now);
        } else if saved >= 2 && now >= seen.1 + 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no checkpoint followed by windows within 60 s");
        if let Some(chunk) = chunks.next() {
            if let Err(e) = pipe.write_all(chunk.concat().as_bytes()) {
                panic!(
                    "the engine reads its input ({e}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    engine.0.kill().unwrap();
    engine.0.wait().unwrap();
}

/// The checkpoint lines of a log so far.
fn checkpoints(log: &str) -> usize {
    log.lines().filter(|l| l.contains("checkpoint saved")).count()
}

/// The window lines in the file at `path` so far.
fn windows_in(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap_or_default().matches(r#""type":"window""#).count()
}

/// How each run of [`kill_and_resume`] writes: its stdout (`first`, `second`) and how much its
/// output holds so far (`written`).
struct Runs<F, S, W> {
    first: F,
    second: S,
    written: W,
}

/// A first run reading a FIFO at `input` (fed from `full`), killed once it has written windows
/// after a checkpoint; then a resumed run over the whole file. Returns the second run's log and
/// stdout.
fn kill_and_resume<F, S, W>(dir: &Path, full: &Path, output: &str, runs: Runs<F, S, W>) -> (String, String)
where
    F: FnOnce(&mut Command),
    S: FnOnce(&mut Command),
    W: Fn() -> usize,
{
    let input = dir.join("input.jsonl");
    fifo(&input);
    let state = dir.join("state");
    let log = dir.join("first.log");
    let mut first = analyze(&input, output, &state);
    (runs.first)(&mut first);
    let mut engine = Reaped(first.stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap());
    let lines: Vec<String> =
        std::fs::read_to_string(full).unwrap().lines().map(|l| format!("{l}\n")).collect();
    feed_and_kill(&mut engine, &input, &lines, &log, runs.written);
    std::fs::remove_file(&input).unwrap();
    std::fs::copy(full, &input).unwrap();
    let mut second = analyze(&input, output, &state);
    (runs.second)(second.arg("--once"));
    let out = second.output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    assert!(log.contains("resumed from checkpoint"), "{log}");
    (log, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn as_it_is(_: &mut Command) {}

#[test]
fn a_fifo_gets_every_window_at_least_once_through_a_kill_9_and_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    simulate(&full, 6000);
    let want = windows(&reference(&full));
    let results = dir.path().join("results.fifo");
    fifo(&results);
    let (received, count) = read_fifo(results.clone());
    let written = move || count.load(std::sync::atomic::Ordering::SeqCst);
    let runs = Runs { first: as_it_is, second: as_it_is, written };
    let (second, _) = kill_and_resume(dir.path(), &full, results.to_str().unwrap(), runs);
    let got: Vec<String> = received.iter().collect();
    let got = windows(&(got.join("\n") + "\n"));
    assert!(second.contains("cannot be cut back"), "the resumed run says what its reader sees: {second}");
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "every window");
    for (start, (line, _)) in &got {
        assert_eq!(line, &want[start].0, "window {start} as an uninterrupted run writes it");
    }
    let twice = got.values().filter(|(_, n)| *n > 1).count();
    assert!(twice > 0, "the windows after the checkpoint are written again (the kill landed on live work)");
}

#[test]
fn dev_stdout_on_a_pipe_gets_every_window_at_least_once() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    simulate(&full, 6000);
    let want = windows(&reference(&full));
    let captured = dir.path().join("captured.jsonl");
    // The first run's stdout is a pipe into `cat`, which keeps what it gets: /dev/stdout is a
    // FIFO. The second run's is the pipe `output()` reads.
    let mut keeper = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&captured).unwrap())
        .spawn()
        .unwrap();
    let pipe: Stdio = keeper.stdin.take().unwrap().into();
    let first = |command: &mut Command| {
        command.stdout(pipe);
    };
    let runs = Runs { first, second: as_it_is, written: || windows_in(&captured) };
    let (log, stdout) = kill_and_resume(dir.path(), &full, "/dev/stdout", runs);
    assert!(log.contains("cannot be cut back"), "{log}");
    let status = wait_timeout(&mut keeper, Duration::from_secs(10)).expect("cat ends with the pipe");
    assert!(status.success());
    let both = std::fs::read_to_string(&captured).unwrap() + &stdout;
    let got = windows(&both);
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "every window");
    for (start, (line, _)) in &got {
        assert_eq!(line, &want[start].0, "window {start} as an uninterrupted run writes it");
    }
}

#[test]
fn dev_stdout_on_a_regular_file_is_cut_back_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    simulate(&full, 6000);
    let want = reference(&full);
    let results = dir.path().join("results.jsonl");
    let file =
        || std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&results).unwrap();
    // Both runs' stdout is the same file (`>` in a shell): /dev/stdout is that regular file.
    let first = |command: &mut Command| {
        command.stdout(file());
    };
    let second = |command: &mut Command| {
        command.stdout(file());
    };
    let runs = Runs { first, second, written: || windows_in(&results) };
    let (log, _) = kill_and_resume(dir.path(), &full, "/dev/stdout", runs);
    assert!(!log.contains("cannot be cut back"), "{log}");
    let got = std::fs::read_to_string(&results).unwrap();
    let got: Vec<&str> = got.lines().filter(|l| l.contains(r#""type":"window""#)).collect();
    let want: Vec<&str> = want.lines().filter(|l| l.contains(r#""type":"window""#)).collect();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "each window once, as an uninterrupted run writes it");
}

#[test]
fn a_fifo_without_a_reader_gives_way_to_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    simulate(&input, 100);
    let results = dir.path().join("results.fifo");
    fifo(&results);
    let state = dir.path().join("state");
    let mut engine =
        Reaped(analyze(&input, results.to_str().unwrap(), &state).stderr(Stdio::piped()).spawn().unwrap());
    let log = common::lines_of(engine.0.stderr.take().unwrap());
    let waiting = Instant::now() + Duration::from_secs(30);
    while !log.try_iter().any(|l| l.contains("waiting for a reader of the FIFO")) {
        assert!(Instant::now() < waiting, "the engine says it waits for a reader");
        std::thread::sleep(Duration::from_millis(20));
    }
    let asked = Instant::now();
    common::process::signal(&engine.0, "TERM");
    let status = wait_timeout(&mut engine.0, Duration::from_secs(10)).expect("it stops");
    assert!(status.success(), "{status}");
    assert!(asked.elapsed() < Duration::from_secs(2), "stopped within 2 s: {:?}", asked.elapsed());
}
