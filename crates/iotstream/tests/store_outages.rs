//! A PostgreSQL outage under a live input that acknowledges (docs/STORE.md, docs/DURABILITY.md):
//! while the store cannot take results, nothing is acknowledged past what it holds. Kafka: the
//! group's committed offsets (read by confluent-kafka, the independent client) never pass the
//! first reading of a window the store does not hold; the engine is then killed mid-outage, and a
//! run from the committed offsets leaves the store holding exactly what an uninterrupted run
//! writes. MQTT (QoS 1, `--state-dir`): what the engine received during the outage was not
//! acknowledged (PUBACK), so after a `kill -9` mid-outage the broker sends it again, and the store
//! ends up exactly as an uninterrupted run leaves it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::postgres::{self, Postgres, PASSWORD};
use common::process::Process;
use common::{bin, history, reference, run, without_partitions, Broker};

/// Event-time windows of one second over readings 10 ms apart, in order: window `w` holds the
/// readings at offsets `100 w .. 100 w + 100` of a one-partition topic.
const WINDOWS: [&str; 8] = ["--time", "event", "--window", "1s", "--max-delay", "1s", "--format", "jsonl"];
const PER_WINDOW: u64 = 100;

/// `count` readings 10 ms apart, in order.
fn simulate(path: &Path, count: u64) {
    let count = count.to_string();
    let args = ["simulate", &count, "--seed", "31", "--start", "2016-11-16T13:00:00Z", "--interval", "10ms"];
    run(&[&args[..], &["--output", path.to_str().unwrap()]].concat());
}

/// Sends `lines` to `topic`, with `produce` (one partition).
fn produce(broker: &Broker, topic: &str, dir: &Path, lines: &[&str]) {
    let chunk = dir.join("chunk.jsonl");
    std::fs::write(&chunk, lines.join("\n") + "\n").unwrap();
    let args = ["produce", "--kafka", &broker.address, "--topic", topic, "--partitions", "1", "--input"];
    run(&[&args[..], &[chunk.to_str().unwrap()]].concat());
}

/// The offset `group` has committed on partition 0 of `topic` (0 if none).
fn committed(broker: &Broker, topic: &str, group: &str) -> u64 {
    let out = common::python("committed.py", &[&broker.address, topic, group]);
    let offsets: serde_json::Value = serde_json::from_slice(&out.stdout).expect("committed.py's JSON");
    offsets["0"].as_u64().unwrap_or(0)
}

/// Kafka input into PostgreSQL, the database stopped mid-run: the committed offset stays within
/// what the store holds while more input is read; after a `kill -9` during the outage, a run
/// from the committed offsets completes the store exactly.
#[test]
fn kafka_offsets_are_not_committed_past_what_postgresql_holds() {
    if postgres::skip("Kafka input into a PostgreSQL outage") {
        return;
    }
    let _serial = common::serial();
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
    assert!(
        during <= held * PER_WINDOW,
        "offset {during} committed, past the {held} windows ({} readings) the store holds",
        held * PER_WINDOW
    );

    for chunk in chunks {
        produce(&broker, topic, dir.path(), chunk);
    }
    let out = analyze(true).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The topic's results name their partition; the file's have none.
    let got: Vec<String> = history(&url).iter().map(|l| without_partitions(l)).collect();
    let expected: Vec<String> = expected.iter().map(|l| without_partitions(l)).collect();
    let differ: Vec<(&String, &String)> = got.iter().zip(&expected).filter(|(a, b)| a != b).collect();
    assert!(got == expected, "{} windows, {} expected; differing: {differ:#?}", got.len(), expected.len());
}

/// MQTT input (QoS 1, a state directory) into PostgreSQL, the database stopped mid-stream and the
/// engine killed while the store retries: the restarted engine is sent again what the killed one
/// had received but not acknowledged, and the store holds every closed window exactly as an
/// uninterrupted run writes it.
#[cfg(feature = "mqtt")]
#[test]
fn mqtt_messages_are_not_acknowledged_past_what_postgresql_holds() {
    if postgres::skip("MQTT input into a PostgreSQL outage") {
        return;
    }
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    simulate(&input, 6000);
    let broker = common::mosquitto::Mosquitto::start();
    let server = Postgres::start();
    server.create_database("pubacks");
    let url = server.url("pubacks");
    let state = dir.path().join("state");
    let topic = "outage/readings";
    let engine = |name: &str| {
        let mut command = bin();
        command.args([
            "analyze",
            "--mqtt",
            &broker.url(),
            "--mqtt-client-id",
            "outage",
            "--mqtt-topic",
            topic,
        ]);
        command.args([
            "--store",
            &url,
            "--state-dir",
            state.to_str().unwrap(),
            "--checkpoint-interval",
            "200ms",
        ]);
        command.args(WINDOWS).env("PGPASSWORD", PASSWORD);
        let process = Process::start(command, dir.path(), name);
        process.wait_log("subscribing", Duration::from_secs(30));
        // The SUBACK follows the SUBSCRIBE at once on loopback.
        std::thread::sleep(Duration::from_millis(300));
        process
    };
    let mut first = engine("first");
    let publisher = common::python_script("mqtt/publish.py")
        .args(["127.0.0.1", &broker.port.to_string(), topic, input.to_str().unwrap(), "--rate", "1000"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("python3 with paho-mqtt (scripts/test installs it)");
    let mut publisher = common::process::Reaped(publisher);
    common::process::wait_until("5 windows stored", Duration::from_secs(60), || {
        server.windows("pubacks") >= 5
    });
    server.stop();
    first.wait_log("the store is unavailable", Duration::from_secs(60));
    // Readings keep coming while the store is down; the engine receives some before its channel
    // fills, and must acknowledge none of them.
    std::thread::sleep(Duration::from_millis(500));
    first.kill_9();
    server.start_again();
    let second = engine("second");
    let status =
        common::wait_timeout(&mut publisher.0, Duration::from_secs(120)).expect("the publisher ends");
    assert!(status.success(), "the publisher failed");
    let closed = common::windows::closed_oracle_windows(&input, 1, 1_000_000).len();
    common::process::wait_until("every closed window stored", Duration::from_secs(60), || {
        server.windows("pubacks") >= closed as u64
    });
    let log = second.log();
    assert!(log.contains("resumed from checkpoint"), "{log}");
    assert!(
        log.contains("the broker is sending again"),
        "what the killed run received was not acknowledged: {log}"
    );
    let got: Vec<String> = history(&url).iter().map(|l| without_partitions(l)).collect();
    let expected: Vec<String> =
        reference(&input, &WINDOWS).iter().take(closed).map(|l| without_partitions(l)).collect();
    assert_eq!(got.len(), closed, "the closed windows, once each");
    assert!(got == expected, "the store holds what an uninterrupted run writes");
}
