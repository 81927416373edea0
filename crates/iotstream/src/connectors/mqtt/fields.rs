//! Readings whose fields are partly in the topic: `--mqtt-topic-fields 'sites/{site}/{guid}/{format}'`.
//!
//! Devices often publish a small payload on a structured topic instead of the seed's whole JSON
//! reading: a flat object of measurements (`{"humidity": 41.2, "battery": 88, "eventTime": "…"}`)
//! or a bare number. Such a message is turned into the seed's envelope here, before parsing, so
//! that it is validated by the same parser as every other reading and rejected, if it must be,
//! for the same reasons:
//! - each `{name}` level of the pattern becomes a field of the reading: `{guid}`, `{state}` and any
//!   other name at the top level, `{format}` the envelope's `payload.format`, a dotted name
//!   (`{payload.data.unit}`) the field at that path; `+` and `{_}` levels are ignored;
//! - a flat object's members go to `payload.data`, except `guid`, `state` and `eventTime`, which
//!   go where a whole reading has them (unless the topic gives them);
//! - a bare number goes to `payload.data.NAME`, NAME being the text of the `{measurement}`
//!   level when the pattern has one, else `--mqtt-value-field` (default `temperature`).
//!
//! A payload that is already a whole reading (it has a `payload` field), and a message on a
//! topic that does not match the pattern, are passed on as they are. A topic level is always one
//! JSON string, so it cannot inject fields. Without `eventTime` in the payload, the event time is
//! the arrival time: such readings are windowed by when iotstream received them, which a replay
//! cannot reproduce (see docs/MQTT.md).

use std::fmt;
use std::str::FromStr;

use iotstream_engine::EventTime;
use serde_json::{Map, Value};

/// Where a bare number goes when the pattern has no `{measurement}` level.
pub const DEFAULT_VALUE_FIELD: &str = "temperature";

/// The fields of the payload a whole reading keeps outside `payload.data`.
const HOISTED: [&str; 3] = ["guid", "state", "eventTime"];

/// A topic pattern: literal levels, fields, the measurement's name, and ignored levels.
#[derive(Clone, PartialEq, Eq)]
pub struct TopicFields {
    levels: Vec<Level>,
    text: String,
    value_field: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Level {
    Literal(String),
    /// The level is the value of the field at this path.
    Field(Vec<String>),
    /// The level names the field a bare number goes to, under `payload.data`.
    Measurement,
    Any,
}

impl Level {
    fn parse(level: &str) -> Result<Level, String> {
        let name = level.strip_prefix('{').and_then(|l| l.strip_suffix('}'));
        Ok(match (level, name) {
            ("+", _) | (_, Some("_")) => Level::Any,
            ("#", _) => return Err("'#' cannot take fields; name each level".into()),
            (_, Some("measurement")) => Level::Measurement,
            (_, Some("format")) => Level::Field(vec!["payload".into(), "format".into()]),
            (_, Some(name)) => Level::Field(field_path(name)?),
            _ if level.contains(['{', '}', '+', '#']) => {
                return Err(format!("level {level:?} must be a whole {{field}}, + or plain text"))
            }
            _ => Level::Literal(level.to_owned()),
        })
    }
}

/// `a.b.c` as a path of keys; every key a plain name.
fn field_path(name: &str) -> Result<Vec<String>, String> {
    let keys: Vec<String> = name.split('.').map(str::to_owned).collect();
    let plain =
        |k: &String| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-'));
    if !keys.iter().all(plain) {
        return Err(format!("{{{name}}}: a field is a name or a dotted path of names"));
    }
    if keys.first().is_some_and(|k| k == "payload")
        && keys.get(1).is_none_or(|k| k != "format" && k != "data")
        || keys.len() == 2 && keys[0] == "payload" && keys[1] == "data"
    {
        return Err(format!(
            "{{{name}}}: only payload.format and fields under payload.data are taken from a topic"
        ));
    }
    Ok(keys)
}

impl FromStr for TopicFields {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let levels = text.split('/').map(Level::parse).collect::<Result<Vec<_>, _>>()?;
        let fields: Vec<&Vec<String>> =
            levels.iter().filter_map(|l| if let Level::Field(p) = l { Some(p) } else { None }).collect();
        for (i, path) in fields.iter().enumerate() {
            if fields[..i].iter().any(|p| is_prefix(p, path) || is_prefix(path, p)) {
                return Err(format!("{{{}}} is taken from the topic twice", path.join(".")));
            }
        }
        if levels.iter().filter(|l| **l == Level::Measurement).count() > 1 {
            return Err("{measurement} may appear once".into());
        }
        if fields.is_empty() && !levels.contains(&Level::Measurement) {
            return Err("the pattern takes no field: name a level, e.g. {guid}".into());
        }
        Ok(TopicFields { levels, text: text.to_owned(), value_field: DEFAULT_VALUE_FIELD.to_owned() })
    }
}

