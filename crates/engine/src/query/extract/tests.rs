//! The extractor against serde_json: the same verdict on every message, the same values.

use proptest::prelude::*;

use super::*;
use crate::parse::RejectReason;
use crate::query::value::V;
use crate::reading::EventTime;
use verdict::serde_verdict;

fn paths() -> Vec<FieldPath> {
    ["guid", "state", "payload.format", "payload.data.temperature", "payload.data.co2-ppm", "payload.data"]
        .iter()
        .map(|p| FieldPath::new(p.split('.')))
        .collect()
}

fn extract(line: &str) -> Result<Vec<Result<V<'static>, RejectReason>>, RejectReason> {
    let (extractor, slots) = Extractor::new(&paths(), None, 1000);
    let mut records = Records::new(&extractor);
    let leaked: &'static [u8] = Box::leak(line.as_bytes().to_vec().into_boxed_slice());
    let index = records.push(&extractor, leaked)?;
    let records: &'static Records = Box::leak(Box::new(records));
    let record = records.get(index, leaked);
    Ok(slots.iter().map(|&s| record.value(s)).collect())
}

#[test]
fn fields_at_any_depth_with_escapes_and_odd_names() {
    let line = r#" {"payload":{"data":{"co2-ppm":412,"temperature":-3.5e1},"format":"f\u00e9"},"guid":"g\"1","state":null} "#;
    let values = extract(line).unwrap();
    assert_eq!(values[0], Ok(V::Str(b"g\"1")));
    assert_eq!(values[1], Ok(V::Null));
    assert_eq!(values[2], Ok(V::Str("f\u{e9}".as_bytes())));
    assert_eq!(values[3], Ok(V::Num(-35.0)));
    assert_eq!(values[4], Ok(V::Num(412.0)));
    assert_eq!(values[5], Ok(V::Object), "a path that is also a prefix of others");
}

