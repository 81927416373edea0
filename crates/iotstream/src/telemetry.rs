//! Logs: `tracing` to stderr, leaving stdout to results. Verbosity from `-v`/`-q` or `RUST_LOG`.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use iotstream_engine::RejectReason;
use tracing_subscriber::EnvFilter;

/// Installs the stderr logger. `verbosity` is the count of `-v` minus `-q` (0 = info).
pub fn init(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // A second call (in tests) finds a logger already installed; keeping the first is right.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Logs rejected messages without flooding: the first few of each period in full, then one line
/// saying how many more there were.
pub struct RejectLog {
    period: Duration,
    burst: u32,
    period_start: Instant,
    shown: u32,
    suppressed: u64,
}

impl Default for RejectLog {
    fn default() -> Self {
        RejectLog::new(Duration::from_secs(10), 5)
    }
}

impl RejectLog {
    /// Shows at most `burst` rejections per `period`.
    pub fn new(period: Duration, burst: u32) -> RejectLog {
        RejectLog { period, burst, period_start: Instant::now(), shown: 0, suppressed: 0 }
    }

    /// Records one rejection of `message` (shown cut to 120 bytes) at `position`.
    pub fn record(&mut self, reason: RejectReason, position: &dyn std::fmt::Display, message: &[u8]) {
        self.roll_period();
        if self.shown < self.burst {
            self.shown += 1;
            let preview = String::from_utf8_lossy(&message[..message.len().min(120)]);
            tracing::warn!(%reason, %position, message = %preview, "rejected message");
        } else {
            self.suppressed += 1;
        }
    }

    /// Reports what was held back, if anything.
    pub fn flush(&mut self) {
        if self.suppressed > 0 {
            tracing::warn!(count = self.suppressed, "more rejected messages not shown (rate-limited)");
            self.suppressed = 0;
        }
    }

    fn roll_period(&mut self) {
        if self.period_start.elapsed() >= self.period {
            self.flush();
            self.period_start = Instant::now();
            self.shown = 0;
        }
    }
}
