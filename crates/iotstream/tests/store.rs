//! The results store against real databases: SQLite files, and a PostgreSQL server each test
//! starts for itself (Debian's binaries; see `common::postgres`). Every check compares what the
//! store holds with what an uninterrupted `analyze --once --format jsonl` run prints.

#![cfg(all(feature = "store-sqlite", feature = "store-postgres"))]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use common::postgres::{self, Postgres, PASSWORD};
use common::{bin, get, run};

/// Event-time windows of one second: many windows from few readings.
const WINDOWS: [&str; 8] = ["--time", "event", "--window", "1s", "--max-delay", "1s", "--format", "jsonl"];

/// Readings 10 ms apart from 2016-11-16T13:00:00Z, shuffled within half a second.
fn simulate(path: &Path, count: u64) {
    let count = count.to_string();
    run(&[
        "simulate",
        &count,
        "--seed",
        "11",
        "--start",
        "2016-11-16T13:00:00Z",
        "--interval",
        "10ms",
        "--disorder",
        "500ms",
        "--output",
        path.to_str().unwrap(),
    ]);
}

/// The window lines an uninterrupted run prints for `input`.
fn reference(input: &Path) -> Vec<String> {
    let out = run(&[["analyze", "--input", input.to_str().unwrap(), "--once"].as_slice(), &WINDOWS].concat());
    window_lines(&out.stdout)
}

fn window_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| l.contains(r#""type":"window""#))
        .map(str::to_owned)
        .collect()
}

/// `analyze --once` over `input` into `store`.
fn analyze(input: &Path, store: &str, extra: &[&str]) {
    let mut args = vec!["analyze", "--input", input.to_str().unwrap(), "--once", "--store", store];
    args.extend(WINDOWS);
    args.extend(extra);
    let out = with_password(bin()).args(&args).stdout(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `iotstream history ARGS` (jsonl by default): its lines.
fn history(store: &str, extra: &[&str]) -> Vec<String> {
    let out = with_password(bin()).args(["history", "--store", store]).args(extra).output().unwrap();
    assert!(out.status.success(), "history: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

fn with_password(mut command: Command) -> Command {
    command.env("PGPASSWORD", PASSWORD);
    command
}

fn sqlite(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("history.sqlite").display())
}

#[test]
fn history_equals_the_jsonl_output_in_sqlite_and_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    simulate(&input, 3000);
    let expected = reference(&input);
    assert!(expected.len() >= 30, "{}", expected.len());

    let file = sqlite(dir.path());
    analyze(&input, &file, &[]);
    assert_eq!(history(&file, &[]), expected, "SQLite");
    check_formats(&file, &expected);

    if postgres::skip("history from PostgreSQL") {
        return;
    }
    let server = Postgres::start();
    server.create_database("results");
    // The password in the URL this time (PGPASSWORD elsewhere), and debug logs: it must not show.
    let url = format!("postgres://{}:{PASSWORD}@127.0.0.1:{}/results", postgres::USER, server.port);
    let mut args = vec!["analyze", "--input", input.to_str().unwrap(), "--once", "--store", &url, "-vv"];
    args.extend(WINDOWS);
    let out = bin().args(&args).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains(&format!("results are stored in {}", server.url("results"))), "{log}");
    assert!(!log.contains(PASSWORD), "the password reached the logs");
    assert_eq!(window_lines(&out.stdout), expected);
    assert_eq!(history(&server.url("results"), &[]), expected, "PostgreSQL");
    check_formats(&server.url("results"), &expected);
}

/// CSV, console, one state and a time range read the same rows.
fn check_formats(store: &str, expected: &[String]) {
    let results: Vec<serde_json::Value> = expected.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let rows: usize = results.iter().map(|r| r["states"].as_array().unwrap().len()).sum();
    let csv = history(store, &["--format", "csv"]);
    assert_eq!(csv.len(), rows + 1);
    assert!(csv[0].starts_with("time,window_start,window_end,final,revision,state,"));
    let console = history(store, &["--format", "console"]);
    assert_eq!(console.iter().filter(|l| l.starts_with("Total number of messages")).count(), expected.len());

    let texas =
        history(store, &["--state", "TX", "--from", "2016-11-16T13:00:10Z", "--to", "2016-11-16T13:00:20Z"]);
    let wanted: Vec<&serde_json::Value> = results
        .iter()
        .filter(|r| {
            ("2016-11-16T13:00:10Z"..="2016-11-16T13:00:20Z").contains(&r["window_end"].as_str().unwrap())
        })
        .filter(|r| r["states"].as_array().unwrap().iter().any(|s| s["state"] == "TX"))
        .collect();
    assert_eq!(texas.len(), wanted.len());
    for (line, result) in texas.iter().zip(wanted) {
        let got: serde_json::Value = serde_json::from_str(line).unwrap();
        let tx = result["states"].as_array().unwrap().iter().find(|s| s["state"] == "TX").unwrap();
        assert_eq!(got["states"], serde_json::json!([tx]));
        assert_eq!(got["messages"], result["messages"]);
    }
}

#[test]
fn a_grafana_style_query_returns_the_expected_rows() {
    if postgres::skip("the Grafana-style query") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    simulate(&input, 1000);
    let server = Postgres::start();
    server.create_database("grafana");
    analyze(&input, &server.url("grafana"), &[]);
    let rows = server.psql(
        "grafana",
        "SELECT time, state AS metric, avg_temperature FROM window_states
         WHERE time BETWEEN '2016-11-16T13:00:02Z' AND '2016-11-16T13:00:05Z' ORDER BY time, metric",
    );
    let mut expected = Vec::new();
    for line in reference(&input) {
        // The numbers as printed (serde_json's own float parsing may be one unit in the last place off).
        let result: RawResult = serde_json::from_str(&line).unwrap();
        if !("2016-11-16T13:00:02Z"..="2016-11-16T13:00:05Z").contains(&result.window_end.as_str()) {
            continue;
        }
        let mut states: Vec<(String, f64)> =
            result.states.into_iter().map(|s| (s.state, s.avg_temperature.get().parse().unwrap())).collect();
        states.sort_by(|a, b| a.0.cmp(&b.0));
        let time = result.window_end.replace('T', " ").replace('Z', "+00");
        expected.extend(states.into_iter().map(|(state, avg)| (time.clone(), state, avg)));
    }
    let got: Vec<(String, String, f64)> = rows
        .lines()
        .map(|row| {
            let fields: Vec<&str> = row.split('|').collect();
            (fields[0].to_owned(), fields[1].to_owned(), fields[2].parse().unwrap())
        })
        .collect();
    assert_eq!(expected.len(), got.len());
    assert!(got.len() > 4 * 30, "four windows of most states: {}", got.len());
    assert_eq!(got, expected);
}

/// A result with its numbers as raw JSON text.
#[derive(serde::Deserialize)]
struct RawResult {
    window_end: String,
    states: Vec<RawState>,
}

#[derive(serde::Deserialize)]
struct RawState {
    state: String,
    avg_temperature: Box<serde_json::value::RawValue>,
}

/// Writes `lines` to `stdin` in batches, pausing between them; stops quietly when the reader is
/// gone (killed).
fn feed(
    mut stdin: ChildStdin,
    lines: Vec<String>,
    batch: usize,
    pause: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for chunk in lines.chunks(batch) {
            if stdin.write_all(chunk.concat().as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(pause);
        }
    })
}

