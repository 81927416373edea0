//! Event time: RFC 3339 timestamps turned into microseconds since the Unix epoch, and back.
//!
//! Parsing is a single pass over a fixed grammar (no allocation, no time-zone database), because it
//! runs once per reading. It accepts what RFC 3339 §5.6 allows: `T`, `t` or a space between date and
//! time, optional fractional seconds of any length (kept to the microsecond, extra digits truncated),
//! and `Z`, `z` or a `±HH:MM` offset. It rejects everything else, including leap seconds (`:60`), dates
//! that do not exist (`02-30`) and timestamps without an offset, which would be ambiguous.

use std::fmt;

/// Microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(pub i64);

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

impl EventTime {
    /// The earliest representable time; used as "no watermark yet".
    pub const MIN: EventTime = EventTime(i64::MIN);

    /// Builds a time from whole seconds since the epoch.
    pub fn from_unix_seconds(seconds: i64) -> EventTime {
        EventTime(seconds.saturating_mul(MICROS_PER_SECOND))
    }

    /// Microseconds since the epoch.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 timestamp; `None` if it is not one.
    #[inline]
    pub fn parse_rfc3339(text: &[u8]) -> Option<EventTime> {
        EventTime::parse_fixed_utc(text).or_else(|| EventTime::parse_any_rfc3339(text))
    }

    /// The form nearly every sensor sends, `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, checked at fixed
    /// positions without a cursor. `None` means "not this form, or not valid": the general parser
    /// then decides, so this can only make a valid timestamp faster, never change an answer.
    #[inline]
    fn parse_fixed_utc(text: &[u8]) -> Option<EventTime> {
        let (head, micros) = match text.len() {
            20 => (text.first_chunk::<19>()?, 0),
            27 if text[19] == b'.' => (text.first_chunk::<19>()?, fixed_digits(&text[20..26])?),
            _ => return None,
        };
        if text[text.len() - 1] != b'Z'
            || head[4] != b'-'
            || head[7] != b'-'
            || head[10] != b'T'
            || head[13] != b':'
            || head[16] != b':'
        {
            return None;
        }
        let year = fixed_digits(&head[0..4])?;
        let month = fixed_digits(&head[5..7])?;
        let day = fixed_digits(&head[8..10])?;
        let hour = fixed_digits(&head[11..13])?;
        let minute = fixed_digits(&head[14..16])?;
        let second = fixed_digits(&head[17..19])?;
        if !valid_date(year, month, day) || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil_4_digit_year(year, month, day);
        let seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
        Some(EventTime(seconds * MICROS_PER_SECOND + micros))
    }

    /// Every form RFC 3339 allows, with a cursor.
    fn parse_any_rfc3339(text: &[u8]) -> Option<EventTime> {
        let mut cursor = Cursor { text, pos: 0 };
        let year = cursor.digits(4)?;
        cursor.expect(b'-')?;
        let month = cursor.digits(2)?;
        cursor.expect(b'-')?;
        let day = cursor.digits(2)?;
        cursor.expect_any(b"Tt ")?;
        let hour = cursor.digits(2)?;
        cursor.expect(b':')?;
        let minute = cursor.digits(2)?;
        cursor.expect(b':')?;
        let second = cursor.digits(2)?;
        let micros = cursor.fraction()?;
        let offset_seconds = cursor.offset()?;
        if cursor.pos != text.len() || !valid_date(year, month, day) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset_seconds;
        Some(EventTime(seconds * MICROS_PER_SECOND + micros))
    }

    /// Splits into (days since epoch, microsecond of the day), flooring for times before 1970.
    fn split(self) -> (i64, i64) {
        let per_day = SECONDS_PER_DAY * MICROS_PER_SECOND;
        (self.0.div_euclid(per_day), self.0.rem_euclid(per_day))
    }

