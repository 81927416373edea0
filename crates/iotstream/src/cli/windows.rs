//! How results are cut (`--window`, `--time`, the event-time settings): shared by `analyze`,
//! `demo` and `group`.

use std::time::Duration;

use clap::Args;
use iotstream_engine::units::{parse_duration, parse_positive_duration};

/// Which clock cuts windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TimeMode {
    /// When readings arrive: the seed's micro-batches.
    Processing,
    /// The readings' own eventTime, with watermarks and late-data handling.
    Event,
}

impl WindowArgs {
    /// The clock asked for: `--time`, else processing time (the seed's).
    pub fn time(&self) -> TimeMode {
        self.time.unwrap_or(TimeMode::Processing)
    }
}

/// How results are cut, shared by `analyze` and `demo`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Windows")]
pub struct WindowArgs {
    /// Window length: a result every this much processing time (the seed's 3-second
    /// micro-batches), or event-time windows of this length with --time event.
    #[arg(long, default_value = "3s", value_parser = parse_positive_duration)]
    pub window: Duration,
    /// Cut windows on processing time (the seed's behaviour) or on eventTime. Default:
    /// processing, or event when a --query has a window of its own (tumble, hop).
    #[arg(long, value_enum)]
    pub time: Option<TimeMode>,
    /// Event time: sliding windows starting this often (default: tumbling, = --window).
    #[arg(long, value_parser = parse_positive_duration)]
    pub slide: Option<Duration>,
    /// Event time: how far behind the latest event time a reading may arrive and still be on
    /// time (bounded out-of-orderness).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub max_delay: Duration,
    /// Event time: how long after its end a window still takes late readings, re-emitting it
    /// with a higher revision; later readings are reported as late.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub allowed_lateness: Duration,
    /// Event time: also emit partial results of open windows this often.
    #[arg(long, value_parser = parse_positive_duration)]
    pub emit_every: Option<Duration>,
    /// Event time: an input partition silent this long stops holding windows open; when all are
    /// silent, event time advances with the wall clock so the last windows close.
    #[arg(long, default_value = "30s", value_parser = parse_positive_duration)]
    pub idle_timeout: Duration,
    /// Event time: readings further than this ahead of the wall clock are rejected
    /// (future_timestamp) and do not move the watermark.
    #[arg(long, default_value = "1h", value_parser = parse_positive_duration)]
    pub max_skew: Duration,
}
