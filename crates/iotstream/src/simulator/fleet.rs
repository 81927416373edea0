//! The sensor fleet: which sensors exist, where each one is, and its current temperature.

use iotstream_engine::reading::{STATE_CODES, STATE_COUNT};

use super::rng::Rng;

/// Guids the seed's scheme can make: two digits 0–8 and one capital letter.
pub const SEED_FLEET_SIZE: u32 = 9 * 9 * 26;

/// The seed's average annual temperature of each state (°F), in [`STATE_CODES`] order.
pub(super) const BASE_TEMPERATURE: [f64; STATE_COUNT] = [
    26.6, 62.8, 60.4, 60.3, 59.4, 45.1, 49.0, 58.5, 55.3, 70.7, 63.5, 70.0, 47.8, 44.4, 51.8, 51.7, 54.3,
    55.6, 66.4, 47.9, 54.2, 41.0, 44.4, 41.2, 54.5, 63.4, 42.7, 59.0, 40.4, 48.8, 43.8, 52.7, 53.4, 49.9,
    45.4, 50.7, 59.6, 48.4, 48.8, 50.1, 62.4, 45.2, 57.6, 64.8, 48.6, 55.1, 42.9, 48.3, 43.1, 51.8, 42.0,
];

/// Marks a sensor that has not reported yet.
pub(super) const UNSEEN: u8 = u8::MAX;

/// One simulated reading before formatting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimReading {
    /// Index of the sensor in the fleet.
    pub sensor: u32,
    /// Index of its state in [`STATE_CODES`].
    pub state: u8,
    /// Its new temperature.
    pub temperature: f64,
}

/// Every sensor's state and latest temperature.
pub struct Fleet {
    states: Vec<u8>,
    temperatures: Vec<f64>,
}

impl Fleet {
    /// A fleet of `size` sensors, none of which has reported yet.
    pub fn new(size: u32) -> Fleet {
        let size = size.max(1) as usize;
        Fleet { states: vec![UNSEEN; size], temperatures: vec![0.0; size] }
    }

    /// How many sensors the fleet has.
    pub fn size(&self) -> u32 {
        self.states.len() as u32
    }

    /// Makes the next reading. All four random draws happen for every reading, as in the seed, so
    /// the stream of draws does not depend on which sensors have reported before.
    pub(super) fn next_reading(&mut self, rng: &mut Rng) -> SimReading {
        let sensor = rng.below(self.size());
        let initial_offset = rng.uniform(-5.0, 5.0);
        let step = rng.uniform(-1.0, 1.0);
        let random_state = rng.below(STATE_COUNT as u32) as u8;
        let i = sensor as usize;
        if self.states[i] == UNSEEN {
            self.states[i] = random_state;
            self.temperatures[i] = BASE_TEMPERATURE[random_state as usize] + initial_offset;
        }
        self.temperatures[i] += step;
        SimReading { sensor, state: self.states[i], temperature: self.temperatures[i] }
    }
}

/// Writes sensor `index`'s guid. The first 2,106 are the seed's own guids
/// (`0-ZZZ12345678-` + two digits 0–8 + a letter); larger fleets count the middle block up
/// (`0-ZZZ12345679-00A`, …), so every guid keeps the seed's recognisable shape.
pub fn write_guid(out: &mut Vec<u8>, index: u32) {
    let suffix = index % SEED_FLEET_SIZE;
    let block = 12_345_678 + u64::from(index / SEED_FLEET_SIZE);
    out.extend_from_slice(b"0-ZZZ");
    push_digits(out, block, 8);
    out.push(b'-');
    out.push(b'0' + (suffix / 234) as u8);
    out.push(b'0' + (suffix / 26 % 9) as u8);
    out.push(b'A' + (suffix % 26) as u8);
}

/// Appends `value` as exactly `width` decimal digits (zero-padded; higher digits dropped).
pub fn push_digits(out: &mut Vec<u8>, mut value: u64, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The code of a state index, as the reading's `state` field.
pub fn state_code(index: u8) -> &'static str {
    STATE_CODES[index as usize]
}
