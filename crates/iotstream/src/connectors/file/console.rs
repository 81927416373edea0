//! `--format console`: the seed's output, block for block, as Spark Streaming's `pprint` prints it.
//!
//! Each result is four blocks, each a header (43 dashes, `Time: …`, 43 dashes), its records and a
//! blank line: `('FL', 70.97612903225806)` by average descending; `Total number of messages: N`;
//! `('AK', 53)` by state ascending; `Total number of sensors: N`. Spark prints the batch time in
//! local time, and an empty batch as four bare headers (the totals of an empty RDD are empty too).
//!
//! A SQL query's result is a table per query and window: a heading (`query NAME: START .. END
//! (final)`, times in UTC), the column names, a rule and a line per row, then a blank line.

use std::io::{self, Write};

use iotstream_engine::{EventTime, WindowResult};

use crate::sinks::{Emission, ResultSink, SinkError};

const RULE: &str = "-------------------------------------------";

/// Writes results as the seed's console blocks.
pub struct ConsoleSink {
    out: Box<dyn Write + Send>,
}

impl ConsoleSink {
    /// A sink writing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> ConsoleSink {
        ConsoleSink { out }
    }
}

impl ConsoleSink {
    /// Writes one result's blocks and flushes them.
    pub fn write_result(&mut self, result: &WindowResult) -> io::Result<()> {
        let mut time = local_time(result.window_end);
        // Event-time results that are not a window's first final answer say so in the header.
        if !result.is_final {
            time.push_str(" (partial)");
        } else if result.revision > 0 {
            time.push_str(&format!(" (revision {})", result.revision));
        }
        let text = render(result, &time);
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }
}

impl ResultSink for ConsoleSink {
    fn write(&mut self, emission: &Emission<'_>) -> Result<(), SinkError> {
        emission.windows.iter().try_for_each(|result| self.write_result(result))?;
        if !emission.queries.is_empty() {
            let mut text = String::new();
            for result in emission.queries {
                text.push_str(&result.console_table());
                text.push('\n');
            }
            self.out.write_all(text.as_bytes())?;
            self.out.flush()?;
        }
        Ok(())
    }
}

/// The four blocks for one result, with `time` in each header.
pub fn render(result: &WindowResult, time: &str) -> String {
    let mut text = String::new();
    let mut block = |records: Vec<String>| {
        text.push_str(&format!("{RULE}\nTime: {time}\n{RULE}\n"));
        for record in records {
            text.push_str(&record);
            text.push('\n');
        }
        text.push('\n');
    };
    let any = result.messages > 0;
    block(
        result
            .states
            .iter()
            .map(|s| format!("('{}', {})", s.state, python_repr(s.avg_temperature)))
            .collect(),
    );
    block(any.then(|| format!("Total number of messages: {}", result.messages)).into_iter().collect());
    block(result.sensors_by_state().iter().map(|(state, n)| format!("('{state}', {n})")).collect());
    block(any.then(|| format!("Total number of sensors: {}", result.sensors)).into_iter().collect());
    text
}

/// `YYYY-MM-DD HH:MM:SS` in the machine's time zone, as Spark prints a batch time.
fn local_time(at: EventTime) -> String {
    let zone = jiff::tz::TimeZone::system();
    match jiff::Timestamp::from_microsecond(at.as_micros()) {
        Ok(ts) => ts.to_zoned_datetime(zone).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => at.format_seconds(),
    }
}

/// A float as Python's `repr` writes it: the shortest text that reads back to the same value, in
/// fixed notation with at least one decimal when 1e-4 ≤ |x| < 1e16, else scientific (`1e-05`).
pub fn python_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Python, as `d.ddde±x`.
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let point = exponent + 1; // digits are 0.d1d2… × 10^point
    let body = if (-3..=16).contains(&point) {
        fixed(&digits, point)
    } else {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{fraction}e{exp_sign}{:02}", exponent.abs())
    };
    format!("{sign}{body}")
}

/// `0.d1d2… × 10^point` in fixed notation, always with a decimal point and a digit after it.
fn fixed(digits: &str, point: i32) -> String {
    if point <= 0 {
        return format!("0.{}{digits}", "0".repeat((-point) as usize));
    }
    let point = point as usize;
    if digits.len() <= point {
        format!("{digits}{}.0", "0".repeat(point - digits.len()))
    } else {
        format!("{}.{}", &digits[..point], &digits[point..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_repr() {
        // Expected values are Python 3's own `repr`.
        for (x, expected) in [
            (70.97612903225806, "70.97612903225806"),
            (58.9, "58.9"),
            (70.0, "70.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (-12.5, "-12.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1234567890123456.0, "1234567890123456.0"),
            (1e16, "1e+16"),
            (1.2345e20, "1.2345e+20"),
            (44.724999999999994, "44.724999999999994"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123.0, "123.0"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(python_repr(x), expected);
        }
    }
}
