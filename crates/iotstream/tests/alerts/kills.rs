//! The alerts' kill -9 scenarios, shared by `tests/alerts.rs` and the fault suite
//! (`tests/faults.rs`, which runs them against the `alerts-no-cutback` and
//! `webhook-queue-dropped` mutants): the crafted input, its rules, a run fed at a pace and killed
//! on live work, and a webhook receiver. Each scenario returns what the engine did wrong, its
//! failure beginning with one of [`reasons`] when it is one a mutant is named for.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iotstream_engine::EventTime;
use serde_json::Value;

use crate::common::{bin, run, wait_timeout};

/// The verdicts a mutant can be caught by (`tests/faults.rs`, `MUST_CATCH`).
pub mod reasons {
    /// The alerts file holds more notifications than the uninterrupted run's: some written twice.
    pub const MORE_ALERTS: &str = "more notifications than the uninterrupted run's alerts file";
    /// The webhook received fewer notifications than the uninterrupted run wrote: some lost.
    pub const FEWER_DELIVERED: &str = "fewer notifications delivered than the uninterrupted run's";
}

pub const START: i64 = 1_479_301_200_000_000; // 2016-11-16T13:00:00Z

/// Rules of every kind judged on event time.
pub const RULES: &str = r#"
[[alert]]
id = "tx-hot"
kind = "threshold"
scope = "state"
metric = "avg_temperature"
op = ">"
fire = 80.0
clear = 75.0
for = 2
severity = "critical"
states = ["TX"]

[[alert]]
id = "sensor-hot"
kind = "threshold"
scope = "sensor"
metric = "temperature"
op = ">="
fire = 100.0
clear = 90.0

[[alert]]
id = "offline"
kind = "offline"
after = "10s"

[[alert]]
id = "spike"
kind = "anomaly"
metric = "temperature"
z = 4.0
alpha = 0.2
warmup = 10
"#;

/// A tiny deterministic generator (xorshift), so the input is the same on every machine.
pub struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `seconds` of readings, ten a second, from 20 sensors in TX, CA and NY: noise around each
/// state's level, TX running hot from 60 s to 120 s, sensor s7 silent from 40 s to 70 s, and a
/// spike every 97th reading.
pub fn crafted(seconds: i64) -> String {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = String::new();
    for i in 0..seconds * 10 {
        let sensor = i % 20;
        let t = i * 100_000;
        if sensor == 7 && (40_000_000..70_000_000).contains(&t) {
            continue;
        }
        let state = ["TX", "CA", "NY"][(sensor % 3) as usize];
        let hot = state == "TX" && (60_000_000..120_000_000).contains(&t);
        let base = if hot { 85.0 } else { 60.0 + 5.0 * (sensor % 3) as f64 };
        let spike = if i % 97 == 96 { 45.0 } else { 0.0 };
        let temperature = ((base + spike + 4.0 * (rng.next() - 0.5)) * 10.0).round() / 10.0;
        let time = EventTime(START + t);
        out.push_str(&format!(
            "{{\"guid\":\"s{sensor}\",\"state\":\"{state}\",\"eventTime\":\"{time}\",\"payload\":{{\"data\":{{\"temperature\":{temperature}}}}}}}\n"
        ));
    }
    out
}

pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The window results of a result file (stats records carry processing time, which differs).
pub fn windows(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| l.starts_with("{\"type\":\"window\""))
        .map(str::to_owned)
        .collect()
}

pub const WINDOW_FLAGS: [&str; 8] =
    ["--time", "event", "--window", "10s", "--max-delay", "1s", "--format", "jsonl"];

/// The uninterrupted run: results and alerts files.
pub fn uninterrupted(dir: &Path, input: &str, rules: &str) -> (Vec<u8>, Vec<u8>) {
    let (out, alerts) = (dir.join("whole.jsonl"), dir.join("whole-alerts.jsonl"));
    let mut args = vec!["analyze", "--input", input, "--once", "--rules", rules];
    args.extend(WINDOW_FLAGS);
    let (o, a) = (out.display().to_string(), alerts.display().to_string());
    args.extend(["-o", &o, "--alerts-output", &a]);
    run(&args);
    (std::fs::read(out).unwrap(), std::fs::read(alerts).unwrap())
}

