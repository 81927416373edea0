//! Kafka end to end on a real broker (Tansu, started per test by `scripts/kafka-broker.sh` on a
//! free port): producing, consuming as a group, `--once`, results and dead-letter topics, and
//! broker and engine crashes. An independent client (Python's confluent-kafka) produces and reads
//! where it matters, so that our producer is not only tested against our consumer.
//!
//! The tests run one at a time (they are timing-sensitive on a 2-core machine).

#![cfg(feature = "kafka")]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, python, run, serial, Broker};

use iotstream_engine::WindowResult;
use serde_json::Value;

fn results(text: &[u8]) -> Vec<WindowResult> {
    String::from_utf8_lossy(text).lines().map(|l| serde_json::from_str(l).expect("jsonl result")).collect()
}

/// What must agree between two runs over the same readings (not times, nor partitions).
fn analyses(result: &WindowResult) -> Value {
    let mut value = serde_json::to_value(result).unwrap();
    let object = value.as_object_mut().unwrap();
    for field in ["window_start", "window_end", "partitions"] {
        object.remove(field);
    }
    value
}

fn once_over_file(path: &Path) -> WindowResult {
    let out = run(&["analyze", "--input", path.to_str().unwrap(), "--once", "--format", "jsonl"]);
    results(&out.stdout).remove(0)
}

fn once_over_topic(broker: &Broker, topic: &str, extra: &[&str]) -> WindowResult {
    let mut args =
        vec!["analyze", "--kafka", &broker.address, "--topic", topic, "--once", "--format", "jsonl"];
    args.extend_from_slice(extra);
    let out = run(&args);
    let mut all = results(&out.stdout);
    assert_eq!(all.len(), 1, "--once emits exactly one result");
    all.remove(0)
}

fn simulate_args<'a>(count: &'a str, seed: &'a str) -> Vec<&'a str> {
    vec!["simulate", count, "--seed", seed, "--start", "2016-11-16T13:26:39Z", "--interval", "10ms"]
}

#[test]
fn simulate_to_kafka_then_once_equals_the_file_path() {
    let _serial = serial();
    let broker = Broker::memory();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("readings.jsonl");
    let mut to_file = simulate_args("200000", "5");
    to_file.extend(["--output", file.to_str().unwrap()]);
    run(&to_file);
    let mut to_kafka = simulate_args("200000", "5");
    to_kafka.extend(["--kafka", &broker.address, "--topic", "readings", "--partitions", "4"]);
    run(&to_kafka);

    // Parsed on three threads (partitions' messages spread over them), committed in order.
    let from_kafka = once_over_topic(&broker, "readings", &["--group", "g1", "--threads", "3"]);
    assert_eq!(from_kafka.messages, 200_000);
    assert_eq!(analyses(&from_kafka), analyses(&once_over_file(&file)));
    assert_eq!(from_kafka.partitions, Some(vec![0, 1, 2, 3]));

    // The group committed its offsets: a second --once run from committed has nothing left.
    let again = once_over_topic(&broker, "readings", &["--group", "g1"]);
    assert_eq!(again.messages, 0);
    // --from earliest reads everything again, whatever was committed.
    // And on one thread: the same answer.
    let earliest =
        once_over_topic(&broker, "readings", &["--group", "g1", "--from", "earliest", "--threads", "1"]);
    assert_eq!(earliest.messages, 200_000);
    assert_eq!(analyses(&earliest), analyses(&from_kafka));
}

/// Event time over a topic, late readings and rejected messages included, gives the same bytes on
/// one parsing thread and on three (readings parsed on the threads, counted in poll order).
#[test]
fn event_time_over_kafka_is_the_same_on_any_number_of_threads() {
    let _serial = serial();
    let broker = Broker::memory();
    let mut to_kafka = simulate_args("100000", "9");
    to_kafka.extend(["--disorder", "2s", "--late-ratio", "0.01"]);
    to_kafka.extend(["--kafka", &broker.address, "--topic", "late", "--partitions", "3"]);
    run(&to_kafka);
    let event = |threads: &str| {
        let args = [
            "analyze",
            "--kafka",
            &broker.address,
            "--topic",
            "late",
            "--once",
            "--format",
            "jsonl",
            "--from",
            "earliest",
            "--group",
            "g",
            "--time",
            "event",
            "--window",
            "10s",
            "--max-delay",
            "500ms",
            "--threads",
            threads,
        ];
        let out = run(&args);
        // Stats records carry the wall-clock time they were written; everything else must match.
        let text = String::from_utf8(out.stdout).unwrap();
        let stable: Vec<String> = text
            .lines()
            .map(|line| {
                let mut value: Value = serde_json::from_str(line).unwrap();
                value.as_object_mut().unwrap().remove("at");
                value.to_string()
            })
            .collect();
        stable
    };
    let one = event("1");
    assert!(one.iter().any(|line| line.contains("\"late\":") && !line.contains("\"late\":0")), "{one:?}");
    assert_eq!(event("3"), one);
}

