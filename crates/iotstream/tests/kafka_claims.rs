//! Claims about Kafka input that had no test, each against a real broker (Tansu, started per
//! test on a free port) and read back with an independent client (Python's confluent-kafka):
//! - `--dead-letter-max-bytes`: a rejected message longer than the cap is cut to it, byte for
//!   byte, and its `iotstream.truncated` header says so; shorter ones are whole;
//! - the 5 s "cannot reach Kafka" message of `analyze --once`, `simulate` and `produce`, and a live
//!   run that warns, keeps trying (it reads the broker once one comes) and stops at once on
//!   SIGTERM.
//!
//! The tests run one at a time (brokers and timing on a 2-core machine).

#![cfg(feature = "kafka")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::process::{free_port, wait_until, Process};
use common::{bin, python, run, serial, Broker};
use serde_json::Value;

/// One partition named `topic`, then every line of `lines` produced to it by the independent
/// client, in order: message N is at offset N.
fn produce_lines(broker: &Broker, topic: &str, dir: &Path, lines: &[Vec<u8>]) {
    run(&[
        "produce",
        "--kafka",
        &broker.address,
        "--topic",
        topic,
        "--input",
        "/dev/null",
        "--partitions",
        "1",
    ]);
    let file = dir.join(format!("{topic}.lines"));
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    std::fs::write(&file, bytes).unwrap();
    python("produce.py", &[&broker.address, topic, file.to_str().unwrap()]);
}

/// Every message of `topic`, as the independent client prints them.
fn consume(broker: &Broker, topic: &str) -> Vec<Value> {
    let out = python("consume.py", &[&broker.address, topic]);
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A dead letter as the docs describe it: the original bytes cut to `cap`, with its reason,
/// origin and whether it was cut.
fn dead_letter(message: &[u8], reason: &str, offset: usize, cap: usize) -> Value {
    serde_json::json!({
        "offset": offset.to_string(),
        "reason": reason,
        "truncated": (message.len() > cap).to_string(),
        "value_hex": hex(&message[..message.len().min(cap)]),
    })
}

/// What the dead-letter topic holds, in the form of [`dead_letter`], by source offset.
fn dead_letters_in(broker: &Broker, topic: &str, source: &str) -> Vec<Value> {
    let mut letters: Vec<Value> = consume(broker, topic)
        .into_iter()
        .map(|m| {
            let headers = &m["headers"];
            assert_eq!(headers["iotstream.source.topic"], source, "{m}");
            assert_eq!(headers["iotstream.source.partition"], "0", "{m}");
            serde_json::json!({
                "offset": headers["iotstream.source.offset"],
                "reason": headers["iotstream.reason"],
                "truncated": headers["iotstream.truncated"],
                "value_hex": m["value_hex"],
            })
        })
        .collect();
    letters.sort_by_key(|l| l["offset"].as_str().unwrap_or_default().parse::<u64>().unwrap_or(u64::MAX));
    letters
}

#[test]
fn dead_letters_are_cut_to_the_cap_and_say_so() {
    let _serial = serial();
    let broker = Broker::memory();
    let dir = tempfile::tempdir().unwrap();
    const CAP: usize = 300;
    const MAX_LINE: usize = 2000;
    let good = br#"{"guid":"g-1","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":59.7}}}"#;
    let long_guid = "g".repeat(900);
    let unknown_state = format!(
        r#"{{"guid":"{long_guid}","state":"XX","eventTime":"2016-11-16T13:26:39Z","payload":{{"data":{{"temperature":1}}}}}}"#
    );
    // Two-byte characters after one ASCII byte: the cap falls inside a character, and the letter
    // keeps the bytes up to it, not whole characters.
    let multibyte = [b"x".as_slice(), "é".repeat(200).as_bytes()].concat();
    let rejected: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "malformed_json"),
        ([b"{".as_slice(), &[b'a'; CAP - 1]].concat(), "malformed_json"),
        ([b"{".as_slice(), &[b'b'; CAP]].concat(), "malformed_json"),
        (unknown_state.into_bytes(), "unknown_state"),
        (multibyte, "malformed_json"),
        ([b"{".as_slice(), &[b'c'; 2999]].concat(), "too_large"),
    ];
    let mut lines = Vec::new();
    let expected = |cap: usize| -> Vec<Value> {
        let mut letters = Vec::new();
        for (n, (message, reason)) in rejected.iter().enumerate() {
            letters.push(dead_letter(message, reason, 2 * n + 1, cap));
        }
        letters
    };
    for (message, _) in &rejected {
        lines.push(good.to_vec());
        lines.push(message.clone());
    }
    produce_lines(&broker, "raw", dir.path(), &lines);
    let analyze = |cap: usize| {
        let (cap_text, dlq, group) = (cap.to_string(), format!("dead-{cap}"), format!("g-{cap}"));
        let max_line = MAX_LINE.to_string();
        let out = run(&[
            "analyze",
            "--kafka",
            &broker.address,
            "--topic",
            "raw",
            "--once",
            "--format",
            "jsonl",
            "--group",
            &group,
            "--max-line-bytes",
            &max_line,
            "--dead-letter-topic",
            &dlq,
            "--dead-letter-max-bytes",
            &cap_text,
        ]);
        let result: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(result["rejected"], rejected.len(), "{result}");
        dead_letters_in(&broker, &dlq, "raw")
    };
    // Cut at 300 bytes: the three longer than that are cut (the too-large one included).
    let cut = analyze(CAP);
    assert_eq!(cut, expected(CAP));
    assert_eq!(cut.iter().filter(|l| l["truncated"] == "true").count(), 4);
    // A cap above --max-line-bytes keeps a too-large message whole (the source keeps enough of it
    // for its dead letter, not only what the parser needs).
    let whole = analyze(4096);
    assert_eq!(whole, expected(4096));
    assert!(whole.iter().all(|l| l["truncated"] == "false"));
}

