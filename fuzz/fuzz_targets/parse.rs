//! Fuzzes the parser with arbitrary bytes: it must never panic, every rejection must carry one of
//! the parser's reasons, every reading must be valid, and whatever the fast path accepts the
//! general path must accept identically. The queries' field extractor reads the same bytes: it
//! must never panic and must give serde_json's verdict.
#![no_main]

use iotstream_engine::parse::{fast_and_general_agree, RejectReason};
use iotstream_engine::query::extract::extractor_agrees_with_serde_json;
use iotstream_engine::Parser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Parser::default().parse(data) {
        Ok(reading) => {
            assert!(reading.temperature.is_finite());
            assert!(reading.temperature.abs() < iotstream_engine::parse::MAX_ABS_TEMPERATURE);
        }
        Err(reason) => assert!(RejectReason::PARSE.contains(&reason), "{reason:?}"),
    }
    assert!(fast_and_general_agree(data));
    assert!(extractor_agrees_with_serde_json(data));
});
