//! Durations and sizes as people write them: one grammar for every flag, config setting and rules
//! file (and, later, SQL interval literals), so that `5m` means the same everywhere.
//!
//! **Durations.** One or more terms, each a number and a unit, with or without spaces and commas
//! between them: `3s`, `500ms`, `1m`, `1h 30m`, `1h30m`, `2 hours, 15 minutes`, `1.5h`, `30d`,
//! `2w`. A number may have a fraction (`0.5s`, `1.5d`; a comma between two digits is a decimal
//! comma, as in `34,5s`). Units, in any case:
//!
//! | unit | spellings |
//! |---|---|
//! | nanosecond | `ns` `nsec` `nsecs` `nano` `nanos` `nanosecond` `nanoseconds` |
//! | microsecond | `us` `µs` `μs` `usec` `usecs` `µsec` `µsecs` `micro` `micros` `microsecond` `microseconds` |
//! | millisecond | `ms` `msec` `msecs` `milli` `millis` `millisecond` `milliseconds` |
//! | second | `s` `sec` `secs` `second` `seconds` |
//! | minute | `m` `min` `mins` `minute` `minutes` |
//! | hour | `h` `hr` `hrs` `hour` `hours` |
//! | day (24 h) | `d` `day` `days` |
//! | week (7 d) | `w` `wk` `wks` `week` `weeks` |
//!
//! A term may also be a clock, `H:MM:SS` with an optional fraction (`1:30:00`), and the whole
//! duration may be written in ISO 8601 (`PT1H30M`, `P2DT12H`, `P1W`). A leading `+` is allowed; a
//! leading `-` or a trailing `ago` makes a negative duration, which is refused. Months and years
//! have no fixed length and are not units. This is the friendly format of the `jiff` crate (which
//! the flags used before) widened by days and weeks of fixed length and fractions on any unit
//! (which rules files used); the tests check that every spelling `jiff` reads means the same here.
//!
//! **Sizes.** A number of bytes, with an optional unit in any case: `b`/`byte`/`bytes`, decimal
//! `kb` `mb` `gb` `tb` (powers of 1000) or binary `kib` `mib` `gib` `tib` (powers of 1024):
//! `4096`, `64KiB`, `1.5 MB`. A fraction of a byte is dropped.

use std::time::Duration;

/// Why a text is not a duration or a size.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnitsError {
    /// Not in the grammar (see the module docs); says where it went wrong.
    #[error("not a duration like 3s, 500ms, 1m or 1h 30m: {0}")]
    NotADuration(String),
    /// A negative duration (`-3s`, `3s ago`).
    #[error("must not be negative")]
    Negative,
    /// Zero where only a positive duration makes sense.
    #[error("must be greater than zero")]
    Zero,
    /// Larger than this program can count.
    #[error("is too large")]
    TooLarge,
    /// Not in the size grammar.
    #[error("not a size like 4096, 64KiB or 1MB: {0}")]
    NotASize(String),
}

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Duration units, in nanoseconds, with every spelling (lower case).
const DURATION_UNITS: &[(u128, &[&str])] = &[
    (1, &["ns", "nsec", "nsecs", "nano", "nanos", "nanosecond", "nanoseconds"]),
    (
        1_000,
        &[
            "us",
            "µs",
            "μs",
            "usec",
            "usecs",
            "µsec",
            "µsecs",
            "μsec",
            "μsecs",
            "micro",
            "micros",
            "microsecond",
            "microseconds",
        ],
    ),
    (1_000_000, &["ms", "msec", "msecs", "milli", "millis", "millisecond", "milliseconds"]),
    (NANOS_PER_SECOND, &["s", "sec", "secs", "second", "seconds"]),
    (60 * NANOS_PER_SECOND, &["m", "min", "mins", "minute", "minutes"]),
    (3_600 * NANOS_PER_SECOND, &["h", "hr", "hrs", "hour", "hours"]),
    (86_400 * NANOS_PER_SECOND, &["d", "day", "days"]),
    (7 * 86_400 * NANOS_PER_SECOND, &["w", "wk", "wks", "week", "weeks"]),
];

/// Size units, in bytes, with every spelling (lower case).
const SIZE_UNITS: &[(u128, &[&str])] = &[
    (1, &["", "b", "byte", "bytes"]),
    (1_000, &["kb"]),
    (1_024, &["kib"]),
    (1_000_000, &["mb"]),
    (1 << 20, &["mib"]),
    (1_000_000_000, &["gb"]),
    (1 << 30, &["gib"]),
    (1_000_000_000_000, &["tb"]),
    (1 << 40, &["tib"]),
];

