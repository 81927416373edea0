//! Files and standard input: JSON lines in (`source`: read in large blocks on a thread of their
//! own, live pipes in batches), results out (`output`: stdout or a file, cut back and made durable
//! for checkpoints; `console`: the seed's Spark blocks; `jsonl`: one JSON object per line).

pub mod console;
pub mod jsonl;
pub mod output;
pub mod source;

pub use source::{open, Input, LineReader};
