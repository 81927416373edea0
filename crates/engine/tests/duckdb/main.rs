//! Differential test: random queries from the supported grammar over random multi-format
//! readings, run through the engine (several queries at once, one pass, input cut into random
//! chunks) and through DuckDB (`oracle.py`, Python's `duckdb` from `IOTSTREAM_PYTHON`), answers
//! compared row by row: counts exactly, doubles to 1e-9, percentiles within the sketch's bound
//! of DuckDB's `quantile_disc`. Without a Python that has duckdb it prints SKIPPED and passes;
//! `scripts/test` provides one.

mod data;
mod queries;

use std::path::{Path, PathBuf};
use std::process::Command;

use iotstream_engine::operator::EventTimeConfig;
use iotstream_engine::query::{QuerySet, Settings, Time};
use iotstream_engine::{EventTime, RejectReason, WindowSpec};
use serde_json::Value;

use data::{Rng, BASE, SECOND};
use queries::{Out, Query};

const ROUNDS: u64 = 60;
const QUERIES_PER_ROUND: usize = 5;

/// The Python with duckdb, or why there is none.
fn python() -> Result<String, String> {
    let python =
        std::env::var("IOTSTREAM_PYTHON").unwrap_or_else(|_| "/var/cache/iotstream/venv/bin/python".into());
    match Command::new(&python).args(["-c", "import duckdb"]).output() {
        Ok(out) if out.status.success() => Ok(python),
        Ok(_) => Err(format!("{python} has no duckdb module")),
        Err(e) => Err(format!("{python}: {e}")),
    }
}

fn settings() -> Settings {
    let config = EventTimeConfig {
        window: WindowSpec::tumbling(60 * SECOND).unwrap(),
        max_delay: 5 * SECOND,
        allowed_lateness: 0,
        max_skew: None,
        idle_timeout: None,
    };
    Settings {
        time: Time::Event { field: iotstream_engine::query::FieldPath::new(["eventTime"]), config },
        max_groups: 0,
        max_line_bytes: 65536,
    }
}

/// One round: its queries, the engine's rows per query, and the DuckDB SQL per query.
struct Round {
    queries: Vec<Query>,
    engine: Vec<Vec<Value>>,
    duckdb_sql: Vec<String>,
    file: PathBuf,
}

/// Runs the engine over `lines` in random chunks; rows per query as JSON objects. Also counts
/// per-query rejections by reason into `rejected`.
fn run_engine(set: &mut QuerySet, lines: &[String], rng: &mut Rng, rejected: &mut [u64]) -> Vec<Vec<Value>> {
    let mut records = set.records();
    let mut emissions = Vec::new();
    let mut next_cut = 1 + rng.below(50) as usize;
    for (i, line) in lines.iter().enumerate() {
        records.clear();
        if let Ok(at) = records.push(set.extractor(), line.as_bytes()) {
            let record = records.get(at, line.as_bytes());
            match set.on_record(0, i as i64, &record, EventTime(BASE)) {
                Ok(per_query) => per_query.iter().for_each(|(_, reason)| rejected[reason.index()] += 1),
                Err(reason) => panic!("a reading in the future? {reason}"),
            }
        }
        if i + 1 == next_cut {
            emissions.extend(set.on_input(EventTime(BASE)));
            next_cut += 1 + rng.below(50) as usize;
        }
    }
    emissions.extend(set.on_end(EventTime(BASE)));
    let mut rows: Vec<Vec<Value>> = vec![Vec::new(); set.plans().count()];
    let names: Vec<String> = set.plans().map(|p| p.name.clone()).collect();
    for emission in emissions {
        assert!(emission.is_final && emission.revision == 0, "no late data here");
        let mut text = Vec::new();
        emission.write_jsonl(&mut text);
        let query = names.iter().position(|n| **n == *emission.query).unwrap();
        for line in String::from_utf8(text).unwrap().lines() {
            rows[query].push(serde_json::from_str(line).unwrap());
        }
    }
    rows
}

fn round(seed: u64, dir: &Path, rejected: &mut [u64]) -> Round {
    let mut rng = Rng(seed);
    let lines = 100 + rng.below(500) as usize;
    let data = data::data(&mut rng, lines);
    let file = dir.join(format!("round-{seed}.jsonl"));
    std::fs::write(&file, data.duckdb.join("\n") + "\n").unwrap();
    let queries: Vec<Query> = (0..QUERIES_PER_ROUND).map(|_| queries::query(&mut rng)).collect();
    let named: Vec<(String, String)> =
        queries.iter().enumerate().map(|(i, q)| (format!("q{i}"), q.engine_sql())).collect();
    let mut set = QuerySet::new(&named, settings()).unwrap_or_else(|e| panic!("{e}\n{named:#?}"));
    let engine = run_engine(&mut set, &data.engine, &mut rng, rejected);
    let duckdb_sql = queries.iter().map(|q| q.duckdb_sql(&file.display().to_string())).collect();
    Round { queries, engine, duckdb_sql, file }
}

