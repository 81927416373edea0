//! SQL queries over MQTT (a Mosquitto broker each test starts, see `common::mosquitto`): a
//! reading rejected for one query alone is published to `TOPIC/REASON/QUERY`, the others' rows
//! are as from a file. Published and collected with an independent client (Python's paho-mqtt).

#![cfg(feature = "mqtt")]

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::mosquitto::Mosquitto;
use common::{bin, wait_timeout};

const PATIENCE: Duration = Duration::from_secs(60);

/// Kills a child process when dropped (a failed test must not leave it running).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_until(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_reading_rejected_for_one_query_goes_to_the_dead_letter_topic_of_that_query() {
    let _serial = common::serial();
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (output, log) = (dir.path().join("out.jsonl"), dir.path().join("engine.log"));
    let engine = bin()
        .args(["analyze", "--mqtt", &broker.url(), "--mqtt-client-id", "queries", "--mqtt-topic", "fleet/readings"])
        .args(["--mqtt-dead-letter-topic", "dead", "--format", "jsonl", "--output", output.to_str().unwrap()])
        .args(["--max-delay", "1s"])
        .args(["--query", "t=SELECT max(payload.data.temperature) AS t FROM readings GROUP BY tumble(interval '10 seconds')"])
        .args(["--query", "n=SELECT count(*) AS n FROM readings GROUP BY tumble(interval '10 seconds')"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut engine = Running(engine);
    wait_until(
        || std::fs::read_to_string(&log).unwrap_or_default().contains("subscribing"),
        "the engine to subscribe",
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut collector = common::python_script("mqtt/collect.py")
        .args(["127.0.0.1", &broker.port.to_string(), "dead/#", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let letters = common::lines_of(collector.stdout.take().unwrap());
    let mut collector = Running(collector);
    assert_eq!(letters.recv_timeout(PATIENCE).as_deref(), Ok("ready"));

    let reading = |second: u32, temperature: &str| {
        format!(
            r#"{{"guid":"g","destination":"d","state":"CA","eventTime":"2026-01-01T00:00:{second:02}Z","payload":{{"format":"f","data":{{"temperature":{temperature}}}}}}}"#
        )
    };
    let bad = reading(2, "\"hot\"");
    let lines = [reading(1, "50"), bad.clone(), reading(3, "70"), reading(30, "1")];
    let file = dir.path().join("readings.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let mut publisher = common::python_script("mqtt/publish.py")
        .args(["127.0.0.1", &broker.port.to_string(), "fleet/readings", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut publisher, PATIENCE).expect("the publisher finished");
    assert!(status.success(), "the publisher failed (paho-mqtt?)");

    let status = wait_timeout(&mut collector.0, PATIENCE).expect("the collector finished");
    assert!(status.success(), "no dead letter arrived");
    let dead: Vec<String> = letters.try_iter().collect();
    assert_eq!(dead, [format!("dead/wrong_type/t\t{bad}")]);
    wait_until(
        || std::fs::read_to_string(&output).unwrap_or_default().contains(r#""query":"n""#),
        "the first window's rows",
    );
    let _ = std::process::Command::new("kill").arg("-TERM").arg(engine.0.id().to_string()).status();
    let _ = wait_timeout(&mut engine.0, PATIENCE);
    let text = std::fs::read_to_string(&output).unwrap();
    assert!(text.contains(r#""revision":0,"t":70.0}"#), "{text}");
    assert!(text.contains(r#""revision":0,"n":3}"#), "{text}");
}

#[test]
fn queries_read_the_fields_a_topic_pattern_gives_flat_payloads() {
    let _serial = common::serial();
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (output, log) = (dir.path().join("out.jsonl"), dir.path().join("engine.log"));
    let engine = bin()
        .args(["analyze", "--mqtt", &broker.url(), "--mqtt-client-id", "fields"])
        .args(["--mqtt-topic-fields", "sites/{state}/{guid}/{format}"])
        .args(["--format", "jsonl", "--output", output.to_str().unwrap(), "--max-delay", "1s"])
        .args([
            "--query",
            "h=SELECT payload.format AS format, state, count(*) AS n, avg(payload.data.humidity) AS humidity, \
             min(payload.data.battery) AS battery FROM readings \
             GROUP BY tumble(interval '10 seconds'), payload.format, state",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut engine = Running(engine);
    wait_until(
        || std::fs::read_to_string(&log).unwrap_or_default().contains("subscribing"),
        "the engine to subscribe",
    );
    std::thread::sleep(Duration::from_millis(300));
    let at = |second: u32| format!("2026-01-01T00:00:{second:02}Z");
    let lines = [
        format!("sites/CA/dev-1/humidity\t{{\"humidity\":40,\"eventTime\":\"{}\"}}", at(1)),
        format!("sites/CA/dev-2/humidity\t{{\"humidity\":50,\"battery\":80,\"eventTime\":\"{}\"}}", at(2)),
        format!("sites/TX/dev-3/climate\t{{\"humidity\":20,\"battery\":10,\"eventTime\":\"{}\"}}", at(3)),
        format!("sites/TX/dev-3/climate\t{{\"humidity\":30,\"eventTime\":\"{}\"}}", at(30)),
    ];
    let file = dir.path().join("flat.txt");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let mut publisher = common::python_script("mqtt/publish.py")
        .args(["127.0.0.1", &broker.port.to_string(), "unused", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut publisher, PATIENCE).expect("the publisher finished");
    assert!(status.success(), "the publisher failed (paho-mqtt?)");
    wait_until(
        || std::fs::read_to_string(&output).unwrap_or_default().matches(r#""query":"h""#).count() >= 2,
        "the first window's rows",
    );
    let _ = std::process::Command::new("kill").arg("-TERM").arg(engine.0.id().to_string()).status();
    let _ = wait_timeout(&mut engine.0, PATIENCE);
    let text = std::fs::read_to_string(&output).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with(r#"{"query":"h""#)).collect();
    assert!(
        rows[0].ends_with(r#""format":"climate","state":"TX","n":1,"humidity":20.0,"battery":10.0}"#),
        "{rows:#?}"
    );
    assert!(
        rows[1].ends_with(r#""format":"humidity","state":"CA","n":2,"humidity":45.0,"battery":80.0}"#),
        "{rows:#?}"
    );
}
