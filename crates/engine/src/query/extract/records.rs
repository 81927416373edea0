//! Records: the fields of messages back to back, owned and compact (a few 16-byte slots per
//! message, strings as positions in the message), so that messages parsed on several threads
//! can be handed with their bytes to the one ordered stage that counts them; and [`Record`],
//! one message's fields as queries read them.

use super::fields::{Extractor, Slot};
use super::trace::{Shape, Trace};
use crate::parse::RejectReason;
use crate::query::value::V;
use crate::reading::EventTime;
use crate::time::MinuteCache;

/// The fields of messages, back to back: what parsing threads hand to the ordered stage, with
/// the messages' bytes.
#[derive(Clone, Debug, Default)]
pub struct Records {
    pub(super) width: usize,
    pub(super) slots: Vec<Slot>,
    pub(super) times: Vec<i64>,
    pub(super) owned: String,
    /// Scratch: trie nodes met in the current message, and open brackets while skipping.
    pub(super) visited: Vec<bool>,
    pub(super) stack: Vec<u8>,
    /// Shapes of messages seen, the fast path (see `shape.rs`), and where the last message's
    /// values were.
    pub(super) shapes: Vec<Shape>,
    pub(super) trace: Trace,
    /// The last event time's minute, to skip re-reading it.
    pub(super) minutes: MinuteCache,
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

    /// Moves the records held into a new `Records` (to hand to another thread with their
    /// messages), keeping this buffer's learnt message shapes and scratch: the next messages
    /// read here take the fast path at once.
    pub fn take(&mut self) -> Records {
        Records {
            width: self.width,
            slots: std::mem::take(&mut self.slots),
            times: std::mem::take(&mut self.times),
            owned: std::mem::take(&mut self.owned),
            ..Records::default()
        }
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// True with no records.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Record `index`, whose message is `message`.
    pub fn get<'a>(&'a self, index: usize, message: &'a [u8]) -> Record<'a> {
        let start = index * self.width;
        let slots = self.slots.get(start..start + self.width).unwrap_or(&[]);
        let time = self.times.get(index).copied().unwrap_or(i64::MIN);
        Record { slots, message, owned: &self.owned, time }
    }
}

pub(super) fn range(bytes: &[u8], start: u32, len: u32) -> &[u8] {
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