/// True when `a` is `b` or a path above it.
fn is_prefix(a: &[String], b: &[String]) -> bool {
    a.len() <= b.len() && a == &b[..a.len()]
}

impl fmt::Display for TopicFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for TopicFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

/// The fields a topic gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Captured<'a> {
    /// Each field's path and the level's text.
    pub fields: Vec<(&'a [String], &'a str)>,
    /// The `{measurement}` level's text: where a bare number goes under `payload.data`.
    pub measurement: Option<&'a str>,
}

impl TopicFields {
    /// The same pattern, a bare number going to `payload.data.NAME` when no level names it.
    pub fn with_value_field(mut self, name: &str) -> TopicFields {
        name.clone_into(&mut self.value_field);
        self
    }

    /// The subscription that matches the pattern (fields and ignored levels become `+`), for
    /// when no `--mqtt-topic` is given.
    pub fn filter(&self) -> String {
        let levels: Vec<&str> = self
            .levels
            .iter()
            .map(|l| match l {
                Level::Literal(text) => text.as_str(),
                _ => "+",
            })
            .collect();
        levels.join("/")
    }

    /// The fields of `topic`, if it matches the pattern.
    pub fn capture<'a>(&'a self, topic: &'a str) -> Option<Captured<'a>> {
        let mut captured = Captured::default();
        let mut parts = topic.split('/');
        for level in &self.levels {
            let part = parts.next()?;
            match level {
                Level::Literal(text) if text != part => return None,
                Level::Field(path) => captured.fields.push((path, part)),
                Level::Measurement => captured.measurement = Some(part),
                _ => {}
            }
        }
        parts.next().is_none().then_some(captured)
    }

    /// Writes the reading `payload` on `topic` stands for into `out` (cleared first): the seed's
    /// envelope when the topic matches and the payload is small, else the payload as it is.
    /// `arrival` is the event time of a payload without one.
    pub fn normalize(&self, topic: &str, payload: &[u8], arrival: EventTime, out: &mut Vec<u8>) {
        out.clear();
        let reading = self.capture(topic).and_then(|captured| {
            let value_field = captured.measurement.unwrap_or(&self.value_field);
            let small = Small::read(payload, value_field)?;
            Some(small.envelope(&captured, arrival))
        });
        match reading {
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => out.extend_from_slice(payload),
        }
    }
}

/// Stands for a bare number's place in the reading until its text is put there (a topic level
/// cannot hold it: MQTT topic names never contain U+0000).
const NUMBER_MARK: &str = "\u{0}number\u{0}";

/// A small payload, understood: what goes under `payload.data`, the fields hoisted out of it, and
/// a bare number's text.
struct Small {
    data: Map<String, Value>,
    hoisted: Vec<(&'static str, Value)>,
    number: Option<String>,
}

impl Small {
    /// A flat object without `payload`, or a bare number (kept as its text, so that the parser
    /// reads it exactly as in a whole reading and rejects it for the same reasons); `None` for
    /// anything else (passed on unchanged: the parser says what is wrong).
    fn read(payload: &[u8], value_field: &str) -> Option<Small> {
        let text = payload.trim_ascii();
        if text.first() == Some(&b'{') {
            let mut data = serde_json::from_slice::<Map<String, Value>>(text).ok()?;
            if data.contains_key("payload") {
                return None;
            }
            let hoisted = HOISTED.iter().filter_map(|&k| Some((k, data.remove(k)?))).collect();
            return Some(Small { data, hoisted, number: None });
        }
        if !is_number_text(text) {
            return None;
        }
        let data = Map::from_iter([(value_field.to_owned(), Value::String(NUMBER_MARK.into()))]);
        let number = String::from_utf8_lossy(text).into_owned();
        Some(Small { data, hoisted: Vec::new(), number: Some(number) })
    }