    /// `YYYY-MM-DD HH:MM:SS` in UTC, whole seconds, as Spark prints a batch time.
    pub fn format_seconds(self) -> String {
        let (days, micros) = self.split();
        let (year, month, day) = civil_from_days(days);
        let secs = micros / MICROS_PER_SECOND;
        format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    }
}

/// RFC 3339 in UTC with a `Z`; the fraction is printed to the microsecond, and left out when zero.
impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, micros) = self.split();
        let (year, month, day) = civil_from_days(days);
        let secs = micros / MICROS_PER_SECOND;
        let frac = micros % MICROS_PER_SECOND;
        write!(f, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)?;
        if frac != 0 {
            write!(f, ".{frac:06}")?;
        }
        f.write_str("Z")
    }
}

/// A read position in the timestamp text; every method returns `None` on the first mismatch.
struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<i64> {
        let part = self.text.get(self.pos..self.pos + n)?;
        let mut value = 0i64;
        for &b in part {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(b - b'0');
        }
        self.pos += n;
        Some(value)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.expect_any(&[byte])
    }

    fn expect_any(&mut self, allowed: &[u8]) -> Option<()> {
        let b = *self.text.get(self.pos)?;
        allowed.contains(&b).then(|| self.pos += 1)
    }

    /// Optional `.digits`; returns microseconds (0 when absent).
    fn fraction(&mut self) -> Option<i64> {
        if self.text.get(self.pos) != Some(&b'.') {
            return Some(0);
        }
        self.pos += 1;
        let start = self.pos;
        let mut micros = 0i64;
        while let Some(&b) = self.text.get(self.pos).filter(|b| b.is_ascii_digit()) {
            if self.pos - start < 6 {
                micros = micros * 10 + i64::from(b - b'0');
            }
            self.pos += 1;
        }
        let len = self.pos - start;
        if len == 0 {
            return None;
        }
        for _ in len..6 {
            micros *= 10;
        }
        Some(micros)
    }

    /// `Z`, `z` or `±HH:MM`; returns the offset east of UTC in seconds.
    fn offset(&mut self) -> Option<i64> {
        let sign = match *self.text.get(self.pos)? {
            b'Z' | b'z' => {
                self.pos += 1;
                return Some(0);
            }
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        self.pos += 1;
        let hours = self.digits(2)?;
        self.expect(b':')?;
        let minutes = self.digits(2)?;
        (hours <= 23 && minutes <= 59).then_some(sign * (hours * 3600 + minutes * 60))
    }
}

/// The last minute parsed, for a stream whose timestamps share it: readings arrive in about
/// event order, so consecutive ones nearly always fall in the same minute, and re-checking its
/// date and clock (the bulk of a parse) is wasted. Only the fixed form
/// `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` is cached; every answer is [`EventTime::parse_rfc3339`]'s.
#[derive(Clone, Copy, Debug, Default)]
pub struct MinuteCache {
    /// `YYYY-MM-DDTHH:MM:` of a valid timestamp, and that minute's start in microseconds.
    minute: Option<([u8; 17], i64)>,
}

impl MinuteCache {
    /// [`EventTime::parse_rfc3339`] of `text`, remembering its minute when it has the fixed form.
    #[inline]
    pub fn parse(&mut self, text: &[u8]) -> Option<EventTime> {
        let Some((head, rest)) = text.split_first_chunk::<17>() else {
            return EventTime::parse_rfc3339(text);
        };
        let offset = seconds_in_minute(rest);
        if let (Some((minute, start)), Some(offset)) = (&self.minute, offset) {
            if head == minute {
                return Some(EventTime(start + offset));
            }
        }
        let time = EventTime::parse_rfc3339(text)?;
        if let Some(offset) = offset {
            // A valid timestamp whose head is a date and a minute (with any separator RFC 3339
            // allows) and whose rest adds `offset` to it: any rest of that form adds its own.
            self.minute = Some((*head, time.0 - offset));
        }
        Some(time)
    }
}

