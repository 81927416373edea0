//! Replays the fuzzer's corpus and every input it ever found a problem with (`fuzz/corpus/parse`,
//! `fuzz/regressions/parse`) through the parser's invariants (and the queries' extractor's), so `cargo test` guards what fuzzing
//! found without needing the fuzzer.

use std::path::Path;

use iotstream_engine::parse::{fast_and_general_agree, RejectReason, MAX_ABS_TEMPERATURE};
use iotstream_engine::query::extract::extractor_agrees_with_serde_json;
use iotstream_engine::Parser;

fn inputs() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut inputs = Vec::new();
    for folder in ["corpus/parse", "regressions/parse"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder)) else { continue };
        for entry in entries.flatten() {
            if entry.path().is_file() {
                inputs.push((entry.path().display().to_string(), std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    inputs
}

#[test]
fn the_fuzz_corpus_keeps_the_parser_invariants() {
    let inputs = inputs();
    assert!(inputs.len() >= 20, "the corpus is missing ({} inputs)", inputs.len());
    let parser = Parser::default();
    let mut accepted = 0;
    for (name, data) in &inputs {
        match parser.parse(data) {
            Ok(reading) => {
                accepted += 1;
                assert!(
                    reading.temperature.is_finite() && reading.temperature.abs() < MAX_ABS_TEMPERATURE,
                    "{name}"
                );
            }
            Err(reason) => assert!(RejectReason::PARSE.contains(&reason), "{name}: {reason:?}"),
        }
        assert!(fast_and_general_agree(data), "{name}: the fast path disagrees");
        assert!(
            extractor_agrees_with_serde_json(data),
            "{name}: the queries' extractor disagrees with serde_json"
        );
    }
    assert!(accepted > 0, "the corpus should hold valid readings too");
}
