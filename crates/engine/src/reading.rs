//! The message model: what one valid sensor reading is once it has been parsed.
//!
//! A [`Reading`] carries only what the analyses need: the sensor ([`SensorId`], a stable 64-bit hash
//! of its guid, plus the guid text for per-sensor views), the [`StateCode`] it reports from, the
//! [`EventTime`] it was taken at and its temperature. Everything else in the message is ignored.

use std::borrow::Cow;
use std::fmt;

pub use crate::time::EventTime;

/// The 51 codes the seed's simulator uses (50 states and DC), in ascending order.
///
/// The index of a code in this table is its [`StateCode`]; sorting by index is sorting by name.
pub const STATE_CODES: [&str; 51] = [
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN", "KS",
    "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV",
    "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
];

/// How many state codes there are; per-state accumulators are arrays of this length.
pub const STATE_COUNT: usize = STATE_CODES.len();

/// A 26×26 table from two capital letters to `index + 1` (0 = not a code), built at compile time so
/// that recognising a state is one load instead of a string search on the hot path.
const STATE_LOOKUP: [u8; 26 * 26] = build_state_lookup();

const fn build_state_lookup() -> [u8; 26 * 26] {
    let mut table = [0u8; 26 * 26];
    let mut i = 0;
    while i < STATE_COUNT {
        let code = STATE_CODES[i].as_bytes();
        let slot = (code[0] - b'A') as usize * 26 + (code[1] - b'A') as usize;
        table[slot] = (i + 1) as u8;
        i += 1;
    }
    table
}

/// One of the 51 U.S. state codes, stored as its index in [`STATE_CODES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateCode(u8);

impl StateCode {
    /// Recognises a code from its exact bytes (`b"CA"`); anything else, lower case included, is `None`.
    #[inline]
    pub fn from_bytes(code: &[u8]) -> Option<StateCode> {
        let [a, b] = code else { return None };
        if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() {
            return None;
        }
        let slot = (a - b'A') as usize * 26 + (b - b'A') as usize;
        match STATE_LOOKUP[slot] {
            0 => None,
            n => Some(StateCode(n - 1)),
        }
    }

    /// The code at `index` in [`STATE_CODES`], if there is one.
    pub fn from_index(index: usize) -> Option<StateCode> {
        (index < STATE_COUNT).then_some(StateCode(index as u8))
    }

    /// Position in [`STATE_CODES`] (0..51), for indexing per-state arrays.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The two-letter code.
    pub fn as_str(self) -> &'static str {
        STATE_CODES[self.index()]
    }

    /// Every code, in ascending order.
    pub fn all() -> impl Iterator<Item = StateCode> {
        (0..STATE_COUNT as u8).map(StateCode)
    }
}

impl fmt::Display for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for StateCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for StateCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        StateCode::from_bytes(code.as_bytes())
            .ok_or_else(|| serde::de::Error::custom(format!("unknown state code {code:?}")))
    }
}

/// A sensor's identity as a fixed 64-bit hash of its guid (XXH3, seed 0).
///
/// The hash is the same in every build and on every machine, so it can be stored in checkpoints and
/// compared across processes. Distinct-sensor counts are exact unless two guids collide, which for a
/// fleet of n sensors happens with probability about n²/2⁶⁵ (3·10⁻⁸ for a million sensors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SensorId(pub u64);

impl SensorId {
    /// Hashes a guid's text.
    #[inline]
    pub fn from_guid(guid: &str) -> SensorId {
        SensorId::from_guid_bytes(guid.as_bytes())
    }

    /// Hashes a guid's text given as its UTF-8 bytes.
    #[inline]
    pub fn from_guid_bytes(guid: &[u8]) -> SensorId {
        SensorId(xxhash_rust::xxh3::xxh3_64(guid))
    }
}

