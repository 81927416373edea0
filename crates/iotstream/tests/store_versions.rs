//! The store's rules that only show across runs (docs/STORE.md): an older revision or a partial
//! result never overwrites a newer one, on both databases, exercised by a replay that would
//! otherwise overwrite; a version-1 PostgreSQL store (made here with the version-1 schema) is
//! migrated and read back; two writers starting together on one empty PostgreSQL database migrate
//! it once, the second waiting on the advisory lock (and a stop ending that wait); retention over
//! several prunes keeps exactly the windows recent enough.

#![cfg(all(feature = "store-sqlite", feature = "store-postgres"))]

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::postgres::{self, Postgres, PASSWORD};
use common::process::{wait_until, Process, Reaped};
use common::{bin, history, reference, run, wait_timeout};
use serde_json::Value;

/// Event-time windows of 100 ms taking late readings for 3 s, with partial results.
const REVISED: [&str; 12] = [
    "--time",
    "event",
    "--window",
    "100ms",
    "--max-delay",
    "300ms",
    "--allowed-lateness",
    "3s",
    "--emit-every",
    "50ms",
    "--format",
    "jsonl",
];

/// `count` readings 10 ms apart from `start`, out of order within 300 ms, 3 % of them late beyond
/// that (revisions within the allowed lateness).
fn simulate(path: &Path, count: u64, start: &str) {
    let count = count.to_string();
    let args = ["simulate", &count, "--seed", "41", "--start", start, "--interval", "10ms"];
    let disorder = ["--disorder", "300ms", "--late-ratio", "0.03", "--output", path.to_str().unwrap()];
    run(&[&args[..], &disorder[..]].concat());
}

