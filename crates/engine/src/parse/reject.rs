//! Why a message is not a reading ([`RejectReason`]), and the checks both parsers make alike.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Largest accepted |temperature|: 2⁶⁴. Beyond it exact summation (see
/// [`crate::aggregate::ExactSum`]) could overflow; no thermometer reads 1.8·10¹⁹ degrees.
pub const MAX_ABS_TEMPERATURE: f64 = 18_446_744_073_709_551_616.0;

/// Why a message was not counted as a reading. Every rejected message has exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Not valid UTF-8.
    NotUtf8,
    /// Empty or only whitespace.
    Empty,
    /// Longer than the configured limit; rejected before parsing.
    TooLarge,
    /// Not strict JSON (syntax error, `NaN`/`Infinity`, leading zeros, trailing data).
    MalformedJson,
    /// Valid JSON whose top level is not an object.
    NotObject,
    /// `guid`, `state`, `eventTime`, `payload`, `payload.data` or `payload.data.temperature` absent.
    MissingField,
    /// One of those fields has the wrong JSON type (e.g. a quoted temperature, a numeric guid).
    WrongType,
    /// One of those fields appears twice in the same object, so its value would be ambiguous.
    DuplicateField,
    /// `state` is a string but not one of the 51 codes.
    UnknownState,
    /// `temperature` overflows to infinity (e.g. `1e400`).
    NonFinite,
    /// |`temperature`| is finite but at least 2⁶⁴.
    OutOfRange,
    /// `eventTime` is a string but not an RFC 3339 timestamp.
    BadTimestamp,
    /// A valid reading whose event time is further in the future than the allowed clock skew
    /// (event-time mode); it would otherwise drag the watermark ahead of every other sensor.
    FutureTimestamp,
    /// A valid reading that arrived after its windows were complete, beyond the allowed lateness
    /// (event-time mode).
    Late,
    /// A query's reading whose group would exceed the query's group limit (`--max-groups`) in
    /// its window: the group is not created. Queries only, so not in [`RejectReason::ALL`].
    TooManyGroups,
}

impl RejectReason {
    /// Every reason of the seed's analyses, in a fixed order (the order of output columns).
    pub const ALL: [RejectReason; 14] = [
        RejectReason::NotUtf8,
        RejectReason::Empty,
        RejectReason::TooLarge,
        RejectReason::MalformedJson,
        RejectReason::NotObject,
        RejectReason::MissingField,
        RejectReason::WrongType,
        RejectReason::DuplicateField,
        RejectReason::UnknownState,
        RejectReason::NonFinite,
        RejectReason::OutOfRange,
        RejectReason::BadTimestamp,
        RejectReason::FutureTimestamp,
        RejectReason::Late,
    ];

    /// Every reason, queries' included: [`RejectReason::ALL`], then those only queries give.
    pub const EVERY: [RejectReason; 15] = {
        let mut every = [RejectReason::TooManyGroups; 15];
        let mut i = 0;
        while i < RejectReason::ALL.len() {
            every[i] = RejectReason::ALL[i];
            i += 1;
        }
        every
    };

    /// The reasons the parser gives (the first twelve); the others are decided by the event-time
    /// engine.
    pub const PARSE: &'static [RejectReason] = RejectReason::ALL.split_at(12).0;

    /// The reason's stable snake_case name, as used in outputs, metrics and dead-letter headers.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NotUtf8 => "not_utf8",
            RejectReason::Empty => "empty",
            RejectReason::TooLarge => "too_large",
            RejectReason::MalformedJson => "malformed_json",
            RejectReason::NotObject => "not_object",
            RejectReason::MissingField => "missing_field",
            RejectReason::WrongType => "wrong_type",
            RejectReason::DuplicateField => "duplicate_field",
            RejectReason::UnknownState => "unknown_state",
            RejectReason::NonFinite => "non_finite",
            RejectReason::OutOfRange => "out_of_range",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::Late => "late",
            RejectReason::TooManyGroups => "too_many_groups",
        }
    }

    /// Position in [`RejectReason::EVERY`] (and [`RejectReason::ALL`]), for per-reason counter
    /// arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// JSON's four whitespace bytes (RFC 8259 §2).
#[inline]
pub fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Checks a temperature the JSON grammar already accepted.
pub fn check_temperature(value: f64) -> Result<f64, RejectReason> {
    if !value.is_finite() {
        Err(RejectReason::NonFinite)
    } else if value.abs() >= MAX_ABS_TEMPERATURE {
        Err(RejectReason::OutOfRange)
    } else {
        Ok(value)
    }
}
