//! The `climate` profile: a mixed fleet of sensor formats in the seed's envelope.
//!
//! Real fleets carry more than one kind of device. Each sensor here keeps, from its first reading
//! on, a state, one of three formats and a random walk per measurement it carries:
//!
//! | format | `payload.data` |
//! |---|---|
//! | `urn:example:sensor:temp` | `temperature` (°F, the seed's model) |
//! | `urn:example:sensor:humidity` | `humidity` (% relative humidity) |
//! | `urn:example:sensor:climate` | `temperature`, `humidity`, `pressure` (hPa, 950–1060), `battery` (%) |
//!
//! Climate sensors' batteries drain, so some fall below any threshold an operator picks, and about
//! one climate reading in fifty leaves a measurement out, one in a hundred reports it as `null`,
//! as real devices do. Every reading makes the same thirteen draws whatever the sensor's history,
//! so a seed fixes the stream as it does for the seed's own profile.

use std::io::Write as _;

use iotstream_engine::reading::STATE_COUNT;

use super::fleet::{BASE_TEMPERATURE, UNSEEN};
use super::rng::Rng;

/// The three formats, with their `payload.format` names and measurements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Temperature only.
    Temp,
    /// Humidity only.
    Humidity,
    /// Temperature, humidity, pressure and battery.
    Climate,
}

impl Format {
    /// How a new sensor's format is drawn: 40 % temp, 30 % humidity, 30 % climate.
    fn from_unit(unit: f64) -> Format {
        match unit {
            u if u < 0.4 => Format::Temp,
            u if u < 0.7 => Format::Humidity,
            _ => Format::Climate,
        }
    }

    /// The `payload.format` value.
    pub fn urn(self) -> &'static str {
        match self {
            Format::Temp => "urn:example:sensor:temp",
            Format::Humidity => "urn:example:sensor:humidity",
            Format::Climate => "urn:example:sensor:climate",
        }
    }

    /// The measurements this format carries, in the order they are written.
    fn measurements(self) -> &'static [Measurement] {
        match self {
            Format::Temp => &[Measurement::Temperature],
            Format::Humidity => &[Measurement::Humidity],
            Format::Climate => &[
                Measurement::Temperature,
                Measurement::Humidity,
                Measurement::Pressure,
                Measurement::Battery,
            ],
        }
    }
}

/// One measured quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measurement {
    /// °F, one decimal.
    Temperature,
    /// % relative humidity, 0–100, one decimal.
    Humidity,
    /// hPa, one decimal.
    Pressure,
    /// % charge, 0–100, a whole number.
    Battery,
}

impl Measurement {
    /// The key under `payload.data`.
    pub fn name(self) -> &'static str {
        match self {
            Measurement::Temperature => "temperature",
            Measurement::Humidity => "humidity",
            Measurement::Pressure => "pressure",
            Measurement::Battery => "battery",
        }
    }
}

/// What a climate reading leaves out, as devices sometimes do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gap {
    /// Every measurement is present.
    None,
    /// The measurement at this index of the format's list is absent.
    Missing(usize),
    /// The measurement at this index is `null`.
    Null(usize),
}

/// One sensor's lasting traits and current measurements.
#[derive(Clone, Copy, Debug)]
struct Sensor {
    state: u8,
    format: Format,
    temperature: f64,
    humidity: f64,
    pressure: f64,
    battery: f64,
}

/// One simulated climate reading before formatting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClimateReading {
    /// Index of the sensor in the fleet.
    pub sensor: u32,
    /// Index of its state.
    pub state: u8,
    /// Its format.
    pub format: Format,
    /// Current values, used as the format says.
    pub temperature: f64,
    /// % relative humidity.
    pub humidity: f64,
    /// hPa.
    pub pressure: f64,
    /// % charge.
    pub battery: f64,
    /// A measurement left out or null, if any.
    pub gap: Gap,
}

impl ClimateReading {
    /// The value of `measurement`.
    pub fn value(&self, measurement: Measurement) -> f64 {
        match measurement {
            Measurement::Temperature => self.temperature,
            Measurement::Humidity => self.humidity,
            Measurement::Pressure => self.pressure,
            Measurement::Battery => self.battery,
        }
    }

    /// The measurements as written: name, and the value or `None` for `null`; absent ones skipped.
    pub fn fields(&self) -> impl Iterator<Item = (Measurement, Option<f64>)> + '_ {
        self.format.measurements().iter().enumerate().filter_map(move |(i, &m)| match self.gap {
            Gap::Missing(at) if at == i => None,
            Gap::Null(at) if at == i => Some((m, None)),
            _ => Some((m, Some(self.value(m)))),
        })
    }
}