/// Reads a duration (see the module docs); zero is allowed.
pub fn parse_duration(text: &str) -> Result<Duration, UnitsError> {
    let nanos = duration_nanos(text)?;
    let seconds = u64::try_from(nanos / NANOS_PER_SECOND).map_err(|_| UnitsError::TooLarge)?;
    Ok(Duration::new(seconds, (nanos % NANOS_PER_SECOND) as u32))
}

/// Reads a duration that must be greater than zero.
pub fn parse_positive_duration(text: &str) -> Result<Duration, UnitsError> {
    match parse_duration(text)? {
        duration if duration.is_zero() => Err(UnitsError::Zero),
        duration => Ok(duration),
    }
}

/// Reads a size in bytes (see the module docs).
pub fn parse_size(text: &str) -> Result<u64, UnitsError> {
    let not = |why: &str| UnitsError::NotASize(why.to_owned());
    let mut cursor = Cursor::new(text.trim());
    let number = cursor.number().ok_or_else(|| not("expected a number"))?;
    cursor.skip_spaces();
    let label = cursor.rest().to_lowercase();
    let (bytes, _) = SIZE_UNITS
        .iter()
        .find(|(_, names)| names.contains(&label.as_str()))
        .ok_or_else(|| not(&format!("unknown unit {label:?}")))?;
    let total = number.times(*bytes).ok_or(UnitsError::TooLarge)?;
    u64::try_from(total).map_err(|_| UnitsError::TooLarge)
}

/// Reads a size that fits in memory (`usize`).
pub fn parse_size_usize(text: &str) -> Result<usize, UnitsError> {
    usize::try_from(parse_size(text)?).map_err(|_| UnitsError::TooLarge)
}

/// `duration` in whole microseconds, the engine's unit, saturating at `i64::MAX`.
pub fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// `duration` in microseconds, rounded to the nearest one (rules files always rounded so).
pub fn micros_rounded(duration: Duration) -> i64 {
    i64::try_from((duration.as_nanos() + 500) / 1_000).unwrap_or(i64::MAX)
}

/// The whole grammar: sign, ISO 8601 or terms, `ago`.
fn duration_nanos(text: &str) -> Result<u128, UnitsError> {
    let mut body = text.trim();
    let mut negative = false;
    if let Some(rest) = body.strip_prefix('-') {
        (negative, body) = (true, rest.trim_start());
    } else if let Some(rest) = body.strip_prefix('+') {
        body = rest.trim_start();
    }
    let ends_in_ago = body.len() > 3
        && body.is_char_boundary(body.len() - 3)
        && body[body.len() - 3..].eq_ignore_ascii_case("ago")
        && body[..body.len() - 3].ends_with(char::is_whitespace);
    if ends_in_ago {
        (negative, body) = (true, body[..body.len() - 3].trim_end());
    }
    let nanos = match body.strip_prefix(['P', 'p']) {
        Some(iso) => iso_nanos(iso)?,
        None => terms_nanos(body)?,
    };
    match (negative, nanos) {
        (true, n) if n > 0 => Err(UnitsError::Negative),
        (_, n) => Ok(n),
    }
}

/// `1h 30m`, `1h30m`, `1 hour, 30 minutes`, `1:30:00`.
fn terms_nanos(text: &str) -> Result<u128, UnitsError> {
    let not = |why: String| UnitsError::NotADuration(why);
    let mut cursor = Cursor::new(text);
    let mut total: u128 = 0;
    loop {
        cursor.skip_spaces();
        let Some(number) = cursor.number() else {
            return Err(not(match cursor.rest() {
                "" if total == 0 && text.trim().is_empty() => "it is empty".to_owned(),
                "" => "expected a number after the last separator".to_owned(),
                rest => format!("expected a number at {rest:?}"),
            }));
        };
        let nanos = if cursor.eat(':') { cursor.clock(number).map_err(not)? } else { cursor.unit(number)? };
        total = total.checked_add(nanos).ok_or(UnitsError::TooLarge)?;
        cursor.skip_spaces();
        let separated = cursor.eat(',');
        cursor.skip_spaces();
        if cursor.rest().is_empty() {
            return match separated {
                true => Err(not("it ends with a comma".to_owned())),
                false => Ok(total),
            };
        }
    }
}