fn analyze(input: &Path, store: &str, flags: &[&str]) {
    let out = bin()
        .args(["analyze", "--input", input.to_str().unwrap(), "--once", "--store", store])
        .args(flags)
        .env("PGPASSWORD", PASSWORD)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The furthest result per window of a jsonl output (the last of `(final, revision, messages)`):
/// what the store must hold for it.
fn furthest(jsonl: &str) -> Vec<String> {
    let mut windows: BTreeMap<i64, ((bool, u64, u64), String)> = BTreeMap::new();
    for line in jsonl.lines().filter(|l| l.contains(r#""type":"window""#)) {
        let value: Value = serde_json::from_str(line).unwrap();
        let rank = (
            value["final"].as_bool().unwrap(),
            value["revision"].as_u64().unwrap(),
            value["messages"].as_u64().unwrap(),
        );
        let start = value["window_start"].as_str().unwrap().as_bytes();
        let start = iotstream_engine::EventTime::parse_rfc3339(start).unwrap().as_micros();
        let kept = windows.entry(start).or_insert((rank, line.to_owned()));
        if rank >= kept.0 {
            *kept = (rank, line.to_owned());
        }
    }
    windows.into_values().map(|(_, line)| line).collect()
}

/// The whole input into `store` and a jsonl file, fed slowly on stdin so that late readings come
/// after their windows were emitted (revisions); what the file says is furthest per window.
fn fed_slowly(input: &str, store: &str, dir: &Path) -> Vec<String> {
    let out = dir.join("slow.jsonl");
    let mut command = bin();
    command.args(["analyze", "--input", "-", "--once", "--store", store, "-o", out.to_str().unwrap()]);
    command.args(REVISED).env("PGPASSWORD", PASSWORD);
    let (mut engine, mut stdin) = Process::start_piped(command, dir, "slow");
    for chunk in input.lines().collect::<Vec<_>>().chunks(50) {
        stdin.write_all((chunk.join("\n") + "\n").as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let status = wait_timeout(&mut engine.child, Duration::from_secs(60)).expect("the run ends");
    assert!(status.success(), "{}", engine.log());
    furthest(&std::fs::read_to_string(out).unwrap())
}

/// The whole input into `store`, fed slowly (late readings revise windows already emitted), then
/// a replay of its first two thirds at once, as after a crash: at its end the windows it cut off
/// are emitted final with fewer readings, and windows the slow run revised come out at revision
/// 0. The store still holds the slow run's furthest results: nothing older overwrote them.
fn a_replay_never_overwrites_a_newer_result(store: &str, dir: &Path) {
    let full = dir.join("full.jsonl");
    simulate(&full, 4000, "2016-11-16T13:00:00Z");
    let text = std::fs::read_to_string(&full).unwrap();
    let want = fed_slowly(&text, store, dir);
    let revised = want.iter().filter(|l| !l.contains(r#""revision":0"#)).count();
    assert!(revised >= 2, "late readings revised windows: {revised}");
    assert_eq!(history(store), want, "{store}: the slow run's furthest results");
    let prefix = dir.join("prefix.jsonl");
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&prefix, lines[..lines.len() * 2 / 3].join("\n") + "\n").unwrap();
    let out = run(&[&["analyze", "--input", prefix.to_str().unwrap(), "--once"][..], &REVISED].concat());
    let replayed = furthest(&String::from_utf8_lossy(&out.stdout));
    let older = replayed.iter().filter(|l| !want.contains(l)).count();
    eprintln!("{store}: {revised} windows revised by the slow run, {older} older in the replay");
    assert!(older >= 2, "the replay has older results for some windows: {older}");
    analyze(&prefix, store, &REVISED);
    assert_eq!(history(store), want, "{store}: a replay of older results overwrote newer ones");
}

#[test]
fn a_replay_never_overwrites_a_newer_result_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("history.sqlite").display());
    a_replay_never_overwrites_a_newer_result(&store, dir.path());
}

#[test]
fn a_replay_never_overwrites_a_newer_result_in_postgresql() {
    if postgres::skip("revisions in PostgreSQL") {
        return;
    }
    let server = Postgres::start();
    server.create_database("revisions");
    let dir = tempfile::tempdir().unwrap();
    a_replay_never_overwrites_a_newer_result(&server.url("revisions"), dir.path());
}

/// Event-time windows of one second, over readings 10 ms apart in order: 100 readings a window.
const WINDOWS: [&str; 8] = ["--time", "event", "--window", "1s", "--max-delay", "1s", "--format", "jsonl"];

/// `count` readings 10 ms apart in order from 13:00:00 (whole windows for multiples of 100).
fn in_order(path: &Path, count: u64) {
    let count = count.to_string();
    let args = ["simulate", &count, "--seed", "43", "--start", "2016-11-16T13:00:00Z", "--interval", "10ms"];
    run(&[&args[..], &["--output", path.to_str().unwrap()]].concat());
}

/// The schema of a version-1 store (iotstream's first migration, as shipped), and its record.
const VERSION_1: &str = "
    CREATE TABLE windows (
        window_start timestamptz NOT NULL, window_end timestamptz NOT NULL, time timestamptz NOT NULL,
        final boolean NOT NULL, revision integer NOT NULL, messages bigint NOT NULL,
        sensors bigint NOT NULL, rejected bigint NOT NULL, rejected_by_reason jsonb NOT NULL,
        late bigint NOT NULL, avg_temperature double precision, min_temperature double precision,
        max_temperature double precision, partitions integer[],
        PRIMARY KEY (time, window_start), CHECK (time = window_end));
    CREATE TABLE window_states (
        window_start timestamptz NOT NULL, window_end timestamptz NOT NULL, time timestamptz NOT NULL,
        state text NOT NULL, final boolean NOT NULL, revision integer NOT NULL,
        messages bigint NOT NULL, sensors bigint NOT NULL, avg_temperature double precision NOT NULL,
        min_temperature double precision NOT NULL, max_temperature double precision NOT NULL,
        PRIMARY KEY (time, window_start, state), CHECK (time = window_end));
    CREATE INDEX window_states_state_time ON window_states (state, time);
    CREATE TABLE iotstream_schema (
        version integer PRIMARY KEY, description text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now());
    INSERT INTO iotstream_schema (version, description) VALUES (1, 'windows and window_states');
";

/// A window result as a version-1 row takes it: the temperatures as written (a parse and print
/// of a float may not give back the same digits).
#[derive(serde::Deserialize)]
struct Row {
    r#final: bool,
    revision: u32,
    window_start: String,
    window_end: String,
    messages: u64,
    sensors: u64,
    rejected: u64,
    rejected_by_reason: Box<serde_json::value::RawValue>,
    states: Vec<StateRow>,
}

#[derive(serde::Deserialize)]
struct StateRow {
    state: String,
    messages: u64,
    sensors: u64,
    avg_temperature: Box<serde_json::value::RawValue>,
    min_temperature: Box<serde_json::value::RawValue>,
    max_temperature: Box<serde_json::value::RawValue>,
}

/// The SQL that puts the windows of `lines` (jsonl results) into a version-1 store.
fn version_1_rows(lines: &[String]) -> String {
    let mut sql = String::new();
    for line in lines {
        let w: Row = serde_json::from_str(line).unwrap();
        let reasons: Value = serde_json::from_str(w.rejected_by_reason.get()).unwrap();
        let (start, end, f, r) = (&w.window_start, &w.window_end, w.r#final, w.revision);
        sql += &format!(
            "INSERT INTO windows VALUES ('{start}', '{end}', '{end}', {f}, {r}, {}, {}, {}, '{}', {}, \
             NULL, NULL, NULL, NULL);\n",
            w.messages,
            w.sensors,
            w.rejected,
            w.rejected_by_reason.get(),
            reasons["late"]
        );
        for s in &w.states {
            sql += &format!(
                "INSERT INTO window_states VALUES ('{start}', '{end}', '{end}', '{}', {f}, {r}, {}, {}, {}, {}, {});\n",
                s.state,
                s.messages,
                s.sensors,
                s.avg_temperature.get(),
                s.min_temperature.get(),
                s.max_temperature.get()
            );
        }
    }
    sql
}

/// A version-1 store, made here with that version's schema and rows for the first ten windows:
/// `history` refuses it until a writer migrates it; `analyze` over the next ten windows migrates
/// it (every version recorded once, the alerts table added), and the old rows read back beside
/// the new ones as an uninterrupted run over both writes them.
#[test]
fn a_version_1_store_is_migrated_and_its_rows_read_back() {
    if postgres::skip("a version-1 PostgreSQL store") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    in_order(&full, 2000);
    let text = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (first, second) = (dir.path().join("first.jsonl"), dir.path().join("second.jsonl"));
    std::fs::write(&first, lines[..1000].join("\n") + "\n").unwrap();
    std::fs::write(&second, lines[1000..].join("\n") + "\n").unwrap();
    let old = reference(&first, &WINDOWS);
    assert_eq!(old.len(), 10);
    let server = Postgres::start();
    server.create_database("old");
    server.psql("old", &(VERSION_1.to_owned() + &version_1_rows(&old)));
    let url = server.url("old");
    let out = bin().args(["history", "--store", &url]).env("PGPASSWORD", PASSWORD).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("schema version 1"), "{said}");
    analyze(&second, &url, &WINDOWS);
    let versions = server
        .psql("old", "SELECT version, count(*) FROM iotstream_schema GROUP BY version ORDER BY version");
    assert_eq!(versions.trim(), "1|1\n2|1\n3|1", "each migration once (3: the query tables)");
    assert_eq!(
        server.psql("old", "SELECT count(*) FROM alerts").trim(),
        "0",
        "migration 2 made the alerts table"
    );
    let (got, want) = (history(&url), reference(&full, &WINDOWS));
    let differ: Vec<(&String, &String)> = got.iter().zip(&want).filter(|(a, b)| a != b).collect();
    assert!(got == want, "the version-1 rows read back beside the new ones: {differ:#?}");
}

/// `pg_advisory_xact_lock`'s key that serialises migrations (docs/STORE.md, "Versions").
const MIGRATION_LOCK: &str = "7597419135621033265";

/// A psql session holding the migration lock until its stdin is closed.
fn hold_migration_lock(server: &Postgres, database: &str) -> (Reaped, std::process::ChildStdin) {
    let psql = postgres::binaries().expect("PostgreSQL binaries").join("psql");
    let mut child = Command::new(psql)
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", postgres::USER, "-d", database])
        .args(["-X", "-q"])
        .env("PGPASSWORD", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "SELECT pg_advisory_lock({MIGRATION_LOCK});").unwrap();
    (Reaped(child), stdin)
}

/// Advisory locks on the migration key: (granted, waiting).
fn migration_locks(server: &Postgres, database: &str) -> (u64, u64) {
    let sql = format!(
        "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted) FROM pg_locks \
         WHERE locktype = 'advisory' AND ((classid::bigint << 32) | objid::bigint) = {MIGRATION_LOCK}"
    );
    let counts = server.psql(database, &sql);
    let (granted, waiting) = counts.trim().split_once('|').expect("two counts");
    (granted.parse().unwrap(), waiting.parse().unwrap())
}

/// Two writers starting together on an empty database while the migration lock is held: both
/// wait on it (seen in `pg_locks`), a third one waiting gives way to SIGTERM within 2 s; once it
/// is released, both finish, every migration is recorded once, and the store holds the results.
#[test]
fn writers_starting_together_wait_for_the_migration_lock_and_migrate_once() {
    if postgres::skip("two writers on one PostgreSQL database") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    in_order(&input, 1000);
    let server = Postgres::start();
    server.create_database("shared");
    let url = server.url("shared");
    let (_holder, release) = hold_migration_lock(&server, "shared");
    wait_until("the test's session to hold the lock", Duration::from_secs(30), || {
        migration_locks(&server, "shared").0 == 1
    });
    let writer = |name: &str| {
        let mut command = bin();
        command.args(["analyze", "--input", input.to_str().unwrap(), "--once", "--store", &url]);
        command.args(WINDOWS).env("PGPASSWORD", PASSWORD);
        Process::start(command, dir.path(), name)
    };
    let (mut one, mut two, mut stopped) = (writer("one"), writer("two"), writer("stopped"));
    wait_until("three writers waiting for the migration lock", Duration::from_secs(30), || {
        migration_locks(&server, "shared") == (1, 3)
    });
    let asked = Instant::now();
    let status = stopped.sigterm(Duration::from_secs(10)).expect("a waiting writer stops");
    assert!(
        status.success() && asked.elapsed() < Duration::from_secs(2),
        "{status} after {:?}",
        asked.elapsed()
    );
    drop(release);
    for writer in [&mut one, &mut two] {
        let status = wait_timeout(&mut writer.child, Duration::from_secs(60)).expect("the writer ends");
        assert!(status.success(), "{}", writer.log());
    }
    let versions = server
        .psql("shared", "SELECT version, count(*) FROM iotstream_schema GROUP BY version ORDER BY version");
    assert_eq!(versions.trim(), "1|1\n2|1\n3|1", "each migration once (3: the query tables)");
    assert_eq!(history(&url), reference(&input, &WINDOWS));
}

/// The window ends in `store`, as event times (microseconds).
fn window_ends(store: &str) -> Vec<i64> {
    history(store)
        .iter()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            let end = value["window_end"].as_str().unwrap().as_bytes();
            iotstream_engine::EventTime::parse_rfc3339(end).unwrap().as_micros()
        })
        .collect()
}

fn now_micros() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_micros()).unwrap()
}

