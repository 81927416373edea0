//! MQTT in, against a real Mosquitto (Debian's, started by each test with a config of its own) and
//! an independent publisher (Python's paho-mqtt, `tests/mqtt/publish.py`):
//! - 60,000 readings at QoS 1 while the engine is `kill -9`ed twice: its windows equal those of an
//!   uninterrupted engine subscribed beside it, and the Python oracle's, each exactly once;
//! - the broker restarted mid-stream (MQTT 3.1.1 this time): nothing lost;
//! - devices' small payloads on structured topics (`--mqtt-topic-fields`), from `simulate --mqtt`:
//!   the same windows as the whole readings from a file; bad payloads rejected by reason;
//! - the bridge `kill -9`ed twice: Kafka holds every reading.

#![cfg(feature = "mqtt")]
// The bridge test also needs Kafka; builds without it keep the helpers of the others.
#![cfg_attr(not(feature = "kafka"), allow(dead_code, unused_imports))]

mod common;
#[path = "mqtt/kills.rs"]
mod kills;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::mosquitto::Mosquitto;
use common::windows::{assert_equal_to_oracle, final_windows};
use common::{bin, run, wait_timeout, Broker};
use kills::*;
use serde_json::Value;

#[test]
fn kill_9_twice_while_publishing_gives_the_uninterrupted_windows_exactly_once() {
    let _serial = common::serial();
    if let Err(failure) = kills::kill_9_twice_while_publishing(None) {
        panic!("{failure}");
    }
}

#[test]
fn a_broker_restart_mid_stream_loses_nothing() {
    let _serial = common::serial();
    let _cleanup = Cleanup;
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let input = readings(dir.path(), 30_000, 12);
    let text = std::fs::read_to_string(&input).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (first, second) = (dir.path().join("first.jsonl"), dir.path().join("second.jsonl"));
    std::fs::write(&first, lines[..15_000].join("\n") + "\n").unwrap();
    std::fs::write(&second, lines[15_000..].join("\n") + "\n").unwrap();
    let (output, state) = (dir.path().join("out.jsonl"), dir.path().join("state"));
    let args = ["--mqtt-topic", TOPIC, "--mqtt-version", "3"];
    let (engine, log) = engine(&broker, "through-restart", &output, Some(&state), &args);
    finish_publishing(publish(&broker, &first, &["--v3"]));
    // At once: the engine is still reading, and holds messages it has not acknowledged.
    broker.restart();
    finish_publishing(publish(&broker, &second, &["--v3"]));
    let expected = closed_oracle_windows(&input);
    wait_for_windows(&output, &expected);
    sigterm(engine);
    assert_equal_to_oracle(&output, &expected);
    // The restart came while messages were counted but not yet acknowledged (they wait for a
    // checkpoint): the broker sent them again, and they were recognised, not counted twice.
    let log = std::fs::read_to_string(&log).unwrap();
    let dropped: u64 = log
        .lines()
        .filter_map(|l| l.split("already_counted=").nth(1)?.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(dropped > 0, "the broker sent nothing again that had been counted:\n{log}");
}

#[test]
fn small_payloads_on_sensor_topics_give_the_windows_of_whole_readings() {
    let _serial = common::serial();
    let _cleanup = Cleanup;
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (output, reference) = (dir.path().join("out.jsonl"), dir.path().join("reference.jsonl"));
    let pattern = "sensors/{state}/{guid}";
    let stats = ["--stats-every", "200ms"];
    let fields = ["--mqtt-topic-fields", pattern, "--mqtt-dead-letter-topic", "dead"];
    let (engine, _) = engine(&broker, "devices", &output, None, &[&fields[..], &stats[..]].concat());
    // An independent subscriber to the dead-letter topics.
    let mut collector = common::python_script("mqtt/collect.py")
        .args(["127.0.0.1", &broker.port.to_string(), "dead/#", "4"])
        .stdout(Stdio::piped())
        .spawn()
        .map(started)
        .unwrap();
    let letters = common::lines_of(collector.stdout.take().unwrap());
    assert_eq!(letters.recv_timeout(PATIENCE).as_deref(), Ok("ready"));
    let simulated = ["--seed", "5", "--start", "2026-01-01T00:00:00Z", "--interval", "10ms"];
    let url = broker.url();
    run(&[&["simulate", "6000", "--mqtt", &url, "--mqtt-topic", pattern][..], &simulated[..]].concat());
    // Devices that send nonsense: each rejected for its reason, none stopping the run.
    let bad = dir.path().join("bad.txt");
    std::fs::write(
        &bad,
        "sensors/CA/dev-1\thot\nsensors/ZZ/dev-2\t70.5\nsensors/TX/dev-3\t{\"temp\":1}\nsensors/NY/dev-4\t{\"temperature\":\"1\"}\n",
    )
    .unwrap();
    finish_publishing(publish(&broker, &bad, &[]));
    // The same readings, whole, from a file.
    let file = dir.path().join("readings.jsonl");
    run(&[&["simulate", "6000", "--output", file.to_str().unwrap()][..], &simulated[..]].concat());
    let once = [
        "analyze",
        "--input",
        file.to_str().unwrap(),
        "--once",
        "--format",
        "jsonl",
        "--output",
        reference.to_str().unwrap(),
    ];
    run(&[&once[..], &WINDOWS[..]].concat());
    let expected = closed_oracle_windows(&file);
    wait_for_windows(&output, &expected);
    wait_until(
        || {
            let text = std::fs::read_to_string(&output).unwrap_or_default();
            text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|r| rejected(&r) == 4)
        },
        "the bad payloads to be counted",
    );
    sigterm(engine);
    let last_stats = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|r| r["type"] == "stats")
        .unwrap();
    let reasons = &last_stats["rejected_by_reason"];
    assert_eq!(reasons["malformed_json"], 1, "{last_stats}");
    assert_eq!(reasons["unknown_state"], 1, "{last_stats}");
    assert_eq!(reasons["missing_field"], 1, "{last_stats}");
    assert_eq!(reasons["wrong_type"], 1, "{last_stats}");
    // Each bad payload is a dead letter on the topic of its reason, its bytes as the device sent
    // them (the topic's fields are not in them).
    let status = wait_timeout(&mut collector, PATIENCE).expect("the collector finished");
    assert!(status.success(), "the dead letters did not all arrive");
    let mut dead: Vec<(String, String)> = letters
        .try_iter()
        .map(|l| l.split_once('\t').map(|(t, p)| (t.to_owned(), p.to_owned())).unwrap())
        .collect();
    dead.sort();
    let topics: Vec<&str> = dead.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        topics,
        ["dead/malformed_json", "dead/missing_field", "dead/unknown_state", "dead/wrong_type"]
    );
    assert_eq!(dead[0].1, "hot", "a payload the topic's fields cannot complete goes as it came");
    for ((_, payload), device) in dead[1..].iter().zip(["dev-3", "dev-2", "dev-4"]) {
        assert!(payload.contains(&format!("\"guid\":\"{device}\"")), "{payload}");
    }
    let (ours, theirs) = (final_windows(&output), final_windows(&reference));
    for w in &expected {
        let start = w["window_start"].as_i64().unwrap();
        assert_eq!(ours[&start].0, theirs[&start].0, "window {start}");
    }
}