/// ISO 8601 after its `P`: `[nW][nD][T[nH][nM][nS]]`.
fn iso_nanos(text: &str) -> Result<u128, UnitsError> {
    let not = |why: &str| UnitsError::NotADuration(format!("ISO 8601 duration: {why}"));
    let (date, time) = match text.find(['T', 't']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let mut total: u128 = 0;
    for (part, units) in [(date, "wd"), (time.unwrap_or_default(), "hms")] {
        let mut cursor = Cursor::new(part);
        while !cursor.rest().is_empty() {
            let number = cursor.number().ok_or_else(|| not("expected a number"))?;
            let designator = cursor.next_char().map(|c| c.to_ascii_lowercase());
            let unit = match designator {
                Some(c) if units.contains(c) => unit_nanos(&c.to_string()).unwrap_or(1),
                Some('y' | 'm') if units == "wd" => return Err(not("years and months have no fixed length")),
                _ => return Err(not("expected W or D before T, and H, M or S after it")),
            };
            total = total
                .checked_add(number.times(unit).ok_or(UnitsError::TooLarge)?)
                .ok_or(UnitsError::TooLarge)?;
        }
    }
    match (date.is_empty(), time) {
        (true, None) | (_, Some("")) => Err(not("no units")),
        _ => Ok(total),
    }
}

/// Nanoseconds per `label` (lower case), if it is a duration unit.
fn unit_nanos(label: &str) -> Option<u128> {
    DURATION_UNITS.iter().find(|(_, names)| names.contains(&label)).map(|(nanos, _)| *nanos)
}

/// A decimal number as read: its digits before the point, and those after it.
#[derive(Clone, Copy, Debug)]
struct Number<'a> {
    whole: &'a str,
    fraction: &'a str,
}

impl Number<'_> {
    /// The number times `unit`, the fraction's part rounded down; `None` on overflow.
    fn times(&self, unit: u128) -> Option<u128> {
        let whole: u128 = if self.whole.is_empty() { 0 } else { self.whole.parse().ok()? };
        let mut total = whole.checked_mul(unit)?;
        // Digits past the 20th cannot change the result for any unit here (at most a week in ns).
        let fraction = &self.fraction[..self.fraction.len().min(20)];
        if !fraction.is_empty() {
            let numerator: u128 = fraction.parse().ok()?;
            let scale = 10u128.checked_pow(fraction.len() as u32)?;
            total = total.checked_add(numerator.checked_mul(unit)? / scale)?;
        }
        Some(total)
    }
}

