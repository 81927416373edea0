//! Parser and aggregation throughput on the seed's own lines (the 10k golden fixture).
//!
//! `cargo bench -p iotstream-engine` prints readings per second for: the fast path alone, the
//! general (serde_json) path alone on the same readings with keys reordered, and parse + aggregate,
//! which is the engine's whole per-reading cost.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use iotstream_engine::lines::lines;
use iotstream_engine::{Aggregate, Parser};

fn fixture() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/seed2016_10k/input.jsonl");
    std::fs::read(path).expect("golden fixture")
}

/// The same readings with `state` moved first, which the fast path does not recognise.
fn reordered(input: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(input);
    let mut out = String::new();
    for line in text.lines() {
        let state_at = line.find(r#""state":"#).unwrap_or(1);
        let state = &line[state_at..state_at + 13];
        out.push('{');
        out.push_str(state);
        out.push_str(&line[1..state_at]);
        out.push_str(&line[state_at + 13..]);
        out.push('\n');
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let input = fixture();
    let other_order = reordered(&input);
    let parser = Parser::default();
    let count = lines(&input).count() as u64;
    assert!(lines(&other_order).all(|l| parser.parse(l).is_ok()));

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(count));
    group.bench_function("fast_path", |b| {
        b.iter(|| lines(&input).filter(|l| parser.parse(black_box(l)).is_ok()).count())
    });
    group.bench_function("general_path", |b| {
        b.iter(|| lines(&other_order).filter(|l| parser.parse(black_box(l)).is_ok()).count())
    });
    group.bench_function("parse_and_aggregate", |b| {
        b.iter(|| {
            let mut aggregate = Aggregate::default();
            for line in lines(&input) {
                match parser.parse(line) {
                    Ok(reading) => aggregate.add(&reading),
                    Err(reason) => aggregate.reject(reason),
                }
            }
            black_box(aggregate.messages())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
