//! Message shapes: the fast path of extraction, learnt from the data instead of written for one
//! format.
//!
//! A device writes its readings the same way every time: the same keys in the same order with
//! the same spacing, only the values differ. When the full scanner reads a message without
//! repeated keys, the bytes between its values (keys, punctuation, whitespace, the braces of the
//! objects walked) become a [`Shape`]: literal runs, and after each the value that sits there
//! and the slot it fills. A later message matches a shape if every literal run is there byte
//! for byte and every value in between is valid JSON; the values are scanned with the full
//! scanner's own routines (strings, numbers, skipped containers), so a message a shape accepts
//! is one the full scanner accepts, with the same fields — the shape only spares it the key
//! lookups. Anything else (another key order, spacing, a new format) goes to the full scanner,
//! which may learn its shape. A few shapes are kept per [`super::Records`], most recently
//! matched first.

use super::fields::{Extractor, Slot};
use super::records::Records;
use super::scan::Scanner;
use super::trace::{Shape, Trace};
use crate::query::value::same_bytes;

/// Shapes kept per thread's records: formats of one stream rarely exceed it.
const SHAPES: usize = 8;

impl Shape {
    pub(super) fn learn(message: &[u8], trace: &Trace) -> Shape {
        let (mut text, mut parts, mut at) = (Vec::new(), Vec::new(), 0);
        for &(start, end, slot, object_ok) in &trace.values {
            text.extend_from_slice(&message[at..start as usize]);
            parts.push((text.len() as u32, Some((slot, object_ok))));
            at = end as usize;
        }
        text.extend_from_slice(&message[at..trace.end]);
        parts.push((text.len() as u32, None));
        Shape { text, parts, objects: trace.objects.clone() }
    }

    /// Reads the message on `s` if it has this shape; false (and half-filled slots) if not.
    fn read(&self, s: &mut Scanner<'_, '_>) -> bool {
        let mut from = 0;
        for &(end, value) in &self.parts {
            let literal = &self.text[from..end as usize];
            from = end as usize;
            if !s.bytes.get(s.pos..s.pos + literal.len()).is_some_and(|found| same_bytes(found, literal)) {
                return false;
            }
            s.pos += literal.len();
            if let Some((slot, object_ok)) = value {
                // Most values are plain strings or numbers: read those without the general
                // dispatch.
                if !s.plain_string(slot) && !s.plain_number(slot) && s.value(slot, object_ok).is_err() {
                    return false;
                }
            }
        }
        for &slot in &self.objects {
            s.set(slot, Slot::Object);
        }
        s.whitespace();
        // Bytes above 0x7f were seen only inside strings: the message is text if they are.
        s.pos == s.bytes.len() && (!s.high || std::str::from_utf8(s.bytes).is_ok())
    }
}

impl Records {
    /// Fills the record at slot `start` from `message` if one of the learnt shapes fits it.
    pub(super) fn read_shaped(&mut self, extractor: &Extractor, message: &[u8], start: usize) -> bool {
        let shapes = std::mem::take(&mut self.shapes);
        let owned = self.owned.len();
        let mut found = None;
        for (i, shape) in shapes.iter().enumerate() {
            let mut s = Scanner::new(extractor, message, self, start);
            if shape.read(&mut s) {
                found = Some(i);
                break;
            }
            self.slots[start..].iter_mut().for_each(|slot| *slot = Slot::Missing);
            self.owned.truncate(owned);
        }
        self.shapes = shapes;
        if let Some(i) = found {
            self.shapes[..=i].rotate_right(1);
        }
        found.is_some()
    }

    /// Keeps the shape of the message the full scanner just read, if it may be learnt.
    pub(super) fn learn(&mut self, message: &[u8]) {
        if !self.trace.complete {
            return;
        }
        if self.shapes.len() == SHAPES {
            self.shapes.pop();
        }
        self.shapes.insert(0, Shape::learn(message, &self.trace));
    }
}
