//! Why a run stopped with an error: an output that did not take what it was given, a checkpoint
//! that could not be saved or restored (or was written for other queries), the operator refusing
//! input, or the source failing.

use iotstream_engine::OperatorError;

use crate::channel::SourceError;
use crate::checkpoint::CheckpointError;
use crate::sinks::SinkError;

/// What ends a run before its time.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An output failed: results, stats, dead letters, alerts, or scale-out's merge log.
    #[error(transparent)]
    Output(#[from] SinkError),
    /// A checkpoint could not be saved or resumed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The operator refused what it was given (a checkpoint of other settings, partials in event
    /// time).
    #[error(transparent)]
    Operator(#[from] OperatorError),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A checkpoint was written for other queries (or for none, or for the seed's analyses).
    #[error(transparent)]
    Queries(#[from] iotstream_engine::query::CheckpointError),
    /// A checkpoint cannot resume this run, and why.
    #[error("{0}")]
    Resume(String),
}

impl RunError {
    /// What the run was waiting for when a stop came and the wait gave way, if that is why it
    /// ended: then nothing was acknowledged or checkpointed past what was written.
    pub fn stopped_waiting_for(&self) -> Option<&'static str> {
        match self {
            RunError::Output(error) => error.stopped_waiting_for(),
            _ => None,
        }
    }
}