/// The documented message, within about 5 s.
fn assert_cannot_reach(output: &std::process::Output, took: Duration, address: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let message = format!("cannot reach Kafka at {address} within 5 s");
    assert!(stderr.contains(&message), "{stderr}");
    assert!(stderr.contains("check --kafka, and that the broker is running"), "{stderr}");
    assert!((Duration::from_secs(4)..Duration::from_secs(8)).contains(&took), "took {took:?}: {stderr}");
}

#[test]
fn commands_say_within_5_s_that_they_cannot_reach_kafka() {
    let address = format!("127.0.0.1:{}", free_port());
    let commands: [&[&str]; 3] = [
        &["analyze", "--kafka", &address, "--topic", "t", "--once"],
        &["simulate", "10", "--kafka", &address, "--topic", "t"],
        &["produce", "--kafka", &address, "--topic", "t", "--input", "/dev/null"],
    ];
    // Side by side: each waits its 5 s on its own.
    let runs: Vec<_> = commands
        .iter()
        .map(|args| {
            let mut command = bin();
            command.args(*args);
            std::thread::spawn(move || {
                let started = Instant::now();
                let output = command.output().expect("run iotstream");
                (output, started.elapsed())
            })
        })
        .collect();
    for run in runs {
        let (output, took) = run.join().unwrap();
        assert_cannot_reach(&output, took, &address);
    }
}

