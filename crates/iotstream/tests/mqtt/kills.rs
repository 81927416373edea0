//! The MQTT kill -9 scenario and its helpers, shared by `tests/mqtt.rs` and the fault suite
//! (`tests/faults.rs`, which runs it against the `mqtt-ack-on-receipt` mutant): a Mosquitto
//! broker, the Python publisher, engines started and killed. The scenario returns what the
//! engine did wrong, its failure beginning with one of [`reasons`] when a mutant is named for it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use iotstream_engine::WindowResult;
use serde_json::Value;

use crate::common::mosquitto::Mosquitto;
use crate::common::windows::final_windows;
use crate::common::{bin, run, wait_timeout};

/// The verdicts a mutant can be caught by (`tests/faults.rs`, `MUST_CATCH`).
pub mod reasons {
    /// A window of the crashed engine counts fewer readings than the uninterrupted one's.
    pub const FEWER: &str = "counts fewer readings than the uninterrupted engine's";
}

/// Window flags of every engine here, and of the oracle.
pub const WINDOWS: [&str; 6] = ["--time", "event", "--window", "10s", "--max-delay", "1s"];
pub const WINDOW_SECONDS: u64 = 10;
pub const TOPIC: &str = "fleet/readings";
/// How long anything may take here before the test gives up.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// `count` readings 10 ms of event time apart, in order, from 2026-01-01.
pub fn readings(dir: &Path, count: u64, seed: u64) -> PathBuf {
    let path = dir.join("readings.jsonl");
    let (count, seed) = (count.to_string(), seed.to_string());
    let args = ["simulate", &count, "--seed", &seed, "--start", "2026-01-01T00:00:00Z", "--interval", "10ms"];
    run(&[&args[..], &["--output", path.to_str().unwrap()]].concat());
    path
}

