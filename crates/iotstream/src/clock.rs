//! The machine's clock, in the engine's units. The engine reads no clock itself: everything that
//! passes processing time to it (the pipeline, the simulator's wall-clock mode) reads it here.

use iotstream_engine::EventTime;

/// The machine's clock as an [`EventTime`] (µs since the Unix epoch).
pub fn wall_clock_now() -> EventTime {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    EventTime(since_epoch.as_micros() as i64)
}
