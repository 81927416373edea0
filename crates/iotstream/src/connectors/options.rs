//! What a run needs of its source beyond the source's own flags: parsing threads, where to resume,
//! and the stop.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::parallel::Parsers;
use crate::signals::Stop;

/// What a run needs of its source beyond the source's own flags.
#[derive(Debug, Default)]
pub struct SourceOptions {
    /// How the analysis parses messages (the parsing threads use it): the seed's parser, or the
    /// queries' extractor.
    pub parsers: Parsers,
    /// Threads to parse on (1: the pipeline parses).
    pub threads: usize,
    /// What several parsing threads hand the pipeline: partial aggregates, or readings in order
    /// (event time, live views).
    pub mode: crate::parallel::Mode,
    /// Where to resume, per partition (from a checkpoint).
    pub resume: BTreeMap<i32, i64>,
    /// A checkpoint holds the state of every partition: the process must own them all.
    pub own_all: bool,
    /// The state directory (`--state-dir`), for sources that keep state of their own there.
    pub state_dir: Option<PathBuf>,
    /// Show a progress bar (on a terminal) while reading a file.
    pub progress: bool,
    /// Rejected messages are kept up to this many bytes (for dead letters).
    pub keep_bytes: usize,
    /// Asked for by Ctrl-C or SIGTERM: a source that waits while it opens (for a broker) gives up.
    pub stop: Stop,
}