    /// The whole reading: the topic's fields, then what the payload had, then the event time.
    fn envelope(mut self, captured: &Captured<'_>, arrival: EventTime) -> String {
        let mut top = Map::new();
        let mut payload = Map::new();
        for (path, text) in &captured.fields {
            let value = Value::String((*text).to_owned());
            match path.split_first() {
                Some((first, rest)) if first == "payload" && rest.first().is_some_and(|k| k == "data") => {
                    insert(&mut self.data, &rest[1..], value)
                }
                Some((first, rest)) if first == "payload" => insert(&mut payload, rest, value),
                _ => insert(&mut top, path, value),
            }
        }
        for (name, value) in self.hoisted {
            top.entry(name).or_insert(value);
        }
        let time = Value::String(arrival.to_string());
        top.entry("eventTime").or_insert(time);
        payload.insert("data".into(), Value::Object(self.data));
        top.insert("payload".into(), Value::Object(payload));
        let text = Value::Object(top).to_string();
        match &self.number {
            Some(number) => text.replacen(&Value::String(NUMBER_MARK.into()).to_string(), number, 1),
            None => text,
        }
    }
}

/// Sets the field at `path` of `object`, making the objects on the way.
fn insert(object: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut at = object;
    for key in parents {
        let entry = at.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        at = next;
    }
    at.insert(last.clone(), value);
}

/// Only the characters a JSON number is made of: nothing else may be spliced into a reading.
fn is_number_text(text: &[u8]) -> bool {
    !text.is_empty()
        && text.iter().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotstream_engine::{Parser, RejectReason};

    const ARRIVAL: EventTime = EventTime(1_479_302_799_447_974);

    fn normalize(pattern: &str, topic: &str, payload: &str) -> String {
        let fields: TopicFields = pattern.parse().unwrap();
        let mut out = Vec::new();
        fields.normalize(topic, payload.as_bytes(), ARRIVAL, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn parsed(text: &str) -> Result<(String, String, f64, i64), RejectReason> {
        let reading = Parser::new(10_000).parse(text.as_bytes())?;
        Ok((reading.guid.to_string(), reading.state.to_string(), reading.temperature, reading.event_time.0))
    }

    #[test]
    fn patterns_parse_and_give_their_subscription() {
        let fields: TopicFields = "sensors/{state}/{guid}".parse().unwrap();
        assert_eq!(fields.filter(), "sensors/+/+");
        let fields: TopicFields = "fleet/+/{site}/{guid}/temp".parse().unwrap();
        assert_eq!(fields.filter(), "fleet/+/+/+/temp");
        for bad in ["sensors/#", "a/{state}/{state}", "a/b", "a/x{guid}"] {
            assert!(bad.parse::<TopicFields>().is_err(), "{bad}");
        }
    }

    #[test]
    fn topics_match_level_by_level() {
        let fields: TopicFields = "sensors/{state}/{guid}".parse().unwrap();
        let paths: Vec<Vec<String>> = vec![vec!["state".into()], vec!["guid".into()]];
        let expected =
            Captured { fields: vec![(&paths[0][..], "CA"), (&paths[1][..], "g-1")], measurement: None };
        assert_eq!(fields.capture("sensors/CA/g-1"), Some(expected));
        assert_eq!(fields.capture("sensors/CA"), None);
        assert_eq!(fields.capture("sensors/CA/g-1/x"), None);
        assert_eq!(fields.capture("other/CA/g-1"), None);
    }

    /// The reading a message stands for, as JSON.
    fn whole(pattern: &str, topic: &str, payload: &str) -> Value {
        let text = normalize(pattern, topic, payload);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn any_level_names_a_field_and_flat_payloads_go_to_data() {
        let p = "sites/{site}/{guid}/{format}";
        let reading = whole(
            p,
            "sites/plant-7/g-9/urn:example:sensor:climate",
            r#"{"humidity":41.2,"battery":88,"eventTime":"2016-11-16T13:26:39Z","state":"OR"}"#,
        );
        let expected = serde_json::json!({
            "site": "plant-7", "guid": "g-9", "state": "OR", "eventTime": "2016-11-16T13:26:39Z",
            "payload": {"format": "urn:example:sensor:climate", "data": {"humidity": 41.2, "battery": 88}}
        });
        assert_eq!(reading, expected);
        let deep = whole("x/{payload.data.unit}/{guid}/{fleet.region}", "x/hPa/g/eu", "1013.2");
        assert_eq!(deep["payload"]["data"], serde_json::json!({"unit": "hPa", "temperature": 1013.2}));
        assert_eq!(deep["fleet"], serde_json::json!({"region": "eu"}));
    }

    #[test]
    fn a_bare_number_is_named_by_a_level_or_the_value_field() {
        let by_level = whole("s/{guid}/{measurement}", "s/g-1/humidity", " 41.5\n");
        assert_eq!(by_level["payload"]["data"], serde_json::json!({"humidity": 41.5}));
        assert_eq!(by_level["eventTime"], ARRIVAL.to_string());
        let fields: TopicFields = "s/{guid}".parse::<TopicFields>().unwrap().with_value_field("battery");
        let mut out = Vec::new();
        fields.normalize("s/g-2", b"88", ARRIVAL, &mut out);
        let reading: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(reading["payload"]["data"], serde_json::json!({"battery": 88}));
        // The topic's own field wins over the payload's, and nothing is taken twice.
        let reading = whole("s/{guid}", "s/from-topic", r#"{"guid":"from-payload","x":1}"#);
        assert_eq!(reading["guid"], "from-topic");
        assert_eq!(reading["payload"]["data"], serde_json::json!({"x": 1}));
    }

    #[test]
    fn patterns_that_take_a_field_twice_or_outside_the_envelope_are_refused() {
        for bad in [
            "a/{guid}/{guid}",
            "a/{format}/{payload.format}",
            "a/{fleet}/{fleet.region}",
            "a/{measurement}/{measurement}",
            "a/{payload}",
            "a/{payload.data}",
            "a/{payload.other}",
            "a/{x..y}",
            "a/{_}",
        ] {
            assert!(bad.parse::<TopicFields>().is_err(), "{bad}");
        }
        assert!("a/{measurement}".parse::<TopicFields>().is_ok());
    }

    #[test]
    fn small_payloads_become_whole_readings() {
        let p = "sensors/{state}/{guid}";
        let text =
            normalize(p, "sensors/CA/g-1", r#"{"temperature": 71.2, "eventTime": "2016-11-16T13:26:39Z"}"#);
        assert_eq!(parsed(&text), Ok(("g-1".into(), "CA".into(), 71.2, 1_479_302_799_000_000)));
        let text = normalize(p, "sensors/TX/g-2", " 98.5\n");
        assert_eq!(parsed(&text), Ok(("g-2".into(), "TX".into(), 98.5, ARRIVAL.0)), "{text}");
        let text = normalize("sensors/{guid}", "sensors/g-3", r#"{"temperature":5,"state":"NY"}"#);
        assert_eq!(parsed(&text), Ok(("g-3".into(), "NY".into(), 5.0, ARRIVAL.0)));
    }

    #[test]
    fn whole_readings_and_other_topics_pass_unchanged() {
        let whole = r#"{"guid":"g","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#;
        assert_eq!(normalize("sensors/{state}/{guid}", "sensors/TX/x", whole), whole);
        assert_eq!(normalize("sensors/{state}/{guid}", "elsewhere", "42"), "42");
    }

    #[test]
    fn bad_device_payloads_are_rejected_for_the_usual_reasons() {
        let p = "sensors/{state}/{guid}";
        assert_eq!(parsed(&normalize(p, "sensors/CA/g", "hot")), Err(RejectReason::MalformedJson));
        assert_eq!(parsed(&normalize(p, "sensors/CA/g", "1.2.3")), Err(RejectReason::MalformedJson));
        assert_eq!(parsed(&normalize(p, "sensors/CA/g", "1e400")), Err(RejectReason::NonFinite));
        assert_eq!(parsed(&normalize(p, "sensors/ZZ/g", "1")), Err(RejectReason::UnknownState));
        assert_eq!(parsed(&normalize(p, "sensors/CA/g", r#"{"temp":1}"#)), Err(RejectReason::MissingField));
        assert_eq!(
            parsed(&normalize(p, "sensors/CA/g", r#"{"temperature":"1"}"#)),
            Err(RejectReason::WrongType)
        );
        let bad_time = normalize(p, "sensors/CA/g", r#"{"temperature":1,"eventTime":"soon"}"#);
        assert_eq!(parsed(&bad_time), Err(RejectReason::BadTimestamp));
        assert_eq!(parsed(&normalize(p, "sensors/CA/g", "{not json")), Err(RejectReason::MalformedJson));
        // A topic level cannot smuggle JSON into the reading: it is one string.
        let text = normalize(p, "sensors/CA/g\",\"state\":\"TX", "1");
        assert_eq!(parsed(&text), Ok((r#"g","state":"TX"#.into(), "CA".into(), 1.0, ARRIVAL.0)), "{text}");
    }
}
