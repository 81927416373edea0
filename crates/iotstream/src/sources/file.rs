//! Files and standard input: JSON lines read in large blocks on a dedicated thread.
//!
//! Blocks are cut after their last newline so that every chunk holds whole lines. A line longer
//! than the limit is cut to `limit + 1` bytes and the rest of it skipped as it streams past, so one
//! multi-gigabyte line costs no memory. Reading a pipe returns what is there, so a live producer
//! (`iotstream simulate --rate … | iotstream analyze --input -`) flows through without waiting for
//! a block to fill.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokio::sync::mpsc;

use super::{Chunk, SourceEvent, SourceReceiver, CHANNEL_DEPTH};

/// Bytes asked of the OS per read.
const BLOCK: usize = 1 << 20;

/// An input to read: a path, or `-` for standard input.
#[derive(Clone, Debug)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file.
    Path(PathBuf),
}

impl Input {
    /// `-` is standard input; anything else a path.
    pub fn from_arg(arg: &Path) -> Input {
        if arg.as_os_str() == "-" {
            Input::Stdin
        } else {
            Input::Path(arg.to_owned())
        }
    }

    /// Opens the input now, so that a missing or unreadable file fails before anything starts.
    pub fn open(&self) -> anyhow::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Input::Stdin => Box::new(io::stdin()),
            Input::Path(path) => Box::new(
                File::open(path).with_context(|| format!("cannot open input file {}", path.display()))?,
            ),
        })
    }
}

/// Starts a thread reading `reader` to its end, from line `start_line` (1-based; earlier lines are
/// skipped, which is how a run resumes from a checkpoint); lines over `max_line_bytes` are cut.
pub fn spawn(reader: Box<dyn Read + Send>, max_line_bytes: usize, start_line: u64) -> SourceReceiver {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    std::thread::Builder::new()
        .name("file-source".into())
        .spawn(move || {
            let mut splitter = LineSplitter::new(max_line_bytes);
            let event = match read_all(reader, &mut splitter, start_line, &tx) {
                Ok(()) => SourceEvent::End,
                Err(e) => SourceEvent::Failed(format!("reading input failed: {e}")),
            };
            // The receiver may be gone (the run was stopped); nothing left to tell then.
            let _ = tx.blocking_send(event);
        })
        .expect("spawning a thread only fails when the OS is out of resources");
    rx
}

fn read_all(
    mut reader: Box<dyn Read + Send>,
    splitter: &mut LineSplitter,
    start_line: u64,
    tx: &mpsc::Sender<SourceEvent>,
) -> io::Result<()> {
    let mut block = vec![0u8; BLOCK];
    loop {
        let n = match reader.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(chunk) = splitter.push(&block[..n]).and_then(|c| skip_to(c, start_line)) {
            if tx.blocking_send(SourceEvent::Chunk(chunk)).is_err() {
                return Ok(());
            }
        }
    }
    if let Some(chunk) = splitter.finish().and_then(|c| skip_to(c, start_line)) {
        let _ = tx.blocking_send(SourceEvent::Chunk(chunk));
    }
    Ok(())
}

/// Drops the lines of `chunk` before line `start_line`; `None` if nothing is left.
fn skip_to(mut chunk: Chunk, start_line: u64) -> Option<Chunk> {
    if chunk.first_line >= start_line {
        return Some(chunk);
    }
    let skip = (start_line - chunk.first_line) as usize;
    let cut = match memchr::memchr_iter(b'\n', &chunk.data).nth(skip - 1) {
        Some(end) => end + 1,
        None => return None,
    };
    chunk.data.drain(..cut);
    chunk.first_line = start_line;
    (!chunk.data.is_empty()).then_some(chunk)
}

/// Turns arbitrary blocks of bytes into chunks of whole lines, cutting overlong lines.
pub struct LineSplitter {
    max_line_bytes: usize,
    /// The unfinished last line of the previous block (at most `max_line_bytes + 1` bytes).
    partial: Vec<u8>,
    /// True while skipping the rest of an overlong line.
    skipping: bool,
    next_line: u64,
}