#[test]
fn a_live_run_warns_keeps_trying_and_reads_the_broker_once_it_comes() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let live = |name: &str| {
        let mut command = bin();
        command.args(["analyze", "--kafka", &address, "--topic", "late-broker", "--window", "1s"]);
        command.args(["--format", "jsonl", "--stats-every", "200ms"]);
        Process::start(command, dir.path(), name)
    };
    // A stop while it waits for the broker is a clean stop, at once.
    let mut waiting = live("stopped");
    let warning = waiting.wait_log("cannot reach Kafka", Duration::from_secs(10));
    assert!(warning.contains(&format!("cannot reach Kafka at {address} within 5 s")), "{warning}");
    assert!(warning.contains("retrying until it answers"), "{warning}");
    assert!(warning.lines().any(|l| l.contains("WARN") && l.contains("cannot reach Kafka")), "{warning}");
    assert!(waiting.running(), "a live run does not give up: {warning}");
    let asked = Instant::now();
    let status = waiting.sigterm(Duration::from_secs(10)).expect("it stops on SIGTERM");
    assert!(status.success(), "{}", waiting.log());
    assert!(asked.elapsed() < Duration::from_secs(2), "the stop took {:?}", asked.elapsed());

    // Keeps trying: a broker that comes on that address later is read.
    let mut trying = live("trying");
    trying.wait_log("retrying until it answers", Duration::from_secs(10));
    let mut broker = Broker { port, dir: tempfile::tempdir().unwrap(), storage: "memory://tansu/", address };
    broker.start();
    let seed = ["--seed", "3", "--start", "2016-11-16T13:26:39Z", "--interval", "1ms"];
    let produce = ["simulate", "2000", "--kafka", &broker.address, "--topic", "late-broker"];
    run(&[&produce[..], &seed[..]].concat());
    wait_until("the readings of the late broker", Duration::from_secs(90), || {
        trying
            .output()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|record| record["type"] == "stats" && record["readings"] == 2000)
    });
    let status = trying.sigterm(Duration::from_secs(20)).expect("it stops on SIGTERM");
    assert!(status.success(), "{}", trying.log());
}

/// `count` readings 10 ms apart from `start`, in `dir/NAME.jsonl`.
fn readings(dir: &Path, name: &str, count: usize, start: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.jsonl"));
    let count = count.to_string();
    run(&[
        "simulate",
        &count,
        "--seed",
        "8",
        "--start",
        start,
        "--interval",
        "10ms",
        "--output",
        path.to_str().unwrap(),
    ]);
    path
}

fn stats_records(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["type"] == "stats")
        .collect()
}

/// The error the docs promise for messages deleted before they were read: partition, where the
/// run was to resume, where the partition now begins, and how many were lost.
#[cfg(feature = "http")]
fn assert_loss_logged(log: &str, resume_from: usize, log_start: usize) {
    let lost = log_start - resume_from;
    assert!(
        log.lines().any(|l| l.contains("ERROR")
            && l.contains("data loss")
            && l.contains("partition=0")
            && l.contains(&format!("resume_from={resume_from}"))
            && l.contains(&format!("log_start={log_start}"))
            && l.contains(&format!("lost={lost}"))),
        "no error line for {lost} messages lost:\n{log}"
    );
}

