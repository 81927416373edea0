//! Parser tests: one case per rule, plus agreement between the fast and the general path.

use super::*;
use crate::reading::StateCode;

const SEED_LINE: &str = r#"{"guid":"0-ZZZ12345678-08K","destination":"0-AAA12345678","state":"CA", "eventTime":"2016-11-16T13:26:39.447974Z", "payload":{"format":"urn:example:sensor:temp", "data":{"temperature":59.7}}}"#;

fn parse(line: &str) -> Result<Reading<'_>, RejectReason> {
    Parser::default().parse(line.as_bytes())
}

fn reason(line: &str) -> RejectReason {
    match parse(line) {
        Ok(r) => panic!("{line:?} parsed as {r:?}"),
        Err(reason) => reason,
    }
}

#[test]
fn seed_line_takes_the_fast_path() {
    let reading = fast::parse(SEED_LINE.as_bytes()).expect("fast path");
    assert_eq!(reading.guid, "0-ZZZ12345678-08K");
    assert_eq!(reading.state, StateCode::from_bytes(b"CA").unwrap());
    assert_eq!(reading.temperature, 59.7);
    assert_eq!(reading.event_time.to_string(), "2016-11-16T13:26:39.447974Z");
    assert_eq!(general::parse(SEED_LINE), Ok(reading));
}

#[test]
fn valid_variants_parse_to_the_same_reading() {
    let expected = parse(SEED_LINE).unwrap();
    for line in [
        // Keys reordered, extra fields everywhere, pretty-printed, escapes, CRLF, seed's `Z` variants.
        r#"{"state":"CA","payload":{"data":{"temperature":59.7},"format":"x"},"guid":"0-ZZZ12345678-08K","eventTime":"2016-11-16T13:26:39.447974Z"}"#,
        r#"{"guid":"0-ZZZ12345678-08K","extra":[1,{"a":null},1e400,"\u00e9"],"state":"CA","eventTime":"2016-11-16T13:26:39.447974Z","payload":{"data":{"temperature":59.7,"unit":"F"}}}"#,
        "{\n  \"guid\": \"0-ZZZ12345678-08K\",\n  \"state\": \"CA\",\n  \"eventTime\": \"2016-11-16T13:26:39.447974Z\",\n  \"payload\": {\"data\": {\"temperature\": 59.7}}\n}",
        r#"{"guid":"0-ZZZ12345678-08\u004b","state":"C\u0041","eventTime":"2016-11-16T13:26:39.447974Z","payload":{"data":{"temperature":59.7}}}"#,
        r#"{"gu\u0069d":"0-ZZZ12345678-08K","state":"CA","eventTime":"2016-11-16T14:26:39.447974+01:00","payload":{"data":{"temperature":5.97e1}}}"#,
        "{\"guid\":\"0-ZZZ12345678-08K\",\"state\":\"CA\",\"eventTime\":\"2016-11-16T13:26:39.447974Z\",\"payload\":{\"data\":{\"temperature\":59.7}}}\r",
    ] {
        assert_eq!(parse(line).as_ref(), Ok(&expected), "{line}");
    }
    let no_fraction = r#"{"guid":"g","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":-0}}}"#;
    assert_eq!(parse(no_fraction).unwrap().temperature, 0.0);
}

