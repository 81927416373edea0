//! Where results go: the traits every output implements ([`ResultSink`], [`RejectSink`],
//! [`Durable`]), their one error type ([`SinkError`]), what an emission hands them
//! ([`Emission`]), and [`Outputs`], what a run writes to. The outputs themselves live with their
//! connectors (`crate::connectors`: files and stdout, Kafka, MQTT), the store (`crate::store`), the
//! dashboard (`crate::dashboard`) and the alerts (`crate::alerts`).
//!
//! Sinks are called from the pipeline's single loop in emission order. A sink returns only once
//! what it was given is handed to the OS (or the broker, or the database), because input is
//! acknowledged right after sinks return.

use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use iotstream_engine::query::Emission as QueryEmission;
use iotstream_engine::{RejectReason, StatsRecord, WindowResult};

/// Why an output did not take what it was given: the one error of every sink trait (results,
/// dead letters, durability, alert notifications, scale-out's merge log).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing to a file, stdout or a socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A file could not be made durable (before a checkpoint records its length).
    #[error("cannot sync {what} before a checkpoint")]
    Sync {
        /// Which file.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A broker did not take messages for good.
    #[error("{0}")]
    Delivery(String),
    /// The store refused them, or could not be written.
    #[error("the store: {0}")]
    Store(String),
    /// A record could not be put into JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Any other output's failure, as it says it.
    #[error("{0}")]
    Other(String),
    /// Writing to a file failed: which one.
    #[error("writing {what}")]
    Write {
        /// Which file.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A stop came while waiting for an outside system to take what it was given (the store, a
    /// broker): nothing it covers may be acknowledged or checkpointed.
    #[error("stopped while waiting for {0}")]
    Stopped(&'static str),
    /// One of several outputs failed: which, and why.
    #[error("{what}")]
    In {
        /// The output.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<SinkError>,
    },
}

impl SinkError {
    /// This error, said to have happened in `what`.
    pub fn within(self, what: &'static str) -> SinkError {
        SinkError::In { what, source: Box::new(self) }
    }

    /// What was being waited for when a stop came, if this is such an error.
    pub fn stopped_waiting_for(&self) -> Option<&'static str> {
        match self {
            SinkError::Stopped(what) => Some(what),
            SinkError::In { source, .. } => source.stopped_waiting_for(),
            _ => None,
        }
    }
}

/// What one emission writes: everything the engine completed at one moment, handed to every
/// sink before the input it covers is acknowledged. Each kind of result is a field; sinks write
/// the kinds they know.
#[derive(Clone, Copy, Debug, Default)]
pub struct Emission<'a> {
    /// Windows (or batches) of the seed's analysis, in emission order.
    pub windows: &'a [WindowResult],
    /// SQL queries' results: one per query and window (or batch), each with its rows.
    pub queries: &'a [QueryEmission],
}

impl<'a> Emission<'a> {
    /// An emission of `windows`.
    pub fn of_windows(windows: &'a [WindowResult]) -> Emission<'a> {
        Emission { windows, queries: &[] }
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.queries.is_empty()
    }
}

/// Where results and rejected messages go.
#[derive(Default)]
pub struct Outputs {
    /// Every emission goes to each of these.
    pub sinks: Vec<Box<dyn ResultSink>>,
    /// Rejected messages of partitioned sources, if configured.
    pub dead_letters: Option<Box<dyn RejectSink>>,
    /// Bytes written to the result file, when results go to a file (checkpoints record it).
    pub written: Option<Arc<AtomicU64>>,
    /// Makes the result file durable, when results go to a file (before a checkpoint records its
    /// length).
    pub durable: Option<Box<dyn Durable>>,
}

/// A destination for results.
pub trait ResultSink: Send {
    /// Writes one emission, in order, returning once all of it is written; sinks that can write
    /// it at once (a database transaction) do.
    fn write(&mut self, emission: &Emission<'_>) -> Result<(), SinkError>;

    /// Writes a stats record (totals and live views); sinks without a place for them skip it.
    fn write_stats(&mut self, _stats: &StatsRecord) -> Result<(), SinkError> {
        Ok(())
    }

    /// Takes the live status (a stats record every second while a dashboard is served); only live
    /// views keep it, files and topics do not.
    fn write_status(&mut self, _status: &StatsRecord) -> Result<(), SinkError> {
        Ok(())
    }

    /// True for views of what happens now (the dashboard), which show global results on every
    /// instance of a scale-out group; false for outputs, which only the merging instance writes.
    fn is_live_view(&self) -> bool {
        false
    }
}

/// A destination for rejected messages (a dead-letter topic).
pub trait RejectSink: Send {
    /// Queues one rejected message from `partition` at `offset`, rejected for every query (or
    /// the seed's analyses) when `query` is `None`, else for that SQL query alone.
    fn reject(
        &mut self,
        payload: &[u8],
        reason: RejectReason,
        query: Option<&str>,
        partition: i32,
        offset: i64,
    );
    /// Returns once everything queued is durable (before the offsets are committed).
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// What makes written results durable: the result file's `fsync`.
pub trait Durable: Send {
    /// Returns once everything written so far survives an OS crash or a power cut.
    fn sync(&mut self) -> io::Result<()>;
}
