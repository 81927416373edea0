//! One pass over a message for every query of a run: the fields any query reads (and the event
//! time) are pulled out of the JSON while the whole message is validated strictly, without
//! building a document — values nobody asked for are checked and skipped, never materialised.
//!
//! An [`Extractor`] is compiled from the union of the queries' field paths into a trie; the
//! scanner (`scan.rs`) walks the message once, descending only into objects on a wanted path.
//! A message is rejected for every query only as today: `too_large`, `not_utf8`, `empty`,
//! `malformed_json` (exactly the texts serde_json refuses, nesting depth unlimited as there),
//! `not_object`, and in event time a missing (`missing_field`), non-string (`wrong_type`),
//! repeated (`duplicate_field`) or unreadable (`bad_timestamp`) event time. Everything else
//! is a value per field, judged by each query on its own ([`Record::value`]): a missing field or
//! one on a path through something that is not an object is NULL, a field given twice (or an
//! object on its path given twice) is `duplicate_field` for the queries that read it.
//!
//! What the scanner produces is owned and compact ([`Records`]: a few 16-byte slots per
//! message, strings as positions in the message), so messages parsed on several threads can be
//! handed with their bytes to the one ordered stage that counts them.

mod scan;
mod shape;

use std::fmt;

use crate::parse::{RejectReason, DEFAULT_MAX_LINE_BYTES};
use crate::query::value::V;
use crate::reading::EventTime;

/// A field by its path of keys: `payload.data.temperature` is `["payload", "data",
/// "temperature"]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<String>);

impl FieldPath {
    /// A path from its keys.
    pub fn new<S: Into<String>>(keys: impl IntoIterator<Item = S>) -> FieldPath {
        FieldPath(keys.into_iter().map(Into::into).collect())
    }

    /// The last key: the name a group key's column gets.
    pub fn last(&self) -> &str {
        self.0.last().map_or("", String::as_str)
    }
}

impl fmt::Display for FieldPath {
    /// As SQL would write it: keys that are not plain identifiers in double quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, key) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if plain {
                f.write_str(key)?;
            } else {
                write!(f, "\"{}\"", key.replace('"', "\"\""))?;
            }
        }
        Ok(())
    }
}

/// What one message holds for one field, without borrows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Slot {
    /// Absent, or on a path through a value that is not an object: NULL.
    Missing,
    /// JSON `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (infinite if it overflows a double, as `1e400` does).
    Num(f64),
    /// A string without escapes: its bytes' start and length in the message.
    Str(u32, u32),
    /// A string with escapes, decoded: start and length in [`Records`]' own text.
    Owned(u32, u32),
    /// An object.
    Object,
    /// An array.
    Array,
    /// The field, or an object on its path, appears more than once in its object.
    Duplicate,
    /// A string whose escapes are no Unicode text (a lone surrogate, `"\udfff"`): valid JSON
    /// that no string value can hold, `malformed_json` for the queries that read it.
    BadString,
}

/// A trie node: one key of some wanted path.
#[derive(Clone, Debug, Default)]
struct Node {
    /// The slot of the path ending here, if one does.
    slot: Option<u16>,
    /// Keys below, with their nodes.
    children: Vec<(Box<[u8]>, u16)>,
    /// The slots of this node and every node below it: a contiguous range (assigned depth
    /// first), all of them duplicate when this key repeats.
    slots: std::ops::Range<u16>,
}

/// The compiled set of wanted fields; shared by every thread that parses.
#[derive(Clone, Debug)]
pub struct Extractor {
    nodes: Vec<Node>,
    width: usize,
    time: Option<u16>,
    max_line_bytes: usize,
}

impl Extractor {
    /// An extractor for `paths` (and the event time at `time`, if given), refusing messages
    /// longer than `max_line_bytes`. Returns it with the slot of each path, in order.
    pub fn new(
        paths: &[FieldPath],
        time: Option<&FieldPath>,
        max_line_bytes: usize,
    ) -> (Extractor, Vec<usize>) {
        let mut nodes = vec![Node::default()];
        let mut ends = Vec::new();
        for path in paths.iter().chain(time) {
            let mut at = 0;
            for key in &path.0 {
                let found = nodes[at].children.iter().find(|(k, _)| **k == *key.as_bytes()).map(|c| c.1);
                at = match found {
                    Some(child) => child as usize,
                    None => {
                        nodes.push(Node::default());
                        let child = (nodes.len() - 1) as u16;
                        nodes[at].children.push((key.as_bytes().into(), child));
                        child as usize
                    }
                };
            }
            ends.push(at);
        }
        let mut next = 0;
        number_slots(&mut nodes, 0, &ends, &mut next);
        let slot_of = |end: usize| nodes[end].slot.map_or(0, usize::from);
        let slots: Vec<usize> = ends[..paths.len()].iter().map(|&end| slot_of(end)).collect();
        let time = time.map(|_| slot_of(ends[paths.len()]) as u16);
        (Extractor { nodes, width: next as usize, time, max_line_bytes }, slots)
    }

