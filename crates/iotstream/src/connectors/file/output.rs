//! Results on stdout or in a file (`--format`, `--output`): opening the file (cut back to a
//! checkpoint's length when resuming), counting the bytes that reach it, making it durable, and the
//! sink of each format.

use std::fs::File;
use std::io::{self, BufWriter, Seek as _, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Args;

use super::{console, jsonl, Error};
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

/// The stream sink for `--format`/`--output`.
pub fn open_stream(args: &OutputArgs, resume_len: Option<u64>) -> Result<Outputs, Error> {
    let out = open_output(args.output.as_deref(), resume_len)?;
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

/// Opens `path` for writing, or stdout when `None`. A new run truncates the file; a run resuming
/// from a checkpoint cuts it back to `resume_len`, the length the checkpoint recorded, and appends.
pub fn open_output(path: Option<&Path>, resume_len: Option<u64>) -> Result<Output, Error> {
    let Some(path) = path else {
        return Ok(Output { writer: Box::new(BufWriter::new(io::stdout())), written: None, durable: None });
    };
    let cannot = |e| Error::OpenOutput(path.to_owned(), e);
    let file = match resume_len {
        None => File::create(path).map_err(cannot)?,
        Some(len) => cut_back(path, len)?,
    };
    let durable: Box<dyn Durable> = Box::new(FileSync::new(&file, path).map_err(cannot)?);
    let written = Arc::new(AtomicU64::new(resume_len.unwrap_or(0)));
    let counting = Counting { inner: file, written: Arc::clone(&written) };
    Ok(Output { writer: Box::new(BufWriter::new(counting)), written: Some(written), durable: Some(durable) })
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