/// Retention deletes messages a group and a checkpoint had not read yet (Tansu deletes on its
/// sqlite engine, at the maintenance run of its start-up, what is older than `retention.ms`):
/// `--once` from the group's committed offset and a live run from a checkpoint both report the
/// loss as docs/DURABILITY.md says: an error line, the metric, and `data_lost` in stats records.
#[cfg(feature = "http")]
#[test]
fn data_deleted_by_retention_before_it_was_read_is_reported() {
    let _serial = serial();
    let mut broker = Broker::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let created = common::python_script("kafka/create_topic.py")
        .args([&broker.address, "aging", "1", "cleanup.policy=delete", "retention.ms=4000"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let address = broker.address.clone();
    let produce = |file: &Path| python("produce.py", &[&address, "aging", file.to_str().unwrap()]);
    // 400 readings read by a group and checkpointed, then 600 nobody reads before they age.
    produce(&readings(dir.path(), "read", 400, "2026-01-01T00:00:00Z"));
    let state = dir.path().join("state");
    let once = [
        "analyze",
        "--kafka",
        &address,
        "--topic",
        "aging",
        "--once",
        "--format",
        "jsonl",
        "--stats-every",
        "1s",
    ];
    run(&[&once[..], &["--group", "reader"]].concat());
    run(&[&once[..], &["--group", "checkpointed", "--state-dir", state.to_str().unwrap()]].concat());
    produce(&readings(dir.path(), "unread", 600, "2026-01-01T00:00:04Z"));
    // All older than retention.ms when the restarted broker applies it; then 50 new ones, so the
    // partition is not empty (an emptied partition reports its offsets as 0, hiding the loss).
    std::thread::sleep(Duration::from_millis(4500));
    broker.kill();
    broker.start();
    produce(&readings(dir.path(), "fresh", 50, "2026-01-01T00:00:10Z"));
    let mut kept = Vec::new();
    wait_until("the broker's retention to delete the aged messages", Duration::from_secs(30), || {
        kept = consume(&broker, "aging");
        kept.len() == 50
    });
    assert_eq!(kept[0]["offset"], 1000, "the partition now begins at offset 1000");

    // --once from the group's committed offset (400).
    let out = bin().args(once).args(["--group", "reader"]).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert_loss_logged(&log, 400, 1000);
    let text = String::from_utf8_lossy(&out.stdout);
    let result =
        text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|r| r["type"] == "window");
    let result = result.unwrap_or_else(|| panic!("no result: {text}"));
    assert_eq!(result["messages"], 50, "{text}");
    let stats = stats_records(&text);
    assert!(stats.iter().any(|s| s["data_lost"] == 600), "{text}");

    // A live run from the checkpoint (400): the same, and the metric.
    let mut command = bin();
    command.args(["analyze", "--kafka", &address, "--topic", "aging", "--format", "jsonl"]);
    command.args(["--group", "checkpointed", "--state-dir", state.to_str().unwrap()]);
    command.args(["--http", "127.0.0.1:0", "--stats-every", "200ms"]);
    let mut live = Process::start(command, dir.path(), "live");
    let addr = live.dashboard();
    let metric = "iotstream_data_loss_messages_total{partition=\"0\"}";
    wait_until("the loss in the metrics", Duration::from_secs(30), || {
        common::counter(&common::get(&addr, "/metrics", &[]).1, metric) == 600.0
    });
    // Readings: the checkpoint's 400 and the 50 kept, none twice.
    wait_until("a stats record with the loss", Duration::from_secs(30), || {
        stats_records(&live.output()).iter().any(|s| s["data_lost"] == 600 && s["readings"] == 450)
    });
    assert_loss_logged(&live.log(), 400, 1000);
    let status = live.sigterm(Duration::from_secs(20)).expect("it stops");
    assert!(status.success(), "{}", live.log());
}

/// Threshold rules of every scope whose keys span partitions (a state's sensors, the fleet), and
/// sensor rules, each as TOML for the engine and as JSON for the oracle.
const THRESHOLDS: [(&str, &str, &str, &str, f64, f64, u32); 5] = [
    // (id, scope, metric, op, fire, clear, for)
    ("tx-warm", "state", "avg_temperature", ">", 64.5, 64.0, 2),
    ("any-warm", "state", "avg_temperature", ">", 65.0, 64.5, 1),
    ("fleet-max", "fleet", "max_temperature", ">=", 77.5, 77.0, 1),
    ("fleet-cool", "fleet", "avg_temperature", "<", 52.4, 52.5, 1),
    ("sensor-hot", "sensor", "temperature", ">=", 75.0, 70.0, 1),
];

fn rules_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut toml = String::new();
    let mut json = Vec::new();
    for (id, scope, metric, op, fire, clear, times) in THRESHOLDS {
        let states = if id == "tx-warm" { "states = [\"TX\"]\n" } else { "" };
        toml.push_str(&format!(
            "[[alert]]\nid = \"{id}\"\nkind = \"threshold\"\nscope = \"{scope}\"\nmetric = \"{metric}\"\n\
             op = \"{op}\"\nfire = {fire:?}\nclear = {clear:?}\nfor = {times}\n{states}\n"
        ));
        let mut rule = serde_json::json!({
            "id": id, "scope": scope, "metric": metric, "op": op, "fire": fire, "clear": clear, "for": times
        });
        if id == "tx-warm" {
            rule["states"] = serde_json::json!(["TX"]);
        }
        json.push(rule);
    }
    toml.push_str("[[alert]]\nid = \"spike\"\nkind = \"anomaly\"\nmetric = \"temperature\"\nz = 2.5\nalpha = 0.3\nwarmup = 5\n");
    let (toml_path, json_path) = (dir.join("rules.toml"), dir.join("rules.json"));
    std::fs::write(&toml_path, toml).unwrap();
    std::fs::write(&json_path, serde_json::to_string(&json).unwrap()).unwrap();
    (toml_path, json_path)
}

