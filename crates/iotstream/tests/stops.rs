//! A stop (SIGTERM) while the run waits on an outside system that does not answer: the process is
//! gone within 2 s of the signal, and what was not written is kept for the next run exactly as
//! after a `kill -9` (docs/DURABILITY.md, "Stops"). The outside system is stopped mid-run, the
//! signal is sent once the run's log shows it waiting on that system (evidence, not time), and the
//! next run's results are compared with an uninterrupted run's: the store, the webhook and the results
//! topic.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::postgres::{self, Postgres, PASSWORD};
use common::process::{signal, Process};
use common::{bin, history, reference, run, wait_timeout, without_partitions};

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
    let expected = reference(&full, &WINDOWS);
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

/// A second Ctrl-C is never ignored: PostgreSQL stopped mid-run, two SIGINTs 100 ms apart while
/// the store retries end the process at once (status 130, well before the first stop's 1 s grace
/// is over), as a `kill -9` would.
#[test]
fn a_second_ctrl_c_during_a_store_outage_exits_at_once() {
    if postgres::skip("a second Ctrl-C during a PostgreSQL outage") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    simulate(&full, 4000);
    let server = Postgres::start();
    server.create_database("interrupted");
    let mut command = bin();
    command.args(["analyze", "--input", "-", "--store", &server.url("interrupted")]).args(WINDOWS);
    command.env("PGPASSWORD", PASSWORD);
    let (mut engine, mut stdin) = Process::start_piped(command, dir.path(), "run");
    let text = std::fs::read_to_string(&full).unwrap();
    let mut lines = text.lines().map(|l| format!("{l}\n"));
    let mut feed = || {
        let chunk: String = lines.by_ref().take(100).collect();
        assert!(!chunk.is_empty(), "the input ran out before the evidence came");
        stdin.write_all(chunk.as_bytes()).expect("the engine reads its input");
        std::thread::sleep(Duration::from_millis(50));
    };
    while server.windows("interrupted") < 3 {
        feed();
    }
    server.stop();
    while !engine.log().contains("the store is unavailable") {
        feed();
    }
    signal(&engine.child, "INT");
    std::thread::sleep(Duration::from_millis(100));
    let second = Instant::now();
    signal(&engine.child, "INT");
    let status = wait_timeout(&mut engine.child, Duration::from_secs(20)).expect("the run ends");
    let took = second.elapsed();
    let log = engine.log();
    eprintln!("a second Ctrl-C: ended {took:?} after it");
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(took < Duration::from_millis(700), "at once, not after the first stop's grace: {took:?}");
    assert!(log.contains("second stop request"), "{log}");
}

/// A sensor alert that fires and clears often on the simulated readings.
const RULES: &str = r#"
[[alert]]
id = "warm"
kind = "threshold"
scope = "sensor"
metric = "temperature"
op = ">="
fire = 56.0
clear = 50.0
"#;

/// What a webhook receiver took: (idempotency key, body), in arrival order.
type Taken = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook receiver on `listener` that, while `answering` is false, reads each request and
/// never answers it (holding the connection: the sender waits for a reply that does not come);
/// then answers 200 and keeps what it took. `held` counts the requests left unanswered.
fn receiver(
    listener: TcpListener,
    answering: Arc<AtomicBool>,
    taken: Taken,
    held: Arc<Mutex<Vec<TcpStream>>>,
) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let Some((key, body, stream)) = read_request(stream) else { continue };
        if !answering.load(Ordering::SeqCst) {
            held.lock().unwrap().push(stream);
            continue;
        }
        taken.lock().unwrap().push((key, body));
        let mut stream = stream;
        let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
}

