//! Runs the seed's analyses or SQL queries over a file of readings, on one thread, in event
//! time — the cost figures of docs/QUERIES.md, measured with callgrind:
//!
//! ```text
//! cargo build --release --example queries -p iotstream-engine
//! valgrind --tool=callgrind target/release/examples/queries FILE MODE
//! ```
//!
//! MODE: `read` (read and split lines only: the baseline to subtract), `seed` (the seed's four
//! analyses in 1-minute windows), `one` (one typical query), `five` (five typical queries
//! together), `extract` (the queries' field extraction alone), or `memory GROUPS` (resident
//! memory per group and per sketch, from /proc/self/status).

use std::process::ExitCode;

use iotstream_engine::lines::lines;
use iotstream_engine::operator::{EventTimeConfig, OperatorConfig};
use iotstream_engine::query::{FieldPath, QuerySet, Settings, Time};
use iotstream_engine::{EventTime, Parser, WindowSpec};

const SECOND: i64 = 1_000_000;

/// The typical query.
const ONE: &str = "SELECT state, avg(payload.data.temperature) AS avg_t FROM readings \
                   GROUP BY tumble(interval '1 minute'), state";

/// Five typical queries: tumbling and sliding windows, WHERE, HAVING, count(DISTINCT), percentiles.
const FIVE: [&str; 5] = [
    ONE,
    "SELECT state, max(payload.data.temperature) AS hi FROM readings \
     GROUP BY hop(interval '10 seconds', interval '1 minute'), state",
    "SELECT state, count(*) AS hot FROM readings WHERE payload.data.temperature > 80 \
     GROUP BY tumble(interval '1 minute'), state HAVING count(*) > 5",
    "SELECT payload.format, count(DISTINCT guid) AS sensors FROM readings \
     GROUP BY tumble(interval '1 minute'), payload.format",
    "SELECT state, approx_percentile(payload.data.temperature, 0.95) AS p95, \
     approx_percentile(payload.data.temperature, 0.5) AS p50 FROM readings \
     GROUP BY tumble(interval '5 minutes'), state",
];

fn config() -> EventTimeConfig {
    EventTimeConfig {
        window: WindowSpec::tumbling(60 * SECOND).unwrap_or_else(|_| unreachable!()),
        max_delay: 5 * SECOND,
        allowed_lateness: 0,
        max_skew: None,
        idle_timeout: None,
    }
}

/// Blocks of lines as the binary reads them (64 KiB), each followed by `on_input`.
fn blocks(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = rest.len().min(64 * 1024);
        let end = rest[cut..].iter().position(|&b| b == b'\n').map_or(rest.len(), |i| cut + i + 1);
        let (block, tail) = rest.split_at(end);
        rest = tail;
        Some(block)
    })
}

fn seed(input: &[u8]) -> usize {
    let parser = Parser::default();
    let mut operator = OperatorConfig::Windows { config: config(), emit_every: None }.build(EventTime(0));
    let mut results = 0;
    for (b, block) in blocks(input).enumerate() {
        for (i, line) in lines(block).enumerate() {
            if let Ok(reading) = parser.parse(line) {
                let _ = operator.on_reading(0, (b * 100_000 + i) as i64, &reading, EventTime(0));
            }
        }
        results += operator.on_input(EventTime(0)).len();
    }
    results + operator.on_end(EventTime(0), 0).len()
}

fn queries(input: &[u8], sql: &[&str], max_groups: u32) -> Result<(QuerySet, usize), String> {
    let named: Vec<(String, String)> =
        sql.iter().enumerate().map(|(i, s)| (format!("q{i}"), s.to_string())).collect();
    let time = Time::Event { field: FieldPath::new(["eventTime"]), config: config() };
    let settings = Settings { time, max_groups, max_line_bytes: 65536 };
    let mut set = QuerySet::new(&named, settings).map_err(|e| e.to_string())?;
    let mut records = set.records();
    let mut rows = 0;
    for (b, block) in blocks(input).enumerate() {
        // A block's records together, as a parsing thread hands them over.
        records.clear();
        for (i, line) in lines(block).enumerate() {
            if let Ok(at) = records.push(set.extractor(), line) {
                let _ = set.on_record(0, (b * 100_000 + i) as i64, &records.get(at, line), EventTime(0));
            }
        }
        rows += set.on_input(EventTime(0)).iter().map(|e| e.rows.len()).sum::<usize>();
    }
    rows += set.on_end(EventTime(0)).iter().map(|e| e.rows.len()).sum::<usize>();
    Ok((set, rows))
}