/// `SSZ` or `SS.ffffffZ` (the end of the fixed form), as microseconds into the minute.
#[inline]
fn seconds_in_minute(rest: &[u8]) -> Option<i64> {
    let (seconds, micros) = match rest {
        [s0, s1, b'Z'] => ([*s0, *s1], 0),
        [s0, s1, b'.', fraction @ .., b'Z'] if fraction.len() == 6 => ([*s0, *s1], fixed_digits(fraction)?),
        _ => return None,
    };
    let seconds = fixed_digits(&seconds)?;
    (seconds <= 59).then_some(seconds * MICROS_PER_SECOND + micros)
}

/// The decimal value of `digits` (all ASCII digits, at most 15 of them), else `None`.
#[inline]
fn fixed_digits(digits: &[u8]) -> Option<i64> {
    let mut value = 0i64;
    let mut bad = false;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        // Accumulated without branching per digit; one test at the end.
        bad |= digit > 9;
        value = value * 10 + i64::from(digit);
    }
    (!bad).then_some(value)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn valid_date(year: i64, month: i64, day: i64) -> bool {
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days_in_month).contains(&day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// [`days_from_civil`] for years 0..=9999, in unsigned arithmetic: shifted by one 400-year era
/// so that nothing is negative, the divisions by constants become multiplications and no
/// `div_euclid` is needed (it was 6% of the parse time).
#[inline]
fn days_from_civil_4_digit_year(year: i64, month: i64, day: i64) -> i64 {
    const ERA_DAYS: i64 = 146_097;
    let (year, month, day) = (year as u64 + 400, month as u64, day as u64);
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * ERA_DAYS as u64 + doe) as i64 - 719_468 - ERA_DAYS
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl serde::Serialize for EventTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EventTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        EventTime::parse_rfc3339(text.as_bytes())
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<EventTime> {
        EventTime::parse_rfc3339(s.as_bytes())
    }

    /// The cache answers as the parser does whatever came before: same minute or not, other
    /// separators, offsets, fractions, invalid seconds, after a valid or an invalid timestamp.
    #[test]
    fn minute_cache_agrees_with_the_parser() {
        let texts = [
            "2016-11-16T13:26:39Z",
            "2016-11-16T13:26:40.123456Z",
            "2016-11-16T13:26:60Z",
            "2016-11-16T13:26:4xZ",
            "2016-11-16T13:26:41.12345Z",
            "2016-11-16T13:26:41.1234567Z",
            "2016-11-16T13:26:41z",
            "2016-11-16T13:26:41+01:00",
            "2016-11-16 13:26:42Z",
            "2016-11-16 13:26:43.000001Z",
            "2016-11-16T13:26:44Z",
            "2016-02-30T13:26:44Z",
            "2016-02-30T13:26:45Z",
            "2016-11-16T13:27:00Z",
            "2016-11-16T13:26:59.999999Z",
            "2016-11-16T13:26:",
            "",
        ];
        let mut cache = MinuteCache::default();
        for round in 0..2 {
            for text in texts {
                assert_eq!(cache.parse(text.as_bytes()), parse(text), "{text} (round {round})");
            }
        }
    }

    #[test]
    fn seed_forms() {
        let with_fraction = parse("2016-11-16T13:26:39.447974Z").unwrap();
        assert_eq!(with_fraction.0, 1_479_302_799_447_974);
        assert_eq!(parse("2016-11-16T13:26:39Z").unwrap().0, 1_479_302_799_000_000);
        assert_eq!(parse("2016-11-16T14:26:39.447974+01:00"), Some(with_fraction));
        assert_eq!(parse("2016-11-16t13:26:39.447974z"), Some(with_fraction));
        assert_eq!(parse("2016-11-16 13:26:39.447974Z"), Some(with_fraction));
        assert_eq!(parse("2016-11-16T13:26:39.4479749999Z"), Some(with_fraction));
        assert_eq!(parse("2016-11-16T13:26:39.4Z").unwrap().0 % 1_000_000, 400_000);
    }

    #[test]
    fn rejects_what_rfc3339_does_not_allow() {
        for bad in [
            "",
            "2016-11-16",
            "2016-11-16T13:26:39",
            "2016-11-16T13:26:39.Z",
            "2016-11-16T13:26:60Z",
            "2016-11-16T24:00:00Z",
            "2016-02-30T00:00:00Z",
            "2015-02-29T00:00:00Z",
            "2016-13-01T00:00:00Z",
            "2016-00-01T00:00:00Z",
            "2016-11-16T13:26:39+0100",
            "2016-11-16T13:26:39+24:00",
            "2016-11-16T13:26:39Zjunk",
            "16-11-16T13:26:39Z",
            "2016-11-16T13:26:39.447974ZZ",
            "+2016-11-16T13:26:39Z",
            "2016-1a-16T13:26:39Z",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert!(parse("2016-02-29T00:00:00Z").is_some());
        assert!(parse("2000-02-29T00:00:00Z").is_some());
        assert!(parse("1900-02-29T00:00:00Z").is_none());
    }

    #[test]
    fn the_fixed_form_agrees_with_the_general_parser() {
        // Every one-byte change of the two fixed forms, plus the boundary values of each field.
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for base in ["2016-11-16T13:26:39.447974Z", "2016-02-29T23:59:59Z", "1900-12-31T00:00:00.000000Z"] {
            for i in 0..base.len() {
                for b in [b'0', b'9', b'/', b':', b'.', b'-', b'T', b't', b' ', b'Z', b'z', b'+', 0x80, 0xff]
                {
                    let mut text = base.as_bytes().to_vec();
                    text[i] = b;
                    cases.push(text);
                }
            }
        }
        for text in
            ["2016-02-30T00:00:00Z", "2015-02-29T00:00:00Z", "2016-12-31T24:00:00Z", "2016-00-10T00:00:00Z"]
        {
            cases.push(text.as_bytes().to_vec());
        }
        for text in &cases {
            if let Some(fixed) = EventTime::parse_fixed_utc(text) {
                assert_eq!(
                    EventTime::parse_any_rfc3339(text),
                    Some(fixed),
                    "{}",
                    String::from_utf8_lossy(text)
                );
            }
        }
        assert!(EventTime::parse_fixed_utc(b"2016-11-16T13:26:39.447974Z").is_some());
        assert!(EventTime::parse_fixed_utc(b"2016-11-16T13:26:39Z").is_some());
    }

    #[test]
    fn the_unsigned_day_count_agrees() {
        for year in (0..=9999).step_by(7).chain([0, 1, 1600, 1900, 2000, 2100, 9999]) {
            for month in 1..=12 {
                for day in [1, 28] {
                    assert_eq!(
                        days_from_civil_4_digit_year(year, month, day),
                        days_from_civil(year, month, day),
                        "{year}-{month}-{day}"
                    );
                }
            }
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "2016-11-16T13:26:39.447974Z",
            "2016-11-16T13:26:39Z",
            "1969-12-31T23:59:59.999999Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.000001Z",
        ] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
        assert_eq!(parse("2016-11-16T13:26:39.9Z").unwrap().format_seconds(), "2016-11-16 13:26:39");
    }

    #[test]
    fn agrees_with_jiff() {
        // An independent implementation as the oracle, over every day of four centuries.
        let mut day = jiff::civil::date(1800, 1, 1);
        let end = jiff::civil::date(2200, 1, 1);
        while day < end {
            let text = format!("{day}T07:08:09.123456Z");
            let ours = parse(&text).expect("valid");
            let theirs: jiff::Timestamp = text.parse().expect("valid");
            assert_eq!(ours.0, theirs.as_microsecond(), "{text}");
            assert_eq!(ours.to_string(), text);
            day = day.tomorrow().unwrap();
        }
    }
}
