//! The extractor held to serde_json's verdicts: for the fuzz target and the property tests.

use super::fields::{Extractor, FieldPath};
use super::records::Records;
use crate::parse::{RejectReason, DEFAULT_MAX_LINE_BYTES};

/// For fuzzing and tests: true when the extractor's verdict on `bytes` (read for a few seed
/// fields) is serde_json's — a record exactly for the objects serde_json reads, and otherwise
/// the same reason — whether it is read by the full scanner or against a learnt shape (the
/// seed's, and its own), with the same values either way; and nothing panics.
#[doc(hidden)]
pub fn extractor_agrees_with_serde_json(bytes: &[u8]) -> bool {
    const SEED: &[u8] = br#"{"guid":"0-ZZZ12345678-08K","destination":"0-AAA12345678","state":"CA", "eventTime":"2016-11-16T13:26:39Z", "payload":{"format":"urn:example:sensor:temp", "data":{"temperature":59.7}}}"#;
    let paths: Vec<FieldPath> = ["guid", "state", "payload.data.temperature", "payload.data"]
        .iter()
        .map(|p| FieldPath::new(p.split('.')))
        .collect();
    let (extractor, slots) = Extractor::new(&paths, None, DEFAULT_MAX_LINE_BYTES);
    let mut records = Records::new(&extractor);
    let seed = records.push(&extractor, SEED).is_ok();
    let verdicts = [records.push(&extractor, bytes), records.push(&extractor, bytes)];
    let values = |at: usize| -> Vec<_> {
        let record = records.get(at, bytes);
        slots.iter().map(|&slot| record.value(slot)).collect()
    };
    let same_values = match verdicts {
        [Ok(first), Ok(second)] => values(first) == values(second),
        _ => true,
    };
    let expected = serde_verdict(bytes, DEFAULT_MAX_LINE_BYTES);
    seed && same_values && verdicts.iter().all(|v| v.map(|_| ()) == expected)
}

/// serde_json's verdict on a message, in the extractor's terms.
pub(super) fn serde_verdict(bytes: &[u8], max_line_bytes: usize) -> Result<(), RejectReason> {
    if bytes.len() > max_line_bytes {
        return Err(RejectReason::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| RejectReason::NotUtf8)?;
    let text = text.trim_start_matches([' ', '\t', '\n', '\r']);
    if text.trim_end_matches([' ', '\t', '\n', '\r']).is_empty() {
        return Err(RejectReason::Empty);
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| RejectReason::MalformedJson)?;
    if text.starts_with('{') {
        Ok(())
    } else {
        Err(RejectReason::NotObject)
    }
}
