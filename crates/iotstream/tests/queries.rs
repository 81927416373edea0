//! SQL queries through the binary: `--query` rows in the issue's jsonl shape and as console
//! tables, answers that do not depend on the thread count or on how the input arrives, per-query
//! rejections, `[[query]]` tables in config files, `query check`, every refusal reachable from
//! the command line with its message, and a checkpoint written for other queries refused by name.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Output, Stdio};

use common::{bin, run};

/// Five typical queries: tumbling and sliding windows, WHERE, HAVING, count(DISTINCT),
/// percentiles, arithmetic inside and between aggregates, a NULL group key.
const QUERIES: [&str; 5] = [
    "per_state=SELECT state, count(*) AS n, avg((payload.data.temperature - 32) * 5 / 9) AS celsius \
     FROM readings GROUP BY tumble(interval '10 seconds'), state HAVING count(*) > 5",
    "p95=SELECT payload.format AS format, approx_percentile(payload.data.temperature, 0.95) AS p95, \
     max(payload.data.temperature) - min(payload.data.temperature) AS spread \
     FROM readings GROUP BY hop(interval '5 seconds', interval '10 seconds'), payload.format",
    "low_battery=SELECT guid, min(payload.data.battery) AS battery FROM readings \
     WHERE payload.data.battery < 20 GROUP BY tumble(interval '10 seconds'), guid",
    "devices=SELECT count(DISTINCT guid) AS devices, stddev(payload.data.humidity) AS sd \
     FROM readings WHERE state IN ('CA', 'TX', 'NY') OR payload.format LIKE '%humidity' \
     GROUP BY tumble(interval '10 seconds')",
    "battery=SELECT payload.data.battery AS battery, count(*) AS n FROM readings \
     WHERE payload.data.battery IS NULL OR payload.data.battery < 30 \
     GROUP BY tumble(interval '10 seconds'), payload.data.battery",
];

fn climate(path: &Path, count: u64) {
    let count = count.to_string();
    let path = path.to_str().unwrap();
    let args = ["simulate", &count, "--profile", "climate", "--seed", "9", "--start", "2016-11-16T13:00:00Z"];
    run(&[&args[..], &["--interval", "10ms", "--output", path]].concat());
}

fn with_queries(args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    for query in QUERIES {
        all.extend(["--query".to_owned(), query.to_owned()]);
    }
    all
}