/// Twelve minutes of readings ending now, in one-minute windows, then three runs with a shorter
/// `--store-retention` each (9, 6 and 3 minutes): after each prune the store holds exactly the
/// windows that ended within the retention of the prune's wall-clock time (a window ending within
/// the prune's own duration of the cut may go either way; the prune run's own window, ending after
/// it, is left out).
fn retention_prunes_exactly_what_ended_too_long_ago(store: &str, dir: &Path) {
    let minutes = 12;
    let start = now_micros() - minutes * 60_000_000;
    let start = iotstream_engine::EventTime(start).to_string();
    let input = dir.join("recent.jsonl");
    let count = (minutes * 60).to_string();
    run(&[
        "simulate",
        &count,
        "--seed",
        "47",
        "--start",
        &start,
        "--interval",
        "1s",
        "--output",
        input.to_str().unwrap(),
    ]);
    let minute = ["--time", "event", "--window", "1m", "--max-delay", "1s", "--format", "jsonl"];
    analyze(&input, store, &minute);
    let mut left = window_ends(store);
    assert!(left.len() >= 12, "{store}: {} windows stored", left.len());
    // Each prune run writes one reading of now (a store prunes when it writes results).
    let one = dir.join("one.jsonl");
    for retention in [9, 6, 3] {
        let now = iotstream_engine::EventTime(now_micros()).to_string();
        run(&["simulate", "1", "--start", &now, "--output", one.to_str().unwrap()]);
        let before = now_micros();
        analyze(&one, store, &[&minute[..], &["--store-retention", &format!("{retention}m")]].concat());
        let after = now_micros();
        let cut = retention * 60_000_000;
        let now: Vec<i64> = window_ends(store).into_iter().filter(|end| *end < before).collect();
        left.retain(|end| *end < before);
        let kept: Vec<i64> = left.iter().copied().filter(|end| *end >= before - cut).collect();
        let sure: Vec<i64> = left.iter().copied().filter(|end| *end >= after - cut).collect();
        assert!(
            now.iter().all(|end| kept.contains(end)),
            "{store}: {retention}m kept a window ended too long ago"
        );
        assert!(sure.iter().all(|end| now.contains(end)), "{store}: {retention}m deleted a recent window");
        assert!(now.len() < left.len(), "{store}: the {retention}m prune deleted something");
        eprintln!("{store}: --store-retention {retention}m kept {} of {} windows", now.len(), left.len());
        left = now;
    }
}

#[test]
fn retention_over_several_prunes_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("history.sqlite").display());
    retention_prunes_exactly_what_ended_too_long_ago(&store, dir.path());
}

#[test]
fn retention_over_several_prunes_in_postgresql() {
    if postgres::skip("retention in PostgreSQL") {
        return;
    }
    let server = Postgres::start();
    server.create_database("retention");
    let dir = tempfile::tempdir().unwrap();
    retention_prunes_exactly_what_ended_too_long_ago(&server.url("retention"), dir.path());
}