/// Each alert's history: (rule, key) → its notifications' (status, at in µs, value), in order.
type Histories = std::collections::BTreeMap<(String, String), Vec<(String, i64, f64)>>;

fn micros(at: &Value) -> i64 {
    match at {
        Value::Number(n) => n.as_i64().unwrap(),
        _ => iotstream_engine::EventTime::parse_rfc3339(at.as_str().unwrap().as_bytes()).unwrap().as_micros(),
    }
}

fn histories(notes: impl IntoIterator<Item = Value>, rule: Option<&str>) -> Histories {
    let mut out = Histories::new();
    for n in notes {
        let rule = rule.or(n["rule"].as_str()).unwrap().to_owned();
        let entry =
            (n["status"].as_str().unwrap().to_owned(), micros(&n["at"]), n["value"].as_f64().unwrap());
        out.entry((rule, n["key"].as_str().unwrap().to_owned())).or_default().push(entry);
    }
    out
}

fn oracle(script: &str, args: &[&str]) -> Vec<Value> {
    let out = common::python_script(script).args(args).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Alerts over a topic of three partitions, where every state's sensors (and so the keys of the
/// state and fleet rules) are spread over all three: each alert fires and resolves as the oracles
/// say (`tests/oracle/thresholds.py`, `tests/oracle/anomaly.py`), its history in order, and the
/// window rules' notifications in window order (docs/ALERTS.md, "Through crashes": with several
/// partitions, each alert's own history is what is fixed).
#[test]
fn alerts_over_three_partitions_fire_and_resolve_as_the_oracles_say() {
    let _serial = serial();
    let broker = Broker::memory();
    let dir = tempfile::tempdir().unwrap();
    let file = readings(dir.path(), "fleet", 30_000, "2016-11-16T13:00:00Z");
    let seed = ["--seed", "8", "--start", "2016-11-16T13:00:00Z", "--interval", "10ms"];
    let to_kafka = ["simulate", "30000", "--kafka", &broker.address, "--topic", "fleet", "--partitions", "3"];
    run(&[&to_kafka[..], &seed[..]].concat());
    let partitions_of_tx: std::collections::BTreeSet<i64> = consume(&broker, "fleet")
        .iter()
        .filter(|m| m["value"].as_str().is_some_and(|v| v.contains("\"state\":\"TX\"")))
        .map(|m| m["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(partitions_of_tx.len(), 3, "TX's sensors are on every partition");
    let (rules, rules_json) = rules_files(dir.path());
    let alerts = dir.path().join("alerts.jsonl");
    let out = run(&[
        "analyze",
        "--kafka",
        &broker.address,
        "--topic",
        "fleet",
        "--once",
        "--time",
        "event",
        "--window",
        "10s",
        "--max-delay",
        "1s",
        "--format",
        "jsonl",
        "--rules",
        rules.to_str().unwrap(),
        "--alerts-output",
        alerts.to_str().unwrap(),
    ]);
    let results = String::from_utf8(out.stdout).unwrap();
    assert!(results.contains("\"partitions\":[0,1,2]"), "{results}");
    let written: Vec<Value> =
        std::fs::read_to_string(&alerts).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ours = histories(written.iter().cloned(), None);
    let file = file.to_str().unwrap();
    let mut theirs =
        histories(oracle("oracle/thresholds.py", &[file, "10", rules_json.to_str().unwrap()]), None);
    theirs.extend(histories(oracle("oracle/anomaly.py", &[file, "2.5", "0.3", "5"]), Some("spike")));
    for rule in ["tx-warm", "any-warm", "fleet-max", "fleet-cool", "sensor-hot", "spike"] {
        let transitions = theirs.iter().filter(|((r, _), _)| r == rule).map(|(_, h)| h.len()).sum::<usize>();
        assert!(transitions >= 2, "the input makes {rule} fire and resolve: {transitions}");
    }
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "the alerts");
    for (alert, history) in &theirs {
        let got = &ours[alert];
        let same = got.len() == history.len()
            && got.iter().zip(history).all(|(a, b)| a.0 == b.0 && a.1 == b.1 && (a.2 - b.2).abs() < 1e-9);
        assert!(same, "{alert:?}: ours {got:?}, the oracle's {history:?}");
    }
    // Windows close in order: the window rules' notifications come in window order.
    let window_rules: Vec<i64> =
        written.iter().filter(|n| !n["window_end"].is_null()).map(|n| micros(&n["at"])).collect();
    assert!(window_rules.windows(2).all(|w| w[0] <= w[1]), "{window_rules:?}");
}

/// The latest assignment a member logged: how many partitions it holds (0 after a revoke).
fn assigned(log: &str) -> Option<usize> {
    let line =
        log.lines().rev().find(|l| l.contains("partitions assigned") || l.contains("partitions revoked"))?;
    if line.contains("revoked") {
        return Some(0);
    }
    let list = line.split("partitions=[").nth(1)?.split(']').next()?;
    Some(list.split(',').filter(|p| !p.trim().is_empty()).count())
}

/// The final windows in a member's output: (window start in µs, the record), in output order.
fn final_records(text: &str) -> Vec<(i64, Value)> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["type"] == "window" && r["final"] == true)
        .map(|r| (micros(&r["window_start"]), r))
        .collect()
}