/// One HTTP request: its idempotency key and body, and the connection to answer on.
fn read_request(stream: TcpStream) -> Option<(String, String, TcpStream)> {
    let mut reader = BufReader::new(stream);
    let (mut line, mut key, mut length) = (String::new(), String::new(), 0);
    reader.read_line(&mut line).ok()?;
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        let Some((name, value)) = line.trim_end().split_once(": ") else { continue };
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok()?,
            "idempotency-key" => key = value.to_owned(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((key, String::from_utf8(body).ok()?, reader.into_inner()))
}

/// `analyze` over stdin with alerts to a webhook at `url`, checkpointing into `state`.
fn alerting(rules: &Path, url: &str, state: &Path) -> Command {
    let mut command = bin();
    command
        .args(["analyze", "--input", "-", "--once", "--rules", rules.to_str().unwrap()])
        .args(["--alerts-webhook", url, "--alerts-webhook-max-backoff", "200ms"])
        .args(["--state-dir", state.to_str().unwrap(), "--checkpoint-interval", "200ms", "-o", "/dev/null"])
        .args(WINDOWS)
        .env("RUST_LOG", "info,iotstream::pipeline=debug");
    command
}

/// A webhook receiver that takes requests and never answers, then SIGTERM: the run ends within
/// 2 s (the drain and the request in flight give way); the notifications still queued are in the
/// checkpoint, and the next run, with the receiver answering, delivers every notification of an
/// uninterrupted run, in its order (once each by idempotency key).
#[test]
fn a_stop_while_the_webhook_receiver_does_not_answer_ends_within_2_s_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    simulate(&input, 3000);
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let alerts = dir.path().join("alerts.jsonl");
    let whole = [
        &["analyze", "--input", input.to_str().unwrap(), "--once", "--rules"][..],
        &[rules.to_str().unwrap()],
    ];
    run(&[&whole.concat()[..], &["--alerts-output", alerts.to_str().unwrap()], &WINDOWS].concat());
    let want: Vec<String> = std::fs::read_to_string(&alerts).unwrap().lines().map(str::to_owned).collect();
    assert!(want.len() > 50, "notifications to deliver: {}", want.len());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (answering, taken, held) = (Arc::new(AtomicBool::new(false)), Taken::default(), Arc::default());
    let (open, got, waiting) = (Arc::clone(&answering), Arc::clone(&taken), Arc::clone(&held));
    std::thread::spawn(move || receiver(listener, open, got, waiting));
    let state = dir.path().join("state");
    let first = alerting(&rules, &url, &state);
    let (mut engine, mut stdin) = Process::start_piped(first, dir.path(), "first");
    let mut lines =
        std::fs::read_to_string(&input).unwrap().lines().map(|l| format!("{l}\n")).collect::<Vec<_>>();
    let mut lines = lines.drain(..);
    // Fed until a notification waits for its answer, and then a checkpoint is taken (with it
    // queued).
    let mut checkpoints_before = None;
    loop {
        let checkpoints = engine.log().matches("checkpoint saved").count();
        match checkpoints_before {
            None if !held.lock().unwrap().is_empty() => checkpoints_before = Some(checkpoints),
            Some(before) if checkpoints > before => break,
            _ => {}
        }
        let chunk: String = lines.by_ref().take(20).collect();
        assert!(!chunk.is_empty(), "the input ran out before a notification was held and checkpointed");
        stdin.write_all(chunk.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, took) = stop(&mut engine).expect("the run ends on SIGTERM");
    let log = engine.log();
    eprintln!("the webhook's receiver silent: stopped {took:?} after SIGTERM");
    assert!(status.success(), "{status}: {log}");
    assert!(took < STOP_WITHIN, "stopped within 2 s of the signal, not {took:?}: {log}");
    drop(stdin);

    answering.store(true, Ordering::SeqCst);
    let mut second = alerting(&rules, &url, &state);
    let out = second.stdin(std::fs::File::open(&input).unwrap()).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("resumed from checkpoint"), "the next run resumes: {log}");
    let mut keys = BTreeSet::new();
    let taken = taken.lock().unwrap().clone();
    let bodies: Vec<String> =
        taken.into_iter().filter(|(key, _)| keys.insert(key.clone())).map(|(_, body)| body).collect();
    assert_eq!(bodies.len(), want.len(), "every notification, once each by idempotency key");
    assert!(bodies == want, "in the uninterrupted run's order");
}

