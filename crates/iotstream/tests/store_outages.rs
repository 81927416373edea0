//! A PostgreSQL outage under a live input that acknowledges (docs/STORE.md, docs/DURABILITY.md):
//! while the store cannot take results, nothing is acknowledged past what it holds. Kafka: the
//! group's committed offsets (read by confluent-kafka, the independent client) never pass the
//! first reading of a window the store does not hold; the engine is then killed mid-outage, and a
//! run from the committed offsets leaves the store holding exactly what an uninterrupted run
//! writes. MQTT (QoS 1, `--state-dir`): what the engine received during the outage was not
//! acknowledged (PUBACK), so after a `kill -9` mid-outage the broker sends it again, and the store
//! ends up exactly as an uninterrupted run leaves it.

mod common;
#[path = "store_outages/kafka.rs"]
mod kafka;

use std::time::Duration;

use common::postgres::{self, Postgres, PASSWORD};
use common::process::Process;
use common::{bin, history, reference, without_partitions};
use kafka::{simulate, WINDOWS};

/// Kafka input into PostgreSQL, the database stopped mid-run: the committed offset stays within
/// what the store holds while more input is read; after a `kill -9` during the outage, a run
/// from the committed offsets completes the store exactly.
#[test]
fn kafka_offsets_are_not_committed_past_what_postgresql_holds() {
    if postgres::skip("Kafka input into a PostgreSQL outage") {
        return;
    }
    let _serial = common::serial();
    if let Err(failure) = kafka::kafka_offsets_within_the_store(None) {
        panic!("{failure}");
    }
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
