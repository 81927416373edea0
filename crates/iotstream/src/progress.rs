//! Progress bars for long work on a terminal: `simulate` with a count to a file or Kafka, and
//! `analyze` reading a file whose results do not go to the same terminal line by line.
//!
//! Bars draw on stderr and only when stderr is a terminal (indicatif hides them otherwise), so
//! pipes, CI logs and files never see them. A bar clears itself as soon as its work is done, before
//! any result is printed, so it never overwrites output.

use std::io::{self, Read};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` readings.
pub fn readings(total: u64) -> ProgressBar {
    bar(
        total,
        "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} readings, {per_sec}, ETA {eta}",
    )
}

/// A bar over `total` bytes of input.
pub fn bytes(total: u64) -> ProgressBar {
    bar(total, "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes}, {bytes_per_sec}, ETA {eta}")
}

fn bar(total: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// Counts bytes read into a bar, and clears the bar at the end of the input.
pub struct ProgressRead<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> ProgressRead<R> {
    /// Reads `inner`, showing progress on `bar`.
    pub fn new(inner: R, bar: ProgressBar) -> Self {
        ProgressRead { inner, bar }
    }
}

impl<R: Read> Read for ProgressRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.bar.finish_and_clear();
        } else {
            self.bar.inc(n as u64);
        }
        Ok(n)
    }
}
