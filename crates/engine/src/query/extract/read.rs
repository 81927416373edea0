//! Reading a message into a record: a learnt shape first (`shape.rs`), else the full scanner
//! (`scan.rs`), whose shape is then learnt; then the event time.

use super::fields::{Extractor, Slot};
use super::records::{range, Records};
use super::scan;
use crate::parse::RejectReason;
use crate::reading::EventTime;

impl Records {
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
    fn event_time(&mut self, slot: Slot, message: &[u8]) -> Result<i64, RejectReason> {
        let text = match slot {
            Slot::Missing => return Err(RejectReason::MissingField),
            Slot::Duplicate => return Err(RejectReason::DuplicateField),
            Slot::Str(start, len) => range(message, start, len),
            Slot::Owned(start, len) => range(self.owned.as_bytes(), start, len),
            _ => return Err(RejectReason::WrongType),
        };
        self.minutes.parse(text).map(EventTime::as_micros).ok_or(RejectReason::BadTimestamp)
    }
}