fn extract_only(input: &[u8]) -> Result<usize, String> {
    let named: Vec<(String, String)> =
        FIVE.iter().enumerate().map(|(i, s)| (format!("q{i}"), s.to_string())).collect();
    let time = Time::Event { field: FieldPath::new(["eventTime"]), config: config() };
    let set = QuerySet::new(&named, Settings { time, max_groups: 0, max_line_bytes: 65536 })
        .map_err(|e| e.to_string())?;
    let mut records = set.records();
    let mut ok = 0;
    for block in blocks(input) {
        records.clear();
        for line in lines(block) {
            ok += usize::from(records.push(set.extractor(), line).is_ok());
        }
    }
    Ok(ok)
}

/// Resident memory in KiB.
fn resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Memory of `groups` groups in one window: a group per sensor with the typical query's
/// aggregates, then with a percentile sketch over values spread across two octaves.
fn memory(groups: u64) -> Result<String, String> {
    let lines_of = |spread: f64| -> Vec<u8> {
        (0..groups * 4)
            .map(|i| {
                let value = 20.0 + spread * (i % 97) as f64 / 97.0;
                format!(r#"{{"guid":"g{}","eventTime":"2016-11-16T13:26:00Z","payload":{{"data":{{"temperature":{value}}}}}}}"#, i % groups) + "\n"
            })
            .collect::<String>()
            .into_bytes()
    };
    let mut report = String::new();
    for (what, sql, spread) in [
        ("avg", "SELECT guid, avg(payload.data.temperature) AS a FROM readings GROUP BY tumble(interval '1 minute'), guid", 60.0),
        ("sketch", "SELECT guid, approx_percentile(payload.data.temperature, 0.5) AS p FROM readings GROUP BY tumble(interval '1 minute'), guid", 60.0),
    ] {
        let input = lines_of(spread);
        let before = resident();
        let named = [("m".to_string(), sql.to_string())];
        let time = Time::Event { field: FieldPath::new(["eventTime"]), config: config() };
        let mut set = QuerySet::new(&named, Settings { time, max_groups: 0, max_line_bytes: 65536 }).map_err(|e| e.to_string())?;
        let mut records = set.records();
        for (i, line) in lines(&input).enumerate() {
            records.clear();
            if let Ok(at) = records.push(set.extractor(), line) {
                let _ = set.on_record(0, i as i64, &records.get(at, line), EventTime(0));
            }
        }
        let after = resident();
        let open = set.live()[0].groups_open;
        report += &format!("{what}: {open} groups, {} bytes per group\n", (after.saturating_sub(before)) * 1024 / open.max(1));
        drop(set);
    }
    Ok(report)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let outcome = match args.get(1..).unwrap_or(&[]) {
        [mode, groups] if mode == "memory" => groups.parse().map_err(|e| format!("{e}")).and_then(memory),
        [file, mode] => match std::fs::read(file) {
            Ok(input) => match mode.as_str() {
                "read" => Ok(format!("{} lines", lines(&input).count())),
                "seed" => Ok(format!("{} results", seed(&input))),
                "one" => queries(&input, &[ONE], 0).map(|(_, rows)| format!("{rows} rows")),
                "five" => queries(&input, &FIVE, 0).map(|(_, rows)| format!("{rows} rows")),
                "extract" => extract_only(&input).map(|n| format!("{n} records")),
                other => Err(format!("unknown mode {other}")),
            },
            Err(e) => Err(format!("{file}: {e}")),
        },
        _ => Err("usage: queries FILE read|seed|one|five|extract, or queries memory GROUPS".into()),
    };
    match outcome {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
