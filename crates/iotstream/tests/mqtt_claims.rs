//! docs/MQTT.md's claims that had no test, against a real Mosquitto (started per test) with an
//! independent publisher (Python's paho-mqtt, `tests/mqtt/publish.py`):
//! - QoS 0 and QoS 2 publishers, read by the QoS 1 subscription with `--state-dir`: each reading
//!   counted once, a `kill -9` during the QoS 2 part included;
//! - without `--state-dir`, a network cut and a broker restart: what the broker sends again and
//!   the engine already has is recognised, not counted twice;
//! - a broker restarted without persistence: the lost session is logged as an error, counted in
//!   `iotstream_mqtt_sessions_lost_total`, and the topics subscribed to again;
//! - `mqtts://` with `--mqtt-ca` of another CA: refused, said in the log, nothing counted;
//! - the bridge with `--mqtt-topic-fields`: small payloads on per-sensor topics arrive in Kafka as
//!   whole readings keyed by guid (read back with Python's confluent-kafka).

#![cfg(all(feature = "mqtt", feature = "http"))]
// The bridge test also needs Kafka; builds without it keep the helpers of the others.
#![cfg_attr(not(feature = "kafka"), allow(dead_code, unused_imports))]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::mosquitto::Mosquitto;
use common::process::{wait_until, Process, Reaped};
use common::proxy::Proxy;
use common::windows::{assert_equal_to_oracle, closed_oracle_windows, final_windows};
use common::{bin, counter, get, run, serial, wait_timeout};
use serde_json::Value;

const TOPIC: &str = "fleet/readings";
/// How long anything may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(120);

/// `count` readings 10 ms of event time apart, from 2026-01-01, in `dir/NAME.jsonl`.
fn readings(dir: &Path, name: &str, count: usize, seed: u64) -> PathBuf {
    let path = dir.join(format!("{name}.jsonl"));
    let (count, seed) = (count.to_string(), seed.to_string());
    let args = ["simulate", &count, "--seed", &seed, "--start", "2026-01-01T00:00:00Z", "--interval", "10ms"];
    run(&[&args[..], &["--output", path.to_str().unwrap()]].concat());
    path
}

/// `file` cut into `parts` files of consecutive lines, `NAME-N.jsonl` beside it.
fn split(file: &Path, parts: usize) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let size = lines.len().div_ceil(parts);
    lines
        .chunks(size)
        .enumerate()
        .map(|(n, chunk)| {
            let path = file.with_extension(format!("{n}.jsonl"));
            std::fs::write(&path, chunk.join("\n") + "\n").unwrap();
            path
        })
        .collect()
}

/// An engine reading `url` as `client_id` into `output` (event-time windows of 10 s, the
/// dashboard on a free port; its log `dir/NAME.log`), with a state directory if given.
fn engine(
    url: &str,
    client_id: &str,
    output: &Path,
    name: &str,
    state: Option<&Path>,
    extra: &[&str],
) -> Process {
    let mut command = bin();
    command.args(["analyze", "--mqtt", url, "--mqtt-client-id", client_id, "--mqtt-topic", TOPIC]);
    command.arg("--output").arg(output);
    command.args(["--time", "event", "--window", "10s", "--max-delay", "1s", "--format", "jsonl"]);
    command.args(["--checkpoint-interval", "1s", "--http", "127.0.0.1:0"]).args(extra);
    if let Some(state) = state {
        command.arg("--state-dir").arg(state);
    }
    Process::start(command, output.parent().unwrap(), name)
}

/// Waits until `client_id` has subscribed `times` times since the broker's first start.
fn subscribed(broker: &Mosquitto, client_id: &str, times: usize) {
    wait_until(&format!("{client_id} subscribed"), PATIENCE, || broker.subscriptions(client_id) >= times);
}