/// A second member joins a group of `analyze --time event` while the first holds open windows:
/// across both members' final windows, every reading is counted once (per window and state:
/// messages, sum, min and max equal the Python oracle's), and the first member emits its open
/// window when the partitions are taken (README: "When a rebalance takes partitions away, the open
/// window is emitted and committed first, so instances sharing a group count every message once").
#[test]
fn a_member_joining_while_windows_are_open_loses_and_doubles_nothing() {
    let _serial = serial();
    let broker = Broker::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let file = readings(dir.path(), "all", 12_000, "2016-11-16T13:00:00Z");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let halves: Vec<std::path::PathBuf> = lines
        .chunks(6_000)
        .enumerate()
        .map(|(n, chunk)| {
            let path = dir.path().join(format!("half-{n}.jsonl"));
            std::fs::write(&path, chunk.join("\n") + "\n").unwrap();
            path
        })
        .collect();
    let produce = |path: &Path| {
        let args = ["produce", "--kafka", &broker.address, "--topic", "shared", "--partitions", "4"];
        run(&[&args[..], &["--input", path.to_str().unwrap()]].concat());
    };
    produce(&halves[0]);
    let member = |name: &str| {
        let mut command = bin();
        command.args(["analyze", "--kafka", &broker.address, "--topic", "shared", "--group", "pair"]);
        command.args(["--time", "event", "--window", "10s", "--max-delay", "1s", "--format", "jsonl"]);
        command.args(["--stats-every", "200ms"]);
        Process::start(command, dir.path(), name)
    };
    let mut a = member("a");
    // The first minute read: windows to 13:00:50 closed, 13:00:50–13:01:00 open.
    wait_until("a read the first half", Duration::from_secs(90), || {
        stats_records(&a.output()).iter().any(|s| s["readings"] == 6000)
    });
    let open_start = micros(&Value::from("2016-11-16T13:00:50Z"));
    assert!(final_records(&a.output()).iter().all(|(start, _)| *start < open_start), "{}", a.output());
    let mut b = member("b");
    wait_until(
        "the group settles on two members",
        Duration::from_secs(90),
        || matches!((assigned(&a.log()), assigned(&b.log())), (Some(x), Some(y)) if x > 0 && y > 0 && x + y == 4),
    );
    produce(&halves[1]);
    let expected = common::python_oracle(&file, 10);
    // Windows the last reading (13:01:59.99) closes, with the 1 s delay.
    let watermark = micros(&Value::from("2016-11-16T13:01:58.99Z"));
    let closed: Vec<&Value> =
        expected.iter().filter(|w| w["window_end"].as_i64().unwrap() <= watermark).collect();
    let last = closed.last().unwrap()["window_start"].as_i64().unwrap();
    wait_until("both members closed the last window", Duration::from_secs(90), || {
        [&a, &b].iter().all(|m| final_records(&m.output()).iter().any(|(start, _)| *start == last))
    });
    for m in [&mut a, &mut b] {
        let status = m.sigterm(Duration::from_secs(30)).expect("a member stops");
        assert!(status.success(), "{}", m.log());
    }
    let (out_a, out_b) = (a.output(), b.output());
    // Across both members' final results, every reading once: per window and state, the shares
    // add up to the oracle's window.
    let finals: Vec<(i64, Value)> = final_records(&out_a).into_iter().chain(final_records(&out_b)).collect();
    for window in closed {
        let start = window["window_start"].as_i64().unwrap();
        let shares: Vec<&Value> = finals.iter().filter(|(s, _)| *s == start).map(|(_, r)| r).collect();
        let (ours, theirs) = (combined(&shares), per_state(window));
        assert!(same_states(&ours, &theirs), "window {start}: ours {ours:?}, the oracle's {theirs:?}");
    }
    // On the revoke, the first member emitted the window it held open as a partial result: all
    // of it, since every reading of that minute was in.
    let partials: Vec<Value> = out_a
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["type"] == "window" && r["final"] == false && micros(&r["window_start"]) == open_start)
        .collect();
    let oracle_open = expected.iter().find(|w| w["window_start"] == open_start).unwrap();
    assert_eq!(partials.len(), 1, "{partials:?}");
    assert_eq!(partials[0]["messages"], oracle_open["messages"], "{}", partials[0]);
}