/// DuckDB's rows, as the engine writes them: the window start, `k0…`, `c0…`.
fn duckdb_rows(query: &Query, rows: &[Value]) -> Vec<serde_json::Map<String, Value>> {
    rows.iter()
        .map(|row| {
            let row = row.as_array().unwrap();
            let mut out = serde_json::Map::new();
            out.insert("window_start".into(), EventTime(row[0].as_i64().unwrap()).to_string().into());
            for i in 0..query.keys.len() {
                let part = &row[1 + 4 * i..5 + 4 * i];
                let value = match part[0].as_str() {
                    Some("n") => part[1].clone(),
                    Some("s") => part[2].clone(),
                    Some("b") => part[3].clone(),
                    _ => Value::Null,
                };
                out.insert(format!("k{i}"), value);
            }
            for (i, value) in row[1 + 4 * query.keys.len()..].iter().enumerate() {
                out.insert(format!("c{i}"), value.clone());
            }
            out
        })
        .collect()
}

fn sort_key(row: &serde_json::Map<String, Value>) -> String {
    let keys: Vec<String> =
        row.iter().filter(|(k, _)| k.starts_with('k')).map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}|{}", row["window_start"], keys.join(","))
}

/// Why two cells differ, if they do.
fn differs(engine: &Value, duckdb: &Value, percentile: bool) -> bool {
    match (engine, duckdb) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            let allowed = if percentile {
                b.abs() / 129.0 * (1.0 + 1e-9) + 5.5e-20
            } else {
                1e-9 * a.abs().max(b.abs()).max(1.0)
            };
            (a - b).abs() > allowed
        }
        (a, b) => a != b,
    }
}

fn compare(
    query: &Query,
    sql: &str,
    duck_sql: &str,
    engine: &[Value],
    duckdb: &[Value],
) -> Result<usize, String> {
    let mut mine: Vec<serde_json::Map<String, Value>> = engine
        .iter()
        .map(|row| {
            let mut row = row.as_object().unwrap().clone();
            for header in ["query", "window_end", "final", "revision"] {
                row.remove(header);
            }
            row
        })
        .collect();
    let mut theirs = duckdb_rows(query, duckdb);
    mine.sort_by_key(sort_key);
    theirs.sort_by_key(sort_key);
    let context = || format!("engine: {sql}\nduckdb: {duck_sql}");
    if mine.len() != theirs.len() {
        let first = mine.iter().zip(&theirs).find(|(a, b)| sort_key(a) != sort_key(b));
        return Err(format!(
            "{} rows vs DuckDB's {}; first difference {first:?}\n{}",
            mine.len(),
            theirs.len(),
            context()
        ));
    }
    for (a, b) in mine.iter().zip(&theirs) {
        let percentile_columns =
            query.outs.iter().map(|o| matches!(o, Out::Agg(i) if query.aggs[*i].is_percentile()));
        let keys_differ = sort_key(a) != sort_key(b);
        let values_differ = percentile_columns
            .enumerate()
            .any(|(i, p)| differs(&a[&format!("c{i}")], &b[&format!("c{i}")], p));
        if keys_differ || values_differ {
            return Err(format!("row differs:\n  engine {a:?}\n  duckdb {b:?}\n{}", context()));
        }
    }
    Ok(mine.len())
}

/// Every query's rows against DuckDB's: the failures, rows compared, queries without rows.
fn compare_all(rounds: &[Round], results: &[Value]) -> (Vec<String>, usize, usize) {
    let (mut failures, mut rows, mut empty) = (Vec::new(), 0, 0);
    let mut results = results.iter();
    for round in rounds {
        for (i, query) in round.queries.iter().enumerate() {
            let result = results.next().unwrap();
            let duckdb = result
                .as_array()
                .unwrap_or_else(|| panic!("DuckDB refused {}: {result}", round.duckdb_sql[i]));
            match compare(query, &query.engine_sql(), &round.duckdb_sql[i], &round.engine[i], duckdb) {
                Ok(0) => empty += 1,
                Ok(n) => rows += n,
                Err(why) => failures.push(format!("{}:\n{why}", round.file.display())),
            }
        }
    }
    (failures, rows, empty)
}

#[test]
fn queries_agree_with_duckdb() {
    let python = match python() {
        Ok(python) => python,
        Err(why) => {
            println!("SKIPPED: the DuckDB differential test needs Python with duckdb ({why}); set IOTSTREAM_PYTHON");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("iotstream-duckdb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rejected = vec![0u64; RejectReason::EVERY.len()];
    let rounds: Vec<Round> = (1..=ROUNDS).map(|seed| round(seed, &dir, &mut rejected)).collect();
    let job: Vec<&String> = rounds.iter().flat_map(|r| &r.duckdb_sql).collect();
    let (job_file, results_file) = (dir.join("job.json"), dir.join("results.json"));
    std::fs::write(&job_file, serde_json::to_string(&job).unwrap()).unwrap();
    let oracle = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/duckdb/oracle.py");
    let status = Command::new(&python).arg(oracle).arg(&job_file).arg(&results_file).status().unwrap();
    assert!(status.success(), "the DuckDB oracle failed");
    let results: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&results_file).unwrap()).unwrap();
    let (failures, rows, empty) = compare_all(&rounds, &results);
    println!(
        "{} queries, {rows} rows equal, {empty} queries without rows",
        ROUNDS as usize * QUERIES_PER_ROUND
    );
    assert!(
        failures.is_empty(),
        "{} queries disagree with DuckDB; the first:\n{}",
        failures.len(),
        failures[0]
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(rows > 2000 && empty < 100, "too little was compared: {rows} rows, {empty} empty queries");
    for reason in [RejectReason::WrongType, RejectReason::OutOfRange, RejectReason::NonFinite] {
        assert!(
            rejected[reason.index()] > 0,
            "no reading was rejected as {reason}: the data should provoke it"
        );
    }
}
