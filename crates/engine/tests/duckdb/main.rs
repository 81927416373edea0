//! Differential test: random queries from the supported grammar over random multi-format
//! readings, run through the engine (several queries at once, one pass, input cut into random
//! chunks) and through DuckDB (`oracle.py`, Python's `duckdb` from `IOTSTREAM_PYTHON`), answers
//! compared row by row: counts exactly, doubles to 1e-9, percentiles within the sketch's bound
//! of DuckDB's `quantile_disc`. Without a Python that has duckdb it prints SKIPPED and passes;
//! `scripts/test` provides one.

mod compare;
mod data;
mod queries;

use std::path::Path;

use iotstream_engine::operator::EventTimeConfig;
use iotstream_engine::query::{QuerySet, Settings, Time};
use iotstream_engine::{EventTime, RejectReason, WindowSpec};
use serde_json::Value;

use compare::{ask_duckdb, compare_all, python, Round};
use data::{Rng, BASE, SECOND};
use queries::Query;

const ROUNDS: u64 = 60;
const QUERIES_PER_ROUND: usize = 5;

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
    let oracle = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/duckdb/oracle.py");
    let results = ask_duckdb(&python, &oracle, &rounds, &dir);
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
