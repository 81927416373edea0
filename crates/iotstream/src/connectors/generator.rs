//! The built-in simulator as a source: the seed's sensor fleet inside the process, paced in real
//! time, for the embedded default (`iotstream` with no arguments) and for demos without a broker.
//!
//! Readings are produced as text and parsed like any other input, so the demo exercises exactly the
//! path real data takes.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::channel::{Chunk, SourceEvent, SourceReceiver, CHANNEL_DEPTH};
use crate::simulator::{Simulator, SimulatorConfig};

/// How often the generator wakes up to emit what is due.
const TICK: Duration = Duration::from_millis(20);

/// Starts a thread producing `count` readings (forever if `None`) at `rate` per second.
pub fn spawn(config: SimulatorConfig, rate: f64, count: Option<u64>) -> SourceReceiver {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    std::thread::Builder::new()
        .name("generator".into())
        .spawn(move || run(Simulator::new(&config), rate, count, &tx))
        .expect("spawning a thread only fails when the OS is out of resources");
    rx
}

fn run(mut simulator: Simulator, rate: f64, count: Option<u64>, tx: &mpsc::Sender<SourceEvent>) {
    tracing::debug!(seed = simulator.seed(), rate, "generator started");
    let pacer = Pacer::new(rate);
    loop {
        let remaining = count.map_or(u64::MAX, |c| c - simulator.produced());
        if remaining == 0 {
            let _ = tx.blocking_send(SourceEvent::end());
            return;
        }
        let due = pacer.due(simulator.produced()).min(remaining);
        if due > 0 {
            let first_line = simulator.produced() + 1;
            let mut data = Vec::with_capacity(due as usize * 200);
            simulator.fill(&mut data, due);
            let chunk = Chunk::from_vec(data, first_line);
            if tx.blocking_send(SourceEvent::chunk(chunk)).is_err() {
                return; // the pipeline has stopped
            }
        }
        std::thread::sleep(TICK);
    }
}

/// Paces output at a fixed rate: at any moment, `rate × elapsed` readings should have been made.
pub struct Pacer {
    start: Instant,
    rate: f64,
}

impl Pacer {
    /// Starts the clock now.
    pub fn new(rate: f64) -> Pacer {
        Pacer { start: Instant::now(), rate }
    }

    /// How many more readings are due, given that `produced` have been made.
    pub fn due(&self, produced: u64) -> u64 {
        let target = (self.start.elapsed().as_secs_f64() * self.rate) as u64;
        target.saturating_sub(produced)
    }

    /// How long until the reading after `produced` is due.
    pub fn wait(&self, produced: u64) -> Duration {
        let at = Duration::from_secs_f64((produced + 1) as f64 / self.rate);
        at.saturating_sub(self.start.elapsed())
    }
}
