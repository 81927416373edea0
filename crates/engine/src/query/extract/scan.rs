//! The scanner: one pass over a message, validating the JSON grammar of RFC 8259 exactly as
//! serde_json does (a property test holds it to that) and capturing the wanted fields.
//!
//! Objects on a wanted path are walked recursively (as deep as the longest path); everything
//! else is skipped with an explicit stack of open brackets, so nesting depth costs memory in
//! proportion to the message, never the call stack. Strings are scanned eight bytes at a time
//! for the quote, a backslash or a control character; the message was checked to be UTF-8
//! before, so other bytes need no look.

use super::{Extractor, Records, Slot};
use crate::parse::RejectReason;

/// The message is not valid JSON.
struct Malformed;

type Step<T = ()> = Result<T, Malformed>;

/// Validates `message` and fills the record starting at slot `start` of `records`.
pub(super) fn message(
    extractor: &Extractor,
    message: &[u8],
    records: &mut Records,
    start: usize,
) -> Result<(), RejectReason> {
    if message.len() > extractor.max_line_bytes {
        return Err(RejectReason::TooLarge);
    }
    if std::str::from_utf8(message).is_err() {
        return Err(RejectReason::NotUtf8);
    }
    records.visited.iter_mut().for_each(|v| *v = false);
    let mut s = Scanner { bytes: message, pos: 0, extractor, records, start };
    s.whitespace();
    if s.pos == message.len() {
        return Err(RejectReason::Empty);
    }
    let object = s.peek() == Some(b'{');
    let valid = if object { s.object(0) } else { s.skip_value() };
    s.whitespace();
    match (valid, s.pos == message.len()) {
        (Ok(()), true) if object => Ok(()),
        (Ok(()), true) => Err(RejectReason::NotObject),
        _ => Err(RejectReason::MalformedJson),
    }
}

struct Scanner<'a, 'r> {
    bytes: &'a [u8],
    pos: usize,
    extractor: &'a Extractor,
    records: &'r mut Records,
    /// The record's first slot in `records`.
    start: usize,
}

