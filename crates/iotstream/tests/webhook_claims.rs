//! The webhook's answer codes, as docs/ALERTS.md promises them: a 4xx answer (400, 404, 422)
//! drops that notification (logged, counted, never sent again) while 408, 429 and 5xx are retried
//! until taken. A receiver answering from a script (Python's http.server,
//! `tests/webhook/scripted_receiver.py`) records every request; the test asserts the exact
//! sequence it saw.

#![cfg(all(feature = "webhook", feature = "http"))]

mod common;

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use common::process::{wait_until, Process, Reaped};
use common::{bin, counter, get};
use serde_json::Value;

/// The scripted receiver, answering `script`: its process, the requests it prints, its port.
fn receiver(script: &[&str]) -> (Reaped, std::sync::mpsc::Receiver<String>, String) {
    let mut receiver = Reaped(
        common::python_script("webhook/scripted_receiver.py")
            .args(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3"),
    );
    let requests = common::lines_of(receiver.0.stdout.take().unwrap());
    let port = requests.recv_timeout(Duration::from_secs(10)).expect("the receiver's port");
    (receiver, requests, port)
}

/// `analyze` reading stdin with the rules, the alerts file, the webhook to the receiver on `port`
/// and the dashboard (for the metrics).
fn analyze(
    dir: &std::path::Path,
    alerts: &std::path::Path,
    port: &str,
) -> (Process, std::process::ChildStdin) {
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let mut command = bin();
    command.args(["analyze", "--input", "-", "--time", "event", "--window", "10s", "--format", "jsonl"]);
    command.args(["-o", "/dev/null", "--http", "127.0.0.1:0", "--rules", rules.to_str().unwrap()]);
    command.args(["--alerts-output", alerts.to_str().unwrap()]);
    command.args(["--alerts-webhook", &format!("http://127.0.0.1:{port}/hook")]);
    command.args(["--alerts-webhook-max-backoff", "400ms"]);
    Process::start_piped(command, dir, "analyze")
}

/// One sensor going over 100 and back three times: six notifications, fired and resolved in turn.
fn readings() -> String {
    [70.0, 101.0, 80.0, 102.0, 70.0, 103.0, 70.0]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "{{\"guid\":\"g1\",\"state\":\"TX\",\"eventTime\":\"2016-11-16T13:00:0{i}Z\",\"payload\":{{\"data\":{{\"temperature\":{t}}}}}}}\n"
            )
        })
        .collect()
}

const RULES: &str =
    "[[alert]]\nid = \"hot\"\nkind = \"threshold\"\nscope = \"sensor\"\nmetric = \"temperature\"\nop = \">\"\nfire = 100\n";

#[test]
fn a_4xx_answer_drops_the_notification_while_408_429_and_5xx_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    // Per request: the first notification refused (400), the second timed out once (408), the
    // third not found (404), the fourth rate-limited twice (429), the fifth unprocessable (422),
    // the sixth a server error once (503); everything else taken (200).
    let script = ["400", "408", "200", "404", "429", "429", "200", "422", "503", "200"];
    let (receiver, requests, port) = receiver(&script);
    let alerts = dir.path().join("alerts.jsonl");
    let (mut run, mut stdin) = analyze(dir.path(), &alerts, &port);
    let addr = run.dashboard();
    stdin.write_all(readings().as_bytes()).unwrap();
    // The run stays up (its input is open) while the webhook works through the script.
    let mut seen: Vec<Value> = Vec::new();
    while seen.len() < script.len() {
        let line = requests
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the receiver saw {} requests: {seen:?}\n{}", seen.len(), run.log()));
        seen.push(serde_json::from_str(&line).unwrap());
    }
    wait_until("the outcomes counted", Duration::from_secs(10), || {
        let (_, metrics) = get(&addr, "/metrics", &[]);
        counter(&metrics, "iotstream_alert_webhook_requests_total{outcome=\"delivered\"}") == 3.0
    });
    let (_, metrics) = get(&addr, "/metrics", &[]);
    drop(stdin);
    let status = common::wait_timeout(&mut run.child, Duration::from_secs(30)).expect("the run ends");
    assert!(status.success(), "{}", run.log());
    // Nothing more: a dropped notification is never sent again, a taken one neither.
    std::thread::sleep(Duration::from_millis(500));
    assert!(requests.try_recv().is_err(), "a request after the script's end");
    drop(receiver);

    let written: Vec<Value> =
        std::fs::read_to_string(&alerts).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let statuses: Vec<&str> = written.iter().map(|a| a["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["firing", "resolved", "firing", "resolved", "firing", "resolved"]);
    // The exact sequence: which notification each request carried, and what it was answered.
    let keys = idempotency_keys(&written);
    let expected: Vec<(String, u64)> = [0, 1, 1, 2, 3, 3, 3, 4, 5, 5]
        .iter()
        .zip(script)
        .map(|(&note, status)| (keys[note].clone(), status.parse().unwrap()))
        .collect();
    let got: Vec<(String, u64)> =
        seen.iter().map(|r| (r["key"].as_str().unwrap().to_owned(), r["status"].as_u64().unwrap())).collect();
    assert_eq!(got, expected);
    for request in &seen {
        let note = keys.iter().position(|k| request["key"] == k.as_str()).unwrap();
        assert_eq!(serde_json::from_str::<Value>(request["body"].as_str().unwrap()).unwrap(), written[note]);
    }
    // Counted: three dropped, four failed attempts retried, three delivered.
    assert_eq!(counter(&metrics, "iotstream_alert_webhook_dropped_total"), 3.0, "{metrics}");
    assert_eq!(counter(&metrics, "iotstream_alert_webhook_requests_total{outcome=\"failed\"}"), 4.0);
    assert_eq!(counter(&metrics, "iotstream_alert_webhook_requests_total{outcome=\"delivered\"}"), 3.0);
    assert_drops_logged(&run.log(), &[(400, &keys[0]), (404, &keys[2]), (422, &keys[4])]);
}

/// Each drop is logged with its status and the notification's key.
fn assert_drops_logged(log: &str, drops: &[(u16, &str)]) {
    for (status, key) in drops {
        assert!(
            log.lines().any(|l| l.contains("refused an alert; dropped")
                && l.contains(&format!("status={status}"))
                && l.contains(key)),
            "no log line for the {status}:\n{log}"
        );
    }
}

/// Each notification's `FINGERPRINT-AT-N`, as docs/ALERTS.md defines it (each alert numbers its
/// notifications 1, 2, 3…).
fn idempotency_keys(notes: &[Value]) -> Vec<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    notes
        .iter()
        .map(|note| {
            let fingerprint = note["fingerprint"].as_str().unwrap();
            let n = counts.entry(fingerprint).or_default();
            *n += 1;
            let at = note["at"].as_str().unwrap().as_bytes();
            let at = iotstream_engine::EventTime::parse_rfc3339(at).unwrap().as_micros();
            format!("{fingerprint}-{at}-{n}")
        })
        .collect()
}