/// The results topic's windows by key; each key's messages must all be the same result (at least
/// once, never changed).
fn results_topic(broker: &common::Broker, topic: &str) -> BTreeMap<String, String> {
    let out = common::python("consume.py", &[&broker.address, topic]);
    let mut windows: BTreeMap<String, String> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let message: serde_json::Value = serde_json::from_str(line).unwrap();
        let (key, value) = (message["key"].as_str().unwrap(), message["value"].as_str().unwrap());
        let value = without_partitions(value);
        let first = windows.entry(key.to_owned()).or_insert_with(|| value.clone());
        assert_eq!(first, &value, "window {key} sent twice must be sent the same");
    }
    windows
}

/// The Kafka broker killed while the run sends results to the results topic, then SIGTERM once
/// the run has stopped writing (a result waits for the broker's acknowledgement): the run ends
/// within 2 s, saying it stopped waiting for the broker; the next run, the broker back, leaves the
/// results topic holding every window of an uninterrupted run, each as that run writes it.
#[cfg(feature = "kafka")]
#[test]
fn a_stop_while_the_results_topic_is_down_ends_within_2_s_and_loses_nothing() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    simulate(&full, 20_000);
    let want: BTreeSet<String> = reference(&full, &WINDOWS).iter().map(|l| without_partitions(l)).collect();
    let mut broker = common::Broker::sqlite();
    let produce = ["produce", "--kafka", &broker.address, "--topic", "stop-in", "--partitions", "1"];
    // One partition: its results are the uninterrupted run's windows, partition aside.
    run(&[&produce[..], &["--input", full.to_str().unwrap()]].concat());
    let state = dir.path().join("state");
    let results = dir.path().join("results.jsonl");
    let address = broker.address.clone();
    let analyze = || {
        let mut command = bin();
        command
            .args(["analyze", "--kafka", &address, "--topic", "stop-in", "--results-topic", "stop-out"])
            .args(["--state-dir", state.to_str().unwrap(), "--checkpoint-interval", "200ms"])
            .args(["-o", results.to_str().unwrap()])
            .args(WINDOWS);
        command
    };
    let mut engine = Process::start(analyze(), dir.path(), "first");
    let windows_written =
        || std::fs::read_to_string(&results).unwrap_or_default().matches(r#""type":"window""#).count();
    common::process::wait_until("results written", Duration::from_secs(60), || windows_written() >= 20);
    broker.kill();
    // The run writes until a result waits for the broker: the result file stops growing short of
    // the end.
    let mut last = (windows_written(), Instant::now());
    while last.1.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(50));
        if windows_written() != last.0 {
            last = (windows_written(), Instant::now());
        }
    }
    assert!(last.0 < want.len(), "the kill landed before the end of the input: {} of {}", last.0, want.len());
    let (status, took) = stop(&mut engine).expect("the run ends on SIGTERM");
    let log = engine.log();
    eprintln!(
        "the results topic's broker killed: {} of {} windows written, stopped {took:?} after SIGTERM",
        last.0,
        want.len()
    );
    assert!(status.success(), "{status}: {log}");
    assert!(took < STOP_WITHIN, "stopped within 2 s of the signal, not {took:?}: {log}");
    assert!(log.contains("stopped while waiting for the Kafka broker"), "{log}");

    broker.start();
    let out = analyze().arg("--once").output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("resumed from checkpoint"), "the next run resumes: {log}");
    let got: BTreeSet<String> = results_topic(&broker, "stop-out").into_values().collect();
    assert_eq!(got.len(), want.len(), "every window once by key");
    assert!(got == want, "each window as an uninterrupted run writes it");
}
