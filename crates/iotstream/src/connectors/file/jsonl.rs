//! `--format jsonl`: one JSON object per result (`"type": "window"`) or stats record
//! (`"type": "stats"`), one line each, flushed as it is written; a SQL query's results one object
//! per row (`{"query":…,"window_start":…,"window_end":…,"final":…,"revision":…, columns…}`).

use std::io::{self, Write};

use iotstream_engine::{StatsRecord, WindowResult};

use crate::sinks::{Emission, ResultSink, SinkError};

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
    fn write(&mut self, emission: &Emission<'_>) -> Result<(), SinkError> {
        emission.windows.iter().try_for_each(|result: &WindowResult| self.write_line(result))?;
        if !emission.queries.is_empty() {
            let mut rows = Vec::new();
            for result in emission.queries {
                result.write_jsonl(&mut rows);
            }
            self.out.write_all(&rows)?;
            self.out.flush()?;
        }
        Ok(())
    }

    fn write_stats(&mut self, stats: &StatsRecord) -> Result<(), SinkError> {
        Ok(self.write_line(stats)?)
    }
}
