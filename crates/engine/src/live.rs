//! Live views since start: the last reading of every sensor, and which sensors have gone quiet.
//!
//! "Quiet" is judged on processing time (when a reading arrived), which is what an operator
//! watching a fleet means by a sensor being offline.

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::reading::{EventTime, Reading, StateCode, STATE_COUNT};

/// A sensor's latest reading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastReading {
    /// The sensor's guid.
    pub guid: String,
    /// Its state.
    pub state: StateCode,
    /// Event time of its latest reading.
    pub event_time: EventTime,
    /// Its latest temperature.
    pub temperature: f64,
    /// Processing time the reading arrived.
    pub seen_at: EventTime,
}

/// The last reading per sensor.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SensorTable {
    sensors: HashMap<u64, LastReading>,
}

impl SensorTable {
    /// Records `reading`, which arrived at processing time `now`. A reading older (in event time)
    /// than the one held does not replace it; its arrival still counts as a sign of life.
    pub fn update(&mut self, reading: &Reading<'_>, now: EventTime) {
        self.update_with(reading, || reading.guid.to_string(), now);
    }

    /// [`SensorTable::update`] for a reading whose guid is elsewhere (parsed on another thread):
    /// `guid` is asked for only when the sensor is new, so a known sensor costs one lookup.
    pub fn update_with(&mut self, reading: &Reading<'_>, guid: impl FnOnce() -> String, now: EventTime) {
        match self.sensors.get_mut(&reading.sensor.0) {
            Some(last) => {
                last.seen_at = last.seen_at.max(now);
                if reading.event_time >= last.event_time {
                    last.state = reading.state;
                    last.event_time = reading.event_time;
                    last.temperature = reading.temperature;
                }
            }
            None => {
                let last = LastReading {
                    guid: guid(),
                    state: reading.state,
                    event_time: reading.event_time,
                    temperature: reading.temperature,
                    seen_at: now,
                };
                self.sensors.insert(reading.sensor.0, last);
            }
        }
    }

    /// The latest reading of the sensor with this guid.
    pub fn get(&self, guid: &str) -> Option<&LastReading> {
        self.sensors.get(&crate::reading::SensorId::from_guid(guid).0)
    }

    /// Sensors seen since start.
    pub fn len(&self) -> usize {
        self.sensors.len()
    }

    /// True before the first reading.
    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
    }

    /// Sensors whose last reading arrived more than `after` µs before `now`, by state index.
    pub fn offline(&self, now: EventTime, after: i64) -> [u64; STATE_COUNT] {
        let mut by_state = [0u64; STATE_COUNT];
        for last in self.sensors.values() {
            if now.as_micros().saturating_sub(last.seen_at.as_micros()) > after {
                by_state[last.state.index()] += 1;
            }
        }
        by_state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Parser;

    fn reading(line: &str) -> Reading<'_> {
        Parser::default().parse(line.as_bytes()).unwrap()
    }

    #[test]
    fn keeps_the_latest_reading_and_counts_quiet_sensors() {
        let mut table = SensorTable::default();
        let a1 = r#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#;
        let a0 = r#"{"guid":"a","state":"CA","eventTime":"2016-11-16T13:26:38Z","payload":{"data":{"temperature":0}}}"#;
        let b = r#"{"guid":"b","state":"TX","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":5}}}"#;
        table.update(&reading(a1), EventTime(10));
        table.update(&reading(a0), EventTime(50));
        table.update(&reading(b), EventTime(20));
        assert_eq!(table.len(), 2);
        let a = table.get("a").unwrap();
        assert_eq!((a.temperature, a.seen_at), (1.0, EventTime(50)));
        let offline = table.offline(EventTime(100), 60);
        let tx = StateCode::from_bytes(b"TX").unwrap().index();
        assert_eq!(offline.iter().sum::<u64>(), 1);
        assert_eq!(offline[tx], 1);
    }
}
