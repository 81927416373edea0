//! SQL queries' results in the store, against real databases (an SQLite file; a PostgreSQL
//! server each test starts, see `common::postgres`): `history --query` reads back what
//! `analyze --format jsonl` printed, replays leave one row per window and group, a table with
//! other columns is refused and left as it is, and a run killed with -9 resumes from its state
//! directory into the same rows.

#![cfg(all(feature = "store-sqlite", feature = "store-postgres"))]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::postgres::{self, Postgres, PASSWORD};
use common::{bin, run};

const HOT: &str = "hot=SELECT state, count(*) AS n, avg(payload.data.temperature) AS t, \
    min(payload.data.battery) AS b FROM readings GROUP BY tumble(interval '5 seconds'), state";
/// A NULL group key (sensors without a battery), a sliding window, a percentile, a distinct count.
const BATTERY: &str = "battery=SELECT payload.data.battery AS battery, count(*) AS n, \
    approx_percentile(payload.data.humidity, 0.5) AS h, count(DISTINCT payload.format) AS formats FROM readings \
    GROUP BY hop(interval '5 seconds', interval '10 seconds'), payload.data.battery";

/// Climate readings 10 ms apart, in order: every window final once, no revisions.
fn simulate(path: &Path, count: u64) {
    let count = count.to_string();
    let path = path.to_str().unwrap();
    run(&["simulate", &count, "--profile", "climate", "--seed", "5", "--start", "2016-11-16T13:00:00Z"]
        .into_iter()
        .chain(["--interval", "10ms", "--output", path])
        .collect::<Vec<_>>());
}

fn with_password(mut command: Command) -> Command {
    command.env("PGPASSWORD", PASSWORD);
    command
}

/// `analyze --once` over `input` with both queries, jsonl on stdout, into `store`.
fn analyze(input: &Path, store: &str, queries: &[&str]) -> Output {
    let mut command = with_password(bin());
    command.args(["analyze", "--input", input.to_str().unwrap(), "--once", "--format", "jsonl"]);
    command.args(["--store", store]);
    for query in queries {
        command.args(["--query", query]);
    }
    command.output().unwrap()
}

/// The lines of query `name` in a jsonl output.
fn rows_of(stdout: &[u8], name: &str) -> Vec<String> {
    let tag = format!("{{\"query\":\"{name}\",");
    String::from_utf8_lossy(stdout).lines().filter(|l| l.starts_with(&tag)).map(str::to_owned).collect()
}

/// `iotstream history --query NAME ARGS`: its lines.
fn history(store: &str, name: &str, extra: &[&str]) -> Vec<String> {
    let out = with_password(bin()).args(["history", "--store", store, "--query", name]).args(extra).output();
    let out = out.unwrap();
    assert!(out.status.success(), "history: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// Both queries into `store`: history equals the printed rows in every format, a replay
/// changes nothing, and a changed query under the same name is refused.
fn check_store(input: &Path, store: &str) {
    let out = analyze(input, store, &[HOT, BATTERY]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["hot", "battery"] {
        let printed = rows_of(&out.stdout, name);
        assert!(printed.len() > 20, "{name}: {} rows", printed.len());
        assert_eq!(history(store, name, &[]), printed, "{name} in {store}");
        let csv = history(store, name, &["--format", "csv"]);
        assert_eq!(csv.len(), printed.len() + 1);
        assert!(csv[0].starts_with("time,window_start,window_end,final,revision,"), "{}", csv[0]);
        let console = history(store, name, &["--format", "console"]);
        let tables = console.iter().filter(|l| l.starts_with(&format!("query {name}: "))).count();
        let windows: std::collections::BTreeSet<&str> =
            printed.iter().map(|l| &l[..l.find(",\"final\"").unwrap()]).collect();
        assert_eq!(tables, windows.len());
    }
    let null_key = history(store, "battery", &[]);
    assert!(null_key.iter().any(|l| l.contains("\"battery\":null")), "no NULL group key stored");

    let again = analyze(input, store, &[HOT, BATTERY]);
    assert!(again.status.success());
    assert_eq!(history(store, "hot", &[]), rows_of(&out.stdout, "hot"), "a replay changed the rows");

    let changed =
        "hot=SELECT state, count(*) AS readings FROM readings GROUP BY tumble(interval '5 seconds'), state";
    let refused = analyze(input, store, &[changed]);
    let log = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a changed table was accepted");
    for words in ["table query_hot has other columns", "query hot", "never alters", "makes now"] {
        assert!(log.to_lowercase().contains(&words.to_lowercase()), "{words:?} missing: {log}");
    }
    assert!(refused.stdout.is_empty(), "the refused run analysed something");
    assert_eq!(history(store, "hot", &[]), rows_of(&out.stdout, "hot"), "the refused run changed the table");

    let unknown =
        with_password(bin()).args(["history", "--store", store, "--query", "nope"]).output().unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("the store has no results of query nope"));
}

#[test]
fn query_tables_in_sqlite_and_postgresql_read_back_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("climate.jsonl");
    simulate(&input, 3000);
    check_store(&input, &format!("sqlite:{}", dir.path().join("q.sqlite").display()));

    if postgres::skip("query tables in PostgreSQL") {
        return;
    }
    let server = Postgres::start();
    server.create_database("queries");
    let url = server.url("queries");
    check_store(&input, &url);
    let counted = server.psql(
        "queries",
        "SELECT count(*), count(DISTINCT (time, window_start, group_key)) FROM query_battery",
    );
    let rows = history(&url, "battery", &[]).len();
    assert_eq!(counted.trim(), format!("{rows}|{rows}"));
    let types = server.psql(
        "queries",
        "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) \
         FROM information_schema.columns WHERE table_name = 'query_hot'",
    );
    assert!(types.contains("state text, n bigint, t double precision"), "{types}");
}

#[test]
fn kill_9_with_a_state_directory_resumes_into_the_same_query_rows() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    simulate(&full, 3000);
    let reference = format!("sqlite:{}", dir.path().join("reference.sqlite").display());
    assert!(analyze(&full, &reference, &[HOT, BATTERY]).status.success());
    // Kill points: after few, some and many stored rows, at once or after a checkpoint or two.
    for (i, (rows, pause)) in [(20, 0), (100, 300), (180, 150)].into_iter().enumerate() {
        let store = killed_and_resumed(&dir.path().join(format!("kill-{i}")), &full, rows, pause);
        for name in ["hot", "battery"] {
            assert_eq!(history(&store, name, &[]), history(&reference, name, &[]), "{name}, kill point {i}");
        }
    }
}