#[test]
fn missing_and_odd_values_are_values_not_rejections() {
    let values = extract(r#"{"payload":"text","state":[1,{"a":2}],"guid":1e400}"#).unwrap();
    assert_eq!(values[3], Ok(V::Null), "a path through a string is NULL");
    assert_eq!(values[1], Ok(V::Array));
    assert_eq!(values[0], Err(RejectReason::NonFinite));
    assert_eq!(extract(r#"{}"#).unwrap()[5], Ok(V::Null));
    let key_escape = extract(r#"{"gu\u0069d":"x","st\ud800ate":1}"#).unwrap();
    assert_eq!((key_escape[0], key_escape[1]), (Ok(V::Str(b"x")), Ok(V::Null)));
    let lone_surrogate = extract(r#"{"guid":"a\udfffb","state":"CA"}"#).unwrap();
    assert_eq!((lone_surrogate[0], lone_surrogate[1]), (Err(RejectReason::MalformedJson), Ok(V::Str(b"CA"))));
}

#[test]
fn repeated_keys_make_the_fields_below_them_ambiguous() {
    let values = extract(r#"{"guid":"a","guid":"b","state":"CA"}"#).unwrap();
    assert_eq!((values[0], values[1]), (Err(RejectReason::DuplicateField), Ok(V::Str(b"CA"))));
    let values = extract(r#"{"payload":{"data":{"temperature":1}},"payload":{"format":"x"}}"#).unwrap();
    assert_eq!(values[3], Err(RejectReason::DuplicateField), "the second payload has no data");
    assert_eq!(values[2], Err(RejectReason::DuplicateField));
    assert_eq!(
        extract(r#"{"x":1,"x":2,"guid":"g"}"#).unwrap()[0],
        Ok(V::Str(b"g")),
        "unwanted repeats are fine"
    );
}

#[test]
fn rejections_for_every_query_are_todays() {
    assert_eq!(extract(&"x".repeat(1001)), Err(RejectReason::TooLarge));
    assert_eq!(extract(" \t "), Err(RejectReason::Empty));
    assert_eq!(extract("[1,2]"), Err(RejectReason::NotObject));
    assert_eq!(extract("{\"a\":01}"), Err(RejectReason::MalformedJson));
    assert_eq!(extract("{\"a\":1} x"), Err(RejectReason::MalformedJson));
    let (extractor, _) = Extractor::new(&paths(), None, 100);
    assert_eq!(Records::new(&extractor).push(&extractor, b"{\"a\":\"\xff\"}"), Err(RejectReason::NotUtf8));
}

#[test]
fn the_event_time_is_checked_for_every_query() {
    let time = FieldPath::new(["eventTime"]);
    let (extractor, _) = Extractor::new(&paths(), Some(&time), 1000);
    let mut records = Records::new(&extractor);
    let mut push = |line: &str| records.push(&extractor, line.as_bytes().to_vec().leak());
    assert_eq!(push(r#"{"guid":"g"}"#), Err(RejectReason::MissingField));
    assert_eq!(push(r#"{"eventTime":5}"#), Err(RejectReason::WrongType));
    assert_eq!(push(r#"{"eventTime":"yesterday"}"#), Err(RejectReason::BadTimestamp));
    assert_eq!(
        push(r#"{"eventTime":"2016-11-16T13:26:39Z","eventTime":"x"}"#),
        Err(RejectReason::DuplicateField)
    );
    let line: &'static [u8] = b"{\"eventTime\":\"2016-11-16T13:26:39.5Z\"}";
    let at = records.push(&extractor, line).unwrap();
    assert_eq!(records.get(at, line).event_time(), EventTime::parse_rfc3339(b"2016-11-16T13:26:39.5Z"));
}

/// The values serde_json's document model finds at the paths (when it reads the message and
/// none of the paths is ambiguous).
fn agree_with_document(line: &str, values: &[Result<V<'_>, RejectReason>]) -> Result<(), TestCaseError> {
    let Ok(document) = serde_json::from_str::<serde_json::Value>(line) else { return Ok(()) };
    if values.contains(&Err(RejectReason::DuplicateField)) {
        return Ok(());
    }
    for (path, value) in paths().iter().zip(values) {
        let found = path.0.iter().try_fold(&document, |v, key| v.as_object().and_then(|o| o.get(key)));
        let same = match (found, value) {
            (None | Some(serde_json::Value::Null), Ok(V::Null)) => true,
            (Some(serde_json::Value::Bool(a)), Ok(V::Bool(b))) => a == b,
            (Some(serde_json::Value::String(a)), Ok(V::Str(b))) => a.as_bytes() == *b,
            (Some(serde_json::Value::Number(a)), Ok(V::Num(b))) => {
                a.as_f64().is_some_and(|a| (a - b).abs() <= a.abs() * 1e-15)
            }
            (Some(serde_json::Value::Object(_)), Ok(V::Object)) => true,
            (Some(serde_json::Value::Array(_)), Ok(V::Array)) => true,
            _ => false,
        };
        prop_assert!(same, "{} in {}: {:?} vs {:?}", path, line, found, value);
    }
    Ok(())
}

/// JSON texts: sensible ones with random shapes, spacing and escapes.
fn json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,3})?",
        "\"([a-z\u{e9}]|\\\\[nt\"/]|\\\\u00[4-6][0-9a-f]|\\\\ud[89ab][0-9a-f]{2}){0,6}\"",
    ];
    let key = prop_oneof![
        Just("payload"),
        Just("data"),
        Just("temperature"),
        Just("co2-ppm"),
        Just("guid"),
        Just("state"),
        Just("format"),
        Just("x")
    ];
    leaf.prop_recursive(4, 24, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(" , "))),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|members| {
                let members: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\" :{v}")).collect();
                format!("{{ {} }}", members.join(","))
            }),
        ]
    })
}

/// A text with one byte changed, inserted or removed.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (json(), any::<prop::sample::Index>(), any::<u8>(), 0..3u8).prop_map(|(text, at, byte, how)| {
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len() + 1);
        match how {
            0 if i < bytes.len() => bytes[i] = byte,
            1 => bytes.insert(i, byte),
            _ if i < bytes.len() => drop(bytes.remove(i)),
            _ => {}
        }
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn same_verdict_and_values_as_serde_json(text in json()) {
        let verdict = extract(&text).map(|_| ());
        prop_assert_eq!(verdict, serde_verdict(text.as_bytes(), 1000), "{}", text);
        if let Ok(values) = extract(&text) {
            agree_with_document(&text, &values)?;
        }
    }

    #[test]
    fn a_learnt_shape_reads_as_the_full_scanner_does(base in json(), changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        // Siblings of one text: the same shape with other values, or broken somewhere.
        let (extractor, slots) = Extractor::new(&paths(), None, 1000);
        let mut shaped = Records::new(&extractor);
        let _ = shaped.push(&extractor, base.as_bytes());
        for (at, byte) in changes {
            let mut sibling = base.clone().into_bytes();
            let i = at.index(sibling.len());
            sibling[i] = if sibling[i].is_ascii_digit() { b'0' + byte % 10 } else { byte };
            let mut fresh = Records::new(&extractor);
            let (a, b) = (shaped.push(&extractor, &sibling), fresh.push(&extractor, &sibling));
            prop_assert_eq!(a.map(|_| ()), b.map(|_| ()), "{:?}", String::from_utf8_lossy(&sibling));
            prop_assert_eq!(a.map(|_| ()), serde_verdict(&sibling, 1000));
            if let (Ok(a), Ok(b)) = (a, b) {
                let (x, y) = (shaped.get(a, &sibling), fresh.get(b, &sibling));
                for &slot in &slots {
                    prop_assert_eq!(x.value(slot), y.value(slot));
                }
            }
        }
    }

    #[test]
    fn damaged_texts_get_serde_jsons_verdict(bytes in mutated()) {
        prop_assert!(extractor_agrees_with_serde_json(&bytes), "{:?}", String::from_utf8_lossy(&bytes));
    }
}
