//! `--format jsonl`: one JSON object per result (`"type": "window"`) or stats record
//! (`"type": "stats"`), one line each, flushed as it is written.

use std::io::{self, Write};

use iotstream_engine::{StatsRecord, WindowResult};

use crate::sinks::ResultSink;

/// Writes each result as a JSON line.
pub struct JsonlSink {
    out: Box<dyn Write + Send>,
}

impl JsonlSink {
    /// A sink writing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> JsonlSink {
        JsonlSink { out }
    }
}

impl JsonlSink {
    fn write_line(&mut self, record: &impl serde::Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

impl ResultSink for JsonlSink {
    fn write_result(&mut self, result: &WindowResult) -> io::Result<()> {
        self.write_line(result)
    }

    fn write_stats(&mut self, stats: &StatsRecord) -> io::Result<()> {
        self.write_line(stats)
    }
}