/// The thirteen draws of one reading, made in a fixed order.
struct Draws {
    sensor: u32,
    state: u8,
    format: f64,
    initial: [f64; 4],
    steps: [f64; 3],
    drain: f64,
    gap: f64,
    gap_field: f64,
}

impl Draws {
    fn take(rng: &mut Rng, size: u32) -> Draws {
        Draws {
            sensor: rng.below(size),
            state: rng.below(STATE_COUNT as u32) as u8,
            format: rng.uniform(0.0, 1.0),
            initial: [
                rng.uniform(-5.0, 5.0),
                rng.uniform(30.0, 70.0),
                rng.uniform(-15.0, 15.0),
                rng.uniform(10.0, 100.0),
            ],
            steps: [rng.uniform(-1.0, 1.0), rng.uniform(-1.5, 1.5), rng.uniform(-0.5, 0.5)],
            drain: rng.uniform(0.0, 0.05),
            gap: rng.uniform(0.0, 1.0),
            gap_field: rng.uniform(0.0, 1.0),
        }
    }
}

/// Every sensor of a mixed fleet.
pub struct ClimateFleet {
    sensors: Vec<Sensor>,
}

impl ClimateFleet {
    /// A fleet of `size` sensors, none of which has reported yet.
    pub fn new(size: u32) -> ClimateFleet {
        let unseen = Sensor {
            state: UNSEEN,
            format: Format::Temp,
            temperature: 0.0,
            humidity: 0.0,
            pressure: 0.0,
            battery: 0.0,
        };
        ClimateFleet { sensors: vec![unseen; size.max(1) as usize] }
    }

    /// Makes the next reading.
    pub(super) fn next_reading(&mut self, rng: &mut Rng) -> ClimateReading {
        let draws = Draws::take(rng, self.sensors.len() as u32);
        let sensor = &mut self.sensors[draws.sensor as usize];
        if sensor.state == UNSEEN {
            *sensor = Sensor {
                state: draws.state,
                format: Format::from_unit(draws.format),
                temperature: BASE_TEMPERATURE[draws.state as usize] + draws.initial[0],
                humidity: draws.initial[1],
                pressure: 1013.25 + draws.initial[2],
                battery: draws.initial[3],
            };
        }
        sensor.temperature += draws.steps[0];
        sensor.humidity = (sensor.humidity + draws.steps[1]).clamp(0.0, 100.0);
        sensor.pressure = (sensor.pressure + draws.steps[2]).clamp(950.0, 1060.0);
        sensor.battery = (sensor.battery - draws.drain).max(0.0);
        ClimateReading {
            sensor: draws.sensor,
            state: sensor.state,
            format: sensor.format,
            temperature: sensor.temperature,
            humidity: sensor.humidity,
            pressure: sensor.pressure,
            battery: sensor.battery,
            gap: gap(sensor.format, draws.gap, draws.gap_field),
        }
    }
}

/// About 2 % of climate readings miss a measurement and 1 % report one as `null`.
fn gap(format: Format, draw: f64, field: f64) -> Gap {
    if format != Format::Climate {
        return Gap::None;
    }
    let index = ((field * 4.0) as usize).min(3);
    match draw {
        d if d < 0.02 => Gap::Missing(index),
        d if d < 0.03 => Gap::Null(index),
        _ => Gap::None,
    }
}

/// Appends `"data":{…}`'s inside: each measurement as `"name":value`, joined by `, ` as the seed's
/// loosely spaced envelope is.
pub(super) fn write_data(out: &mut Vec<u8>, reading: &ClimateReading) {
    for (i, (measurement, value)) in reading.fields().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.push(b'"');
        out.extend_from_slice(measurement.name().as_bytes());
        out.extend_from_slice(b"\":");
        write_value(out, measurement, value);
    }
}

/// A measurement's value as JSON: one decimal, a whole battery percentage, or `null`.
pub(super) fn write_value(out: &mut Vec<u8>, measurement: Measurement, value: Option<f64>) {
    // Writing to a Vec cannot fail.
    let _ = match (measurement, value) {
        (_, None) => write!(out, "null"),
        (Measurement::Battery, Some(v)) => write!(out, "{}", v.floor() as i64),
        (_, Some(v)) => write!(out, "{v:.1}"),
    };
}