#[test]
fn every_reason() {
    let long = format!(r#"{{"guid":"{}"}}"#, "x".repeat(DEFAULT_MAX_LINE_BYTES));
    let cases: &[(&[u8], RejectReason)] = &[
        (b"{\"guid\":\"\xff\"}", RejectReason::NotUtf8),
        (b"", RejectReason::Empty),
        (b" \t\r ", RejectReason::Empty),
        (long.as_bytes(), RejectReason::TooLarge),
        (b"{", RejectReason::MalformedJson),
        (b"not json", RejectReason::MalformedJson),
        (br#"{"guid":"a",}"#, RejectReason::MalformedJson),
        (br#"{"guid":"a"} {}"#, RejectReason::MalformedJson),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":NaN}}}"#, RejectReason::MalformedJson),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":Infinity}}}"#, RejectReason::MalformedJson),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":01}}}"#, RejectReason::MalformedJson),
        (b"[1,2]", RejectReason::NotObject),
        (b"42", RejectReason::NotObject),
        (b"1e400", RejectReason::NotObject),
        (b"\"text\"", RejectReason::NotObject),
        (b"null", RejectReason::NotObject),
        (br#"{}"#, RejectReason::MissingField),
        (br#"{"state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#, RejectReason::MissingField),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{}}"#, RejectReason::MissingField),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{}}}"#, RejectReason::MissingField),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z"}"#, RejectReason::MissingField),
        (br#"{"guid":7,"state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#, RejectReason::WrongType),
        (br#"{"guid":"a","state":null,"eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#, RejectReason::WrongType),
        (br#"{"guid":"a","state":"CA","eventTime":1479302799,"payload":{"data":{"temperature":1}}}"#, RejectReason::WrongType),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":[]}"#, RejectReason::WrongType),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":"x"}}"#, RejectReason::WrongType),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":"59.7"}}}"#, RejectReason::WrongType),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":null}}}"#, RejectReason::WrongType),
        (br#"{"guid":"a","guid":"b","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#, RejectReason::DuplicateField),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1,"temperature":2}}}"#, RejectReason::DuplicateField),
        (br#"{"guid":"a","state":"ZZ","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#, RejectReason::UnknownState),
        (br#"{"guid":"a","state":"ca","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#, RejectReason::UnknownState),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1e400}}}"#, RejectReason::NonFinite),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":-1e400}}}"#, RejectReason::NonFinite),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":2e19}}}"#, RejectReason::OutOfRange),
        (br#"{"guid":"a","state":"CA","eventTime":"yesterday","payload":{"data":{"temperature":1}}}"#, RejectReason::BadTimestamp),
        (br#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39","payload":{"data":{"temperature":1}}}"#, RejectReason::BadTimestamp),
    ];
    let parser = Parser::default();
    for (line, expected) in cases {
        let got = parser.parse(line);
        assert_eq!(got.err(), Some(*expected), "{}", String::from_utf8_lossy(line));
    }
    let mut seen: Vec<_> = cases.iter().map(|(_, r)| *r).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, RejectReason::PARSE, "a reason has no test case");
}

#[test]
fn reasons_follow_the_documented_order() {
    // Several problems at once: the first in guid → state → eventTime → temperature order wins.
    assert_eq!(reason(r#"{"guid":1,"state":"ZZ"}"#), RejectReason::WrongType);
    assert_eq!(reason(r#"{"guid":"a","state":"ZZ","eventTime":"x"}"#), RejectReason::UnknownState);
    assert_eq!(
        reason(r#"{"guid":"a","state":"CA","eventTime":"x","payload":{"data":{"temperature":"x"}}}"#),
        RejectReason::BadTimestamp
    );
}

#[test]
fn size_limit_is_configurable() {
    let parser = Parser::new(SEED_LINE.len());
    assert!(parser.parse(SEED_LINE.as_bytes()).is_ok());
    let parser = Parser::new(SEED_LINE.len() - 1);
    assert_eq!(parser.parse(SEED_LINE.as_bytes()).err(), Some(RejectReason::TooLarge));
}

#[test]
fn deep_nesting_is_rejected_not_a_crash() {
    // Valid, absurdly deep JSON is still judged by its fields, without exhausting the stack.
    let parser = Parser::new(usize::MAX);
    let deep = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(parser.parse(deep.as_bytes()).err(), Some(RejectReason::MissingField));
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(parser.parse(deep_array.as_bytes()).err(), Some(RejectReason::NotObject));
    let unclosed = "[".repeat(100_000);
    assert_eq!(parser.parse(unclosed.as_bytes()).err(), Some(RejectReason::MalformedJson));
}

#[test]
fn spacing_anywhere_agrees_with_the_general_path() {
    // Whitespace inserted at every position, and the seed's own spaces removed: wherever JSON allows
    // it, the fast path must still accept (through its spaced walk), and always agree.
    let compact = SEED_LINE.replace(", \"", ",\"");
    let mut fast_accepted = 0;
    for base in [SEED_LINE, compact.as_str()] {
        assert!(fast::parse(base.as_bytes()).is_some(), "{base}");
        for i in 0..=base.len() {
            for ws in [" ", "\t", "\r\n", "  "] {
                let line = format!("{}{ws}{}", &base[..i], &base[i..]);
                assert!(fast_and_general_agree(line.as_bytes()), "{line}");
                fast_accepted += usize::from(fast::parse(line.as_bytes()).is_some());
            }
        }
    }
    // Between tokens (not inside strings or numbers) the fast path keeps the line.
    assert!(fast_accepted > 100, "{fast_accepted}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Seed-like lines with random damage: byte flips, insertions, deletions and truncation.
    fn mutated_line() -> impl Strategy<Value = Vec<u8>> {
        let edits = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 0..4);
        edits.prop_map(|edits| {
            let mut line = SEED_LINE.as_bytes().to_vec();
            for (at, byte, kind) in edits {
                let i = at.index(line.len() + 1);
                match kind {
                    0 if i < line.len() => line[i] = byte,
                    1 => line.insert(i, byte),
                    2 if i < line.len() => {
                        line.remove(i);
                    }
                    _ => line.truncate(i),
                }
            }
            line
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// The fast path never changes an answer: whatever it accepts, the general path accepts
        /// identically.
        #[test]
        fn fast_path_agrees_with_general(line in mutated_line()) {
            if let Some(fast) = fast::parse(&line) {
                let text = std::str::from_utf8(&line).expect("fast path accepted non-UTF-8");
                prop_assert_eq!(general::parse(text), Ok(fast));
            }
        }

        /// Whatever the bytes, parsing returns (never panics), and a success has a finite temperature.
        #[test]
        fn never_panics(line in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(reading) = Parser::default().parse(&line) {
                prop_assert!(reading.temperature.is_finite());
            }
        }

        /// Short decimals (the readings' usual form) read exactly as the general float parser reads
        /// them, through the fast path's own conversion.
        #[test]
        fn short_decimals_read_as_the_float_parser_reads_them(
            negative in any::<bool>(), whole in 0u64..1_000_000_000, fraction in 0u64..1_000_000, places in 0usize..6,
        ) {
            let digits = if places == 0 { whole.to_string() } else { format!("{whole}.{:0places$}", fraction % 10u64.pow(places as u32)) };
            let text = if negative { format!("-{digits}") } else { digits };
            let line = SEED_LINE.replace("59.7", &text);
            let expected: f64 = text.parse().unwrap();
            prop_assert_eq!(fast::parse(line.as_bytes()).map(|r| r.temperature.to_bits()), Some(expected.to_bits()));
        }

        /// The temperature text round-trips exactly as Rust (and Python) read it.
        #[test]
        fn temperatures_round_trip(t in -1.0e6f64..1.0e6) {
            let line = SEED_LINE.replace("59.7", &format!("{t}"));
            prop_assert_eq!(parse(&line).unwrap().temperature, t);
        }
    }
}
