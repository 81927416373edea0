//! The seed's sensor simulator, reproducible and fast.
//!
//! The model is the seed's `iotsimulator.py`: every reading picks a sensor at random; a sensor seen
//! for the first time is given a random state and a temperature of that state's annual average ± 5;
//! each reading then moves the sensor's temperature by a uniform step in [-1, 1] and reports it.
//! Output lines are byte for byte the seed's format (see [`format`]).
//!
//! What the seed lacks and this adds: a seeded generator (`xoshiro256++`, whose output is fixed by
//! its specification, so a seed gives the same bytes on every build and machine), a simulated clock
//! (`start + i · interval`) instead of the wall clock, fleets larger than the seed's 2,106 guids, and
//! a second profile, `climate` ([`climate`]): a mixed fleet of temperature, humidity and climate
//! sensors in the seed's envelope.

pub mod climate;
mod disorder;
mod fleet;
mod format;
mod rng;

use std::ops::Range;

use iotstream_engine::EventTime;

use crate::clock::wall_clock_now;

use climate::ClimateFleet;
pub use disorder::DisorderConfig;
use disorder::Reorder;
use fleet::Fleet;
pub use fleet::SEED_FLEET_SIZE;
pub use format::LineWriter;
use rng::Rng;

/// Where event times come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The machine's clock at the moment each reading is made, as the seed does.
    Wall,
    /// `start + i × interval` for the i-th reading (0-based): reproducible, and no sleeping.
    Simulated {
        /// Event time of the first reading.
        start: EventTime,
        /// Microseconds between consecutive readings.
        interval_micros: i64,
    },
}

/// Which fleet to simulate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// The seed's fleet: temperature sensors only, byte for byte the seed's output.
    #[default]
    Seed,
    /// A mixed fleet: temperature, humidity and climate sensors (see [`climate`]).
    Climate,
}

/// The fleet model behind a profile.
enum Model {
    Seed(Fleet),
    Climate(ClimateFleet),
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// Seed for the random generator; `None` draws one from the OS (the run is then not repeatable).
    pub seed: Option<u64>,
    /// Number of distinct sensors that may report (the seed's scheme allows 2,106).
    pub sensors: u32,
    /// Which fleet.
    pub profile: Profile,
    /// Event-time source.
    pub clock: Clock,
    /// Emit readings out of order (the same readings as without it).
    pub disorder: Option<DisorderConfig>,
    /// How many readings to make in all, if bounded (needed to release the last held-back ones).
    pub count: Option<u64>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            seed: None,
            sensors: SEED_FLEET_SIZE,
            profile: Profile::Seed,
            clock: Clock::Wall,
            disorder: None,
            count: None,
        }
    }
}

/// Generates readings one line at a time.
pub struct Simulator {
    rng: Rng,
    model: Model,
    clock: Clock,
    /// Readings generated (equals `produced` without disorder).
    generated: u64,
    /// Lines handed out.
    produced: u64,
    latest_event_time: i64,
    count: Option<u64>,
    writer: LineWriter,
    reorder: Option<Reorder>,
    seed: u64,
}

impl Simulator {
    /// A simulator for `config`.
    pub fn new(config: &SimulatorConfig) -> Simulator {
        let seed = config.seed.unwrap_or_else(rng::entropy_seed);
        Simulator {
            rng: Rng::new(seed),
            model: match config.profile {
                Profile::Seed => Model::Seed(Fleet::new(config.sensors)),
                Profile::Climate => Model::Climate(ClimateFleet::new(config.sensors)),
            },
            clock: config.clock,
            generated: 0,
            produced: 0,
            latest_event_time: i64::MIN,
            count: config.count,
            writer: LineWriter::default(),
            reorder: config.disorder.map(|d| Reorder::new(d, seed)),
            seed,
        }
    }

    /// The seed in use (drawn from the OS when none was given), so a run can be repeated.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many readings have been made.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// Appends the next reading, with its `\n`, to `out`; returns where its guid is in `out`
    /// (the Kafka message key).
    pub fn next_line(&mut self, out: &mut Vec<u8>) -> Range<usize> {
        self.produced += 1;
        if self.reorder.is_none() {
            return self.generate(out).0;
        }
        loop {
            let exhausted = self.count.is_some_and(|c| self.generated >= c);
            // No reading generated later has an event time before the latest one's.
            let frontier = if exhausted { i64::MAX } else { self.latest_event_time };
            if let Some(guid) = self.reorder.as_mut().and_then(|r| r.pop(frontier, out)) {
                return guid;
            }
            if exhausted {
                // More lines asked for than the count: carry on generating in order.
                return self.generate(out).0;
            }
            let mut line = Vec::with_capacity(200);
            let (guid, event_time) = self.generate(&mut line);
            if let Some(reorder) = self.reorder.as_mut() {
                reorder.push(line, guid, event_time.as_micros());
            }
        }
    }

    /// Makes the next reading in event-time order; returns its guid's place and its event time.
    fn generate(&mut self, out: &mut Vec<u8>) -> (Range<usize>, EventTime) {
        let event_time = self.event_time();
        self.generated += 1;
        self.latest_event_time = event_time.as_micros();
        let guid = match &mut self.model {
            Model::Seed(fleet) => self.writer.write(out, &fleet.next_reading(&mut self.rng), event_time),
            Model::Climate(fleet) => {
                self.writer.write_climate(out, &fleet.next_reading(&mut self.rng), event_time)
            }
        };
        (guid, event_time)
    }

    /// Appends `count` readings to `out`.
    pub fn fill(&mut self, out: &mut Vec<u8>, count: u64) {
        for _ in 0..count {
            self.next_line(out);
        }
    }

    fn event_time(&self) -> EventTime {
        match self.clock {
            Clock::Wall => wall_clock_now(),
            Clock::Simulated { start, interval_micros } => {
                let offset = interval_micros.saturating_mul(self.generated as i64);
                EventTime(start.as_micros().saturating_add(offset))
            }
        }
    }
}

#[cfg(test)]
mod tests;