    /// Slots per message.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The size limit.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }
}

impl Default for Extractor {
    fn default() -> Self {
        Extractor::new(&[], None, DEFAULT_MAX_LINE_BYTES).0
    }
}

/// Gives every node that ends a path a slot, depth first, so that each node's slots and its
/// descendants' are one range.
fn number_slots(nodes: &mut [Node], at: usize, ends: &[usize], next: &mut u16) {
    let first = *next;
    if ends.contains(&at) && at != 0 {
        nodes[at].slot = Some(*next);
        *next += 1;
    }
    let children: Vec<u16> = nodes[at].children.iter().map(|c| c.1).collect();
    for child in children {
        number_slots(nodes, child as usize, ends, next);
    }
    nodes[at].slots = first..*next;
}

/// The fields of messages, back to back: what parsing threads hand to the ordered stage, with
/// the messages' bytes.
#[derive(Clone, Debug, Default)]
pub struct Records {
    width: usize,
    slots: Vec<Slot>,
    times: Vec<i64>,
    owned: String,
    /// Scratch: trie nodes met in the current message, and open brackets while skipping.
    visited: Vec<bool>,
    stack: Vec<u8>,
    /// Shapes of messages seen, the fast path (see `shape.rs`), and where the last message's
    /// values were.
    shapes: Vec<shape::Shape>,
    trace: shape::Trace,
}

impl Records {
    /// Room for messages read by `extractor`.
    pub fn new(extractor: &Extractor) -> Records {
        Records { width: extractor.width, visited: vec![false; extractor.nodes.len()], ..Records::default() }
    }

    /// Forgets every record (keeping the memory).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.times.clear();
        self.owned.clear();
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// True with no records.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Extracts `message` into a new record and returns its index, or the reason it is no
    /// record for any query (then nothing is added).
    pub fn push(&mut self, extractor: &Extractor, message: &[u8]) -> Result<usize, RejectReason> {
        if self.width != extractor.width || self.visited.len() != extractor.nodes.len() {
            // Made for another extractor.
            *self = Records::new(extractor);
        }
        if message.len() > extractor.max_line_bytes {
            return Err(RejectReason::TooLarge);
        }
        let start = self.slots.len();
        let owned = self.owned.len();
        self.slots.resize(start + self.width, Slot::Missing);
        let scanned = if self.read_shaped(extractor, message, start) {
            Ok(())
        } else {
            scan::message(extractor, message, self, start, true).inspect(|()| self.learn(message))
        };
        let outcome = scanned.and_then(|()| {
            let time = extractor.time.map(|slot| self.slots[start + usize::from(slot)]);
            time.map_or(Ok(i64::MIN), |slot| self.event_time(slot, message))
        });
        match outcome {
            Ok(time) => {
                self.times.push(time);
                Ok(self.times.len() - 1)
            }
            Err(reason) => {
                self.slots.truncate(start);
                self.owned.truncate(owned);
                Err(reason)
            }
        }
    }

    /// The event time a slot holds, or why a message has none.
    fn event_time(&self, slot: Slot, message: &[u8]) -> Result<i64, RejectReason> {
        let text = match slot {
            Slot::Missing => return Err(RejectReason::MissingField),
            Slot::Duplicate => return Err(RejectReason::DuplicateField),
            Slot::Str(start, len) => range(message, start, len),
            Slot::Owned(start, len) => range(self.owned.as_bytes(), start, len),
            _ => return Err(RejectReason::WrongType),
        };
        EventTime::parse_rfc3339(text).map(EventTime::as_micros).ok_or(RejectReason::BadTimestamp)
    }

