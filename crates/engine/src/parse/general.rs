//! The general path: any strict JSON, with a reason for everything that is not a reading.
//!
//! `serde_json` checks the syntax of the whole message once, capturing the four fields we need as
//! raw JSON text; their types and values are then checked one by one, so each failure maps to
//! exactly one [`RejectReason`]. Unknown fields are skipped without being converted (so `1e400` in
//! an ignored field is fine), and a needed field given twice is rejected rather than guessed at.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserializer;
use serde_json::value::RawValue;

use super::reject::{check_temperature, RejectReason};
use crate::reading::{EventTime, Reading, SensorId, StateCode};

type Outcome<T> = Result<T, RejectReason>;

/// Parses UTF-8 text that is not blank.
pub(super) fn parse(text: &str) -> Outcome<Reading<'_>> {
    let top = object_text(text)?;
    let fields = fields_of(top, &["guid", "state", "eventTime", "payload"])?;
    let [guid, state, event_time, payload] = fields;
    let guid = string(guid)?;
    let state = StateCode::from_bytes(string(state)?.as_bytes()).ok_or(RejectReason::UnknownState)?;
    let event_time =
        EventTime::parse_rfc3339(string(event_time)?.as_bytes()).ok_or(RejectReason::BadTimestamp)?;
    let [data] = fields_of(object(payload)?, &["data"])?;
    let [temperature] = fields_of(object(data)?, &["temperature"])?;
    Ok(Reading {
        sensor: SensorId::from_guid(&guid),
        guid: guid.into(),
        state,
        event_time,
        temperature: number(temperature)?,
    })
}

/// Checks the whole message's syntax; returns its text if the top level is an object.
fn object_text(text: &str) -> Outcome<&str> {
    let raw: &RawValue = serde_json::from_str(text).map_err(|_| RejectReason::MalformedJson)?;
    let raw = raw.get();
    if raw.starts_with('{') {
        Ok(raw)
    } else {
        Err(RejectReason::NotObject)
    }
}

/// A field that must be an object; returns its text.
fn object(raw: Option<&RawValue>) -> Outcome<&str> {
    let raw = raw.ok_or(RejectReason::MissingField)?.get();
    if raw.starts_with('{') {
        Ok(raw)
    } else {
        Err(RejectReason::WrongType)
    }
}

/// A field that must be a string; borrows it unless it contains escapes.
fn string(raw: Option<&RawValue>) -> Outcome<Cow<'_, str>> {
    let raw = raw.ok_or(RejectReason::MissingField)?.get();
    if !raw.starts_with('"') {
        return Err(RejectReason::WrongType);
    }
    let inner = &raw[1..raw.len() - 1];
    if !inner.contains('\\') {
        return Ok(Cow::Borrowed(inner));
    }
    // Already validated by serde_json, so decoding cannot fail; map it anyway rather than panic.
    serde_json::from_str::<String>(raw).map(Cow::Owned).map_err(|_| RejectReason::MalformedJson)
}

/// A field that must be a JSON number that is finite and in range.
fn number(raw: Option<&RawValue>) -> Outcome<f64> {
    let raw = raw.ok_or(RejectReason::MissingField)?.get();
    if !raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(RejectReason::WrongType);
    }
    // JSON's number grammar is a subset of Rust's float syntax; overflow gives infinity.
    let value: f64 = raw.parse().map_err(|_| RejectReason::MalformedJson)?;
    check_temperature(value)
}

/// Reads one object (whose syntax is already known to be valid) and captures the raw values of
/// `names`; other keys are skipped. A wanted key seen twice is [`RejectReason::DuplicateField`].
fn fields_of<'a, const N: usize>(
    object: &'a str,
    names: &'static [&'static str; N],
) -> Outcome<[Option<&'a RawValue>; N]> {
    let mut de = serde_json::Deserializer::from_str(object);
    let seed = FieldsSeed { names };
    match seed.deserialize(&mut de) {
        Ok(Ok(values)) => Ok(values),
        Ok(Err(duplicate)) => Err(duplicate),
        Err(_) => Err(RejectReason::MalformedJson),
    }
}

struct FieldsSeed<const N: usize> {
    names: &'static [&'static str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for FieldsSeed<N> {
    type Value = Outcome<[Option<&'de RawValue>; N]>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for FieldsSeed<N> {
    type Value = Outcome<[Option<&'de RawValue>; N]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = [None; N];
        let mut duplicate = false;
        while let Some(key) = map.next_key_seed(KeySeed { names: self.names })? {
            match key {
                Some(i) => {
                    duplicate |= values[i].is_some();
                    values[i] = Some(map.next_value::<&RawValue>()?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(if duplicate { Err(RejectReason::DuplicateField) } else { Ok(values) })
    }
}

/// Matches a key against the wanted names without allocating (keys with escapes are decoded by
/// serde_json and compared the same way, so `"gu\u0069d"` is `guid`, as JSON says it is).
struct KeySeed<const N: usize> {
    names: &'static [&'static str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for KeySeed<N> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<const N: usize> Visitor<'_> for KeySeed<N> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.names.iter().position(|name| *name == key))
    }
}