/// Per state: (messages, sum of temperatures, min, max).
type PerState = std::collections::BTreeMap<String, (u64, f64, f64, f64)>;

/// [`PerState`] over the shares of a window (several members' results for it).
fn combined(shares: &[&Value]) -> PerState {
    let mut states = PerState::new();
    for share in shares {
        for s in share["states"].as_array().unwrap() {
            let (messages, avg) = (s["messages"].as_u64().unwrap(), s["avg_temperature"].as_f64().unwrap());
            let (min, max) = (s["min_temperature"].as_f64().unwrap(), s["max_temperature"].as_f64().unwrap());
            let state = s["state"].as_str().unwrap().to_owned();
            let entry = states.entry(state).or_insert((0, 0.0, f64::MAX, f64::MIN));
            *entry =
                (entry.0 + messages, entry.1 + avg * messages as f64, entry.2.min(min), entry.3.max(max));
        }
    }
    states
}

/// The oracle's window as [`PerState`].
fn per_state(window: &Value) -> PerState {
    let states = window["states"].as_object().unwrap();
    let stat = |s: &Value, key: &str| s[key].as_f64().unwrap();
    states
        .iter()
        .map(|(state, s)| {
            let messages = s["messages"].as_u64().unwrap();
            (state.clone(), (messages, stat(s, "sum"), stat(s, "min"), stat(s, "max")))
        })
        .collect()
}

/// The same states, counts, minima and maxima, and sums within rounding.
fn same_states(ours: &PerState, theirs: &PerState) -> bool {
    ours.len() == theirs.len()
        && ours.iter().zip(theirs).all(|((a, x), (b, y))| {
            a == b && x.0 == y.0 && x.2 == y.2 && x.3 == y.3 && (x.1 - y.1).abs() <= 1e-9 * y.1.abs().max(1.0)
        })
}
