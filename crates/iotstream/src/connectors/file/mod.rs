//! Files and standard input: JSON lines in (`source`: read in large blocks on a thread of their
//! own, live pipes in batches), results out (`output`: stdout or a file, cut back and made durable
//! for checkpoints; `console`: the seed's Spark blocks; `jsonl`: one JSON object per line).

pub mod console;
pub mod jsonl;
pub mod output;
pub mod source;

pub use source::{open, Input, LineReader};

use std::path::PathBuf;

/// What went wrong opening a file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input file cannot be opened.
    #[error("cannot open input file {}", .0.display())]
    OpenInput(PathBuf, #[source] std::io::Error),
    /// The output file cannot be opened, cut back or positioned.
    #[error("cannot open output file {}", .0.display())]
    OpenOutput(PathBuf, #[source] std::io::Error),
    /// A resumed run finds its output file shorter than its checkpoint recorded.
    #[error(
        "output file {} is shorter ({found} bytes) than the checkpoint recorded ({recorded}); it was changed since",
        .path.display()
    )]
    Shorter {
        /// The file.
        path: PathBuf,
        /// Its length now.
        found: u64,
        /// The length the checkpoint recorded.
        recorded: u64,
    },
    /// A stop came while waiting for a FIFO's reader.
    #[error(transparent)]
    Stopped(#[from] crate::signals::Stopped),
}
