//! Files and standard input: JSON lines read in large blocks on a dedicated thread.
//!
//! The OS copies each block straight into a pooled buffer that becomes the chunk, so input bytes
//! are copied once (by the kernel), not again into a chunk of their own; a chunk's buffer returns
//! to the pool when it has been parsed. Only the unfinished last line of a block is copied, to the
//! start of the next buffer. A line longer than the limit that does not fit a buffer is cut to
//! `limit + 1` bytes and the rest of it skipped as it streams past, so one multi-gigabyte line costs
//! no memory.
//!
//! Live input (a pipe: `iotstream simulate --rate … | iotstream analyze --input -`) is read in
//! batches rather than one small read per write of its producer: after a read that emptied the
//! pipe, the reader waits [`LINGER`] and then takes everything that has arrived meanwhile (until
//! the pipe is empty or the block is full) before handing the chunk over. Each hand-off wakes the
//! pipeline, and at a few dozen readings per read those wake-ups, not the readings, were the cost
//! (about 14 times what `cat` spends on the same pipe). A backlog (a full block) is never held back.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use super::Error;
use crate::channel::{
    BufferPool, Chunk, Control, Source, SourceError, SourceEvent, SourceReceiver, CHANNEL_DEPTH,
};
use crate::connectors::options::SourceOptions;
use crate::{parallel, progress};

/// Bytes asked of the OS per read: large enough that system calls do not matter, small enough
/// that a block is still in the cache when the newline count reads it right after.
const BLOCK: usize = 1 << 20;

/// How long live input gathers after a read that emptied the pipe, before the chunk is handed
/// over: a few milliseconds of latency buy a hand-off per few hundred readings instead of per few
/// dozen at 150k readings/s.
pub const LINGER: Duration = Duration::from_millis(2);

/// The pipe buffer asked for on standard input, so that a producer does not block while the
/// reader lingers (the default 64 KiB fill in about 2 ms at 150k readings/s).
const PIPE_BUFFER: usize = 1 << 20;

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
    pub fn open(&self) -> Result<Box<dyn Read + Send>, Error> {
        Ok(match self {
            Input::Stdin => {
                enlarge_pipe();
                Box::new(io::stdin())
            }
            Input::Path(path) => Box::new(File::open(path).map_err(|e| Error::OpenInput(path.clone(), e))?),
        })
    }

    /// How to tell, without blocking, that more of this input is waiting: standard input may be a
    /// pipe fed live. A file read to its end has nothing more to wait for.
    pub fn waiting(&self) -> Option<Box<dyn MoreWaiting>> {
        match self {
            #[cfg(unix)]
            Input::Stdin => Some(Box::new(Pollable(io::stdin()))),
            _ => None,
        }
    }
}

/// Asks for a larger pipe buffer on standard input (a no-op when it is no pipe, or the system
/// refuses: the reader only lingers less usefully then).
fn enlarge_pipe() {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::pipe::fcntl_setpipe_size(io::stdin(), PIPE_BUFFER);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = PIPE_BUFFER;
}

/// Whether more input is waiting to be read, asked without blocking.
pub trait MoreWaiting: Send {
    /// True when a read would return at once (data, or the end of input).
    fn more_waiting(&self) -> bool;
}

/// Input behind a file descriptor, asked with `poll` and no timeout.
#[cfg(unix)]
struct Pollable<F>(F);

#[cfg(unix)]
impl<F: std::os::fd::AsFd + Send> MoreWaiting for Pollable<F> {
    fn more_waiting(&self) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(&self.0, PollFlags::IN)];
        let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
        // An error says nothing is known to be waiting: hand over what is there.
        poll(&mut fds, Some(&zero)).is_ok_and(|ready| ready > 0)
    }
}

/// Starts a thread reading `reader` to its end, from line `start_line` (1-based; earlier lines are
/// skipped, which is how a run resumes from a checkpoint); lines over `max_line_bytes` are cut.
pub fn spawn(lines: LineReader, start_line: u64) -> SourceReceiver {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    std::thread::Builder::new()
        .name("file-source".into())
        .spawn(move || {
            let mut lines = lines;
            let event = match read_all(&mut lines, start_line, &tx) {
                Ok(()) => SourceEvent::end(),
                Err(e) => SourceEvent::Control(Control::Failed(SourceError::Read(e))),
            };
            // The receiver may be gone (the run was stopped); nothing left to tell then.
            let _ = tx.blocking_send(event);
        })
        .expect("spawning a thread only fails when the OS is out of resources");
    rx
}