/// Publishes every line of `file` to `broker` with paho, in the background.
fn publish(broker: &Mosquitto, file: &Path, extra: &[&str]) -> Reaped {
    let child = common::python_script("mqtt/publish.py")
        .args(["127.0.0.1", &broker.port.to_string(), TOPIC, file.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 with paho-mqtt (scripts/test installs it)");
    Reaped(child)
}

fn finish(mut publisher: Reaped) {
    let status = wait_timeout(&mut publisher.0, PATIENCE).expect("the publisher finished");
    assert!(status.success(), "the publisher failed (is paho-mqtt installed? scripts/test installs it)");
}

/// A counter of the engine's `/metrics`.
fn metric(addr: &str, name: &str) -> f64 {
    counter(&get(addr, "/metrics", &[]).1, name)
}

fn stop(engine: &mut Process) {
    let status = engine.sigterm(PATIENCE).expect("the engine stopped");
    assert!(status.success(), "the engine exited with {status}:\n{}", engine.log());
}

/// Waits until the engine's output holds the last of `expected`'s windows.
fn wait_for_windows(output: &Path, expected: &[Value]) {
    let last = expected.last().unwrap()["window_start"].as_i64().unwrap();
    wait_until("the last closed window", PATIENCE, || final_windows(output).contains_key(&last));
}

#[test]
fn qos_0_and_qos_2_publishers_are_counted_once_through_a_kill_9() {
    let _serial = serial();
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let input = readings(dir.path(), "readings", 20_000, 21);
    let halves = split(&input, 2);
    let (output, state) = (dir.path().join("results.jsonl"), dir.path().join("state"));
    let mut first = engine(&broker.url(), "qos", &output, "first", Some(&state), &[]);
    subscribed(&broker, "qos", 1);
    let addr = first.dashboard();
    finish(publish(&broker, &halves[0], &["--qos", "0", "--rate", "5000"]));
    // Every QoS 0 reading counted, and a checkpoint taken after that holds them all (they are
    // never sent again: a kill before it would lose them, as MQTT's QoS 0 allows).
    wait_until("the QoS 0 readings", PATIENCE, || metric(&addr, "iotstream_readings_total") == 10_000.0);
    let checkpoints = metric(&addr, "iotstream_checkpoints_total");
    wait_until("a checkpoint after them", PATIENCE, || {
        metric(&addr, "iotstream_checkpoints_total") > checkpoints
    });
    let publisher = publish(&broker, &halves[1], &["--qos", "2", "--rate", "4000"]);
    // The kill lands while QoS 2 readings come in: some windows of the second half are out.
    wait_until("windows of the QoS 2 half", PATIENCE, || final_windows(&output).len() >= 12);
    first.kill_9();
    let mut second = engine(&broker.url(), "qos", &output, "second", Some(&state), &[]);
    finish(publisher);
    let expected = closed_oracle_windows(&input, 10, 1_000_000);
    assert_eq!(expected.len(), 19);
    wait_for_windows(&output, &expected);
    stop(&mut second);
    // Each window once (final_windows says so), and as the oracle has it.
    assert_equal_to_oracle(&output, &expected);
    let log = second.log();
    assert!(log.contains("resumed from checkpoint"), "{log}");
    assert!(log.contains("the broker is sending again"), "nothing sent again after the kill:\n{log}");
}

/// The already-counted redeliveries the engine's log reports, one number per reconnection.
fn recognised(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains("messages sent again by the broker"))
        .filter_map(|l| l.split("already_counted=").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn without_a_state_dir_a_network_cut_and_a_broker_restart_count_nothing_twice() {
    let _serial = serial();
    let mut broker = Mosquitto::start();
    let proxy = Proxy::start(broker.port);
    let dir = tempfile::tempdir().unwrap();
    let input = readings(dir.path(), "readings", 30_000, 22);
    let thirds = split(&input, 3);
    let output = dir.path().join("results.jsonl");
    // The engine reaches the broker through the proxy; the publisher goes to the broker itself.
    let url = format!("mqtt://127.0.0.1:{}", proxy.port);
    let mut engine = engine(&url, "no-state", &output, "engine", None, &[]);
    subscribed(&broker, "no-state", 1);
    // Each fault comes once the engine has read a third (the windows it closes are out) and
    // holds the readings of the windows still open: counted, not yet acknowledged.
    for (n, third) in thirds.iter().enumerate() {
        finish(publish(&broker, third, &[]));
        let so_far: Vec<&str> = thirds[..=n].iter().map(|p| p.to_str().unwrap()).collect();
        let read = dir.path().join(format!("read-{n}.jsonl"));
        let text: String = so_far.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
        std::fs::write(&read, text).unwrap();
        wait_for_windows(&output, &closed_oracle_windows(&read, 10, 1_000_000));
        match n {
            0 => assert!(proxy.cut() > 0, "no connection to cut"),
            1 => broker.restart(),
            _ => {}
        }
    }
    stop(&mut engine);
    let expected = closed_oracle_windows(&input, 10, 1_000_000);
    assert_eq!(expected.len(), 29);
    assert_equal_to_oracle(&output, &expected);
    // The broker sent again, after each reconnection, messages the engine had counted: they were
    // recognised (and the windows above show they were not counted twice).
    let log = engine.log();
    let dropped = recognised(&log);
    assert!(dropped.len() >= 2 && dropped.iter().all(|&n| n > 0), "{dropped:?}\n{log}");
}

#[test]
fn a_lost_session_is_logged_counted_and_subscribed_again() {
    let _serial = serial();
    let mut broker = Mosquitto::start_forgetful();
    let dir = tempfile::tempdir().unwrap();
    let input = readings(dir.path(), "readings", 4_000, 23);
    let halves = split(&input, 2);
    let output = dir.path().join("results.jsonl");
    let mut engine = engine(&broker.url(), "forgotten", &output, "engine", None, &[]);
    subscribed(&broker, "forgotten", 1);
    let addr = engine.dashboard();
    finish(publish(&broker, &halves[0], &[]));
    wait_until("the first half", PATIENCE, || metric(&addr, "iotstream_readings_total") == 2_000.0);
    assert_eq!(metric(&addr, "iotstream_mqtt_sessions_lost_total"), 0.0);
    // Without persistence, the restarted broker has no session for the engine.
    broker.restart();
    let log = engine.wait_log("has no session for this client any more", PATIENCE);
    assert!(
        log.lines().any(|l| l.contains("ERROR") && l.contains("no session for this client")),
        "not logged as an error:\n{log}"
    );
    subscribed(&broker, "forgotten", 2);
    wait_until("the loss counted", PATIENCE, || metric(&addr, "iotstream_mqtt_sessions_lost_total") == 1.0);
    // Subscribed again: what is published now is read.
    finish(publish(&broker, &halves[1], &[]));
    wait_until("the second half", PATIENCE, || metric(&addr, "iotstream_readings_total") == 4_000.0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(metric(&addr, "iotstream_readings_total"), 4_000.0, "nothing counted twice");
    assert_eq!(metric(&addr, "iotstream_mqtt_sessions_lost_total"), 1.0);
    stop(&mut engine);
}

/// The last stats record's reading count in an engine's output.
fn stats_readings(output: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(output).unwrap_or_default();
    let stats =
        text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).rfind(|r| r["type"] == "stats");
    stats?["readings"].as_u64()
}

#[test]
fn a_broker_certificate_from_another_ca_is_refused_and_said() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key) = common::self_signed(dir.path(), "broker");
    let (other, _) = common::self_signed(dir.path(), "other");
    let broker = Mosquitto::start_tls(&certificate, &key, "fleet", "pw-1234");
    let url = format!("mqtts://fleet:pw-1234@127.0.0.1:{}", broker.port);
    let tls = |ca: &Path, client: &str| {
        let output = dir.path().join(format!("{client}.jsonl"));
        let extra = ["--mqtt-ca", ca.to_str().unwrap(), "--stats-every", "200ms"];
        (engine(&url, client, &output, client, None, &extra), output)
    };
    let (mut trusted, trusted_out) = tls(&certificate, "right-ca");
    let (mut wrong, wrong_out) = tls(&other, "wrong-ca");
    subscribed(&broker, "right-ca", 1);
    let ca = certificate.to_str().unwrap();
    run(&["simulate", "500", "--mqtt", &url, "--mqtt-ca", ca, "--mqtt-topic", TOPIC]);
    wait_until("the trusted engine's readings", PATIENCE, || stats_readings(&trusted_out) == Some(500));
    // The other engine: the connection refused (the certificate is not from its CA), said in its
    // log at the default level, and nothing counted.
    let log = wrong.wait_log("certificate verify failed", Duration::from_secs(30));
    assert!(log.lines().any(|l| l.contains("WARN") && l.contains("certificate verify failed")), "{log}");
    wait_until("a stats record of the refused engine", PATIENCE, || stats_readings(&wrong_out).is_some());
    assert_eq!(stats_readings(&wrong_out), Some(0));
    assert_eq!(broker.subscriptions("wrong-ca"), 0);
    assert!(broker.log().contains("unknown ca"), "{}", broker.log());
    stop(&mut wrong);
    stop(&mut trusted);
}

/// (guid, state, event time, temperature) of a whole reading.
fn fields_of(reading: &Value) -> (String, String, String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let temperature = reading["payload"]["data"]["temperature"].as_f64().map(|t| format!("{t}"));
    (
        text(&reading["guid"]),
        text(&reading["state"]),
        text(&reading["eventTime"]),
        temperature.unwrap_or_default(),
    )
}

#[cfg(feature = "kafka")]
#[test]
fn the_bridge_turns_small_payloads_on_sensor_topics_into_whole_readings_keyed_by_guid() {
    let _serial = serial();
    let mqtt = Mosquitto::start();
    let kafka = common::Broker::memory();
    let dir = tempfile::tempdir().unwrap();
    let input = readings(dir.path(), "readings", 5_000, 24);
    // What devices send: each reading's temperature and time, on its sensor's topic.
    let whole: Vec<Value> =
        std::fs::read_to_string(&input).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let small: String = whole
        .iter()
        .map(|r| {
            let payload = serde_json::json!({
                "temperature": r["payload"]["data"]["temperature"], "eventTime": r["eventTime"]
            });
            format!("sensors/{}/{}\t{payload}\n", r["state"].as_str().unwrap(), r["guid"].as_str().unwrap())
        })
        .collect();
    let devices = dir.path().join("devices.txt");
    std::fs::write(&devices, small).unwrap();
    let mut command = bin();
    command.args(["bridge", "--mqtt", &mqtt.url(), "--mqtt-client-id", "bridge"]);
    command.args(["--mqtt-topic-fields", "sensors/{state}/{guid}"]);
    command.args(["--kafka", &kafka.address, "--topic", "readings", "--partitions", "3"]);
    let mut bridge = Process::start(command, dir.path(), "bridge");
    subscribed(&mqtt, "bridge", 1);
    finish(publish(&mqtt, &devices, &[]));
    let mut held = Vec::new();
    wait_until("every reading in Kafka", PATIENCE, || {
        held = consume_all(&kafka, "readings");
        held.len() >= whole.len()
    });
    stop(&mut bridge);
    // Whole readings in the seed's format, each once, keyed by guid; a sensor's in one partition.
    let mut partitions: BTreeMap<String, i64> = BTreeMap::new();
    let mut got: Vec<_> = held
        .iter()
        .map(|m| {
            let reading: Value = serde_json::from_str(m["value"].as_str().unwrap()).unwrap();
            assert!(reading["guid"].is_string() && reading["payload"]["data"].is_object(), "not whole: {m}");
            assert_eq!(m["key"], reading["guid"], "{m}");
            let partition = m["partition"].as_i64().unwrap();
            let guid = reading["guid"].as_str().unwrap().to_owned();
            assert_eq!(*partitions.entry(guid).or_insert(partition), partition, "{m}");
            fields_of(&reading)
        })
        .collect();
    let mut want: Vec<_> = whole.iter().map(fields_of).collect();
    got.sort();
    want.sort();
    assert!(
        got == want,
        "Kafka holds {} readings, {} sent; first difference at {:?}",
        got.len(),
        want.len(),
        got.iter().zip(&want).position(|(a, b)| a != b)
    );
    assert!(partitions.values().collect::<std::collections::BTreeSet<_>>().len() > 1, "one partition only");
}

/// Every message of `topic`, read by the independent client.
#[cfg(feature = "kafka")]
fn consume_all(kafka: &common::Broker, topic: &str) -> Vec<Value> {
    let out = common::python("consume.py", &[&kafka.address, topic]);
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}
