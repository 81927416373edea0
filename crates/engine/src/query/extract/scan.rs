//! The scanner: one pass over a message, validating the JSON grammar of RFC 8259 exactly as
//! serde_json does (a property test holds it to that) and capturing the wanted fields.
//!
//! Objects on a wanted path are walked recursively (as deep as the longest path); everything
//! else is skipped with an explicit stack of open brackets, so nesting depth costs memory in
//! proportion to the message, never the call stack. Strings are scanned eight bytes at a time
//! for the quote, a backslash, a control character or a byte of a multi-byte character (which
//! only a string may hold, and which is remembered: see [`super::shape`]).

use super::fields::{Extractor, Slot};
use super::records::Records;
use crate::parse::RejectReason;

/// The message is not valid JSON (or, on a shape, not of the shape).
pub(super) struct Malformed;

pub(super) type Step<T = ()> = Result<T, Malformed>;

/// Validates `message` in full and fills the record starting at slot `start` of `records`;
/// with `trace`, records where its values are (to learn its shape) unless a key repeats.
pub(super) fn message(
    extractor: &Extractor,
    message: &[u8],
    records: &mut Records,
    start: usize,
    trace: bool,
) -> Result<(), RejectReason> {
    if std::str::from_utf8(message).is_err() {
        return Err(RejectReason::NotUtf8);
    }
    records.visited.iter_mut().for_each(|v| *v = false);
    records.trace.clear();
    let mut s = Scanner::new(extractor, message, records, start);
    s.tracing = trace;
    s.whitespace();
    if s.pos == message.len() {
        return Err(RejectReason::Empty);
    }
    let object = s.peek() == Some(b'{');
    let valid = if object { s.object(0) } else { s.skip_value() };
    let end = s.pos;
    s.whitespace();
    match (valid, s.pos == message.len()) {
        (Ok(()), true) if object => {
            let learnt = s.tracing;
            s.records.trace.end = end;
            s.records.trace.complete = learnt;
            Ok(())
        }
        (Ok(()), true) => Err(RejectReason::NotObject),
        _ => Err(RejectReason::MalformedJson),
    }
}

pub(super) struct Scanner<'a, 'r> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
    extractor: &'a Extractor,
    records: &'r mut Records,
    /// The record's first slot in `records`.
    start: usize,
    /// Record values' places in `records.trace` (cleared when a key repeats).
    tracing: bool,
    /// A string held a byte of a multi-byte character.
    pub(super) high: bool,
}