#[test]
fn an_independent_producer_gives_the_spark_answer() {
    let _serial = serial();
    let broker = Broker::memory();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/golden/seed2016_10k/input.jsonl");
    run(&[
        "produce",
        "--kafka",
        &broker.address,
        "--topic",
        "seed",
        "--input",
        "/dev/null",
        "--partitions",
        "3",
    ]);
    python("produce.py", &[&broker.address, "seed", fixture.to_str().unwrap()]);
    let from_kafka = once_over_topic(&broker, "seed", &[]);
    assert_eq!(from_kafka.messages, 10_000);
    assert_eq!(from_kafka.sensors, 2089);
    assert_eq!(analyses(&from_kafka), analyses(&once_over_file(&fixture)));
}

#[test]
fn produce_sends_lines_keyed_by_guid_and_dead_letters_get_exactly_the_bad_ones() {
    let _serial = serial();
    let broker = Broker::memory();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mixed.jsonl");
    let good = r#"{"guid":"0-ZZZ12345678-08K","destination":"0-AAA12345678","state":"CA", "eventTime":"2016-11-16T13:26:39.447974Z", "payload":{"format":"urn:example:sensor:temp", "data":{"temperature":59.7}}}"#;
    let bad = [
        ("not json", "malformed_json"),
        ("", "empty"),
        ("[1,2]", "not_object"),
        (r#"{"state":"CA"}"#, "missing_field"),
        (
            r#"{"guid":"g","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":"hot"}}}"#,
            "wrong_type",
        ),
        (
            r#"{"guid":"g","state":"XX","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#,
            "unknown_state",
        ),
        (
            r#"{"guid":"g","state":"CA","eventTime":"noon","payload":{"data":{"temperature":1}}}"#,
            "bad_timestamp",
        ),
        (
            r#"{"guid":"g","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1e999}}}"#,
            "non_finite",
        ),
    ];
    let mut text = String::new();
    for (line, _) in &bad {
        text.push_str(good);
        text.push('\n');
        text.push_str(line);
        text.push('\n');
    }
    fs::write(&input, text).unwrap();
    run(&[
        "produce",
        "--kafka",
        &broker.address,
        "--topic",
        "mixed",
        "--input",
        input.to_str().unwrap(),
        "--partitions",
        "2",
    ]);

    let result = once_over_topic(
        &broker,
        "mixed",
        &["--dead-letter-topic", "mixed-dlq", "--results-topic", "mixed-results"],
    );
    assert_eq!((result.messages, result.rejected), (bad.len() as u64, bad.len() as u64));

    let dead = python("consume.py", &[&broker.address, "mixed-dlq"]);
    let mut got: Vec<(String, String)> = String::from_utf8(dead.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["headers"]["iotstream.source.topic"], "mixed");
            assert!(v["headers"]["iotstream.source.offset"].as_str().unwrap().parse::<i64>().is_ok());
            (
                v["value"].as_str().unwrap().to_owned(),
                v["headers"]["iotstream.reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let mut expected: Vec<(String, String)> =
        bad.iter().map(|(l, r)| (l.to_string(), r.to_string())).collect();
    expected.sort();
    assert_eq!(got, expected);

    // The results topic holds the result, keyed by window and partitions.
    let published = python("consume.py", &[&broker.address, "mixed-results"]);
    let published: Vec<Value> = String::from_utf8(published.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(published.len(), 1);
    let payload: WindowResult = serde_json::from_str(published[0]["value"].as_str().unwrap()).unwrap();
    assert_eq!(payload, result);
    let partitions: Vec<String> = result.partitions.clone().unwrap().iter().map(|p| p.to_string()).collect();
    let key = format!("{}/{}/{}", result.window_start, result.window_end, partitions.join(","));
    assert_eq!(published[0]["key"], key.as_str());

    // The readings are keyed by guid: every valid reading (one sensor) is in the same partition.
    let readings = python("consume.py", &[&broker.address, "mixed"]);
    let partitions: std::collections::BTreeSet<i64> = String::from_utf8(readings.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["key"] == "0-ZZZ12345678-08K")
        .map(|v| v["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(partitions.len(), 1);
}

/// A live `analyze` writing JSON lines to a file; stopped with SIGTERM on drop.
struct Live {
    child: Child,
    output: PathBuf,
    log: PathBuf,
}

impl Live {
    fn start(broker: &Broker, topic: &str, group: &str, dir: &Path, name: &str) -> Live {
        let output = dir.join(format!("{name}.jsonl"));
        let log = dir.join(format!("{name}.log"));
        let child = bin()
            .args(["analyze", "--kafka", &broker.address, "--topic", topic, "--group", group])
            .args(["--window", "1s", "--format", "jsonl", "--output", output.to_str().unwrap()])
            .stderr(fs::File::create(&log).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Live { child, output, log }
    }

    fn results(&self) -> Vec<WindowResult> {
        results(&fs::read(&self.output).unwrap_or_default())
    }

    fn messages(&self) -> u64 {
        self.results().iter().map(|r| r.messages).sum()
    }

    /// Partitions of the latest assignment logged.
    fn assigned(&self) -> Option<usize> {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("partitions assigned") || l.contains("partitions revoked"))?;
        if line.contains("revoked") {
            return Some(0);
        }
        let list = line.split("partitions=[").nth(1)?.split(']').next()?;
        Some(list.split(',').filter(|p| !p.trim().is_empty()).count())
    }

    fn stop(mut self) -> Vec<WindowResult> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "analyze failed: {}", fs::read_to_string(&self.log).unwrap_or_default());
        self.results()
    }

    fn kill(mut self) -> Vec<WindowResult> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.results()
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_instances_in_one_group_split_the_partitions_and_see_every_message_once() {
    let _serial = serial();
    let broker = Broker::memory();
    let dir = tempfile::tempdir().unwrap();
    run(&[
        "produce",
        "--kafka",
        &broker.address,
        "--topic",
        "shared",
        "--input",
        "/dev/null",
        "--partitions",
        "4",
    ]);
    let a = Live::start(&broker, "shared", "pair", dir.path(), "a");
    wait_until("a has partitions", Duration::from_secs(60), || a.assigned() == Some(4));
    let b = Live::start(&broker, "shared", "pair", dir.path(), "b");
    wait_until(
        "the group settles on two members",
        Duration::from_secs(60),
        || matches!((a.assigned(), b.assigned()), (Some(x), Some(y)) if x > 0 && y > 0 && x + y == 4),
    );
    let mut args = simulate_args("20000", "9");
    args.extend(["--kafka", &broker.address, "--topic", "shared"]);
    run(&args);
    wait_until("both together saw every message", Duration::from_secs(90), || {
        a.messages() + b.messages() >= 20_000
    });
    std::thread::sleep(Duration::from_secs(2));
    let (ra, rb) = (a.stop(), b.stop());
    let total: u64 = ra.iter().chain(&rb).map(|r| r.messages).sum();
    assert_eq!(total, 20_000, "every message exactly once");
    let partitions = |rs: &[WindowResult]| -> std::collections::BTreeSet<i32> {
        rs.iter().filter(|r| r.messages > 0).flat_map(|r| r.partitions.clone().unwrap_or_default()).collect()
    };
    let (pa, pb) = (partitions(&ra), partitions(&rb));
    assert!(!pa.is_empty() && !pb.is_empty(), "both consumed: {pa:?} {pb:?}");
    assert!(pa.is_disjoint(&pb), "each partition consumed by one instance: {pa:?} {pb:?}");
}

#[test]
fn analyze_survives_a_broker_crash_and_counts_every_message() {
    let _serial = serial();
    let mut broker = Broker::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut args = simulate_args("30000", "3");
    args.extend(["--kafka", &broker.address, "--topic", "durable", "--partitions", "2"]);
    run(&args);
    let live = Live::start(&broker, "durable", "survivor", dir.path(), "live");
    wait_until("consumption started", Duration::from_secs(60), || live.messages() > 0);
    broker.kill();
    std::thread::sleep(Duration::from_secs(3));
    broker.start();
    wait_until("every message counted", Duration::from_secs(120), || live.messages() >= 30_000);
    let results = live.stop();
    let total: u64 = results.iter().map(|r| r.messages).sum();
    assert_eq!(total, 30_000);
}

#[test]
fn a_killed_engine_restarted_in_the_same_group_loses_nothing() {
    let _serial = serial();
    let broker = Broker::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut args = simulate_args("30000", "4");
    args.extend(["--kafka", &broker.address, "--topic", "crashy", "--partitions", "2"]);
    run(&args);
    let live = Live::start(&broker, "crashy", "phoenix", dir.path(), "first");
    // A result with readings and one after it: the positions of the first were committed a
    // window ago.
    wait_until("results were written", Duration::from_secs(60), || {
        let results = live.results();
        results.iter().position(|r| r.messages > 0).is_some_and(|first| results.len() > first + 1)
    });
    let before: u64 = live.kill().iter().map(|r| r.messages).sum();
    assert!(before > 0);
    let after = once_over_topic(&broker, "crashy", &["--group", "phoenix"]);
    assert!(before + after.messages >= 30_000, "lost messages: {before} + {} < 30000", after.messages);
    assert!(after.messages < 30_000, "the restart resumed from the committed offsets");
}

/// Event time on Kafka: late readings go to the dead-letter topic with reason `late`, exactly as
/// many as the stats record reports, and every reading is either in a window or there.
#[test]
fn event_time_sends_late_readings_to_the_dead_letter_topic() {
    let _serial = serial();
    let broker = Broker::memory();
    let mut args = simulate_args("20000", "12");
    args.extend(["--disorder", "2s", "--late-ratio", "0.02"]);
    args.extend(["--kafka", &broker.address, "--topic", "late", "--partitions", "1"]);
    run(&args);
    let out = run(&[
        "analyze",
        "--kafka",
        &broker.address,
        "--topic",
        "late",
        "--once",
        "--format",
        "jsonl",
        "--time",
        "event",
        "--window",
        "10s",
        "--max-delay",
        "2s",
        "--dead-letter-topic",
        "late-dlq",
    ]);
    let mut counted = 0;
    let mut late = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        match v["type"].as_str() {
            Some("window") => counted += v["messages"].as_u64().unwrap(),
            Some("stats") => late = v["rejected_by_reason"]["late"].as_u64().unwrap(),
            _ => panic!("{line}"),
        }
    }
    assert!(late > 0);
    assert_eq!(counted + late, 20_000);
    let dead = python("consume.py", &[&broker.address, "late-dlq"]);
    let reasons: Vec<String> = String::from_utf8(dead.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["headers"]["iotstream.reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(reasons.len() as u64, late);
    assert!(reasons.iter().all(|r| r == "late"));
}

#[cfg(feature = "http")]
#[test]
fn metrics_report_consumer_lag_per_partition() {
    let _serial = serial();
    let broker = Broker::memory();
    let mut args = simulate_args("20000", "5");
    args.extend(["--kafka", &broker.address, "--topic", "lagged", "--partitions", "3"]);
    run(&args);
    let served = common::serve(
        &[
            "analyze",
            "--kafka",
            &broker.address,
            "--topic",
            "lagged",
            "--from",
            "earliest",
            "--http",
            "127.0.0.1:0",
        ],
        &[],
    );
    // Caught up: every reading counted, and each partition's lag known to be 0.
    let metrics = common::wait_for(&served.addr, "/metrics", |m| {
        common::counter(m, "iotstream_readings_total") == 20_000.0
            && (0..3).all(|p| m.contains(&format!("iotstream_consumer_lag_messages{{partition=\"{p}\"}} 0")))
    });
    assert!(!metrics.contains("partition=\"-1\""), "{metrics}");
    let status = common::wait_for(&served.addr, "/api/status", |s| s.contains("\"consumer_lag\":0"));
    assert!(status.contains("\"readings\":20000"), "{status}");
}

/// Commits that fail while the broker is down are counted, retried, and superseded by later ones
/// once it is back: the run rides the outage out, and the group's offsets reach the end.
#[cfg(feature = "http")]
#[test]
fn failed_commits_are_counted_and_the_run_rides_them_out() {
    let _serial = serial();
    let mut broker = Broker::sqlite();
    let mut args = simulate_args("5000", "6");
    args.extend(["--kafka", &broker.address, "--topic", "commits", "--partitions", "2"]);
    run(&args);
    let mut served = common::serve(
        &["analyze", "--kafka", &broker.address, "--topic", "commits", "--group", "retry"]
            .into_iter()
            .chain(["--window", "1s", "--http", "127.0.0.1:0"])
            .collect::<Vec<_>>(),
        &[],
    );
    common::wait_for(&served.addr, "/metrics", |m| common::counter(m, "iotstream_readings_total") == 5000.0);
    broker.kill();
    let metrics = common::wait_for(&served.addr, "/metrics", |m| {
        common::counter(m, "iotstream_commit_failures_total") >= 1.0
    });
    assert!(metrics.contains("# HELP iotstream_commit_failures_total"), "{metrics}");
    broker.start();
    let mut args = simulate_args("1000", "7");
    args.extend(["--kafka", &broker.address, "--topic", "commits"]);
    run(&args);
    // At least once: messages whose commit the outage swallowed may be read again, never lost.
    common::wait_for(&served.addr, "/metrics", |m| common::counter(m, "iotstream_readings_total") >= 6000.0);
    let _ = Command::new("kill").args(["-TERM", &served.child.id().to_string()]).status();
    assert!(served.child.wait().unwrap().success(), "{}", served.log.lock().unwrap());
    let after = once_over_topic(&broker, "commits", &["--group", "retry"]);
    assert_eq!(after.messages, 0, "every message committed");
}

#[test]
fn alerts_go_to_a_topic_keyed_by_fingerprint() {
    let _serial = serial();
    let broker = Broker::memory();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("hot.jsonl");
    // One sensor that runs hot (three readings over 100) and cools down, twice.
    let temperatures = [70.0, 101.0, 102.0, 80.0, 105.0, 70.0];
    let lines: Vec<String> = temperatures
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                r#"{{"guid":"g1","state":"TX","eventTime":"2016-11-16T13:00:0{i}Z","payload":{{"data":{{"temperature":{t}}}}}}}"#
            )
        })
        .collect();
    fs::write(&input, lines.join("\n") + "\n").unwrap();
    let rules = dir.path().join("rules.toml");
    fs::write(
        &rules,
        "[[alert]]\nid = \"hot\"\nkind = \"threshold\"\nscope = \"sensor\"\nmetric = \"temperature\"\nop = \">\"\nfire = 100\n",
    )
    .unwrap();
    run(&["produce", "--kafka", &broker.address, "--topic", "hot", "--input", input.to_str().unwrap()]);
    let alerts = dir.path().join("alerts.jsonl");
    run(&[
        "analyze",
        "--kafka",
        &broker.address,
        "--topic",
        "hot",
        "--once",
        "--time",
        "event",
        "--format",
        "jsonl",
        "--rules",
        rules.to_str().unwrap(),
        "--alerts-topic",
        "hot-alerts",
        "--alerts-output",
        alerts.to_str().unwrap(),
    ]);
    let written: Vec<String> = fs::read_to_string(&alerts).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(written.len(), 4, "fired, resolved, fired, resolved: {written:?}");
    let published = python("consume.py", &[&broker.address, "hot-alerts"]);
    let published: Vec<Value> = String::from_utf8(published.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let values: Vec<&str> = published.iter().map(|m| m["value"].as_str().unwrap()).collect();
    assert_eq!(values, written.iter().map(String::as_str).collect::<Vec<_>>());
    for (n, message) in published.iter().enumerate() {
        let record: Value = serde_json::from_str(message["value"].as_str().unwrap()).unwrap();
        assert_eq!(message["key"], record["fingerprint"]);
        let at =
            iotstream_engine::EventTime::parse_rfc3339(record["at"].as_str().unwrap().as_bytes()).unwrap();
        let key = format!("{}-{}-{}", record["fingerprint"].as_str().unwrap(), at.as_micros(), n + 1);
        assert_eq!(message["headers"]["idempotency-key"], key.as_str());
    }
}
