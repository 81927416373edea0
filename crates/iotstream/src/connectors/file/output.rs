//! Results on stdout or in a file (`--format`, `--output`): opening the file (cut back to a
//! checkpoint's length when resuming), counting the bytes that reach it, making it durable, and the
//! sink of each format.
//!
//! `--output` may name anything writable. A regular file is synced before each checkpoint records
//! its length and cut back to that length on resume: exactly once. A character device
//! (`/dev/null`, a terminal), a FIFO or a socket (what `/dev/stdout` is when stdout is a pipe) has
//! no length to record, cannot be synced and cannot be cut back, like stdout itself: results are
//! written to it as they come, and a run resuming a checkpoint writes the results that came after
//! that checkpoint again (at least once; docs/DURABILITY.md). Opening a FIFO waits for its reader,
//! and gives way to a stop.

use std::fs::File;
use std::io::{self, BufWriter, Seek as _, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use clap::Args;

use super::{console, jsonl, Error};
use crate::signals::{Stop, STOP_SLICE};
use crate::sinks::{Durable, Outputs, ResultSink};

/// Results on stdout or in a file: shared by `analyze` and `demo`.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Console)]
    pub format: Format,
    /// Write results to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// How a run starts writing a result file: afresh, or resuming a checkpoint, which recorded the
/// file's length when the results went to a regular file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Start {
    /// A new run: the file starts empty.
    #[default]
    Afresh,
    /// A run resuming a checkpoint, and the length that checkpoint recorded (`None` when the
    /// results went to a stream, which has none).
    Resume(Option<u64>),
}

impl Start {
    /// A run that resumes `resumed` (a checkpoint's recorded length, if it has a checkpoint).
    pub fn of(resumed: Option<Option<u64>>) -> Start {
        resumed.map_or(Start::Afresh, Start::Resume)
    }
}

/// The stream sink for `--format`/`--output`.
pub fn open_stream(args: &OutputArgs, start: Start, stop: &Stop) -> Result<Outputs, Error> {
    let out = open_output(args.output.as_deref(), start, stop)?;
    let sinks = vec![stream_sink(args.format, out.writer)];
    Ok(Outputs { sinks, written: out.written, durable: out.durable, ..Outputs::default() })
}

/// The result file, synced through a handle of its own (the writer's buffer is flushed after every
/// result, so everything written is in the file already).
struct FileSync {
    file: File,
    /// The file's folder, synced once, so that a new file's name survives too.
    folder: Option<PathBuf>,
}

impl FileSync {
    fn new(file: &File, path: &Path) -> io::Result<FileSync> {
        let folder = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
        Ok(FileSync { file: file.try_clone()?, folder: folder.map(Path::to_path_buf) })
    }
}

impl Durable for FileSync {
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        // Directories can be opened and synced like this on Unix only.
        #[cfg(unix)]
        if let Some(folder) = &self.folder {
            File::open(folder)?.sync_all()?;
        }
        self.folder = None;
        Ok(())
    }
}

/// Output formats for results on a byte stream (stdout or a file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The seed's Spark `pprint` blocks, line for line.
    Console,
    /// One JSON object per result.
    Jsonl,
}

/// Where results are written, and how many bytes have reached the file so far.
pub struct Output {
    /// The buffered writer.
    pub writer: Box<dyn Write + Send>,
    /// Bytes handed to the OS, for files (checkpoints record it); `None` for stdout.
    pub written: Option<Arc<AtomicU64>>,
    /// Makes the file durable; `None` for stdout.
    pub durable: Option<Box<dyn Durable>>,
}