impl<'a, 'r> Scanner<'a, 'r> {
    pub(super) fn new(
        extractor: &'a Extractor,
        bytes: &'a [u8],
        records: &'r mut Records,
        start: usize,
    ) -> Self {
        Scanner { bytes, pos: 0, extractor, records, start, tracing: false, high: false }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    pub(super) fn whitespace(&mut self) {
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

    pub(super) fn set(&mut self, slot: u16, value: Slot) {
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
                None => self.traced_value(None, true)?,
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
            // The key repeats: every field at or below it is ambiguous (and the message's shape
            // is not one to learn).
            self.tracing = false;
            for s in slots {
                self.set(s, Slot::Duplicate);
            }
            return self.skip_value();
        }
        if has_children && self.peek() == Some(b'{') {
            self.object(node)?;
            if let Some(slot) = slot {
                self.set(slot, Slot::Object);
                self.records.trace.objects.push(slot);
            }
            return Ok(());
        }
        self.traced_value(slot, !has_children)
    }

    /// [`Scanner::value`], its place recorded when tracing.
    fn traced_value(&mut self, slot: Option<u16>, object_ok: bool) -> Step {
        let start = self.pos;
        self.value(slot, object_ok)?;
        if self.tracing {
            self.records.trace.values.push((start as u32, self.pos as u32, slot, object_ok));
        }
        Ok(())
    }

    /// Any value (at its first byte), into `slot` if wanted; an object only if `object_ok`
    /// (a wanted key with keys below it must be walked, not skipped).
    #[inline]
    pub(super) fn value(&mut self, slot: Option<u16>, object_ok: bool) -> Step {
        let value = match self.peek() {
            Some(b'"') if slot.is_some() => self.string_value()?,
            Some(b'"') => {
                self.string()?;
                Slot::Missing
            }
            Some(b'-' | b'0'..=b'9') => Slot::Num(self.number()?),
            Some(b'{') if !object_ok => return Err(Malformed),
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

    /// A string without escapes or bytes above 0x7f at `pos`, into `slot` if wanted; false
    /// (nothing taken) for anything else.
    #[inline]
    pub(super) fn plain_string(&mut self, slot: Option<u16>) -> bool {
        if self.peek() != Some(b'"') {
            return false;
        }
        let start = self.pos + 1;
        let end = special(self.bytes, start);
        if self.bytes.get(end) != Some(&b'"') {
            return false;
        }
        self.pos = end + 1;
        if let Some(slot) = slot {
            self.set(slot, Slot::Str(start as u32, (end - start) as u32));
        }
        true
    }

    /// A number at `pos`, into `slot` if wanted; false (nothing taken) for anything else.
    /// [`Scanner::value`] would read it the same way, through a dispatch that is not inlined.
    #[inline]
    pub(super) fn plain_number(&mut self, slot: Option<u16>) -> bool {
        if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            return false;
        }
        let Ok(number) = self.number() else { return false };
        if let Some(slot) = slot {
            self.set(slot, Slot::Num(number));
        }
        true
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
        let start = self.pos + 1;
        let end = special(self.bytes, start);
        // The common case: plain text up to the closing quote.
        if self.bytes.get(end) == Some(&b'"') {
            self.pos = end + 1;
            return Ok((start, false));
        }
        self.pos = end;
        self.string_rest(start)
    }

    /// The rest of a string from the first byte that needs a look (`pos`).
    #[inline(never)]
    fn string_rest(&mut self, start: usize) -> Step<(usize, bool)> {
        let mut escaped = false;
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok((start, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(0x80..) => {
                    self.high = true;
                    self.pos += 1;
                }
                _ => return Err(Malformed),
            }
            self.pos = special(self.bytes, self.pos);
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

    /// A number in JSON's grammar and its value (see [`crate::parse::number`]).
    #[inline]
    fn number(&mut self) -> Step<f64> {
        let (value, end) = crate::parse::number::scan(self.bytes, self.pos).ok_or(Malformed)?;
        self.pos = end;
        Ok(value)
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
            if self.open_value()? {
                continue;
            }
            if self.close_values(base)? {
                return Ok(());
            }
        }
    }

    /// Reads the start of a value: a scalar or an empty container whole (false), or the
    /// opening of a container whose first element comes next (true).
    fn open_value(&mut self) -> Step<bool> {
        match self.peek() {
            Some(open @ (b'{' | b'[')) => {
                self.pos += 1;
                self.whitespace();
                let close = if open == b'{' { b'}' } else { b']' };
                if self.peek() == Some(close) {
                    self.pos += 1;
                    return Ok(false);
                }
                self.records.stack.push(open);
                if open == b'{' {
                    self.key()?;
                }
                Ok(true)
            }
            Some(b'"') => self.string().map(|_| false),
            Some(b'-' | b'0'..=b'9') => self.number().map(|_| false),
            _ => self.literal().map(|_| false),
        }
    }

    /// After a value: closes the containers it ends; true once back at depth `base`, false when
    /// the next element of an open container follows.
    fn close_values(&mut self, base: usize) -> Step<bool> {
        loop {
            if self.records.stack.len() == base {
                return Ok(true);
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
                    return Ok(false);
                }
                (b'{', Some(b'}')) | (b'[', Some(b']')) => {
                    self.pos += 1;
                    self.records.stack.pop();
                }
                _ => return Err(Malformed),
            }
        }
    }

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

/// The position of the first byte from `pos` on that is a quote, a backslash, a control
/// character or 0x80 and above (`bytes.len()` if none): eight bytes at a time, then one by one.
#[inline(always)]
fn special(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(chunk) = bytes.get(pos..pos + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH_BITS;
        let quote = has_zero(word ^ (ONES * u64::from(b'"')));
        let backslash = has_zero(word ^ (ONES * u64::from(b'\\')));
        // Below 0x20 (the subtraction borrows) or from 0x80 on (the high bit is set).
        let outside = (word.wrapping_sub(ONES * 0x20) | word) & HIGH_BITS;
        let found = quote | backslash | outside;
        if found != 0 {
            // Only the lowest flag is exact (a borrow can flag the byte above it).
            return pos + (found.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while let Some(&b) = bytes.get(pos) {
        if b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b) {
            return pos;
        }
        pos += 1;
    }
    pos
}
