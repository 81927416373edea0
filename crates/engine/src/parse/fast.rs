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

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS_OF_TEN: [f64; 16] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// Digits an `f64` holds exactly in its integer mantissa (10^15 < 2^53).
const MAX_EXACT_DIGITS: usize = 15;

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

    /// A number in strict JSON grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    ///
    /// The usual form (`-?digits[.digits]`, at most 15 digits) is converted while it is scanned:
    /// the digits make an integer exact in an `f64`, and dividing it by an exact power of ten
    /// rounds once, correctly (Clinger's fast path), so the result is the general parser's. Longer
    /// numbers and exponents go through the general float parser.
    #[inline]
    fn number(&mut self) -> Option<f64> {
        self.skip_whitespace();
        let start = self.pos;
        let negative = self.eat(b'-');
        let int_start = self.pos;
        let mut mantissa = 0u64;
        self.accumulate_digits(&mut mantissa);
        let int_digits = self.pos - int_start;
        // No digits, or a leading zero (`01`): not JSON.
        if int_digits == 0 || (int_digits > 1 && self.bytes[int_start] == b'0') {
            return None;
        }
        let mut fraction_digits = 0;
        if self.eat(b'.') {
            let fraction_start = self.pos;
            self.accumulate_digits(&mut mantissa);
            fraction_digits = self.pos - fraction_start;
            if fraction_digits == 0 {
                return None;
            }
        }
        let exponent = matches!(self.bytes.get(self.pos), Some(b'e' | b'E'));
        if !exponent && int_digits + fraction_digits <= MAX_EXACT_DIGITS {
            let value = mantissa as f64 / EXACT_POWERS_OF_TEN[fraction_digits];
            return Some(if negative { -value } else { value });
        }
        if exponent {
            self.pos += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            let exponent_start = self.pos;
            self.accumulate_digits(&mut 0);
            if self.pos == exponent_start {
                return None;
            }
        }
        // The grammar above is a subset of what Rust's float parser accepts, so this cannot fail;
        // the bytes are ASCII digits and signs, hence UTF-8.
        std::str::from_utf8(self.bytes.get(start..self.pos)?).ok()?.parse().ok()
    }

    /// Takes ASCII digits, folding them into `value` (wrapping: only used when there are few).
    #[inline]
    fn accumulate_digits(&mut self, value: &mut u64) {
        while let Some(&b) = self.bytes.get(self.pos) {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            *value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
            self.pos += 1;
        }
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.bytes.get(self.pos) == Some(&byte);
        self.pos += usize::from(hit);
        hit
    }
}
