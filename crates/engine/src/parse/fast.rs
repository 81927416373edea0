//! The fast path: one pass over a message in the seed's shape, no allocation.
//!
//! It accepts exactly `{"guid":S,"destination":S,"state":S,"eventTime":S,"payload":{"format":S,
//! "data":{"temperature":N}}}` with any JSON whitespace between tokens, where every S is a string of
//! printable ASCII without escapes and N is a JSON number. Every byte of an accepted line is checked
//! (so it is ASCII, hence UTF-8, and strict JSON); anything else returns `None` and the general parser
//! takes over. It never rejects: a reading it returns is exactly what the general parser would return.

use std::borrow::Cow;

use crate::reading::{EventTime, Reading, SensorId, StateCode};

/// Parses `bytes` if it has the seed's shape and is a valid reading; `None` otherwise.
pub(super) fn parse(bytes: &[u8]) -> Option<Reading<'_>> {
    let mut c = Cursor { bytes, pos: 0 };
    c.token(b"{")?;
    let guid = c.field(b"\"guid\"")?;
    c.token(b",")?;
    c.field(b"\"destination\"")?;
    c.token(b",")?;
    let state = c.field(b"\"state\"")?;
    c.token(b",")?;
    let event_time = c.field(b"\"eventTime\"")?;
    c.token(b",")?;
    c.key(b"\"payload\"")?;
    c.token(b"{")?;
    c.field(b"\"format\"")?;
    c.token(b",")?;
    c.key(b"\"data\"")?;
    c.token(b"{")?;
    c.key(b"\"temperature\"")?;
    let temperature = c.number()?;
    c.token(b"}")?;
    c.token(b"}")?;
    c.token(b"}")?;
    c.skip_whitespace();
    if c.pos != bytes.len() {
        return None;
    }
    let guid = std::str::from_utf8(guid).ok()?;
    Some(Reading {
        sensor: SensorId::from_guid(guid),
        guid: Cow::Borrowed(guid),
        state: StateCode::from_bytes(state)?,
        event_time: EventTime::parse_rfc3339(event_time)?,
        temperature: super::check_temperature(temperature).ok()?,
    })
}

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS_OF_TEN: [f64; 16] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// `[-]digits[.digits]` with at most 15 digits in all (the sensor readings' usual form), without
/// the general float parser: the digits make an integer exact in an `f64`, and dividing it by an
/// exact power of ten rounds once, correctly (Clinger's fast path), so the result is the same as
/// the general parser's. Anything else returns `None`.
#[inline]
fn short_decimal(text: &[u8]) -> Option<f64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let mut mantissa: u64 = 0;
    let mut count = 0;
    let mut fraction_digits = None;
    for (i, &b) in digits.iter().enumerate() {
        match b {
            // More digits than an f64 holds exactly: the general parser decides.
            b'0'..=b'9' if count == 15 => return None,
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
            }
            b'.' => fraction_digits = Some(digits.len() - i - 1),
            _ => return None,
        }
    }
    let value = mantissa as f64 / EXACT_POWERS_OF_TEN[fraction_digits.unwrap_or(0)];
    Some(if negative { -value } else { value })
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn skip_whitespace(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if !super::is_json_whitespace(b) {
                break;
            }
            self.pos += 1;
        }
    }

    /// Optional whitespace, then exactly `literal`.
    #[inline]
    fn token(&mut self, literal: &[u8]) -> Option<()> {
        self.skip_whitespace();
        let end = self.pos + literal.len();
        (self.bytes.get(self.pos..end)? == literal).then(|| self.pos = end)
    }

    /// `"key"` then `:`.
    #[inline]
    fn key(&mut self, quoted: &[u8]) -> Option<()> {
        self.token(quoted)?;
        self.token(b":")
    }

    /// `"key": "value"`; returns the value's bytes.
    #[inline]
    fn field(&mut self, quoted: &[u8]) -> Option<&'a [u8]> {
        self.key(quoted)?;
        self.string()
    }

    /// A string of printable ASCII without escapes; returns its contents.
    #[inline]
    fn string(&mut self) -> Option<&'a [u8]> {
        self.token(b"\"")?;
        let rest = &self.bytes[self.pos..];
        let len = memchr::memchr(b'"', rest)?;
        let contents = &rest[..len];
        if !contents.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\') {
            return None;
        }
        self.pos += len + 1;
        Some(contents)
    }

    /// A number in strict JSON grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    #[inline]
    fn number(&mut self) -> Option<f64> {
        self.skip_whitespace();
        let start = self.pos;
        self.eat(b'-');
        match self.bytes.get(self.pos)? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.') {
            self.require_digits()?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            self.require_digits()?;
        }
        let text = &self.bytes[start..self.pos];
        if let Some(value) = short_decimal(text) {
            return Some(value);
        }
        // The grammar above is a subset of what Rust's float parser accepts, so this cannot fail;
        // the bytes are ASCII digits and signs, hence UTF-8.
        std::str::from_utf8(text).ok()?.parse().ok()
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.bytes.get(self.pos) == Some(&byte);
        self.pos += usize::from(hit);
        hit
    }

    #[inline]
    fn digits(&mut self) {
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
    }

    #[inline]
    fn require_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }
}