fn lines_with_newlines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| format!("{l}\n")).collect()
}

/// Polls `count` until it reaches `at_least`.
fn wait_until(what: &str, at_least: u64, count: impl Fn() -> u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while count() < at_least {
        assert!(Instant::now() < deadline, "{what} never reached {at_least}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill_9(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The rows of `window_states`, and the rows that share a key (none, by the primary key).
fn check_one_row_each(server: &Postgres, database: &str, expected: &[String]) {
    let rows: usize = expected
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["states"].as_array().unwrap().len())
        .sum();
    let counted = server.psql(
        database,
        "SELECT count(*), count(DISTINCT (window_start, window_end, state)) FROM window_states",
    );
    assert_eq!(counted.trim(), format!("{rows}|{rows}"));
}

#[test]
fn kill_9_mid_run_then_replays_leave_one_row_per_window_and_state() {
    if postgres::skip("kill -9 into PostgreSQL") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    simulate(&input, 3000);
    let expected = reference(&input);
    let server = Postgres::start();
    server.create_database("killed");
    let url = server.url("killed");

    let mut engine = with_password(bin())
        .args(["analyze", "--input", "-", "--store", &url])
        .args(WINDOWS)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let feeder =
        feed(engine.stdin.take().unwrap(), lines_with_newlines(&input), 100, Duration::from_millis(100));
    let stored = || server.windows("killed");
    wait_until("windows stored", 5, stored);
    kill_9(&mut engine);
    feeder.join().unwrap();
    // What the killed run stored is exactly what the reference says for those windows.
    let partial = history(&url, &[]);
    assert!(!partial.is_empty() && partial.len() < expected.len(), "{} of {}", partial.len(), expected.len());
    assert!(partial.iter().all(|line| expected.contains(line)));

    // The replay (no state directory: the whole input again), then the same input once more.
    analyze(&input, &url, &[]);
    assert_eq!(history(&url, &[]), expected);
    analyze(&input, &url, &[]);
    assert_eq!(history(&url, &[]), expected);
    check_one_row_each(&server, "killed", &expected);
}

#[test]
fn kill_9_with_a_state_directory_resumes_into_one_row_per_window_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    simulate(&full, 3000);
    let expected = reference(&full);
    // The first run reads a pipe at the input's path; the restart finds the whole file there.
    let input = dir.path().join("input.jsonl");
    let status = Command::new("mkfifo").arg(&input).status().unwrap();
    assert!(status.success());
    let store = sqlite(dir.path());
    let state = dir.path().join("state");
    let engine_args = |once: bool| {
        let mut args: Vec<String> = ["analyze", "--input", input.to_str().unwrap(), "--store", &store]
            .into_iter()
            .chain(["--state-dir", state.to_str().unwrap(), "--checkpoint-interval", "100ms"])
            .chain(WINDOWS)
            .map(String::from)
            .collect();
        if once {
            args.push("--once".into());
        }
        args
    };
    let mut engine =
        bin().args(engine_args(false)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut pipe = std::fs::OpenOptions::new().write(true).open(&input).unwrap();
    let path = dir.path().join("history.sqlite");
    let stored = || {
        let connection = rusqlite::Connection::open(&path).ok();
        let count =
            connection.and_then(|c| c.query_row("SELECT count(*) FROM windows", [], |r| r.get(0)).ok());
        count.unwrap_or(0)
    };
    let mut lines = lines_with_newlines(&full).into_iter();
    while stored() < 8 {
        let chunk: String = lines.by_ref().take(100).collect();
        assert!(!chunk.is_empty(), "the input ran out before windows were stored");
        pipe.write_all(chunk.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    std::thread::sleep(Duration::from_millis(300)); // a checkpoint after some stored windows
    kill_9(&mut engine);
    drop(pipe);
    std::fs::remove_file(&input).unwrap();
    std::fs::copy(&full, &input).unwrap();
    let out = bin().args(engine_args(true)).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("resum"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(history(&store, &[]), expected);
}

#[test]
fn the_database_stopped_for_10_s_mid_run_loses_nothing() {
    if postgres::skip("a PostgreSQL outage") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    simulate(&input, 4000);
    let expected = reference(&input);
    let server = Postgres::start();
    server.create_database("outage");
    let url = server.url("outage");
    let mut engine = with_password(bin())
        .args(["analyze", "--input", "-", "--store", &url, "--http", "127.0.0.1:0"])
        .args(WINDOWS)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = common::lines_of(engine.stderr.take().unwrap());
    let addr = log
        .iter()
        .find_map(|line| Some(line.split("dashboard on http://").nth(1)?.split('/').next()?.to_owned()))
        .unwrap();
    let feeder =
        feed(engine.stdin.take().unwrap(), lines_with_newlines(&input), 100, Duration::from_millis(100));
    let stored = || server.windows("outage");
    wait_until("windows stored", 3, stored);

    server.stop();
    std::thread::sleep(Duration::from_secs(5));
    let (_, metrics) = get(&addr, "/metrics", &[]);
    let errors = common::counter(&metrics, "iotstream_store_errors_total");
    assert!(errors >= 1.0, "errors are counted during the outage: {metrics}");
    std::thread::sleep(Duration::from_secs(5));
    server.start_again();

    feeder.join().unwrap();
    let status = common::wait_timeout(&mut engine, Duration::from_secs(60)).expect("the run ends");
    assert!(status.success());
    let log: Vec<String> = log.iter().collect();
    let log = log.join("\n");
    assert!(log.contains("the store is unavailable"), "{log}");
    assert!(log.contains("the store is back"), "{log}");
    assert_eq!(history(&url, &[]), expected);
    check_one_row_each(&server, "outage", &expected);
}

#[test]
fn tls_is_used_and_the_certificate_checked_as_sslmode_asks() {
    if postgres::skip("PostgreSQL over TLS") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key) = common::self_signed(dir.path(), "server");
    let settings = ["ssl=on", "ssl_cert_file=server.crt", "ssl_key_file=server.key"];
    let server = Postgres::start_with_setup(&settings, |data| {
        copy_private(&certificate, &data.join("server.crt"));
        copy_private(&key, &data.join("server.key"));
        // TCP connections must use TLS.
        let rules = "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n\
                     hostnossl all all 127.0.0.1/32 reject\n";
        std::fs::write(data.join("pg_hba.conf"), rules).unwrap();
    });
    server.create_database("secure");
    let input = dir.path().join("input.jsonl");
    simulate(&input, 200);
    let attempt = |query: &str| {
        let url = format!("{}?{query}", server.url("secure"));
        let mut args = vec!["analyze", "--input", input.to_str().unwrap(), "--once", "--store", &url];
        args.extend(WINDOWS);
        with_password(bin()).args(&args).output().unwrap()
    };
    let root = format!("sslrootcert={}", certificate.display());
    assert!(attempt("sslmode=require").status.success());
    assert!(attempt(&format!("sslmode=verify-full&{root}")).status.success());
    let refused = attempt("sslmode=disable");
    assert!(!refused.status.success(), "the server refuses connections without TLS");
    let unknown_ca = attempt("sslmode=verify-full");
    assert!(!unknown_ca.status.success(), "a self-signed certificate is not trusted unless given");
    assert!(String::from_utf8_lossy(&unknown_ca.stderr).contains("cannot connect"));
}

/// A file the server (running as `nobody` under root) can read and nobody else.
fn copy_private(from: &Path, to: &Path) {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    std::fs::copy(from, to).unwrap();
    let owner = std::fs::metadata(to.parent().unwrap()).unwrap();
    std::os::unix::fs::chown(to, Some(owner.uid()), Some(owner.gid())).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[cfg(feature = "http")]
#[test]
fn the_demo_keeps_its_history_in_the_data_directory_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_home = [("XDG_DATA_HOME", data.to_str().unwrap())];
    let served =
        common::serve(&["demo", "--http", "127.0.0.1:0", "--window", "1s", "--rate", "3000"], &data_home);
    let addr = served.addr.as_str();
    let file = data.join("iotstream/history.sqlite");
    let log = served.log.lock().unwrap().clone();
    assert!(log.contains(&format!("results are stored in sqlite:{}", file.display())), "{log}");
    let info = common::wait_for(addr, "/api/info", |b| b.contains("\"history\":true"));
    assert!(info.contains("simulator"));
    let overall = common::wait_for(addr, "/api/history", |b| stored_windows(b) >= 2);
    let overall: serde_json::Value = serde_json::from_str(&overall).unwrap();
    assert_eq!(overall["state"], serde_json::Value::Null);
    assert!(overall["messages"][0].as_u64().unwrap() > 0);
    let california = common::wait_for(addr, "/api/history?state=CA", |b| stored_windows(b) >= 2);
    let california: serde_json::Value = serde_json::from_str(&california).unwrap();
    assert_eq!(california["state"], "CA");
    assert!(california["avg_temperature"][0].as_f64().unwrap() > 30.0);
    assert_eq!(get(addr, "/api/history?state=XX", &[]).0, 400);
    assert_eq!(get(addr, "/api/history?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", &[]).0, 400);
    drop(served);

    // `history` with no --store reads the same file.
    let out = bin().args(["history", "--format", "csv"]).envs(data_home).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() > 40);

    // --store none: no file, no history route.
    let elsewhere = dir.path().join("elsewhere");
    let none = common::serve(
        &["demo", "--http", "127.0.0.1:0", "--store", "none"],
        &[("XDG_DATA_HOME", elsewhere.to_str().unwrap())],
    );
    assert_eq!(get(&none.addr, "/api/history", &[]).0, 404);
    assert!(!elsewhere.exists());
}

/// Windows counted in an `/api/history` answer.
#[cfg(feature = "http")]
fn stored_windows(body: &str) -> u64 {
    let series: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    series["windows"].as_array().map_or(0, |w| w.iter().filter_map(serde_json::Value::as_u64).sum())
}

#[test]
fn retention_deletes_windows_that_ended_too_long_ago() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.jsonl");
    simulate(&old, 300);
    let recent = dir.path().join("recent.jsonl");
    run(&["simulate", "300", "--interval", "10ms", "--output", recent.to_str().unwrap()]);
    let store = sqlite(dir.path());
    analyze(&old, &store, &[]);
    assert!(!history(&store, &[]).is_empty());
    analyze(&recent, &store, &["--store-retention", "30d"]);
    let kept = history(&store, &[]);
    assert!(!kept.is_empty());
    assert!(kept.iter().all(|l| !l.contains("2016-")), "2016 is more than 30 days ago");
}

#[test]
fn bad_stores_are_refused_before_anything_starts_and_never_show_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    simulate(&input, 10);
    for (store, says) in [
        ("mysql://root@db/x", "--store must be"),
        ("postgres://ada:pa55word@db:notaport/x", "not a PostgreSQL URL"),
        ("postgres://ada:pa55word@127.0.0.1:1/x", "cannot connect to postgres://ada@127.0.0.1:1/x"),
    ] {
        let out =
            bin().args(["analyze", "--input", input.to_str().unwrap(), "--store", store]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(says), "{store}: {stderr}");
        assert!(!stderr.contains("pa55word"), "{stderr}");
    }
    let out = bin().args(["history", "--store", &sqlite(dir.path())]).output().unwrap();
    assert!(!out.status.success(), "a missing SQLite store is not created by reading it");
    assert!(!dir.path().join("history.sqlite").exists());
}
