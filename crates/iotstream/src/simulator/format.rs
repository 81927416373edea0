//! The seed's line format, written without `format!` (this runs millions of times a second).
//!
//! The seed prints four template parts with Python 2's `print x,`, which joins them with one space:
//! `{"guid":"…","destination":"0-AAA12345678","state":"CA", "eventTime":"…Z", "payload":{"format":
//! "urn:example:sensor:temp", "data":{"temperature":59.7}}}`. The event time is Python's
//! `datetime.isoformat()` plus `Z`: microseconds, left out when they are zero; the temperature is
//! `%.1f`, which Rust's `{:.1}` matches exactly (both round the exact binary value half to even).

use std::io::Write as _;
use std::ops::Range;

use iotstream_engine::EventTime;

use super::climate::{self, ClimateReading};
use super::fleet::{push_digits, state_code, write_guid, SimReading};

/// Formats readings, caching the date-and-time text of the current second.
#[derive(Default)]
pub struct LineWriter {
    cached_second: Option<i64>,
    second_text: Vec<u8>,
}

impl LineWriter {
    /// Appends one reading's line, with `\n`; returns where the guid is in `out`.
    pub(super) fn write(&mut self, out: &mut Vec<u8>, reading: &SimReading, at: EventTime) -> Range<usize> {
        let guid = self.write_head(out, reading.sensor, reading.state, at);
        out.extend_from_slice(
            br#"Z", "payload":{"format":"urn:example:sensor:temp", "data":{"temperature":"#,
        );
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{:.1}", reading.temperature);
        out.extend_from_slice(b"}}}\n");
        guid
    }

    /// Appends one reading of the `climate` profile in the same envelope: its own format and
    /// measurements under `payload`; returns where the guid is in `out`.
    pub(super) fn write_climate(
        &mut self,
        out: &mut Vec<u8>,
        reading: &ClimateReading,
        at: EventTime,
    ) -> Range<usize> {
        let guid = self.write_head(out, reading.sensor, reading.state, at);
        out.extend_from_slice(br#"Z", "payload":{"format":""#);
        out.extend_from_slice(reading.format.urn().as_bytes());
        out.extend_from_slice(br#"", "data":{"#);
        climate::write_data(out, reading);
        out.extend_from_slice(b"}}}\n");
        guid
    }

    /// `{"guid":"…","destination":"…","state":"…", "eventTime":"…` up to the time's zone letter.
    fn write_head(&mut self, out: &mut Vec<u8>, sensor: u32, state: u8, at: EventTime) -> Range<usize> {
        out.extend_from_slice(br#"{"guid":""#);
        let guid_start = out.len();
        write_guid(out, sensor);
        let guid = guid_start..out.len();
        out.extend_from_slice(br#"","destination":"0-AAA12345678","state":""#);
        out.extend_from_slice(state_code(state).as_bytes());
        out.extend_from_slice(br#"", "eventTime":""#);
        self.write_time(out, at);
        guid
    }

    /// `YYYY-MM-DDTHH:MM:SS[.ffffff]` (no zone letter).
    fn write_time(&mut self, out: &mut Vec<u8>, at: EventTime) {
        let micros = at.as_micros();
        let second = micros.div_euclid(1_000_000);
        if self.cached_second != Some(second) {
            self.second_text.clear();
            let text = EventTime::from_unix_seconds(second).to_string();
            self.second_text.extend_from_slice(text.trim_end_matches('Z').as_bytes());
            self.cached_second = Some(second);
        }
        out.extend_from_slice(&self.second_text);
        let fraction = micros.rem_euclid(1_000_000);
        if fraction != 0 {
            out.push(b'.');
            push_digits(out, fraction as u64, 6);
        }
    }
}
