//! How many readings `simulate` makes at a time: what is due when pacing, else a batch.

use std::time::Duration;

use crate::connectors::generator::Pacer;

/// Readings generated per write when not pacing.
pub const SIMULATE_BATCH: u64 = 4096;

/// How many readings to make next: what is due when pacing (waiting for at least one), else a batch.
pub fn next_batch(pacer: Option<&Pacer>, produced: u64, count: u64) -> u64 {
    let left = count - produced;
    let Some(pacer) = pacer else {
        return SIMULATE_BATCH.min(left);
    };
    loop {
        let due = pacer.due(produced);
        if due > 0 {
            return due.min(left);
        }
        std::thread::sleep(pacer.wait(produced).min(Duration::from_millis(50)));
    }
}