impl Scanner<'_, '_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte` after optional whitespace.
    #[inline]
    fn expect(&mut self, byte: u8) -> Step {
        self.whitespace();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    fn set(&mut self, slot: u16, value: Slot) {
        self.records.slots[self.start + usize::from(slot)] = value;
    }

    /// An object (at its `{`) whose keys are looked up among `node`'s children.
    fn object(&mut self, node: usize) -> Step {
        self.pos += 1;
        self.whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.whitespace();
            if self.peek() != Some(b'"') {
                return Err(Malformed);
            }
            let (key_start, escaped) = self.string()?;
            let child = self.child(node, key_start, escaped);
            self.expect(b':')?;
            self.whitespace();
            match child {
                Some(child) => self.member(child)?,
                None => self.skip_value()?,
            }
            self.whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Malformed),
            }
        }
    }

    /// The child of `node` named by the key just read (its text from `key_start`, quotes
    /// excluded, up to before the closing quote).
    fn child(&self, node: usize, key_start: usize, escaped: bool) -> Option<usize> {
        let children = &self.extractor.nodes[node].children;
        if children.is_empty() {
            return None;
        }
        let raw = &self.bytes[key_start..self.pos - 1];
        let find = |key: &[u8]| children.iter().find(|(k, _)| **k == *key).map(|c| usize::from(c.1));
        if !escaped {
            return find(raw);
        }
        // A key with escapes is compared decoded (`"gu\u0069d"` is `guid`); one that cannot be
        // decoded (a lone surrogate) matches no wanted key.
        let quoted = &self.bytes[key_start - 1..self.pos];
        serde_json::from_slice::<String>(quoted).ok().and_then(|key| find(key.as_bytes()))
    }

    /// The value of a wanted key (at its first byte).
    fn member(&mut self, node: usize) -> Step {
        let Wanted { slot, slots, has_children } = self.wanted(node);
        if std::mem::replace(&mut self.records.visited[node], true) {
            // The key repeats: every field at or below it is ambiguous.
            for s in slots {
                self.set(s, Slot::Duplicate);
            }
            return self.skip_value();
        }
        let value = match self.peek() {
            Some(b'{') if has_children => {
                self.object(node)?;
                Slot::Object
            }
            Some(b'"') => self.string_value()?,
            Some(b'-' | b'0'..=b'9') => {
                let from = self.pos;
                self.number()?;
                // The grammar is checked; JSON numbers are a subset of Rust's float syntax.
                let text = std::str::from_utf8(&self.bytes[from..self.pos]).map_err(|_| Malformed)?;
                Slot::Num(text.parse().map_err(|_| Malformed)?)
            }
            Some(b'{') => {
                self.skip_value()?;
                Slot::Object
            }
            Some(b'[') => {
                self.skip_value()?;
                Slot::Array
            }
            _ => self.literal()?,
        };
        if let Some(slot) = slot {
            self.set(slot, value);
        }
        Ok(())
    }

    fn wanted(&self, node: usize) -> Wanted {
        let n = &self.extractor.nodes[node];
        Wanted { slot: n.slot, slots: n.slots.clone(), has_children: !n.children.is_empty() }
    }

    /// A wanted string: borrowed from the message unless it has escapes.
    fn string_value(&mut self) -> Step<Slot> {
        let (start, escaped) = self.string()?;
        let len = (self.pos - 1 - start) as u32;
        if !escaped {
            return Ok(Slot::Str(start as u32, len));
        }
        // The grammar is checked; only an escape that is no Unicode text can fail here.
        let Ok(decoded) = serde_json::from_slice::<String>(&self.bytes[start - 1..self.pos]) else {
            return Ok(Slot::BadString);
        };
        let owned = &mut self.records.owned;
        let at = owned.len() as u32;
        owned.push_str(&decoded);
        Ok(Slot::Owned(at, decoded.len() as u32))
    }

    /// `true`, `false` or `null`.
    fn literal(&mut self) -> Step<Slot> {
        let rest = &self.bytes[self.pos..];
        let (slot, len) = if rest.starts_with(b"true") {
            (Slot::Bool(true), 4)
        } else if rest.starts_with(b"false") {
            (Slot::Bool(false), 5)
        } else if rest.starts_with(b"null") {
            (Slot::Null, 4)
        } else {
            return Err(Malformed);
        };
        self.pos += len;
        Ok(slot)
    }

    /// A string (at its opening quote); returns where its text starts and whether it has
    /// escapes, leaving `pos` after the closing quote.
    #[inline]
    fn string(&mut self) -> Step<(usize, bool)> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.pos = special(self.bytes, self.pos);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok((start, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return Err(Malformed),
            }
        }
    }

    /// An escape (at its backslash): one of `"\/bfnrt`, or `u` and four hex digits (any code
    /// unit: pairing surrogates is checked only where a string is decoded, as serde_json does).
    fn escape(&mut self) -> Step {
        match self.bytes.get(self.pos + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 2,
            Some(b'u') => {
                let hex = self.bytes.get(self.pos + 2..self.pos + 6).ok_or(Malformed)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(Malformed);
                }
                self.pos += 6;
            }
            _ => return Err(Malformed),
        }
        Ok(())
    }

    /// A number's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Step {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Malformed),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    #[inline]
    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Step {
        let from = self.pos;
        self.digits();
        if self.pos == from {
            Err(Malformed)
        } else {
            Ok(())
        }
    }

    /// Skips one value (at its first byte), validating it; containers with an explicit stack.
    fn skip_value(&mut self) -> Step {
        let base = self.records.stack.len();
        let outcome = self.skip_nested(base);
        self.records.stack.truncate(base);
        outcome
    }

    fn skip_nested(&mut self, base: usize) -> Step {
        loop {
            // A value.
            match self.peek() {
                Some(open @ (b'{' | b'[')) => {
                    self.pos += 1;
                    self.whitespace();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                    } else {
                        self.records.stack.push(open);
                        if open == b'{' {
                            self.key()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => {
                    self.literal()?;
                }
            }
            // After a value: close containers, or go on to the next element.
            loop {
                if self.records.stack.len() == base {
                    return Ok(());
                }
                self.whitespace();
                let open = self.records.stack[self.records.stack.len() - 1];
                match (open, self.peek()) {
                    (_, Some(b',')) => {
                        self.pos += 1;
                        if open == b'{' {
                            self.key()?;
                        } else {
                            self.whitespace();
                        }
                        break;
                    }
                    (b'{', Some(b'}')) | (b'[', Some(b']')) => {
                        self.pos += 1;
                        self.records.stack.pop();
                    }
                    _ => return Err(Malformed),
                }
            }
        }
    }

    /// A key and its colon, up to the value's first byte.
    fn key(&mut self) -> Step {
        self.whitespace();
        if self.peek() != Some(b'"') {
            return Err(Malformed);
        }
        self.string()?;
        self.expect(b':')?;
        self.whitespace();
        Ok(())
    }
}

/// What [`Scanner::member`] needs of a trie node.
struct Wanted {
    slot: Option<u16>,
    slots: std::ops::Range<u16>,
    has_children: bool,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The position of the first byte from `pos` on that is a quote, a backslash or a control
/// character (`bytes.len()` if none): eight bytes at a time, then one by one.
#[inline]
fn special(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(chunk) = bytes.get(pos..pos + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH_BITS;
        let quote = has_zero(word ^ (ONES * u64::from(b'"')));
        let backslash = has_zero(word ^ (ONES * u64::from(b'\\')));
        // Below 0x20 and not a byte of a multi-byte character (those have the high bit).
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS;
        let found = quote | backslash | control;
        if found != 0 {
            // Only the lowest flag is exact (a borrow can flag the byte above it).
            return pos + (found.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while let Some(&b) = bytes.get(pos) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return pos;
        }
        pos += 1;
    }
    pos
}