fn rejected(record: &Value) -> u64 {
    if record["type"] != "stats" {
        return 0;
    }
    record["rejected_by_reason"].as_object().map_or(0, |o| o.values().filter_map(Value::as_u64).sum())
}

#[cfg(feature = "kafka")]
#[test]
fn the_bridge_killed_twice_leaves_every_reading_in_kafka() {
    let _serial = common::serial();
    let _cleanup = Cleanup;
    let mqtt = Mosquitto::start();
    let kafka = Broker::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let input = readings(dir.path(), 20_000, 13);
    let bridge = || {
        let log = std::fs::File::create(dir.path().join(format!("bridge-{}.log", next_run()))).unwrap();
        let mut cmd = bin();
        cmd.args(["bridge", "--mqtt", &mqtt.url(), "--mqtt-client-id", "bridge", "--mqtt-topic", TOPIC])
            .args(["--kafka", &kafka.address, "--topic", "readings"])
            .stdout(Stdio::null())
            .stderr(log);
        started(cmd.spawn().expect("start the bridge"))
    };
    let mut running = bridge();
    // The bridge has subscribed once the topic exists in Kafka and a moment has passed.
    std::thread::sleep(Duration::from_secs(3));
    let publisher = publish(&mqtt, &input, &["--rate", "4000"]);
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(1500));
        kill_9(&mut running);
        running = bridge();
    }
    finish_publishing(publisher);
    let sent: BTreeSet<String> =
        std::fs::read_to_string(&input).unwrap().lines().map(str::to_owned).collect();
    let mut held = BTreeSet::new();
    let deadline = Instant::now() + PATIENCE;
    while held.len() < sent.len() {
        assert!(Instant::now() < deadline, "Kafka holds {} of {} readings", held.len(), sent.len());
        std::thread::sleep(Duration::from_secs(1));
        let out = common::python("consume.py", &[&kafka.address, "readings"]);
        held = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .inspect(|m| {
                let value: Value = serde_json::from_str(m["value"].as_str().unwrap()).unwrap();
                assert_eq!(m["key"], value["guid"], "keyed by guid");
            })
            .map(|m| m["value"].as_str().unwrap().to_owned())
            .collect();
    }
    assert!(held.is_subset(&sent) && held.len() == sent.len());
    sigterm(running);
}