/// An engine reading `broker` as `client_id`, writing to `output`; its log is the file beside
/// `output` with the extension `N.log`, N counting the processes started.
pub fn engine(
    broker: &Mosquitto,
    client_id: &str,
    output: &Path,
    state: Option<&Path>,
    extra: &[&str],
) -> (Child, PathBuf) {
    let log = output.with_extension(format!("{}.log", next_run()));
    let mut cmd = bin();
    cmd.args(["analyze", "--mqtt", &broker.url(), "--mqtt-client-id", client_id])
        .args(WINDOWS)
        .args(["--format", "jsonl", "--output", output.to_str().unwrap(), "--checkpoint-interval", "1s"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    if let Some(state) = state {
        cmd.arg("--state-dir").arg(state);
    }
    let child = started(cmd.spawn().expect("start the engine"));
    wait_until(
        || std::fs::read_to_string(&log).unwrap_or_default().contains("subscribing"),
        "the engine to subscribe",
    );
    // The SUBACK follows the SUBSCRIBE at once on this machine's loopback.
    std::thread::sleep(Duration::from_millis(300));
    (child, log)
}

/// Processes a test started, killed when it ends however it ends (a failed test must not leave
/// engines behind).
pub static STARTED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

pub fn started(child: Child) -> Child {
    STARTED.lock().unwrap_or_else(|p| p.into_inner()).push(child.id());
    child
}

/// Kills what the test started, on drop.
pub struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in STARTED.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// A number for each process started, naming its log.
pub fn next_run() -> usize {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    RUNS.fetch_add(1, Ordering::SeqCst)
}

pub fn wait_until(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The publisher, in the background: every line of `file` at QoS 1.
pub fn publish(broker: &Mosquitto, file: &Path, extra: &[&str]) -> Child {
    crate::common::python_script("mqtt/publish.py")
        .args(["127.0.0.1", &broker.port.to_string(), TOPIC, file.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .map(started)
        .expect("python3 with paho-mqtt (scripts/test installs it)")
}

pub fn finish_publishing(mut publisher: Child) {
    let status = wait_timeout(&mut publisher, PATIENCE).expect("the publisher finished");
    assert!(status.success(), "the publisher failed (is paho-mqtt installed? scripts/test installs it)");
}

pub fn kill_9(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

pub fn sigterm(mut child: Child) {
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let status = wait_timeout(&mut child, PATIENCE).expect("the engine stopped");
    assert!(status.success(), "the engine exited with {status}");
}

/// The oracle's windows that event time closes once `readings` are all in.
pub fn closed_oracle_windows(readings: &Path) -> Vec<Value> {
    crate::common::windows::closed_oracle_windows(readings, WINDOW_SECONDS, 1_000_000)
}

pub fn wait_for_windows(output: &Path, expected: &[Value]) {
    let last = expected.last().unwrap()["window_start"].as_i64().unwrap();
    wait_until(|| final_windows(output).contains_key(&last), "the last closed window");
}

/// 60,000 readings at QoS 1, 5,000 a second, while an engine with a state directory is
/// `kill -9`ed twice, each time once some windows are out and it is at work on more: its
/// windows must be those of an uninterrupted engine subscribed beside it, and the Python
/// oracle's, each exactly once; each restart resumed inside the stream, the broker sending again
/// what no checkpoint held. `mutant`: the crashed engine's, if any.
pub fn kill_9_twice_while_publishing(mutant: Option<&str>) -> Result<(), String> {
    let _cleanup = Cleanup;
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let input = readings(dir.path(), 60_000, 11);
    let (reference_out, crashed_out, state) =
        (dir.path().join("reference.jsonl"), dir.path().join("crashed.jsonl"), dir.path().join("state"));
    let (reference, _) = engine(&broker, "reference", &reference_out, None, &["--mqtt-topic", TOPIC]);
    let mut flags = vec!["--mqtt-topic", TOPIC];
    flags.extend(mutant.map(|m| ["--fault-mutant", m]).into_iter().flatten());
    let (mut crashed, _) = engine(&broker, "crashed", &crashed_out, Some(&state), &flags);
    let mut restarts = Vec::new();
    let publisher = publish(&broker, &input, &["--rate", "5000"]);
    for _ in 0..2 {
        let seen = final_windows(&crashed_out).len();
        wait_until(|| final_windows(&crashed_out).len() >= seen + 3, "more windows from the engine");
        std::thread::sleep(Duration::from_millis(350));
        kill_9(&mut crashed);
        let log;
        (crashed, log) = engine(&broker, "crashed", &crashed_out, Some(&state), &flags);
        restarts.push(log);
    }
    finish_publishing(publisher);
    let expected = closed_oracle_windows(&input);
    assert_eq!(expected.len(), 59);
    wait_for_windows(&reference_out, &expected);
    wait_for_windows(&crashed_out, &expected);
    sigterm(crashed);
    sigterm(reference);
    crate::common::windows::assert_equal_to_oracle(&reference_out, &expected);
    compare(&final_windows(&crashed_out), &final_windows(&reference_out))?;
    crate::common::windows::assert_equal_to_oracle(&crashed_out, &expected);
    for log in restarts.iter().map(|path| std::fs::read_to_string(path).unwrap()) {
        assert!(log.contains("resumed from checkpoint"), "{log}");
        assert!(log.contains("the broker is sending again"), "nothing sent again after a kill -9:\n{log}");
    }
    Ok(())
}

/// The crashed engine's windows against the uninterrupted one's: what differs, if anything.
fn compare(
    crashed: &BTreeMap<i64, (String, WindowResult)>,
    reference: &BTreeMap<i64, (String, WindowResult)>,
) -> Result<(), String> {
    for (start, (raw, window)) in reference {
        let Some((got, ours)) = crashed.get(start) else {
            return Err(format!("window {start} missing from the crashed engine's results"));
        };
        if ours.messages < window.messages {
            let (n, m) = (ours.messages, window.messages);
            return Err(format!("window {start}: {n} readings, {m} expected: it {}", reasons::FEWER));
        }
        if got != raw {
            return Err(format!("the crashed engine's window {start} differs: {got} vs {raw}"));
        }
    }
    match crashed.len() == reference.len() {
        true => Ok(()),
        false => Err(format!("{} windows, the uninterrupted engine's {}", crashed.len(), reference.len())),
    }
}