/// The lines of a jsonl output that are query rows.
fn query_rows(out: &Output) -> Vec<String> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("{\"query\":"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn rows_have_the_issues_shape_and_do_not_depend_on_threads_or_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("climate.jsonl");
    climate(&input, 4000);
    let file = input.to_str().unwrap();
    let reference =
        query_rows(&run(&with_queries(&["analyze", "--input", file, "--once", "--format", "jsonl"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()));
    for name in ["per_state", "p95", "low_battery", "devices", "battery"] {
        assert!(
            reference.iter().any(|l| l.starts_with(&format!("{{\"query\":\"{name}\","))),
            "no rows of {name}"
        );
    }
    // The issue's order: the header, then the columns in SELECT order.
    let expected = ["query", "window_start", "window_end", "final", "revision", "state", "n", "celsius"];
    let at: Vec<usize> = expected.iter().map(|k| reference[0].find(&format!("\"{k}\":")).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{}", reference[0]);
    let first: serde_json::Value = serde_json::from_str(&reference[0]).unwrap();
    assert_eq!(first.as_object().unwrap().len(), expected.len(), "{}", reference[0]);
    assert!(
        reference.iter().any(|l| l.contains("\"battery\":null,"))
            && reference.iter().any(|l| l.starts_with("{\"query\":\"battery\"") && !l.contains("null"))
    );

    for threads in ["1", "2", "4"] {
        let args =
            with_queries(&["analyze", "--input", file, "--once", "--format", "jsonl", "--threads", threads]);
        let out = bin().args(&args).output().unwrap();
        assert_eq!(query_rows(&out), reference, "--threads {threads}");
    }
    // Through a pipe in uneven pieces: other batches, the same answers.
    let args = with_queries(&["analyze", "--input", "-", "--format", "jsonl", "--threads", "2"]);
    let mut child = bin()
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = std::fs::read(&input).unwrap();
    let writer = std::thread::spawn(move || {
        let mut at = 0;
        for piece in [1, 7, 4096, 333, 65536, 17].iter().cycle() {
            let end = (at + piece).min(bytes.len());
            stdin.write_all(&bytes[at..end]).unwrap();
            stdin.flush().unwrap();
            at = end;
            if at == bytes.len() {
                return;
            }
        }
    });
    writer.join().unwrap();
    assert_eq!(query_rows(&child.wait_with_output().unwrap()), reference, "through a pipe");
}

#[test]
fn console_prints_a_table_per_query_and_window() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("climate.jsonl");
    climate(&input, 2000);
    let sql = "f=SELECT payload.format AS format, count(*) AS n FROM readings \
               GROUP BY tumble(interval '10 seconds'), payload.format";
    let out = run(&["analyze", "--input", input.to_str().unwrap(), "--once", "--query", sql]);
    let text = String::from_utf8_lossy(&out.stdout);
    let tables = text.lines().filter(|l| l.starts_with("query f: 2016-11-16T13:00:")).count();
    assert_eq!(tables, 2, "{text}");
    assert!(text.contains("format                      | n"), "{text}");
    assert!(text.contains("urn:example:sensor:humidity |"), "{text}");
}

#[test]
fn a_wrong_type_rejects_the_reading_for_that_query_only() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mixed.jsonl");
    let reading = |t: &str, temperature: &str| {
        format!(
            r#"{{"guid":"g","destination":"d","state":"CA","eventTime":"2016-11-16T13:00:0{t}Z","payload":{{"format":"f","data":{{"temperature":{temperature}}}}}}}"#
        )
    };
    std::fs::write(
        &input,
        [reading("0", "\"hot\""), reading("1", "50"), reading("2", "null")].join("\n") + "\n",
    )
    .unwrap();
    let out = run(&[
        "analyze",
        "--input",
        input.to_str().unwrap(),
        "--once",
        "--format",
        "jsonl",
        "--query",
        "t=SELECT avg(payload.data.temperature) AS a, count(payload.data.temperature) AS c FROM readings GROUP BY tumble(interval '10 seconds')",
        "--query",
        "n=SELECT count(*) AS n FROM readings GROUP BY tumble(interval '10 seconds')",
    ]);
    let rows = query_rows(&out);
    assert!(rows[0].ends_with(r#""a":50.0,"c":1}"#), "{rows:?}");
    assert!(rows[1].ends_with(r#""n":3}"#), "{rows:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stats: serde_json::Value =
        serde_json::from_str(stdout.lines().find(|l| l.starts_with("{\"type\":\"stats\"")).unwrap()).unwrap();
    let queries = stats["queries"].as_array().unwrap();
    assert_eq!(queries[0]["query"], "t");
    assert_eq!(queries[0]["rejected_by_reason"]["wrong_type"], 1);
    assert_eq!(queries[1]["rejected"], 0);
    assert_eq!(stats["rejected"], 0, "rejected for one query is not rejected for all");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("reason=wrong_type") && log.contains("query t"), "{log}");
    assert!(
        log.contains("query done query=t readings=2 filtered=0 rejected=1 by_reason=wrong_type=1"),
        "{log}"
    );
}

/// `iotstream ARGS`: exit code and stderr.
fn fails(args: &[&str]) -> (Option<i32>, String) {
    let out = bin().args(args).output().unwrap();
    assert!(out.stdout.is_empty() || !out.status.success(), "{args:?} succeeded");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_refusal_from_the_command_line_names_the_query_and_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    climate(&input, 10);
    let file = input.to_str().unwrap();
    let (code, log) = fails(&[
        "analyze",
        "--input",
        file,
        "--once",
        "--query",
        "a=SELECT state, foo(x) FROM readings GROUP BY state",
        "--query",
        "b=SELECT * FROM readings",
        "--query",
        "bad name=SELECT count(*) FROM readings",
        "--query",
        "c=SELECT count(*) FROM readings JOIN other ON true",
    ]);
    assert_eq!(code, Some(1));
    for words in [
        "4 problems",
        "query a: line 1, column 15: the function foo is not supported",
        "query b: line 1, column 8: `*` is not supported; name the columns",
        "query name \"bad name\": use letters, digits and underscores",
        "query c: line 1",
    ] {
        assert!(log.contains(words), "{words:?} missing: {log}");
    }
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "--query",
                "a=SELECT count(*) FROM readings",
                "--query",
                "a=SELECT count(*) AS m FROM readings",
            ],
            "two queries are named a",
        ),
        (&["--time-field", "ts"], "--time-field applies only with --query"),
        (&["--max-groups", "5"], "--max-groups applies only with --query"),
        (
            &[
                "--time",
                "processing",
                "--query",
                "w=SELECT count(*) FROM readings GROUP BY tumble(interval '1 minute')",
            ],
            "query w: line 1, column 40: windows are on event time: run with --time event",
        ),
        (&["--query", "nosql"], "NAME=SQL"),
        (
            &["--query", "s=SELECT count(*) FROM readings GROUP BY tumble(interval '1 minute'"],
            "query s: sql parser error: Expected: ), found: EOF at the end of the query, line 1, column 66",
        ),
    ];
    for (extra, message) in cases {
        let args = [&["analyze", "--input", file, "--once"][..], extra].concat();
        let (code, log) = fails(&args);
        assert_ne!(code, Some(0));
        assert!(log.contains(message), "{extra:?}: {message:?} missing: {log}");
    }
    // Scale-out reads Kafka: builds without it have no --kafka to refuse.
    #[cfg(feature = "kafka")]
    {
        let (_, log) = fails(&[
            "analyze",
            "--kafka",
            "127.0.0.1:1",
            "--topic",
            "t",
            "--time",
            "event",
            "--scale-out",
            "--query",
            "a=SELECT count(*) FROM readings GROUP BY tumble(interval '1 minute')",
        ]);
        assert!(log.contains("--query does not work with --scale-out yet"), "{log}");
    }
}

#[test]
fn query_check_prints_the_plan_or_the_refusal_with_status_2() {
    let out = run(&[
        "query",
        "check",
        "SELECT state, count(*) AS n FROM readings WHERE payload.data.\"co2-ppm\" > 800 \
         GROUP BY tumble(interval '1 minute'), state HAVING count(*) > 2",
    ]);
    let plan = String::from_utf8_lossy(&out.stdout);
    for words in [
        "reads:      state, payload.data.\"co2-ppm\"",
        "time:       event time (eventTime)",
        "window:     tumbling, 1m",
        "groups:     state AS state",
        "aggregates: count(*)",
        "filter:     ",
        "having:     ",
        "columns:    state, n",
    ] {
        assert!(plan.contains(words), "{words:?} missing: {plan}");
    }
    let (code, log) = fails(&["query", "check", "SELECT count(*) FROM readings ORDER BY nothing LIMIT"]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("query query: sql parser error: Expected: an expression, found: EOF at the end of the query, line 1, column 53"), "{log}");
    let (code, log) = fails(&["query", "check", "SELECT count(*) FROM readings, other"]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("query query: line 1, column "), "{log}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("q.toml");
    let toml =
        "[[query]]\nname = \"hot\"\nsql = \"SELECT state, max(payload.data.temperature) AS t FROM readings \
                GROUP BY tumble(interval '10 seconds'), state\"\n";
    std::fs::write(&config, toml).unwrap();
    let out = run(&["--config", config.to_str().unwrap(), "query", "check"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("query hot\n"), "{out:?}");
    let input = dir.path().join("in.jsonl");
    climate(&input, 500);
    let out = run(&[
        "--config",
        config.to_str().unwrap(),
        "analyze",
        "--input",
        input.to_str().unwrap(),
        "--once",
        "--format",
        "jsonl",
    ]);
    assert!(
        query_rows(&out).iter().all(|l| l.starts_with("{\"query\":\"hot\",")) && !query_rows(&out).is_empty()
    );
}

#[test]
fn a_checkpoint_for_other_queries_is_refused_naming_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    climate(&input, 500);
    let state = dir.path().join("state");
    let analyze = |sql: Option<&str>| {
        let mut command = bin();
        command.args(["analyze", "--input", input.to_str().unwrap(), "--once", "--format", "jsonl"]);
        command.args(["--state-dir", state.to_str().unwrap()]);
        if let Some(sql) = sql {
            command.args([
                "--query",
                "a=SELECT count(*) AS n FROM readings GROUP BY tumble(interval '10 seconds')",
            ]);
            command.args(["--query", sql]);
        }
        command.output().unwrap()
    };
    let first = analyze(Some(
        "b=SELECT max(payload.data.humidity) AS h FROM readings GROUP BY tumble(interval '10 seconds')",
    ));
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let changed = analyze(Some(
        "b=SELECT min(payload.data.humidity) AS h FROM readings GROUP BY tumble(interval '10 seconds')",
    ));
    let log = String::from_utf8_lossy(&changed.stderr);
    assert!(!changed.status.success());
    assert!(log.contains("query b changed since the checkpoint"), "{log}");
    let seed = analyze(None);
    let log = String::from_utf8_lossy(&seed.stderr);
    assert!(
        log.contains("the checkpoint was written for SQL queries (--query), not the seed's analyses"),
        "{log}"
    );
}

/// The cookbook of docs/QUERIES.md: each ```sql block of its section, named by its first line
/// (`-- NAME`).
fn cookbook() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(common::repo().join("docs/QUERIES.md")).unwrap();
    let section = doc.split("\n## Cookbook\n").nth(1).unwrap().split("\n## ").next().unwrap();
    section
        .split("```sql\n")
        .skip(1)
        .map(|block| {
            let block = block.split("```").next().unwrap();
            let mut lines = block.lines();
            let name = lines.next().unwrap().strip_prefix("-- ").unwrap().trim().to_owned();
            (name, lines.map(str::trim).collect::<Vec<_>>().join(" "))
        })
        .collect()
}

#[test]
fn the_cookbooks_ten_questions_answer_over_climate_data() {
    let recipes = cookbook();
    assert_eq!(recipes.len(), 10, "{recipes:#?}");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("climate.jsonl");
    let args =
        ["simulate", "30000", "--profile", "climate", "--seed", "1", "--start", "2016-11-16T13:00:00Z"];
    run(&[&args[..], &["--interval", "10ms", "--output", input.to_str().unwrap()]].concat());
    let mut command = bin();
    command.args(["analyze", "--input", input.to_str().unwrap(), "--once", "--format", "jsonl"]);
    for (name, sql) in &recipes {
        command.args(["--query", &format!("{name}={sql}")]);
    }
    let out = command.output().unwrap();
    let rows = query_rows(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stats: serde_json::Value =
        serde_json::from_str(stdout.lines().rfind(|l| l.starts_with("{\"type\":\"stats\"")).unwrap())
            .unwrap();
    for (i, (name, _)) in recipes.iter().enumerate() {
        let count = rows.iter().filter(|l| l.starts_with(&format!("{{\"query\":\"{name}\","))).count();
        assert!(count > 0, "recipe {name} gave no rows");
        assert_eq!(stats["queries"][i]["query"], name.as_str());
        assert_eq!(
            stats["queries"][i]["rejected"], 0,
            "recipe {name} rejected readings: {}",
            stats["queries"][i]
        );
    }
}

#[test]
fn max_groups_counts_too_many_groups_and_a_query_without_a_window_runs_on_batches() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let reading = |state: &str, second: u32| {
        format!(
            r#"{{"guid":"g","destination":"d","state":"{state}","eventTime":"2016-11-16T13:00:{second:02}Z","payload":{{"format":"f","data":{{"temperature":1}}}}}}"#
        )
    };
    let lines = [reading("CA", 1), reading("TX", 2), reading("NY", 3), reading("CA", 4), reading("CA", 15)];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let file = input.to_str().unwrap();
    let grouped = "s=SELECT state, count(*) AS n FROM readings GROUP BY tumble(interval '10 seconds'), state";
    let out = run(&[
        "analyze",
        "--input",
        file,
        "--once",
        "--format",
        "jsonl",
        "--max-groups",
        "2",
        "--query",
        grouped,
    ]);
    let rows = query_rows(&out);
    assert_eq!(rows.len(), 3, "{rows:#?}"); // CA, TX in the first window (NY refused); CA in the second
    assert!(!rows.iter().any(|l| l.contains("\"NY\"")), "{rows:#?}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("reason=too_many_groups") && log.contains("by_reason=too_many_groups=1"), "{log}");

    // No window: the run's processing-time batches (one with --once), as the seed's.
    let batch = "p=SELECT state, count(*) AS n FROM readings GROUP BY state";
    let out = run(&["analyze", "--input", file, "--once", "--format", "jsonl", "--query", batch]);
    let rows = query_rows(&out);
    let counts: Vec<String> = rows.iter().map(|l| l[l.find("\"state\"").unwrap()..].to_owned()).collect();
    assert_eq!(
        counts,
        ["\"state\":\"CA\",\"n\":3}", "\"state\":\"NY\",\"n\":1}", "\"state\":\"TX\",\"n\":1}"]
    );
    let start = |l: &str| l[l.find("\"window_start\"").unwrap()..l.find(",\"final\"").unwrap()].to_owned();
    assert!(rows.iter().all(|l| start(l) == start(&rows[0])), "one batch: {rows:#?}");
    assert!(!rows[0].contains("2016-11-16"), "a batch is cut on the wall clock: {}", rows[0]);
}