/// Opens `path` for writing, or stdout when `None`. A new run truncates a regular file; a run
/// resuming a checkpoint cuts it back to the length the checkpoint recorded, and appends. Anything
/// else (stdout, a device, a FIFO, a socket) is written as it is, with no length and no sync, and
/// a resumed run says that what came after its checkpoint is written to it again.
pub fn open_output(path: Option<&Path>, start: Start, stop: &Stop) -> Result<Output, Error> {
    let Some(path) = path else {
        at_least_once("stdout", start);
        return Ok(Output { writer: Box::new(BufWriter::new(io::stdout())), written: None, durable: None });
    };
    if let Some(kind) = stream_kind(path) {
        let file = open_stream_path(path, kind, stop)?;
        at_least_once(&format!("{} ({kind})", path.display()), start);
        return Ok(Output { writer: Box::new(BufWriter::new(file)), written: None, durable: None });
    }
    let cannot = |e| Error::OpenOutput(path.to_owned(), e);
    let resume_len = match start {
        Start::Resume(Some(len)) => Some(len),
        Start::Afresh | Start::Resume(None) => None,
    };
    let file = match resume_len {
        None => File::create(path).map_err(cannot)?,
        Some(len) => cut_back(path, len)?,
    };
    let durable: Box<dyn Durable> = Box::new(FileSync::new(&file, path).map_err(cannot)?);
    let written = Arc::new(AtomicU64::new(resume_len.unwrap_or(0)));
    let counting = Counting { inner: file, written: Arc::clone(&written) };
    Ok(Output { writer: Box::new(BufWriter::new(counting)), written: Some(written), durable: Some(durable) })
}

/// What `path` is when it exists and is not a regular file (so has no length to cut back to and
/// cannot be synced), said as a user would: `None` for a regular file or one still to create.
fn stream_kind(path: &Path) -> Option<&'static str> {
    let kind = std::fs::metadata(path).ok()?.file_type();
    if kind.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return Some("a FIFO");
        }
        if kind.is_char_device() {
            return Some("a character device");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// A resumed run writing to `what`, which cannot be cut back, says what its reader will see.
fn at_least_once(what: &str, start: Start) {
    if let Start::Resume(_) = start {
        tracing::warn!(
            "results go to {what}, which cannot be cut back to the checkpoint: the results written \
             after the checkpoint this run resumes are written again (a reader sees them twice; at \
             least once)"
        );
    }
}

/// Opens the stream at `path` for writing, as it is (no truncation, nothing created). A FIFO's
/// open waits for a reader: it waits on a thread of its own, so that a stop ends the wait (the
/// thread, still waiting, ends with the process).
fn open_stream_path(path: &Path, kind: &str, stop: &Stop) -> Result<File, Error> {
    let cannot = |e| Error::OpenOutput(path.to_owned(), e);
    let open = |path: &Path| std::fs::OpenOptions::new().write(true).open(path);
    if kind != "a FIFO" {
        return open(path).map_err(cannot);
    }
    let (opened, waiting) = mpsc::channel();
    let owned = path.to_owned();
    std::thread::Builder::new()
        .name("output-open".into())
        .spawn(move || drop(opened.send(open(&owned))))
        .map_err(cannot)?;
    let mut said = false;
    loop {
        match waiting.recv_timeout(STOP_SLICE) {
            Ok(file) => return file.map_err(cannot),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(cannot(io::Error::other("the thread opening it ended")))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                stop.check()?;
                if !said {
                    tracing::info!(path = %path.display(), "waiting for a reader of the FIFO");
                    said = true;
                }
            }
        }
    }
}

/// `path` opened for appending after its first `len` bytes (what a checkpoint recorded): a
/// resumed run writes again what came after them.
fn cut_back(path: &Path, len: u64) -> Result<File, Error> {
    let cannot = |e| Error::OpenOutput(path.to_owned(), e);
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path).map_err(cannot)?;
    let found = file.metadata().map_err(cannot)?.len();
    if found < len {
        return Err(Error::Shorter { path: path.to_owned(), found, recorded: len });
    }
    file.set_len(len).map_err(cannot)?;
    file.seek(io::SeekFrom::End(0)).map_err(cannot)?;
    Ok(file)
}

/// Counts the bytes that reach the file.
struct Counting {
    inner: File,
    written: Arc<AtomicU64>,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A sink writing `format` to `out`.
pub fn stream_sink(format: Format, out: Box<dyn Write + Send>) -> Box<dyn ResultSink> {
    match format {
        Format::Console => Box::new(console::ConsoleSink::new(out)),
        Format::Jsonl => Box::new(jsonl::JsonlSink::new(out)),
    }
}
