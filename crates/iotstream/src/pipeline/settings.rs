//! What the pipeline is told about a run: the analysis (how messages are parsed and results cut)
//! and its clocks. The run plan (`crate::plan`) decides all of it, once; the pipeline only reads it.

use std::time::Duration;

use iotstream_engine::{OperatorConfig, Parser};

/// What a run computes. Today the seed's analysis only: readings parsed in the seed's shape,
/// counted by state in batches or windows. A second kind of analysis is a second variant, with
/// its own parser and operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Analysis {
    /// The seed's four analyses of temperature by state, results cut as the operator says.
    Seed {
        /// Processing-time batches, event-time windows, or per-partition shares (scale-out).
        operator: OperatorConfig,
    },
}

impl Analysis {
    /// How results are cut.
    pub fn operator(&self) -> &OperatorConfig {
        match self {
            Analysis::Seed { operator } => operator,
        }
    }

    /// The parser of this analysis, for messages of at most `max_line_bytes`.
    pub fn parser(&self, max_line_bytes: usize) -> Parser {
        match self {
            Analysis::Seed { .. } => Parser::new(max_line_bytes),
        }
    }
}

/// Everything about a run that is not a source or a sink.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// What is computed.
    pub analysis: Analysis,
    /// Emit results covering all input at its end, and exit.
    pub once: bool,
    /// Messages longer than this are rejected as too large.
    pub max_line_bytes: usize,
    /// Emit a stats record (totals, late readings, live sensor views) this often.
    pub stats_every: Option<Duration>,
    /// Sensors silent for longer than this count as offline.
    pub offline_after: Duration,
    /// Publish a status (a stats record for live views and metrics) to the sinks this often.
    pub status_every: Option<Duration>,
    /// Scale-out: save the owned partitions' states this often (as checkpoints are saved).
    pub save_every: Option<Duration>,
}

impl Settings {
    /// How results are cut.
    pub fn operator(&self) -> &OperatorConfig {
        self.analysis.operator()
    }

    /// The parser of the run.
    pub fn parser(&self) -> Parser {
        self.analysis.parser(self.max_line_bytes)
    }

    /// True when the last reading of every sensor is kept (stats records, status, sensor lookups).
    pub fn tracks_sensors(&self) -> bool {
        self.stats_every.is_some() || self.status_every.is_some()
    }
}
