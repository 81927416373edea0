//! Where results go. One file per protocol; each sink turns a [`WindowResult`] into its format.
//!
//! Sinks are called from the pipeline's single loop in emission order. A sink returns only once the
//! result is handed to the OS (or the broker), because offsets are committed after sinks return.

pub mod console;
pub mod jsonl;
#[cfg(feature = "kafka")]
pub mod kafka;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;
use iotstream_engine::{RejectReason, StatsRecord, WindowResult};

/// A destination for results.
pub trait ResultSink: Send {
    /// Writes one result and flushes it.
    fn write_result(&mut self, result: &WindowResult) -> io::Result<()>;

    /// Writes a stats record (totals and live views); sinks without a place for them skip it.
    fn write_stats(&mut self, _stats: &StatsRecord) -> io::Result<()> {
        Ok(())
    }
}

/// A destination for rejected messages (a dead-letter topic).
pub trait RejectSink: Send {
    /// Queues one rejected message from `partition` at `offset`.
    fn reject(&mut self, payload: &[u8], reason: RejectReason, partition: i32, offset: i64);
    /// Returns once everything queued is durable (before the offsets are committed).
    fn flush(&mut self) -> anyhow::Result<()>;
}

/// Output formats for results on a byte stream (stdout or a file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The seed's Spark `pprint` blocks, line for line.
    Console,
    /// One JSON object per result.
    Jsonl,
}

/// Opens `path` for writing (truncating), or stdout when `None`.
pub fn open_output(path: Option<&Path>) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match path {
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("cannot create output file {}", path.display()))?;
            Box::new(BufWriter::new(file))
        }
        None => Box::new(BufWriter::new(io::stdout())),
    })
}

/// A sink writing `format` to `out`.
pub fn stream_sink(format: Format, out: Box<dyn Write + Send>) -> Box<dyn ResultSink> {
    match format {
        Format::Console => Box::new(console::ConsoleSink::new(out)),
        Format::Jsonl => Box::new(jsonl::JsonlSink::new(out)),
    }
}