#[test]
fn tls_with_a_password_from_the_environment_that_is_never_logged() {
    let _serial = common::serial();
    let _cleanup = Cleanup;
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key) = common::self_signed(dir.path(), "broker");
    let secret = "s3cret-pw-8812";
    let broker = Mosquitto::start_tls(&certificate, &key, "fleet", secret);
    let url = format!("mqtts://fleet@127.0.0.1:{}", broker.port);
    let ca = certificate.to_str().unwrap();
    let (output, log) = (dir.path().join("out.jsonl"), dir.path().join("engine.log"));
    let engine = started(
        bin()
            .args([
                "analyze",
                "--mqtt",
                &url,
                "--mqtt-ca",
                ca,
                "--mqtt-client-id",
                "tls",
                "--mqtt-topic",
                TOPIC,
            ])
            .args(["--format", "jsonl", "--stats-every", "200ms", "--output", output.to_str().unwrap(), "-v"])
            .env("IOTSTREAM_MQTT_PASSWORD", secret)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_until(
        || std::fs::read_to_string(&log).unwrap_or_default().contains("subscribing"),
        "a TLS connection",
    );
    std::thread::sleep(Duration::from_millis(300));
    // The password in the URL this time.
    let publish_url = format!("mqtts://fleet:{secret}@127.0.0.1:{}", broker.port);
    let out = bin()
        .args(["simulate", "3000", "--mqtt", &publish_url, "--mqtt-ca", ca, "--mqtt-topic", TOPIC, "-v"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_until(
        || std::fs::read_to_string(&output).unwrap_or_default().contains("\"readings\":3000,"),
        "3,000 readings over TLS",
    );
    sigterm(engine);
    let logged = std::fs::read_to_string(&log).unwrap() + &String::from_utf8_lossy(&out.stderr);
    assert!(logged.contains("mqtts://fleet@127.0.0.1"), "{logged}");
    assert!(!logged.contains(secret), "the password was logged:\n{logged}");
    // A wrong password is refused by the broker, said, and retried (a broker may be fixed).
    let mut wrong = bin()
        .args(["simulate", "1", "--mqtt", &format!("mqtts://fleet:wrong@127.0.0.1:{}", broker.port)])
        .args(["--mqtt-ca", ca, "--mqtt-topic", TOPIC])
        .stderr(Stdio::piped())
        .spawn()
        .map(started)
        .unwrap();
    let refused = common::lines_of(wrong.stderr.take().unwrap());
    let line = refused.recv_timeout(Duration::from_secs(30)).expect("a log line about the refusal");
    kill_9(&mut wrong);
    assert!(
        line.contains("refused") || line.contains("NotAuthorized") || line.contains("BadUserName"),
        "{line}"
    );
    assert!(!line.contains("wrong@"), "{line}");
}

/// A mixed fleet (temperature, humidity and climate sensors, the odd field missing or null) on
/// topics that carry the site's state, the sensor and its format, each payload a flat object of
/// measurements: the same windows and the same rejections as the whole readings from a file.
#[test]
fn a_mixed_fleet_on_structured_topics_reads_as_its_whole_readings() {
    let _serial = common::serial();
    let _cleanup = Cleanup;
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (output, reference) = (dir.path().join("out.jsonl"), dir.path().join("reference.jsonl"));
    let pattern = "sites/{state}/{guid}/{format}";
    let fields = ["--mqtt-topic-fields", pattern, "--stats-every", "200ms"];
    let (engine, _) = engine(&broker, "climate", &output, None, &fields);
    let simulated =
        ["--profile", "climate", "--seed", "11", "--start", "2026-01-01T00:00:00Z", "--interval", "10ms"];
    let url = broker.url();
    run(&[&["simulate", "4000", "--mqtt", &url, "--mqtt-topic", pattern][..], &simulated[..]].concat());
    let file = dir.path().join("readings.jsonl");
    run(&[&["simulate", "4000", "--output", file.to_str().unwrap()][..], &simulated[..]].concat());
    let once = ["analyze", "--input", file.to_str().unwrap(), "--once", "--format", "jsonl"];
    run(&[&once[..], &["--output", reference.to_str().unwrap()], &WINDOWS[..]].concat());
    // The windows event time closes once every reading is in: those ending a second (the
    // allowed delay) before the last reading's time.
    let theirs = final_windows(&reference);
    let last_time = theirs.values().map(|(_, w)| w.window_end.as_micros()).max().unwrap();
    let closed: Vec<i64> = theirs
        .iter()
        .filter(|(_, (_, w))| w.window_end.as_micros() < last_time)
        .map(|(start, _)| *start)
        .collect();
    assert!(closed.len() >= 3, "too few windows to compare: {closed:?}");
    let last = *closed.last().unwrap();
    wait_until(|| final_windows(&output).contains_key(&last), "the last closed window");
    let rejections = |path: &Path| {
        let text = std::fs::read_to_string(path).unwrap();
        let mut stats = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["type"] == "stats");
        stats.next_back().map(|s| s["rejected_by_reason"].clone())
    };
    let expected = rejections(&reference);
    wait_until(|| rejections(&output) == expected, "the same rejections as the file's");
    sigterm(engine);
    let ours = final_windows(&output);
    for start in &closed {
        assert_eq!(ours[start].0, theirs[start].0, "window {start}");
    }
    let expected = expected.unwrap();
    assert!(expected.as_object().unwrap().values().any(|n| n.as_u64() > Some(0)), "{expected}");
}
