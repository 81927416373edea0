//! Interval literals of window functions: `interval '1 minute'`, `interval '10 seconds'`,
//! `interval '1' minute`, `interval '500 milliseconds'` — one number and one unit, singular,
//! plural or abbreviated. Kept in one function so that the run's duration grammar can take
//! over when it exists.

/// The interval in µs, from its text and the unit written after it (`interval '1' minute`),
/// if it is a positive whole number of microseconds.
pub fn interval_micros(text: &str, unit_after: Option<&str>) -> Option<i64> {
    let text = text.trim();
    let (number, unit) = match unit_after {
        Some(unit) => (text, unit.trim()),
        None => {
            let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
            (&text[..split], text[split..].trim())
        }
    };
    let scale: i64 = match unit.to_ascii_lowercase().as_str() {
        "us" | "µs" | "usec" | "usecs" | "microsecond" | "microseconds" => 1,
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1_000,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000_000,
        "d" | "day" | "days" => 86_400_000_000,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty()
        || !(whole.chars().chain(fraction.chars()).all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    // Exact decimal arithmetic: 1.5 minutes is 90,000,000 µs, 0.0000001 s is refused.
    let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
    let micros = digits.checked_mul(i128::from(scale))?;
    let divisor = 10i128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
    (micros % divisor == 0).then(|| micros / divisor).and_then(|m| i64::try_from(m).ok()).filter(|&m| m > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_forms() {
        let cases = [
            ("1 minute", None, Some(60_000_000)),
            ("10 seconds", None, Some(10_000_000)),
            ("500 milliseconds", None, Some(500_000)),
            ("1", Some("MINUTE"), Some(60_000_000)),
            ("2 hrs", None, Some(7_200_000_000)),
            ("1.5 min", None, Some(90_000_000)),
            ("30s", None, Some(30_000_000)),
            ("1 day", None, Some(86_400_000_000)),
            ("250 us", None, Some(250)),
            ("0 seconds", None, None),
            ("0.0000001 s", None, None),
            ("1 fortnight", None, None),
            ("minute", None, None),
            ("-1 minute", None, None),
            ("1e3 s", None, None),
        ];
        for (text, unit, expected) in cases {
            assert_eq!(interval_micros(text, unit), expected, "{text} {unit:?}");
        }
    }
}