/// `--input PATH|-`: opens the input now (a missing file fails before anything starts), resumes
/// after the checkpoint's line, and reads on a thread of its own, or on the parsing threads
/// themselves with several (see [`crate::parallel::spawn_reading`]).
pub fn open(path: &Path, max_line_bytes: usize, options: &SourceOptions) -> Result<Source, Error> {
    let start_line = options.resume.get(&0).map_or(1, |&line| line.max(1) as u64);
    let input = Input::from_arg(path);
    let mut reader = input.open()?;
    if let (Input::Path(path), true) = (&input, options.progress) {
        let size = std::fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len());
        if let Some(size) = size {
            reader = Box::new(progress::ProgressRead::new(reader, progress::bytes(size)));
        }
    }
    let mut lines = LineReader::new(reader, max_line_bytes, BLOCK);
    if let Some(waiting) = input.waiting() {
        lines = lines.live(waiting, LINGER);
    }
    let events = if options.threads > 1 {
        parallel::spawn_reading(lines, start_line, options.threads, options.parsers.clone(), options.mode)
    } else {
        spawn(lines, start_line)
    };
    Ok(Source::plain(events))
}

fn read_all(lines: &mut LineReader, start_line: u64, tx: &mpsc::Sender<SourceEvent>) -> io::Result<()> {
    while let Some(chunk) = lines.next_chunk_from(start_line)? {
        if tx.blocking_send(SourceEvent::chunk(chunk)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Drops the lines of `chunk` before line `start_line`; `None` if nothing is left.
fn skip_to(mut chunk: Chunk, start_line: u64) -> Option<Chunk> {
    if chunk.first_line >= start_line {
        return Some(chunk);
    }
    let skip = (start_line - chunk.first_line) as usize;
    let cut = match memchr::memchr_iter(b'\n', chunk.data()).nth(skip - 1) {
        Some(end) => end + 1,
        None => return None,
    };
    chunk.advance(cut);
    chunk.first_line = start_line;
    (!chunk.data().is_empty()).then_some(chunk)
}

/// Reads blocks into pooled buffers and hands them out as chunks of whole lines.
pub struct LineReader {
    reader: Box<dyn Read + Send>,
    pool: BufferPool,
    block: usize,
    max_line_bytes: usize,
    /// The unfinished last line of the previous block (at most `max_line_bytes + 1` bytes).
    partial: Vec<u8>,
    /// True while skipping the rest of an overlong line (its first `max_line_bytes + 1` bytes
    /// are in `partial`).
    skipping: bool,
    next_line: u64,
    ended: bool,
    /// Live input: how to see more is waiting, and how long to gather after emptying it.
    live: Option<(Box<dyn MoreWaiting>, Duration)>,
    /// The end of input was met while gathering: the next read returns nothing.
    at_end: bool,
}

impl parallel::ChunkReader for LineReader {
    fn next_chunk_from(&mut self, start_line: u64) -> io::Result<Option<Chunk>> {
        LineReader::next_chunk_from(self, start_line)
    }
}

impl LineReader {
    /// Reads `reader` in blocks of `block` bytes, for lines of at most `max_line_bytes`.
    pub fn new(reader: Box<dyn Read + Send>, max_line_bytes: usize, block: usize) -> LineReader {
        LineReader {
            reader,
            pool: BufferPool::default(),
            block: block.max(1),
            max_line_bytes,
            partial: Vec::new(),
            skipping: false,
            next_line: 1,
            ended: false,
            live: None,
            at_end: false,
        }
    }

    /// Reads live input in batches: after a read that leaves the buffer room (the input had no
    /// more), waits `linger`, then reads whatever `waiting` says has arrived, until it says
    /// nothing is left or the buffer is full.
    pub fn live(mut self, waiting: Box<dyn MoreWaiting>, linger: Duration) -> LineReader {
        self.live = Some((waiting, linger));
        self
    }

    /// Reads into `buffer[from..]`: at least one read; for live input, also what arrives while
    /// lingering. 0 only at the end of input.
    fn fill(&mut self, buffer: &mut [u8], from: usize) -> io::Result<usize> {
        let mut end = from + self.read_some(&mut buffer[from..])?;
        if end == from || end == buffer.len() {
            return Ok(end - from);
        }
        let Some((waiting, linger)) = self.live.take() else { return Ok(end - from) };
        std::thread::sleep(linger);
        let gathered = self.gather(buffer, &mut end, waiting.as_ref());
        self.live = Some((waiting, linger));
        gathered.map(|()| end - from)
    }

    /// Reads into `buffer[*end..]` while `waiting` says more is there and the buffer has room.
    fn gather(&mut self, buffer: &mut [u8], end: &mut usize, waiting: &dyn MoreWaiting) -> io::Result<()> {
        while *end < buffer.len() && waiting.more_waiting() {
            let read = self.read_some(&mut buffer[*end..])?;
            if read == 0 {
                self.at_end = true;
                break;
            }
            *end += read;
        }
        Ok(())
    }

    /// One read, retried when interrupted by a signal.
    fn read_some(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.at_end {
            return Ok(0);
        }
        loop {
            match self.reader.read(buffer) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The next chunk of whole lines from line `start_line` on (earlier ones are skipped: a resumed
    /// run); `None` at the end.
    pub fn next_chunk_from(&mut self, start_line: u64) -> io::Result<Option<Chunk>> {
        while let Some(chunk) = self.next_chunk()? {
            if let Some(chunk) = skip_to(chunk, start_line) {
                return Ok(Some(chunk));
            }
        }
        Ok(None)
    }

    /// The next chunk of whole lines (the input's last line may lack its newline); `None` at the end.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        while !self.ended {
            let carried = self.partial.len();
            let mut buffer = self.pool.take(carried + self.block);
            buffer[..carried].copy_from_slice(&self.partial);
            self.partial.clear();
            let read = match self.fill(&mut buffer, carried) {
                Ok(read) => read,
                Err(e) => {
                    self.pool.put(buffer);
                    return Err(e);
                }
            };
            if read == 0 {
                return Ok(self.last(buffer, carried));
            }
            if let Some(chunk) = self.cut(buffer, carried, carried + read) {
                return Ok(Some(chunk));
            }
        }
        Ok(None)
    }

    /// The input ended: its last line, without a newline (or the cut beginning of an overlong
    /// one), if the block holds one.
    fn last(&mut self, buffer: Vec<u8>, carried: usize) -> Option<Chunk> {
        self.ended = true;
        if carried > 0 || self.skipping {
            return Some(self.emit(buffer, carried));
        }
        self.pool.put(buffer);
        None
    }

    /// The whole lines of `buffer[..end]` as a chunk (its first `carried` bytes are the previous
    /// block's unfinished line), the unfinished rest kept for the next; `None` when the block ends
    /// no line.
    fn cut(&mut self, mut buffer: Vec<u8>, carried: usize, mut end: usize) -> Option<Chunk> {
        if self.skipping {
            // Drop the rest of the overlong line, up to its newline; it never reaches memory
            // beyond this buffer.
            match memchr::memchr(b'\n', &buffer[carried..end]) {
                Some(at) => {
                    buffer.copy_within(carried + at..end, carried);
                    end -= at;
                    self.skipping = false;
                }
                None => {
                    self.partial.extend_from_slice(&buffer[..carried]);
                    self.pool.put(buffer);
                    return None;
                }
            }
        }
        // The carried bytes hold no newline, so the block's last one ends the chunk.
        match memchr::memrchr(b'\n', &buffer[carried..end]) {
            Some(at) => {
                let cut = carried + at + 1;
                self.keep_partial(&buffer[cut..end]);
                Some(self.emit(buffer, cut))
            }
            None => {
                self.keep_partial(&buffer[..end]);
                self.pool.put(buffer);
                None
            }
        }
    }

    /// Keeps the unfinished last line, cut to `max_line_bytes + 1` bytes (then skipping the rest).
    fn keep_partial(&mut self, bytes: &[u8]) {
        let room = self.max_line_bytes.saturating_add(1);
        if bytes.len() > room {
            self.partial.extend_from_slice(&bytes[..room]);
            self.skipping = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// `buffer[..end]` as a chunk, counting its lines.
    fn emit(&mut self, buffer: Vec<u8>, end: usize) -> Chunk {
        let chunk = Chunk::pooled(buffer, end, self.next_line, &self.pool);
        // memchr counts with vector instructions, while the block is still in the cache.
        let newlines = memchr::memchr_iter(b'\n', chunk.data()).count() as u64;
        self.next_line += newlines.max(1);
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader handing out at most `piece` bytes per read, as a pipe does.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        piece: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.piece).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn split_all(input: &[u8], block: usize, max: usize) -> Vec<Vec<u8>> {
        split_with(input, block, block, max).0
    }

    /// The lines read through `LineReader`, and the first line numbers of the chunks.
    fn split_with(input: &[u8], block: usize, piece: usize, max: usize) -> (Vec<Vec<u8>>, Vec<u64>) {
        let trickle = Trickle { data: input.to_vec(), at: 0, piece: piece.max(1) };
        let mut reader = LineReader::new(Box::new(trickle), max, block);
        let mut data = Vec::new();
        let mut firsts = Vec::new();
        let mut expected_first = 1;
        while let Some(chunk) = reader.next_chunk().unwrap() {
            assert_eq!(chunk.first_line, expected_first);
            let lines: Vec<Vec<u8>> =
                iotstream_engine::lines::lines(chunk.data()).map(<[u8]>::to_vec).collect();
            expected_first += lines.len() as u64;
            firsts.push(chunk.first_line);
            data.extend(lines);
        }
        // Lines longer than the limit may arrive whole (the parser rejects them); cut them here to
        // compare with what must arrive at least.
        let data = data.into_iter().map(|l| l[..l.len().min(max + 1)].to_vec()).collect();
        (data, firsts)
    }

    #[test]
    fn huge_lines_are_cut_to_one_byte_over_the_limit() {
        let long = "x".repeat(10_000);
        let input = format!("short\n{long}\nok\n{long}");
        let (lines, _) = split_with(input.as_bytes(), 64, 64, 5);
        assert_eq!(lines, [&b"short"[..], b"xxxxxx", b"ok", b"xxxxxx"]);
        // Nothing more than the limit plus a block is ever held for an overlong line.
        let mut reader =
            LineReader::new(Box::new(Trickle { data: input.clone().into_bytes(), at: 0, piece: 64 }), 5, 64);
        while let Some(chunk) = reader.next_chunk().unwrap() {
            assert!(chunk.data().len() <= 64 + 6, "{}", chunk.data().len());
        }
    }

    #[test]
    fn skipping_from_a_start_line_keeps_numbers() {
        let input: String = (1..=100).map(|i| format!("line{i}\n")).collect();
        let mut reader =
            LineReader::new(Box::new(Trickle { data: input.into_bytes(), at: 0, piece: 7 }), 100, 16);
        let mut seen = Vec::new();
        while let Some(chunk) = reader.next_chunk().unwrap() {
            if let Some(chunk) = skip_to(chunk, 42) {
                let first = chunk.first_line;
                for (n, line) in (first..).zip(iotstream_engine::lines::lines(chunk.data())) {
                    assert_eq!(line, format!("line{n}").as_bytes());
                    seen.push(n);
                }
            }
        }
        assert_eq!(seen, (42..=100).collect::<Vec<u64>>());
    }

    #[test]
    fn buffers_are_reused() {
        let input: String = (0..10_000).map(|i| format!("{i}\n")).collect();
        let mut reader =
            LineReader::new(Box::new(Trickle { data: input.into_bytes(), at: 0, piece: 4096 }), 100, 4096);
        let mut count = 0;
        while let Some(chunk) = reader.next_chunk().unwrap() {
            count += iotstream_engine::lines::lines(chunk.data()).count();
        }
        assert_eq!(count, 10_000);
        // Each chunk was dropped before the next read, so one buffer (plus at most one) did it all.
        assert!(reader.pool.kept() <= 2);
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
        fn splitting_preserves_lines(
            text in "[ab\\n]{0,200}", block in 1usize..64, piece in 1usize..80, max in 1usize..20,
        ) {
            let expected: Vec<Vec<u8>> = iotstream_engine::lines::lines(text.as_bytes())
                .map(|l| l[..l.len().min(max + 1)].to_vec())
                .collect();
            proptest::prop_assert_eq!(split_with(text.as_bytes(), block, piece, max).0, expected);
        }
    }
}
