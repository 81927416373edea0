//! Bytes → [`Reading`] or a typed [`RejectReason`]; never panics, never allocates on the common path.
//!
//! A line is a reading iff it is valid UTF-8, not blank, strict JSON (RFC 8259: no `NaN`, no comments,
//! no trailing commas) whose top level is an object with a string `guid`, a string `state` that is one
//! of the 51 codes, an RFC 3339 string `eventTime` and a finite number `payload.data.temperature`.
//! Unknown fields anywhere are ignored. Anything else gets exactly one reason, decided in a fixed
//! order (size, encoding, blank, syntax, shape, then `guid`, `state`, `eventTime`, `temperature`).
//!
//! Two parsers share the work. `fast` recognises the exact shape the seed's simulator writes in one
//! pass and accepts only lines it has fully validated; everything else (other key orders, escapes,
//! extra fields, and every invalid line) goes to `general`, built on `serde_json`, which alone
//! decides reasons. So the fast path can only ever change speed, never an answer — a property the
//! tests check on mutated lines. `reject` holds the reasons and the checks both share.

mod fast;
mod general;
pub(crate) mod number;
mod reject;

pub use reject::{RejectReason, MAX_ABS_TEMPERATURE};

use crate::reading::Reading;
use reject::is_json_whitespace;

/// Lines longer than this are rejected unread unless configured otherwise (64 KiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// Turns message bytes into readings. Cheap to copy; holds only configuration.
#[derive(Clone, Copy, Debug)]
pub struct Parser {
    max_line_bytes: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new(DEFAULT_MAX_LINE_BYTES)
    }
}

impl Parser {
    /// A parser that rejects messages longer than `max_line_bytes` as [`RejectReason::TooLarge`].
    pub fn new(max_line_bytes: usize) -> Parser {
        Parser { max_line_bytes }
    }

    /// The configured size limit.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// Parses one message (a line without its `\n`, or one Kafka payload).
    pub fn parse<'a>(&self, bytes: &'a [u8]) -> Result<Reading<'a>, RejectReason> {
        if bytes.len() > self.max_line_bytes {
            return Err(RejectReason::TooLarge);
        }
        if let Some(reading) = fast::parse(bytes) {
            return Ok(reading);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| RejectReason::NotUtf8)?;
        if text.bytes().all(is_json_whitespace) {
            return Err(RejectReason::Empty);
        }
        general::parse(text)
    }
}

/// For fuzzing and tests: true unless the fast path accepts `bytes` with an answer other than the
/// general path's (which would mean the fast path changed a result).
#[doc(hidden)]
pub fn fast_and_general_agree(bytes: &[u8]) -> bool {
    match fast::parse(bytes) {
        None => true,
        Some(fast) => std::str::from_utf8(bytes).map(general::parse) == Ok(Ok(fast)),
    }
}

#[cfg(test)]
mod tests;
