//! What the pipeline is told about a run: the analysis (how messages are parsed and results cut)
//! and its clocks. The run plan (`crate::plan`) decides all of it, once; the pipeline only reads it.

use std::sync::Arc;
use std::time::Duration;

use iotstream_engine::query::{self, QueryError, QuerySet};
use iotstream_engine::{OperatorConfig, Parser};

/// What a run computes: the seed's analysis (readings parsed in the seed's shape, counted by
/// state in batches or windows), or the user's SQL queries (fields extracted for every query in
/// one pass, each query's groups in batches or windows).
#[derive(Clone, Debug, PartialEq)]
pub enum Analysis {
    /// The seed's four analyses of temperature by state, results cut as the operator says.
    Seed {
        /// Processing-time batches, event-time windows, or per-partition shares (scale-out).
        operator: OperatorConfig,
    },
    /// SQL queries (`--query`), planned and checked.
    Queries {
        /// The run's clock: processing-time batches or event-time windows (and early results),
        /// for the tickers; each query's own window is in its plan.
        operator: OperatorConfig,
        /// The queries and the settings they run with.
        queries: Arc<QueryPlan>,
    },
}

/// A run's queries as the plan checked them.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryPlan {
    /// Name and SQL, in the order given.
    pub named: Vec<(String, String)>,
    /// Their time domain, group limit and message size limit.
    pub settings: query::Settings,
}

impl QueryPlan {
    /// The run's query set, before any input.
    pub fn build(&self) -> Result<QuerySet, QueryError> {
        QuerySet::new(&self.named, self.settings.clone())
    }

    /// The queries' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.named.iter().map(|(name, _)| name.clone()).collect()
    }
}

impl Analysis {
    /// How results are cut.
    pub fn operator(&self) -> &OperatorConfig {
        match self {
            Analysis::Seed { operator } | Analysis::Queries { operator, .. } => operator,
        }
    }

    /// The seed's parser, for messages of at most `max_line_bytes` (query runs extract their
    /// fields with the queries' extractor instead).
    pub fn parser(&self, max_line_bytes: usize) -> Parser {
        Parser::new(max_line_bytes)
    }

    /// The queries, in a query run.
    pub fn queries(&self) -> Option<&Arc<QueryPlan>> {
        match self {
            Analysis::Seed { .. } => None,
            Analysis::Queries { queries, .. } => Some(queries),
        }
    }
}

/// Everything about a run that is not a source or a sink.
#[derive(Clone, Debug)]
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

    /// True when the last reading of every sensor is kept (stats records, status, sensor
    /// lookups): runs of the seed's analyses only, whose readings have a guid and a state.
    pub fn tracks_sensors(&self) -> bool {
        self.analysis.queries().is_none() && (self.stats_every.is_some() || self.status_every.is_some())
    }
}