/// Reads text left to right.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Cursor<'a> {
        Cursor { text, at: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.rest().chars().next()?;
        self.at += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, wanted: char) -> bool {
        let found = self.rest().starts_with(wanted);
        if found {
            self.at += wanted.len_utf8();
        }
        found
    }

    fn skip_spaces(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn digits(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    /// `12`, `1.5`, `.5`, `5.`, `34,5` (a decimal comma only between digits).
    fn number(&mut self) -> Option<Number<'a>> {
        let start = self.at;
        let whole = self.digits();
        let rest = self.rest();
        let point = rest.starts_with('.')
            || (rest.starts_with(',')
                && !whole.is_empty()
                && rest[1..].starts_with(|c: char| c.is_ascii_digit()));
        let fraction = if point {
            self.at += 1;
            self.digits()
        } else {
            ""
        };
        if whole.is_empty() && fraction.is_empty() {
            self.at = start;
            return None;
        }
        Some(Number { whole, fraction })
    }

    /// The unit after a number (letters, after optional spaces), and the term's nanoseconds.
    fn unit(&mut self, number: Number<'_>) -> Result<u128, UnitsError> {
        self.skip_spaces();
        let rest = self.rest();
        let len = rest.find(|c: char| !c.is_alphabetic()).unwrap_or(rest.len());
        let label = rest[..len].to_lowercase();
        self.at += len;
        let nanos = match label.as_str() {
            "" => return Err(UnitsError::NotADuration(format!("a unit is missing after {}", number.whole))),
            "y" | "yr" | "yrs" | "year" | "years" | "mo" | "mos" | "month" | "months" => {
                return Err(UnitsError::NotADuration(format!("{label} has no fixed length")))
            }
            other => unit_nanos(other)
                .ok_or_else(|| UnitsError::NotADuration(format!("unknown unit {:?}", &rest[..len])))?,
        };
        number.times(nanos).ok_or(UnitsError::TooLarge)
    }

    /// The rest of `H:MM:SS[.fraction]` after its hours and colon.
    fn clock(&mut self, hours: Number<'_>) -> Result<u128, String> {
        let bad = || "a clock is H:MM:SS".to_owned();
        let minutes = self.digits();
        if !hours.fraction.is_empty() || minutes.len() != 2 || !self.eat(':') {
            return Err(bad());
        }
        let seconds = self.number().filter(|s| s.whole.len() == 2).ok_or_else(bad)?;
        let minutes: u128 = minutes.parse().map_err(|_| bad())?;
        let in_range = minutes < 60 && seconds.whole.parse::<u128>().is_ok_and(|s| s < 60);
        if !in_range {
            return Err("a clock's minutes and seconds are below 60".to_owned());
        }
        let hours = hours.times(3_600 * NANOS_PER_SECOND).ok_or_else(bad)?;
        let seconds = seconds.times(NANOS_PER_SECOND).ok_or_else(bad)?;
        Ok(hours + minutes * 60 * NANOS_PER_SECOND + seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Result<Duration, UnitsError> {
        Ok(Duration::from_secs_f64(s))
    }

    #[test]
    fn every_spelling_the_flags_and_files_used_reads_the_same() {
        // Flags (the `jiff` friendly format), rules files and --store-retention.
        for (text, seconds) in [
            ("3s", 3.0),
            ("500ms", 0.5),
            ("1m", 60.0),
            ("1h 30m", 5400.0),
            ("1h30m", 5400.0),
            ("2 hours, 15 minutes", 8100.0),
            ("5 min", 300.0),
            ("5 s", 5.0),
            ("1.5m", 90.0),
            ("1.5d", 129_600.0),
            ("0.5s", 0.5),
            (".5s", 0.5),
            ("5.s", 5.0),
            ("34,5s", 34.5),
            ("30d", 2_592_000.0),
            ("2w", 1_209_600.0),
            ("12h", 43_200.0),
            ("1:30:00", 5400.0),
            ("PT1H30M", 5400.0),
            ("P1DT2H", 93_600.0),
            ("pt0.5s", 0.5),
            ("+3s", 3.0),
            ("3 SECONDS", 3.0),
            ("1 Minute", 60.0),
            ("250µs", 0.000_25),
            ("0s", 0.0),
        ] {
            assert_eq!(parse_duration(text), secs(seconds), "{text}");
        }
    }

    #[test]
    fn what_is_refused_says_why() {
        assert_eq!(parse_duration("-3s"), Err(UnitsError::Negative));
        assert_eq!(parse_duration("3s ago"), Err(UnitsError::Negative));
        assert_eq!(parse_duration("-0s"), Ok(Duration::ZERO));
        assert_eq!(parse_positive_duration("0s"), Err(UnitsError::Zero));
        for bad in
            ["", "soon", "3", "3x", "1mo", "2 years", "1h,", "1:3:00", "1:30:60", "P", "PT", "P1M", "PT5X"]
        {
            let error = parse_duration(bad).unwrap_err();
            assert!(matches!(error, UnitsError::NotADuration(_)), "{bad}: {error:?}");
            assert!(error.to_string().starts_with("not a duration"), "{bad}: {error}");
        }
        assert_eq!(parse_duration("99999999999999999999999w"), Err(UnitsError::TooLarge));
    }

    #[test]
    fn microseconds_saturate_and_round_as_the_engine_needs() {
        assert_eq!(micros(Duration::from_nanos(1_999)), 1);
        assert_eq!(micros_rounded(Duration::from_nanos(1_500)), 2);
        assert_eq!(micros(Duration::MAX), i64::MAX);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("1.5 MB"), Ok(1_500_000));
        assert_eq!(parse_size("2gib"), Ok(2 << 30));
        assert_eq!(parse_size("10 bytes"), Ok(10));
        for bad in ["", "x", "1k", "-1", "1 KiBs"] {
            assert!(matches!(parse_size(bad), Err(UnitsError::NotASize(_))), "{bad}");
        }
        assert_eq!(parse_size("99999999999999999999 TiB"), Err(UnitsError::TooLarge));
    }

    /// Spellings in `jiff`'s friendly format (the flags' grammar before this module), built from
    /// its own labels: each must mean here what it means there.
    fn friendly() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let label = prop::sample::select(vec![
            "h",
            "hr",
            "hrs",
            "hour",
            "hours",
            "m",
            "min",
            "mins",
            "minute",
            "minutes",
            "s",
            "sec",
            "secs",
            "second",
            "seconds",
            "ms",
            "msec",
            "millis",
            "milliseconds",
            "us",
            "µs",
            "usecs",
            "micros",
            "ns",
            "nanos",
            "nanoseconds",
        ]);
        let term = (0u32..100_000, label, prop::bool::ANY)
            .prop_map(|(n, unit, space)| format!("{n}{}{unit}", if space { " " } else { "" }));
        let separator = prop::sample::select(vec!["", " ", ", "]);
        (prop::collection::vec((term, separator), 1..4), prop::option::of(1u32..1000)).prop_map(
            |(terms, fraction)| {
                let mut text = String::new();
                for (i, (term, separator)) in terms.iter().enumerate() {
                    if i > 0 {
                        text.push_str(separator);
                    }
                    text.push_str(term);
                }
                if let (Some(fraction), Some(at)) = (fraction, text.rfind(|c: char| c.is_ascii_digit())) {
                    text.insert_str(at + 1, &format!(".{fraction}"));
                }
                text
            },
        )
    }

    proptest::proptest! {
        #[test]
        fn reads_what_jiff_reads_the_same(text in friendly()) {
            if let Ok(theirs) = text.parse::<jiff::SignedDuration>() {
                let theirs = Duration::try_from(theirs).unwrap();
                proptest::prop_assert_eq!(parse_duration(&text), Ok(theirs), "{}", text);
            }
        }
    }
}
