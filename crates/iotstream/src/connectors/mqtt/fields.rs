//! Readings whose fields are partly in the topic: `--mqtt-topic-fields 'sensors/{state}/{guid}'`.
//!
//! Devices often publish a small payload on a structured topic instead of the seed's whole JSON
//! reading: `{"temperature": 71.2, "eventTime": "…"}`, or a bare number. Such a message is turned
//! into the seed's format here, before parsing, so that it is validated by the same parser as
//! every other reading and rejected, if it must be, for the same reasons (a temperature that is
//! not a number is `malformed_json`, a state that is not a code `unknown_state`, and so on). A
//! payload that is already a whole reading (it has a `payload` field), and a message on a topic
//! that does not match the pattern, are passed on as they are.
//!
//! Without `eventTime` in the payload, the event time is the arrival time: such readings are
//! windowed by when iotstream received them, which a replay cannot reproduce (see docs/MQTT.md).

use std::fmt;
use std::str::FromStr;

use iotstream_engine::EventTime;
use serde_json::{Map, Value};

/// A topic pattern: literal levels, `{state}`, `{guid}`, and `+` or `{name}` for levels to ignore.
#[derive(Clone, PartialEq, Eq)]
pub struct TopicFields {
    levels: Vec<Level>,
    text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Level {
    Literal(String),
    State,
    Guid,
    Any,
}

impl FromStr for TopicFields {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut levels = Vec::new();
        for level in text.split('/') {
            levels.push(match level {
                "{state}" => Level::State,
                "{guid}" => Level::Guid,
                "+" => Level::Any,
                "#" => return Err("'#' cannot take fields; name each level".into()),
                _ if level.starts_with('{') && level.ends_with('}') => Level::Any,
                _ if level.contains(['{', '}', '+', '#']) => {
                    return Err(format!("level {level:?} must be a whole {{field}}, + or plain text"))
                }
                _ => Level::Literal(level.to_owned()),
            });
        }
        let count = |wanted: &Level| levels.iter().filter(|l| *l == wanted).count();
        if count(&Level::State) > 1 || count(&Level::Guid) > 1 {
            return Err("{state} and {guid} may each appear once".into());
        }
        if count(&Level::State) + count(&Level::Guid) == 0 {
            return Err("the pattern takes no field: use {state} and/or {guid}".into());
        }
        Ok(TopicFields { levels, text: text.to_owned() })
    }
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
    /// `{state}`'s level.
    pub state: Option<&'a str>,
    /// `{guid}`'s level.
    pub guid: Option<&'a str>,
}

impl TopicFields {
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
    pub fn capture<'a>(&self, topic: &'a str) -> Option<Captured<'a>> {
        let mut captured = Captured::default();
        let mut parts = topic.split('/');
        for level in &self.levels {
            let part = parts.next()?;
            match level {
                Level::Literal(text) if text != part => return None,
                Level::State => captured.state = Some(part),
                Level::Guid => captured.guid = Some(part),
                _ => {}
            }
        }
        parts.next().is_none().then_some(captured)
    }

    /// Writes the reading `payload` on `topic` stands for into `out` (cleared first): the seed's
    /// format when the topic matches and the payload is small, else the payload as it is.
    /// `arrival` is the event time of a payload without one.
    pub fn normalize(&self, topic: &str, payload: &[u8], arrival: EventTime, out: &mut Vec<u8>) {
        out.clear();
        match self.capture(topic) {
            Some(captured) => reading(&captured, payload, arrival, out),
            None => out.extend_from_slice(payload),
        }
    }
}

/// The seed's format for a small payload with the topic's fields, or the payload unchanged if it
/// is a whole reading or not something this understands (the parser then says what is wrong).
fn reading(captured: &Captured<'_>, payload: &[u8], arrival: EventTime, out: &mut Vec<u8>) {
    let text = payload.trim_ascii();
    let (mut data, event_time) = if text.first() == Some(&b'{') {
        match serde_json::from_slice::<Map<String, Value>>(text) {
            Ok(object) if object.contains_key("payload") => return out.extend_from_slice(payload),
            Ok(mut object) => {
                let event_time = object.remove("eventTime");
                (Value::Object(object), event_time)
            }
            Err(_) => return out.extend_from_slice(payload),
        }
    } else if is_number_text(text) {
        // Kept as text: the parser reads the number exactly as it would in a whole reading.
        (Value::Null, None)
    } else {
        return out.extend_from_slice(payload);
    };
    let event_time = event_time.unwrap_or_else(|| Value::String(arrival.to_string()));
    out.push(b'{');
    field(out, "guid", captured.guid, &mut data);
    field(out, "state", captured.state, &mut data);
    out.extend_from_slice(b"\"eventTime\":");
    out.extend_from_slice(event_time.to_string().as_bytes());
    out.extend_from_slice(b",\"payload\":{\"data\":");
    match data {
        Value::Null => {
            out.extend_from_slice(b"{\"temperature\":");
            out.extend_from_slice(text);
            out.push(b'}');
        }
        object => out.extend_from_slice(object.to_string().as_bytes()),
    }
    out.extend_from_slice(b"}}");
}

/// `"name":value,` from the topic, else from the small payload (moved out of it), else nothing
/// (the parser reports the field missing).
fn field(out: &mut Vec<u8>, name: &str, from_topic: Option<&str>, data: &mut Value) {
    let value = match from_topic {
        Some(text) => Some(Value::String(text.to_owned())),
        None => data.as_object_mut().and_then(|o| o.remove(name)),
    };
    if let Some(value) = value {
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(value.to_string().as_bytes());
        out.push(b',');
    }
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
        assert_eq!(fields.capture("sensors/CA/g-1"), Some(Captured { state: Some("CA"), guid: Some("g-1") }));
        assert_eq!(fields.capture("sensors/CA"), None);
        assert_eq!(fields.capture("sensors/CA/g-1/x"), None);
        assert_eq!(fields.capture("other/CA/g-1"), None);
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