impl LineSplitter {
    /// A splitter for lines of at most `max_line_bytes` (longer ones are cut to one byte more).
    pub fn new(max_line_bytes: usize) -> LineSplitter {
        LineSplitter { max_line_bytes, partial: Vec::new(), skipping: false, next_line: 1 }
    }

    /// Feeds one block; returns the whole lines completed by it, if any.
    pub fn push(&mut self, mut block: &[u8]) -> Option<Chunk> {
        let mut out =
            Chunk { data: Vec::with_capacity(block.len() + self.partial.len()), first_line: self.next_line };
        while !block.is_empty() {
            match memchr::memchr(b'\n', block) {
                Some(end) => {
                    self.extend_partial(&block[..end]);
                    out.data.append(&mut self.partial);
                    out.data.push(b'\n');
                    self.skipping = false;
                    self.next_line += 1;
                    block = &block[end + 1..];
                    // The common case: copy every further whole line in one go.
                    if let Some(last) = memchr::memrchr(b'\n', block) {
                        if !self.copy_whole_lines(&block[..=last], &mut out.data) {
                            continue;
                        }
                        block = &block[last + 1..];
                    }
                }
                None => {
                    self.extend_partial(block);
                    break;
                }
            }
        }
        (!out.data.is_empty()).then_some(out)
    }

    /// Copies `lines` (ending in `\n`) if none of them is too long; false (nothing copied) otherwise,
    /// and the caller goes line by line.
    fn copy_whole_lines(&mut self, lines: &[u8], out: &mut Vec<u8>) -> bool {
        let mut start = 0;
        let mut count = 0;
        for end in memchr::memchr_iter(b'\n', lines) {
            if end - start > self.max_line_bytes {
                return false;
            }
            start = end + 1;
            count += 1;
        }
        out.extend_from_slice(lines);
        self.next_line += count;
        true
    }

    /// Appends to the unfinished line, keeping at most `max_line_bytes + 1` bytes of it.
    fn extend_partial(&mut self, bytes: &[u8]) {
        if self.skipping {
            return;
        }
        let room = (self.max_line_bytes + 1).saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.partial.extend_from_slice(&bytes[..room]);
            self.skipping = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// At the end of input: the last line, if it had no newline.
    pub fn finish(&mut self) -> Option<Chunk> {
        if self.partial.is_empty() && !self.skipping {
            return None;
        }
        self.skipping = false;
        Some(Chunk { data: std::mem::take(&mut self.partial), first_line: self.next_line })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(input: &[u8], block: usize, max: usize) -> Vec<Vec<u8>> {
        let mut splitter = LineSplitter::new(max);
        let mut data = Vec::new();
        for piece in input.chunks(block.max(1)) {
            if let Some(chunk) = splitter.push(piece) {
                assert!(chunk.data.ends_with(b"\n"));
                data.extend(chunk.data);
            }
        }
        if let Some(chunk) = splitter.finish() {
            data.extend(chunk.data);
        }
        iotstream_engine::lines::lines(&data).map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn any_block_size_gives_the_same_lines() {
        let input = b"one\ntwo\n\nthree\nfour";
        for block in 1..input.len() + 2 {
            let lines = split_all(input, block, 100);
            assert_eq!(lines, [&b"one"[..], b"two", b"", b"three", b"four"], "block {block}");
        }
    }

    #[test]
    fn long_lines_are_cut_to_one_byte_over_the_limit() {
        let input = b"short\nxxxxxxxxxxxxxxxxxxxx\nok\nyyyyyyyyyyyy";
        for block in 1..input.len() + 2 {
            let lines = split_all(input, block, 5);
            assert_eq!(lines, [&b"short"[..], b"xxxxxx", b"ok", b"yyyyyy"], "block {block}");
        }
    }

    proptest::proptest! {
        #[test]
        fn splitting_preserves_lines(text in "[ab\\n]{0,200}", block in 1usize..64, max in 1usize..20) {
            let expected: Vec<Vec<u8>> = iotstream_engine::lines::lines(text.as_bytes())
                .map(|l| l[..l.len().min(max + 1)].to_vec())
                .collect();
            proptest::prop_assert_eq!(split_all(text.as_bytes(), block, max), expected);
        }
    }
}
