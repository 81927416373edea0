//! Alerts through the binary: `rules check`, the anomaly rule against a Python oracle, a kill -9
//! and restart against an uninterrupted run, and a webhook receiver that is down for a while.
// Builds without the webhook or a store keep the helpers of the tests they leave out.
#![cfg_attr(not(all(feature = "webhook", feature = "store-sqlite")), allow(dead_code, unused_imports))]

mod common;
#[path = "alerts/kills.rs"]
mod kills;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bin, run, wait_timeout};
use iotstream_engine::EventTime;
use kills::{crafted, receive, uninterrupted, write, Received, RULES, WINDOW_FLAGS};
use serde_json::Value;

#[test]
fn rules_check_reports_every_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.toml",
        "[[alert]]\nid = \"a\"\nkind = \"threshold\"\nscope = \"state\"\nmetric = \"avg_temp\"\nop = \">\"\nfire = 1\n\n\
         [[alert]]\nid = \"b\"\nkind = \"offline\"\nafter = \"later\"\n",
    );
    let out = bin().args(["rules", "check", &bad]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
    assert!(stderr.contains("line 5: `metric` = \"avg_temp\""), "{stderr}");
    assert!(stderr.contains("line 12: `after` = \"later\""), "{stderr}");
    let good = write(dir.path(), "good.toml", RULES);
    let out = run(&["rules", "check", &good]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 rule(s), all fine"));
    let shipped = common::repo().join("examples/rules.toml");
    run(&["rules", "check", &shipped.display().to_string()]);
    // A run refuses bad rules before it reads anything, with the other problems.
    let out = bin().args(["analyze", "--input", "/dev/null", "--rules", &bad]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 12"));
}

#[test]
fn the_history_is_as_crafted_and_the_end_of_input_takes_nobody_offline() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", &crafted(180));
    let rules = write(dir.path(), "rules.toml", RULES);
    let (_, alerts) = uninterrupted(dir.path(), &input, &rules);
    let alerts: Vec<Value> =
        String::from_utf8(alerts).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |rule: &str| -> Vec<(String, String, String)> {
        alerts
            .iter()
            .filter(|a| a["rule"] == rule)
            .map(|a| {
                (
                    a["key"].as_str().unwrap().into(),
                    a["status"].as_str().unwrap().into(),
                    a["at"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    // TX runs hot over windows 60–120 s: the second hot window fires it (`for = 2`), and the first
    // window back at the normal level resolves it.
    let tx = of("tx-hot");
    assert_eq!(tx.len(), 2, "{tx:?}");
    assert_eq!(tx[0], ("TX".into(), "firing".into(), "2016-11-16T13:01:20Z".into()));
    assert_eq!(tx[1], ("TX".into(), "resolved".into(), "2016-11-16T13:02:10Z".into()));
    let first = alerts.iter().find(|a| a["rule"] == "tx-hot").unwrap();
    assert_eq!(first["window_start"], "2016-11-16T13:01:10Z");
    assert_eq!(first["severity"], "critical");
    assert_eq!(first["type"], "alert");
    assert_eq!(first["fingerprint"].as_str().unwrap().len(), 16);
    // s7 is silent from 40 s to 70 s: offline 10 s after its last reading (38.7 s), once, and back
    // with its next reading; the end of the input takes nobody offline.
    let offline = of("offline");
    assert_eq!(
        offline,
        vec![
            ("s7".into(), "firing".into(), "2016-11-16T13:00:48.700000Z".into()),
            ("s7".into(), "resolved".into(), "2016-11-16T13:01:10.700000Z".into())
        ]
    );
}

#[test]
fn anomalies_agree_with_the_python_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", &crafted(180));
    let rules = write(dir.path(), "rules.toml", RULES);
    let (_, alerts) = uninterrupted(dir.path(), &input, &rules);
    let ours: Vec<Value> = String::from_utf8(alerts)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|a| a["rule"] == "spike")
        .collect();
    let out = common::python_script("oracle/anomaly.py").args([&input, "4.0", "0.2", "10"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(theirs.len() >= 20, "the input has spikes: {}", theirs.len());
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!((&a["key"], &a["status"], &a["at"]), (&b["key"], &b["status"], &b["at"]));
        let close = |x: &Value, y: &Value| (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-9;
        assert!(close(&a["value"], &b["value"]) && close(&a["threshold"], &b["threshold"]), "{a} vs {b}");
    }
}

#[test]
fn kill_9_and_restart_repeat_the_history_of_an_uninterrupted_run() {
    if let Err(failure) = kills::kill_9_and_restart(None) {
        panic!("{failure}");
    }
}

#[cfg(feature = "webhook")]
#[test]
fn a_webhook_receiver_that_is_down_for_a_while_still_gets_every_transition() {
    let dir = tempfile::tempdir().unwrap();
    let text = crafted(60);
    let rules = write(dir.path(), "rules.toml", RULES);
    let alerts_out = dir.path().join("alerts.jsonl");
    // The receiver's port, free until the receiver starts listening on it.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/hooks/alerts");
    let mut args: Vec<String> =
        ["analyze", "--input", "-", "--once", "--rules", &rules].iter().map(|s| s.to_string()).collect();
    args.extend(WINDOW_FLAGS.iter().map(|s| s.to_string()));
    args.extend(["--alerts-output".into(), alerts_out.display().to_string(), "--alerts-webhook".into(), url]);
    args.extend(["--alerts-webhook-secret-env".into(), "HOOK_SECRET".into()]);
    args.extend(["--alerts-webhook-max-backoff".into(), "2s".into()]);
    let mut child = bin()
        .args(&args)
        .env("HOOK_SECRET", "s3cret")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The receiver is down for 30 s of wall-clock time, while the first 40 s of event time are
    // read (transitions pile up, retried with backoff up to 2 s apart), then answers 503 five
    // times, then takes everything.
    let lines: Vec<&str> = text.lines().collect();
    let (before, after) = lines.split_at(lines.len() * 2 / 3);
    let chunks = before.chunks(100).len() as u32;
    let down = std::time::Instant::now();
    for chunk in before.chunks(100) {
        stdin.write_all((chunk.join("\n") + "\n").as_bytes()).unwrap();
        std::thread::sleep(Duration::from_secs(30) / chunks);
    }
    assert!(down.elapsed() >= Duration::from_secs(30));
    let received = Received::default();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let got = Arc::clone(&received);
    std::thread::spawn(move || receive(listener, got, |seen| seen <= 5));
    stdin.write_all((after.join("\n") + "\n").as_bytes()).unwrap();
    // The run goes on while the webhook works through the 503s (2 s apart at most by now): the
    // end of a run without a state directory waits only a few seconds for the queue to drain.
    let backlog = Instant::now();
    while received.lock().unwrap().len() < 6 && backlog.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stdin);
    let status = wait_timeout(&mut child, Duration::from_secs(60)).expect("the run ends");
    assert!(status.success());
    let written: Vec<String> =
        std::fs::read_to_string(&alerts_out).unwrap().lines().map(str::to_owned).collect();
    assert!(written.len() > 10, "transitions to deliver: {}", written.len());
    let received = received.lock().unwrap().clone();
    // At least once: repeats are possible, and recognisable by their idempotency key.
    let mut keys = BTreeSet::new();
    let unique: Vec<&(String, String, String)> =
        received.iter().filter(|(key, _, _)| keys.insert(key.clone())).collect();
    let bodies: Vec<&str> = unique.iter().map(|(_, _, body)| body.as_str()).collect();
    assert_eq!(bodies, written.iter().map(String::as_str).collect::<Vec<_>>(), "every transition, in order");
    for (key, signature, body) in &unique {
        let record: Value = serde_json::from_str(body).unwrap();
        assert!(key.starts_with(record["fingerprint"].as_str().unwrap()), "{key}");
        let want = format!("sha256={}", hmac_sha256(b"s3cret", body.as_bytes()));
        assert_eq!(signature, &want);
    }
}

#[cfg(feature = "webhook")]
#[test]
fn notifications_queued_for_a_webhook_survive_kill_9() {
    if let Err(failure) = kills::webhook_queue_survives_kill_9(None) {
        panic!("{failure}");
    }
}

#[cfg(feature = "webhook")]
#[test]
fn an_https_webhook_checks_the_certificate_and_gets_every_notification() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = common::self_signed(dir.path(), "receiver");
    let mut receiver = common::python_script("webhook/https_receiver.py")
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = common::lines_of(receiver.stdout.take().unwrap());
    let port = lines.recv_timeout(Duration::from_secs(10)).expect("the receiver's port");
    let input = write(dir.path(), "in.jsonl", &crafted(60));
    let rules = write(dir.path(), "rules.toml", RULES);
    let alerts_out = dir.path().join("alerts.jsonl").display().to_string();
    let url = format!("https://localhost:{port}/hook");
    let mut args = vec!["analyze", "--input", &input, "--once", "--rules", &rules];
    args.extend(WINDOW_FLAGS);
    args.extend(["-o", "/dev/null", "--alerts-output", &alerts_out, "--alerts-webhook", &url]);
    // Without the receiver's certificate among the trusted ones, nothing is taken.
    let refused =
        bin().args(&args).env("SSL_CERT_FILE", "/dev/null").env("RUST_LOG", "warn").output().unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("webhook receiver unreachable"));
    assert!(lines.try_recv().is_err(), "an untrusted receiver got a notification");
    let ok = bin().args(&args).env("SSL_CERT_FILE", &cert).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let written: Vec<String> =
        std::fs::read_to_string(&alerts_out).unwrap().lines().map(str::to_owned).collect();
    let mut bodies = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
        let request: Value = serde_json::from_str(&line).unwrap();
        bodies.push(request["body"].as_str().unwrap().to_owned());
    }
    let _ = receiver.kill();
    let _ = receiver.wait();
    assert!(!written.is_empty());
    assert_eq!(bodies, written);
}

/// HMAC-SHA256 (RFC 2104) in lowercase hex, computed with Python's standard library as an
/// independent check of the signature.
fn hmac_sha256(key: &[u8], body: &[u8]) -> String {
    let script = "import hmac,hashlib,sys; k=sys.argv[1].encode(); print(hmac.new(k, sys.stdin.buffer.read(), hashlib.sha256).hexdigest())";
    let mut child = Command::new(common::python_interpreter())
        .args(["-c", script, std::str::from_utf8(key).unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap().trim().to_owned()
}

/// `(time, rule, key, status, sequence)` of each row, ordered, from the store's `alerts` table.
#[cfg(feature = "store-sqlite")]
fn alert_rows_sqlite(path: &Path) -> Vec<String> {
    let connection = rusqlite::Connection::open(path).unwrap();
    let mut query = connection
        .prepare("SELECT time || ' ' || rule || ' ' || key || ' ' || status || ' ' || sequence FROM alerts ORDER BY 1")
        .unwrap();
    query.query_map([], |row| row.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
}

/// The same rows as the alerts file says they must be.
#[cfg(any(feature = "store-sqlite", feature = "store-postgres"))]
fn alert_rows_expected(alerts: &str) -> Vec<String> {
    let mut sequence: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows: Vec<String> = alerts
        .lines()
        .map(|line| {
            let r: Value = serde_json::from_str(line).unwrap();
            let n = sequence.entry(r["fingerprint"].as_str().unwrap().to_owned()).or_default();
            *n += 1;
            let at = EventTime::parse_rfc3339(r["at"].as_str().unwrap().as_bytes()).unwrap();
            let time = format!(
                "{}.{:06}Z",
                EventTime(at.0 - at.0.rem_euclid(1_000_000)).to_string().trim_end_matches('Z'),
                at.0.rem_euclid(1_000_000)
            );
            format!(
                "{time} {} {} {} {n}",
                r["rule"].as_str().unwrap(),
                r["key"].as_str().unwrap(),
                r["status"].as_str().unwrap()
            )
        })
        .collect();
    rows.sort();
    rows
}

#[cfg(feature = "store-sqlite")]
#[test]
fn alerts_go_into_the_store_once_each_even_when_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", &crafted(120));
    let rules = write(dir.path(), "rules.toml", RULES);
    let db = dir.path().join("store.sqlite");
    let store = format!("sqlite:{}", db.display());
    let alerts_out = dir.path().join("alerts.jsonl");
    let mut args = vec!["analyze", "--input", &input, "--once", "--rules", &rules, "--store", &store];
    args.extend(WINDOW_FLAGS);
    let alerts_path = alerts_out.display().to_string();
    args.extend(["-o", "/dev/null", "--alerts-output", &alerts_path]);
    run(&args);
    let expected = alert_rows_expected(&std::fs::read_to_string(&alerts_out).unwrap());
    assert!(expected.len() > 20);
    assert_eq!(alert_rows_sqlite(&db), expected);
    // The same input again (a replay): no row twice.
    run(&args);
    assert_eq!(alert_rows_sqlite(&db), expected);
}

#[cfg(feature = "store-postgres")]
#[test]
fn alerts_go_into_postgresql_once_each_even_when_replayed() {
    use common::postgres::{self, Postgres, PASSWORD};
    if postgres::skip("alerts in PostgreSQL") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", &crafted(120));
    let rules = write(dir.path(), "rules.toml", RULES);
    let server = Postgres::start();
    server.create_database("results");
    let url = format!("postgres://{}:{PASSWORD}@127.0.0.1:{}/results", postgres::USER, server.port);
    let alerts_out = dir.path().join("alerts.jsonl");
    let alerts_path = alerts_out.display().to_string();
    let mut args = vec!["analyze", "--input", &input, "--once", "--rules", &rules, "--store", &url];
    args.extend(WINDOW_FLAGS);
    args.extend(["-o", "/dev/null", "--alerts-output", &alerts_path]);
    run(&args);
    run(&args);
    let sql =
        "SELECT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || ' ' || rule || ' ' \
               || key || ' ' || status || ' ' || sequence FROM alerts ORDER BY 1";
    let mut rows: Vec<String> = server.psql("results", sql).lines().map(str::to_owned).collect();
    rows.sort();
    assert_eq!(rows, alert_rows_expected(&std::fs::read_to_string(&alerts_out).unwrap()));
}