/// A sensor's guid as sent (escapes decoded), borrowed from the input where it can be.
///
/// Always valid UTF-8, but kept as the bytes it was parsed from: the fast path has already checked
/// every byte of it to be ASCII, and validating it again only to hold a `&str` was 8% of the
/// instructions per reading. It becomes a `str` only when asked ([`Guid::as_str`]: live views,
/// Kafka keys), which cannot fail and does not copy.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Guid<'a>(Cow<'a, [u8]>);

impl<'a> Guid<'a> {
    /// A guid from bytes the caller has checked to be ASCII (so UTF-8).
    #[inline]
    pub(crate) fn from_ascii(bytes: &'a [u8]) -> Guid<'a> {
        debug_assert!(bytes.is_ascii());
        Guid(Cow::Borrowed(bytes))
    }

    /// The text's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text (borrowed: it is UTF-8 by construction, so nothing is replaced or copied).
    pub fn as_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The text as an owned `String`.
    pub fn into_string(self) -> String {
        self.as_str().into_owned()
    }
}

impl<'a> From<Cow<'a, str>> for Guid<'a> {
    fn from(text: Cow<'a, str>) -> Guid<'a> {
        Guid(match text {
            Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        })
    }
}

impl<'a> From<&'a str> for Guid<'a> {
    fn from(text: &'a str) -> Guid<'a> {
        Guid(Cow::Borrowed(text.as_bytes()))
    }
}

impl PartialEq<str> for Guid<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other.as_bytes()
    }
}

impl PartialEq<&str> for Guid<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == *other.as_bytes()
    }
}

impl fmt::Debug for Guid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.as_str(), f)
    }
}

impl fmt::Display for Guid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// One valid reading, borrowing from the input line where it can.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading<'a> {
    /// The sensor's guid as sent (escapes decoded).
    pub guid: Guid<'a>,
    /// Hash of `guid`, computed once at parse time.
    pub sensor: SensorId,
    /// The state the reading reports from.
    pub state: StateCode,
    /// When the reading was taken, as sent by the sensor.
    pub event_time: EventTime,
    /// Temperature; always finite.
    pub temperature: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_sorted() {
        for (i, code) in STATE_CODES.iter().enumerate() {
            let state = StateCode::from_bytes(code.as_bytes()).expect("known code");
            assert_eq!(state.index(), i);
            assert_eq!(state.as_str(), *code);
        }
        assert!(STATE_CODES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn guids_compare_and_read_as_text_whatever_their_origin() {
        let borrowed = Guid::from_ascii(b"0-ZZZ12345678-08K");
        let owned = Guid::from(Cow::Owned("0-ZZZ12345678-08K".to_string()));
        assert_eq!(borrowed, owned);
        assert_eq!(borrowed, "0-ZZZ12345678-08K");
        assert!(matches!(borrowed.as_str(), Cow::Borrowed("0-ZZZ12345678-08K")));
        assert_eq!(Guid::from("\u{e9}t\u{e9}").to_string(), "\u{e9}t\u{e9}");
        assert_eq!(format!("{borrowed:?}"), "\"0-ZZZ12345678-08K\"");
        assert_eq!(SensorId::from_guid_bytes(borrowed.as_bytes()), SensorId::from_guid("0-ZZZ12345678-08K"));
    }

    #[test]
    fn rejects_non_codes() {
        for bad in ["", "C", "CAL", "ca", "Ca", "ZZ", "AA", "C1", "\u{e9}A"] {
            assert_eq!(StateCode::from_bytes(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn sensor_id_is_stable() {
        // A fixed value: checkpoints written by older builds depend on it never changing. It is
        // XXH3-64 (seed 0) of the guid's bytes, as Python's `xxhash.xxh3_64_intdigest` computes it.
        assert_eq!(SensorId::from_guid("0-ZZZ12345678-08K").0, 0x821b_3621_62b1_e2e1);
        assert_ne!(SensorId::from_guid("0-ZZZ12345678-08K"), SensorId::from_guid("0-ZZZ12345678-08L"));
    }
}
