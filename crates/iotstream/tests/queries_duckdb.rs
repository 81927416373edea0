//! The differential test through the binary: random queries from the supported grammar (the
//! engine's generator, `crates/engine/tests/duckdb/`), five at a time, run by
//! `iotstream analyze --query … --format jsonl` over a random multi-format file (broken lines
//! included) with 1, 2 or 4 parsing threads, and by DuckDB over the same readings; every query's
//! rows must equal DuckDB's (percentiles within the sketch's bound). Without a Python that has
//! duckdb it prints SKIPPED and passes; `scripts/test` provides one.

mod common;
#[allow(dead_code)]
#[path = "../../engine/tests/duckdb/compare.rs"]
mod compare;
#[allow(dead_code)]
#[path = "../../engine/tests/duckdb/data.rs"]
mod data;
#[allow(dead_code)]
#[path = "../../engine/tests/duckdb/queries.rs"]
mod queries;

use std::path::Path;

use serde_json::Value;

use common::bin;
use compare::{ask_duckdb, compare_all, python, Round};
use data::Rng;
use queries::Query;

const ROUNDS: u64 = 12;
const QUERIES_PER_ROUND: usize = 5;

/// One round: random readings and queries, the binary's rows per query.
fn round(seed: u64, dir: &Path) -> Round {
    // Other seeds than the engine's test: more of the grammar covered between the two.
    let mut rng = Rng(seed * 7919 + 1000);
    let lines = 200 + rng.below(600) as usize;
    let data = data::data(&mut rng, lines);
    let file = dir.join(format!("duckdb-{seed}.jsonl"));
    std::fs::write(&file, data.duckdb.join("\n") + "\n").unwrap();
    let input = dir.join(format!("input-{seed}.jsonl"));
    std::fs::write(&input, data.engine.join("\n") + "\n").unwrap();
    let queries: Vec<Query> = (0..QUERIES_PER_ROUND).map(|_| queries::query(&mut rng)).collect();
    let threads = ["1", "2", "4"][seed as usize % 3];
    let mut command = bin();
    command.args(["analyze", "--input", input.to_str().unwrap(), "--once", "--format", "jsonl"]);
    command.args(["--time", "event", "--max-delay", "5s", "--threads", threads]);
    for (i, query) in queries.iter().enumerate() {
        command.args(["--query", &format!("q{i}={}", query.engine_sql())]);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut engine: Vec<Vec<Value>> = vec![Vec::new(); queries.len()];
    for line in String::from_utf8(out.stdout).unwrap().lines().filter(|l| l.starts_with("{\"query\":")) {
        let row: Value = serde_json::from_str(line).unwrap();
        assert!(row["final"] == true && row["revision"] == 0, "no late data here: {line}");
        let index: usize = row["query"].as_str().unwrap()[1..].parse().unwrap();
        engine[index].push(row);
    }
    let duckdb_sql = queries.iter().map(|q| q.duckdb_sql(&file.display().to_string())).collect();
    Round { queries, engine, duckdb_sql, file }
}

#[test]
fn queries_through_the_binary_agree_with_duckdb() {
    let python = match python() {
        Ok(python) => python,
        Err(why) => {
            println!("SKIPPED: the DuckDB differential test needs Python with duckdb ({why}); set IOTSTREAM_PYTHON");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let rounds: Vec<Round> = (1..=ROUNDS).map(|seed| round(seed, dir.path())).collect();
    let oracle = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/duckdb/oracle.py");
    let results = ask_duckdb(&python, &oracle, &rounds, dir.path());
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
    assert!(rows > 300 && empty < 20, "too little was compared: {rows} rows, {empty} empty queries");
}
