//! Where messages come from. One file per protocol; each runs on its own thread and hands the
//! pipeline [`Chunk`]s of whole messages through a bounded channel, so a slow engine slows the
//! source down (backpressure) instead of buffering without limit.

pub mod file;
pub mod generator;

use tokio::sync::mpsc;

/// A run of whole lines (each ending in `\n`, the last one possibly not) from one input.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The bytes; lines longer than the parser's limit arrive cut to `limit + 1` bytes, so that they
    /// are rejected as too large without ever being held in memory whole.
    pub data: Vec<u8>,
    /// 1-based number of the first line in `data`, for error messages.
    pub first_line: u64,
}

/// What a source sends.
#[derive(Debug)]
pub enum SourceEvent {
    /// More input.
    Chunk(Chunk),
    /// The input ended (a file's end, a generator's count).
    End,
    /// Reading failed; the run stops with this error.
    Failed(String),
}

/// The receiving end the pipeline reads.
pub type SourceReceiver = mpsc::Receiver<SourceEvent>;

/// Chunks in flight between a source and the pipeline: enough to overlap reading with parsing.
pub const CHANNEL_DEPTH: usize = 8;