/// Runs both queries over `full` fed through a pipe, kills the run with -9 once `rows` rows of
/// `hot` are stored and `pause_ms` more have passed, restarts it on the whole file with the same
/// state directory, and returns its store.
fn killed_and_resumed(dir: &Path, full: &Path, rows: i64, pause_ms: u64) -> String {
    std::fs::create_dir_all(dir).unwrap();
    // The first run reads a pipe at the input's path; the restart finds the whole file there.
    let input = dir.join("input.jsonl");
    assert!(Command::new("mkfifo").arg(&input).status().unwrap().success());
    let path = dir.join("killed.sqlite");
    let store = format!("sqlite:{}", path.display());
    let state = dir.join("state");
    let args = |once: bool| {
        let mut args: Vec<String> = ["analyze", "--input", input.to_str().unwrap(), "--store", &store]
            .into_iter()
            .chain(["--state-dir", state.to_str().unwrap(), "--checkpoint-interval", "100ms"])
            .chain(["--query", HOT, "--query", BATTERY, "--format", "jsonl"])
            .map(String::from)
            .collect();
        if once {
            args.push("--once".into());
        }
        args
    };
    let mut engine = bin().args(args(false)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut pipe = std::fs::OpenOptions::new().write(true).open(&input).unwrap();
    let stored = || {
        let connection = rusqlite::Connection::open(&path).ok();
        let count =
            connection.and_then(|c| c.query_row("SELECT count(*) FROM query_hot", [], |r| r.get(0)).ok());
        count.unwrap_or(0i64)
    };
    let lines: Vec<String> =
        std::fs::read_to_string(full).unwrap().lines().map(|l| format!("{l}\n")).collect();
    let mut lines = lines.into_iter();
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored() < rows {
        assert!(Instant::now() < deadline, "no rows stored");
        let chunk: String = lines.by_ref().take(100).collect();
        assert!(!chunk.is_empty(), "the input ran out before rows were stored");
        pipe.write_all(chunk.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    std::thread::sleep(Duration::from_millis(pause_ms));
    engine.kill().unwrap();
    engine.wait().unwrap();
    drop(pipe);
    std::fs::remove_file(&input).unwrap();
    std::fs::copy(full, &input).unwrap();
    let out = bin().args(args(true)).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    // After a pause the run had checkpointed: the restart resumes inside the input.
    assert!(pause_ms == 0 || log.contains("resum"), "{log}");
    store
}

/// A reading of the seed's shape at second `second` past 13:00 of the test day.
fn reading(guid: &str, state: &str, second: u32) -> String {
    format!(
        "{{\"guid\":\"{guid}\",\"destination\":\"d\",\"state\":\"{state}\",\"eventTime\":\"2016-11-16T13:00:{second:02}Z\",\"payload\":{{\"format\":\"f\",\"data\":{{\"temperature\":50}}}}}}\n"
    )
}

#[test]
fn late_readings_revise_a_window_and_the_store_keeps_the_latest_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("late.sqlite").display());
    let query = "s=SELECT state, count(*) AS n FROM readings GROUP BY tumble(interval '10 seconds'), state";
    let mut engine = bin()
        .args(["analyze", "--input", "-", "--format", "jsonl", "--store", &store, "--query", query])
        .args(["--max-delay", "5s", "--allowed-lateness", "30s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = engine.stdin.take().unwrap();
    // The window [0 s, 10 s) closes when a reading at 20 s moves the watermark to 15 s…
    let first = [reading("a", "CA", 1), reading("b", "TX", 2), reading("d", "CA", 20)].concat();
    stdin.write_all(first.as_bytes()).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    // …then two readings for it arrive within the allowed lateness (a revision), one after it
    // (late: 59 s moves the watermark to 54 s, past 10 s + 30 s).
    let second =
        [reading("e", "CA", 4), reading("g", "CA", 5), reading("f", "CA", 59), reading("h", "CA", 6)];
    stdin.write_all(second.concat().as_bytes()).unwrap();
    drop(stdin);
    let out = engine.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = rows_of(&out.stdout, "s");
    let first_window = |revision: u32| -> Vec<String> {
        printed
            .iter()
            .filter(|l| l.contains("\"window_start\":\"2016-11-16T13:00:00Z\""))
            .filter(|l| l.contains(&format!("\"revision\":{revision},")))
            .cloned()
            .collect()
    };
    assert_eq!(first_window(0).len(), 2, "{printed:#?}");
    assert!(first_window(0)[0].ends_with("\"state\":\"CA\",\"n\":1}"), "{printed:#?}");
    let revised = first_window(1);
    assert!(revised.len() == 2 && revised[0].ends_with("\"state\":\"CA\",\"n\":3}"), "{printed:#?}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("query done query=s") && log.contains("late=1"), "{log}");

    let stored = history(&store, "s", &[]);
    let latest: Vec<String> = printed.iter().filter(|l| !first_window(0).contains(l)).cloned().collect();
    assert_eq!(stored, latest, "the store keeps each window's latest revision only");
}

#[test]
fn early_results_are_replaced_by_the_final_ones_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("early.sqlite").display());
    let query = "s=SELECT state, count(*) AS n FROM readings GROUP BY tumble(interval '10 seconds'), state";
    let mut engine = bin()
        .args(["analyze", "--input", "-", "--format", "jsonl", "--store", &store, "--query", query])
        .args(["--max-delay", "1s", "--emit-every", "100ms"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = engine.stdin.take().unwrap();
    stdin.write_all([reading("a", "CA", 1), reading("b", "TX", 2)].concat().as_bytes()).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(800)); // early results of the open window
    stdin.write_all([reading("c", "CA", 3), reading("d", "CA", 30)].concat().as_bytes()).unwrap();
    drop(stdin);
    let out = engine.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = rows_of(&out.stdout, "s");
    assert!(printed.iter().any(|l| l.contains("\"final\":false")), "no early result: {printed:#?}");
    let finals: Vec<String> = printed.iter().filter(|l| l.contains("\"final\":true")).cloned().collect();
    assert!(finals.iter().any(|l| l.ends_with("\"state\":\"CA\",\"n\":2}")), "{finals:#?}");
    let stored = history(&store, "s", &[]);
    let first_window: Vec<&String> =
        stored.iter().filter(|l| l.contains("\"window_start\":\"2016-11-16T13:00:00Z\"")).collect();
    assert_eq!(first_window.len(), 2, "{stored:#?}");
    assert!(
        first_window.iter().all(|l| l.contains("\"final\":true")),
        "early rows left in the store: {stored:#?}"
    );
}

#[test]
fn retention_prunes_query_tables_too() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.jsonl");
    simulate(&old, 600);
    let recent = dir.path().join("recent.jsonl");
    run(&[
        "simulate",
        "600",
        "--profile",
        "climate",
        "--interval",
        "10ms",
        "--output",
        recent.to_str().unwrap(),
    ]);
    let store = format!("sqlite:{}", dir.path().join("retention.sqlite").display());
    assert!(analyze(&old, &store, &[HOT]).status.success());
    assert!(history(&store, "hot", &[]).iter().any(|l| l.contains("2016-")));
    let out = with_password(bin())
        .args(["analyze", "--input", recent.to_str().unwrap(), "--once", "--format", "jsonl"])
        .args(["--store", &store, "--store-retention", "30d", "--query", HOT])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept = history(&store, "hot", &[]);
    assert!(!kept.is_empty());
    assert!(kept.iter().all(|l| !l.contains("2016-")), "2016 is more than 30 days ago: {kept:#?}");
}