/// Starts `analyze` reading stdin into a state directory, fed `input` at `rate` lines a second.
/// Its log goes to `log`.
pub fn start_fed(
    args: &[String],
    input: &str,
    rate: usize,
    log: &Path,
) -> (Child, std::thread::JoinHandle<()>) {
    let log = std::fs::File::create(log).unwrap();
    let mut child = bin().args(args).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines: Vec<String> = input.lines().map(|l| format!("{l}\n")).collect();
    let feeder = std::thread::spawn(move || {
        let started = Instant::now();
        for (i, line) in lines.iter().enumerate() {
            let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if stdin.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    (child, feeder)
}

/// The modification time of the checkpoint store in `state`, if there is one.
pub fn checkpointed(state: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(state.join("state.redb")).and_then(|m| m.modified()).ok()
}

/// Waits until each file of `files` is longer than its length given (the run has written past
/// what an earlier run had: it is beyond its replay), then until a checkpoint is saved, then until
/// `grows` gets longer with no checkpoint since: a kill then lands on live work, with progress
/// checkpointed and something written that the checkpoint does not cover.
pub fn await_live_work(files: &[(&Path, u64)], state: &Path, grows: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let len = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    while files.iter().any(|(path, beyond)| len(path) <= *beyond) {
        assert!(Instant::now() < deadline, "the run never wrote past the earlier runs: {files:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = checkpointed(state);
    while checkpointed(state) == before {
        assert!(Instant::now() < deadline, "no checkpoint after live work");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut at = (checkpointed(state), len(grows));
    loop {
        assert!(Instant::now() < deadline, "nothing written after a checkpoint");
        std::thread::sleep(Duration::from_millis(5));
        let now = (checkpointed(state), len(grows));
        if now.0 != at.0 {
            at = now;
        } else if now.1 > at.1 {
            return;
        }
    }
}

/// Each alert's notifications (by fingerprint), in the order written.
pub fn per_alert(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut alerts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        alerts.entry(record["fingerprint"].as_str().unwrap().to_owned()).or_default().push(line.to_owned());
    }
    alerts
}

/// What the webhook receiver got: (idempotency key, signature, body), in arrival order.
pub type Received = Arc<Mutex<Vec<(String, String, String)>>>;

/// An HTTP receiver on `listener`: answers 503 while `refuse(requests so far)` says so, else 200
/// (and keeps what it took).
pub fn receive(listener: TcpListener, received: Received, refuse: impl Fn(usize) -> bool) {
    let mut seen = 0;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let mut reader = BufReader::new(stream);
        let mut headers = BTreeMap::new();
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.trim_end().split_once(": ") {
                headers.insert(name.to_ascii_lowercase(), value.to_owned());
            }
        }
        let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            continue;
        }
        seen += 1;
        let refused = refuse(seen);
        let status = if refused { "503 Service Unavailable" } else { "200 OK" };
        if !refused {
            let key = headers.get("idempotency-key").cloned().unwrap_or_default();
            let signature = headers.get("x-iotstream-signature").cloned().unwrap_or_default();
            received.lock().unwrap().push((key, signature, String::from_utf8(body).unwrap()));
        }
        let mut stream = reader.into_inner();
        let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
}

/// `analyze`'s flags for a run of `rules` over stdin into `state`, checkpointing every 200 ms,
/// against `mutant` if one is named (a build with the `fault-injection` feature).
fn fed_args(rules: &str, state: &Path, mutant: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> =
        ["analyze", "--input", "-", "--once", "--rules", rules, "--checkpoint-interval", "200ms"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend(WINDOW_FLAGS.iter().map(|s| s.to_string()));
    args.extend(["--state-dir".into(), state.display().to_string()]);
    if let Some(mutant) = mutant {
        args.extend(["--fault-mutant".into(), mutant.to_owned()]);
    }
    args
}

/// The last run: the whole input at once; it must resume and end well.
fn finish(args: &[String], text: &str, log: &Path) -> Result<(), String> {
    let (mut child, feeder) = start_fed(args, text, 1_000_000, log);
    feeder.join().unwrap();
    drop(child.stdin.take());
    let status = wait_timeout(&mut child, Duration::from_secs(60)).expect("the last run ends");
    let logged = std::fs::read_to_string(log).unwrap();
    if !status.success() {
        return Err(format!("the last run failed: {status}: {logged}"));
    }
    assert!(logged.contains("resumed from checkpoint"), "it resumed");
    Ok(())
}

/// Two kills, each once the run (a restarted one included) has written results beyond what the
/// run before it had, and checkpointed since (live work, not the replay it skips), then a run to
/// the end: the results and the alerts files must be the uninterrupted run's.
pub fn kill_9_and_restart(mutant: Option<&str>) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let text = crafted(180);
    let input = write(dir.path(), "in.jsonl", &text);
    let rules = write(dir.path(), "rules.toml", RULES);
    let (results, alerts) = uninterrupted(dir.path(), &input, &rules);
    assert!(alerts.len() > 1000, "a history worth comparing");
    let (out, alerts_out, state) =
        (dir.path().join("out.jsonl"), dir.path().join("alerts.jsonl"), dir.path().join("state"));
    let mut args = fed_args(&rules, &state, mutant);
    for (flag, path) in [("-o", &out), ("--alerts-output", &alerts_out)] {
        args.extend([flag.to_string(), path.display().to_string()]);
    }
    let log = dir.path().join("log");
    for _ in 0..2 {
        let beyond = std::fs::metadata(&out).map_or(0, |m| m.len());
        let (mut child, feeder) = start_fed(&args, &text, 1500, &log);
        await_live_work(&[(&out, beyond)], &state, &alerts_out);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        feeder.join().unwrap();
    }
    finish(&args, &text, &log)?;
    let (got, want) = (windows(&std::fs::read(&out).unwrap()), windows(&results));
    if got != want {
        return Err(format!("results differ: {} windows, {} expected", got.len(), want.len()));
    }
    let got = String::from_utf8(std::fs::read(&alerts_out).unwrap()).unwrap();
    let want = String::from_utf8(alerts).unwrap();
    let (written, expected) = (got.lines().count(), want.lines().count());
    if written > expected {
        return Err(format!("{written} notifications: {} {}", written - expected, reasons::MORE_ALERTS));
    }
    if per_alert(&got) != per_alert(&want) {
        return Err("an alert's history differs from the uninterrupted run's".into());
    }
    let first_difference = got.lines().zip(want.lines()).position(|(a, b)| a != b);
    match got == want {
        true => Ok(()),
        false => Err(format!("the alerts files differ from line {first_difference:?}")),
    }
}

/// A receiver refusing everything on a free port until `up` is set; what it took, and how many
/// requests it refused.
fn refusing_receiver(
    up: &Arc<std::sync::atomic::AtomicBool>,
) -> (String, Received, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = Received::default();
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (got, open, counted) = (Arc::clone(&received), Arc::clone(up), Arc::clone(&refused));
    std::thread::spawn(move || {
        receive(listener, got, move |_| {
            let refusing = !open.load(Ordering::SeqCst);
            counted.fetch_add(usize::from(refusing), Ordering::SeqCst);
            refusing
        })
    });
    (url, received, refused)
}

/// A run killed once a notification was refused (so the queue holds it) and a checkpoint was
/// taken since; the receiver then takes everything, and the next run must send it every
/// notification of the uninterrupted run, once each by idempotency key, in order.
pub fn webhook_queue_survives_kill_9(mutant: Option<&str>) -> Result<(), String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let text = crafted(180);
    let input = write(dir.path(), "in.jsonl", &text);
    let rules = write(dir.path(), "rules.toml", RULES);
    let (_, alerts) = uninterrupted(dir.path(), &input, &rules);
    let want: Vec<String> = String::from_utf8(alerts).unwrap().lines().map(str::to_owned).collect();
    let up = Arc::new(AtomicBool::new(false));
    let (url, received, refused) = refusing_receiver(&up);
    let state = dir.path().join("state");
    let mut args = fed_args(&rules, &state, mutant);
    let out = dir.path().join("out.jsonl").display().to_string();
    args.extend(["-o".into(), out]);
    args.extend(["--alerts-webhook".into(), url, "--alerts-webhook-max-backoff".into(), "200ms".into()]);
    let log = dir.path().join("log");
    let (mut child, feeder) = start_fed(&args, &text, 1500, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while refused.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no notification was sent to the receiver");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = checkpointed(&state);
    while checkpointed(&state) == before {
        assert!(Instant::now() < deadline, "no checkpoint after a refused notification");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    feeder.join().unwrap();
    let refused = refused.load(Ordering::SeqCst);
    assert!(refused > 0 && received.lock().unwrap().is_empty(), "{refused} requests refused, none taken");
    up.store(true, Ordering::SeqCst);
    finish(&args, &text, &log)?;
    let received = received.lock().unwrap().clone();
    let mut keys = BTreeSet::new();
    let bodies: Vec<String> = received
        .into_iter()
        .filter(|(key, _, _)| keys.insert(key.clone()))
        .map(|(_, _, body)| body)
        .collect();
    if bodies.len() < want.len() {
        return Err(format!("{} of {}: {}", bodies.len(), want.len(), reasons::FEWER_DELIVERED));
    }
    if bodies != want {
        return Err(format!(
            "{} notifications delivered, not the uninterrupted run's {}, in order",
            bodies.len(),
            want.len()
        ));
    }
    Ok(())
}