    /// Record `index`, whose message is `message`.
    pub fn get<'a>(&'a self, index: usize, message: &'a [u8]) -> Record<'a> {
        let start = index * self.width;
        let slots = self.slots.get(start..start + self.width).unwrap_or(&[]);
        let time = self.times.get(index).copied().unwrap_or(i64::MIN);
        Record { slots, message, owned: &self.owned, time }
    }
}

fn range(bytes: &[u8], start: u32, len: u32) -> &[u8] {
    let start = start as usize;
    bytes.get(start..start + len as usize).unwrap_or(&[])
}

/// One message's fields, as queries read them.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    slots: &'a [Slot],
    message: &'a [u8],
    owned: &'a str,
    time: i64,
}

impl<'a> Record<'a> {
    /// The value of `slot` as SQL sees it, or why a query reading it must reject the message:
    /// `duplicate_field`, or `non_finite` for a number beyond the doubles.
    #[inline]
    pub fn value(&self, slot: usize) -> Result<V<'a>, RejectReason> {
        Ok(match self.slots.get(slot).copied().unwrap_or(Slot::Missing) {
            Slot::Missing | Slot::Null => V::Null,
            Slot::Bool(b) => V::Bool(b),
            Slot::Num(x) if x.is_finite() => V::Num(x),
            Slot::Num(_) => return Err(RejectReason::NonFinite),
            Slot::Str(start, len) => V::Str(range(self.message, start, len)),
            Slot::Owned(start, len) => V::Str(range(self.owned.as_bytes(), start, len)),
            Slot::Object => V::Object,
            Slot::Array => V::Array,
            Slot::Duplicate => return Err(RejectReason::DuplicateField),
            Slot::BadString => return Err(RejectReason::MalformedJson),
        })
    }

    /// The event time (event-time runs only).
    pub fn event_time(&self) -> Option<EventTime> {
        (self.time != i64::MIN).then_some(EventTime(self.time))
    }

    /// The raw slots.
    pub fn slots(&self) -> &'a [Slot] {
        self.slots
    }
}

/// For fuzzing and tests: true when the extractor's verdict on `bytes` (read for a few seed
/// fields) is serde_json's — a record exactly for the objects serde_json reads, and otherwise
/// the same reason — whether it is read by the full scanner or against a learnt shape (the
/// seed's, and its own), with the same values either way; and nothing panics.
#[doc(hidden)]
pub fn extractor_agrees_with_serde_json(bytes: &[u8]) -> bool {
    const SEED: &[u8] = br#"{"guid":"0-ZZZ12345678-08K","destination":"0-AAA12345678","state":"CA", "eventTime":"2016-11-16T13:26:39Z", "payload":{"format":"urn:example:sensor:temp", "data":{"temperature":59.7}}}"#;
    let paths: Vec<FieldPath> = ["guid", "state", "payload.data.temperature", "payload.data"]
        .iter()
        .map(|p| FieldPath::new(p.split('.')))
        .collect();
    let (extractor, slots) = Extractor::new(&paths, None, DEFAULT_MAX_LINE_BYTES);
    let mut records = Records::new(&extractor);
    let seed = records.push(&extractor, SEED).is_ok();
    let verdicts = [records.push(&extractor, bytes), records.push(&extractor, bytes)];
    let values = |at: usize| -> Vec<_> {
        let record = records.get(at, bytes);
        slots.iter().map(|&slot| record.value(slot)).collect()
    };
    let same_values = match verdicts {
        [Ok(first), Ok(second)] => values(first) == values(second),
        _ => true,
    };
    let expected = serde_verdict(bytes, DEFAULT_MAX_LINE_BYTES);
    seed && same_values && verdicts.iter().all(|v| v.map(|_| ()) == expected)
}

/// serde_json's verdict on a message, in the extractor's terms.
fn serde_verdict(bytes: &[u8], max_line_bytes: usize) -> Result<(), RejectReason> {
    if bytes.len() > max_line_bytes {
        return Err(RejectReason::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| RejectReason::NotUtf8)?;
    let text = text.trim_start_matches([' ', '\t', '\n', '\r']);
    if text.trim_end_matches([' ', '\t', '\n', '\r']).is_empty() {
        return Err(RejectReason::Empty);
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| RejectReason::MalformedJson)?;
    if text.starts_with('{') {
        Ok(())
    } else {
        Err(RejectReason::NotObject)
    }
}

#[cfg(test)]
mod tests;
