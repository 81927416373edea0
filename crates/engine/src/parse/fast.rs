//! The fast path: one pass over a message in the seed's shape, no allocation.
//!
//! It accepts exactly `{"guid":S,"destination":S,"state":S,"eventTime":S,"payload":{"format":S,
//! "data":{"temperature":N}}}` with any JSON whitespace between tokens, where every S is a string of
//! ASCII without escapes or control characters and N is a JSON number. Every byte of an accepted line
//! is checked (so it is ASCII, hence UTF-8, and strict JSON); anything else returns `None` and the
//! general parser takes over. It never rejects: a reading it returns is exactly what the general
//! parser would return.
//!
//! The punctuation and keys between two values are compared as one constant-size array (a few wide
//! loads and compares, no `memcmp` call), laid out as the seed's simulator writes them; a line spaced
//! differently falls back to a token-by-token walk of the same literal that allows whitespace where
//! JSON does. String values are scanned eight bytes at a time for the closing quote and, in the
//! same pass, for anything that would need the general path (a backslash, a control character, a
//! non-ASCII byte).

use crate::reading::{EventTime, Guid, Reading, SensorId, StateCode};

/// Parses `bytes` if it has the seed's shape and is a valid reading; `None` otherwise.
pub(super) fn parse(bytes: &[u8]) -> Option<Reading<'_>> {
    let mut c = Cursor { bytes, pos: 0 };
    // Each literal runs from the end of one value to the start of the next; `true` says it starts
    // inside a string (at the previous value's closing quote, where no whitespace may come).
    c.literal(b"{\"guid\":\"", false)?;
    let guid = c.string()?;
    c.literal(b"\",\"destination\":\"", true)?;
    c.string()?;
    c.literal(b"\",\"state\":\"", true)?;
    let state = c.string()?;
    c.literal(b"\", \"eventTime\":\"", true)?;
    let event_time = c.string()?;
    c.literal(b"\", \"payload\":{\"format\":\"", true)?;
    c.string()?;
    c.literal(b"\", \"data\":{\"temperature\":", true)?;
    let temperature = c.number()?;
    c.literal(b"}}}", false)?;
    c.skip_whitespace();
    if c.pos != bytes.len() {
        return None;
    }
    // `string` let only ASCII through, so the guid is text without validating it again.
    Some(Reading {
        sensor: SensorId::from_guid_bytes(guid),
        guid: Guid::from_ascii(guid),
        state: StateCode::from_bytes(state)?,
        event_time: EventTime::parse_rfc3339(event_time)?,
        temperature: super::reject::check_temperature(temperature).ok()?,
    })
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in the lowest byte of `word` that ends or spoils a simple string
/// (`"`, `\`, a control character below 0x20, a byte of 0x80 or more), and possibly in bytes
/// above it; zero if there is none. Only the lowest flag is exact (a borrow can flag the byte
/// above a true one), which is the only one used.
#[inline]
fn special_bytes(word: u64) -> u64 {
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH_BITS;
    let quote = has_zero(word ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS;
    quote | backslash | control | (word & HIGH_BITS)
}

/// True for the bytes [`special_bytes`] flags.
#[inline]
fn is_special(b: u8) -> bool {
    b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn skip_whitespace(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if !super::reject::is_json_whitespace(b) {
                break;
            }
            self.pos += 1;
        }
    }

    /// Exactly `literal` as the simulator writes it, or else the same tokens spaced otherwise.
    #[inline]
    fn literal<const N: usize>(&mut self, literal: &[u8; N], in_string: bool) -> Option<()> {
        let end = self.pos + N;
        if let Some(found) = self.bytes.get(self.pos..end) {
            // Array equality compiles to a few wide compares for a constant N.
            if <&[u8; N]>::try_from(found).ok() == Some(literal) {
                self.pos = end;
                return Some(());
            }
        }
        self.spaced_literal(literal, in_string)
    }

    /// `literal` byte by byte, skipping JSON whitespace before every byte that starts a token
    /// (anything outside a string, and an opening quote), as a tokenizer would. The literal's own
    /// spaces (outside strings) only say where the simulator puts one: they are optional.
    #[cold]
    fn spaced_literal(&mut self, literal: &[u8], mut in_string: bool) -> Option<()> {
        for &b in literal {
            if !in_string {
                if super::reject::is_json_whitespace(b) {
                    continue;
                }
                self.skip_whitespace();
            }
            if self.bytes.get(self.pos) != Some(&b) {
                return None;
            }
            self.pos += 1;
            in_string ^= b == b'"';
        }
        Some(())
    }

    /// The contents of a string whose opening quote is behind, up to its closing quote (not taken):
    /// ASCII without escapes or control characters, else `None`.
    #[inline]
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        let rest = self.bytes.get(start..)?;
        let mut i = 0;
        while let Some(word) = rest.get(i..i + 8) {
            let special = special_bytes(u64::from_le_bytes(word.try_into().ok()?));
            if special != 0 {
                return self.close(start, i + (special.trailing_zeros() / 8) as usize);
            }
            i += 8;
        }
        while let Some(&b) = rest.get(i) {
            if is_special(b) {
                return self.close(start, i);
            }
            i += 1;
        }
        None
    }

    /// The string's contents if the first special byte, `len` bytes after `start`, is its quote.
    #[inline]
    fn close(&mut self, start: usize, len: usize) -> Option<&'a [u8]> {
        let end = start + len;
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end;
        self.bytes.get(start..end)
    }

    /// A number in strict JSON grammar, converted while it is scanned (see [`super::number`]).
    #[inline]
    fn number(&mut self) -> Option<f64> {
        self.skip_whitespace();
        let (value, end) = super::number::scan(self.bytes, self.pos)?;
        self.pos = end;
        Some(value)
    }
}
