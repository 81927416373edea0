//! `--format jsonl`: one JSON object per result, one line each, flushed as it is written.

use std::io::{self, Write};

use iotstream_engine::WindowResult;

use super::ResultSink;

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

impl ResultSink for JsonlSink {
    fn write_result(&mut self, result: &WindowResult) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, result)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
