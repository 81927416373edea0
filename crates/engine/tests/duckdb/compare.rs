//! What the differential tests share (the engine's, and the binary's in
//! `crates/iotstream/tests/queries_duckdb.rs`): finding Python with duckdb, DuckDB's rows in the
//! engine's form, and the row-by-row comparison (counts exactly, doubles to 1e-9, percentiles
//! within the sketch's bound of DuckDB's `quantile_disc`).

use std::path::{Path, PathBuf};
use std::process::Command;

use iotstream_engine::EventTime;
use serde_json::Value;

use crate::queries::{Out, Query};

/// The Python with duckdb, or why there is none.
pub fn python() -> Result<String, String> {
    let python =
        std::env::var("IOTSTREAM_PYTHON").unwrap_or_else(|_| "/var/cache/iotstream/venv/bin/python".into());
    match Command::new(&python).args(["-c", "import duckdb"]).output() {
        Ok(out) if out.status.success() => Ok(python),
        Ok(_) => Err(format!("{python} has no duckdb module")),
        Err(e) => Err(format!("{python}: {e}")),
    }
}

/// One round: its queries, the engine's rows per query, and the DuckDB SQL per query.
pub struct Round {
    pub queries: Vec<Query>,
    pub engine: Vec<Vec<Value>>,
    pub duckdb_sql: Vec<String>,
    pub file: PathBuf,
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
pub fn compare_all(rounds: &[Round], results: &[Value]) -> (Vec<String>, usize, usize) {
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

/// Every round's DuckDB SQL run by `oracle` (one Python process), its results in order.
pub fn ask_duckdb(python: &str, oracle: &Path, rounds: &[Round], dir: &Path) -> Vec<Value> {
    let job: Vec<&String> = rounds.iter().flat_map(|r| &r.duckdb_sql).collect();
    let (job_file, results_file) = (dir.join("job.json"), dir.join("results.json"));
    std::fs::write(&job_file, serde_json::to_string(&job).unwrap()).unwrap();
    let status = Command::new(python).arg(oracle).arg(&job_file).arg(&results_file).status().unwrap();
    assert!(status.success(), "the DuckDB oracle failed");
    serde_json::from_str(&std::fs::read_to_string(&results_file).unwrap()).unwrap()
}
