//! Where results go. One file per protocol, each with its own flags; each sink turns a
//! [`WindowResult`] into its format.
//!
//! Sinks are called from the pipeline's single loop in emission order. A sink returns only once the
//! result is handed to the OS (or the broker), because offsets are committed after sinks return.
//! Adding a sink is a file here, its flags as one more field of [`SinkArgs`], and one line in
//! [`open`].

pub mod alerts;
pub mod console;
#[cfg(feature = "http")]
pub mod http;
pub mod jsonl;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "webhook")]
pub mod webhook;

use std::fs::File;
use std::io::{self, BufWriter, Seek as _, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use iotstream_engine::{RejectReason, StatsRecord, WindowResult};

use crate::channel::SensorQuery;

/// Results on stdout or in a file: shared by `analyze` and `demo`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Console)]
    pub format: Format,
    /// Write results to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Every sink's flags (`analyze`).
#[derive(Debug, Args)]
pub struct SinkArgs {
    /// Results on stdout or in a file.
    #[command(flatten)]
    pub stream: OutputArgs,
    /// Kafka connection and its settings.
    #[cfg(feature = "kafka")]
    #[command(flatten)]
    pub kafka: kafka::KafkaSinkArgs,
    /// MQTT outputs (dead letters).
    #[cfg(feature = "mqtt")]
    #[command(flatten)]
    pub mqtt: mqtt::MqttSinkArgs,
    /// The results store.
    #[command(flatten)]
    pub store: crate::store::StoreArgs,
}

/// Where results and rejected messages go.
#[derive(Default)]
pub struct Outputs {
    /// Every result goes to each of these.
    pub sinks: Vec<Box<dyn ResultSink>>,
    /// Rejected messages of partitioned sources, if configured.
    pub dead_letters: Option<Box<dyn RejectSink>>,
    /// Bytes written to the result file, when results go to a file (checkpoints record it).
    pub written: Option<Arc<AtomicU64>>,
    /// Makes the result file durable, when results go to a file (before a checkpoint records its
    /// length).
    pub durable: Option<Box<dyn Durable>>,
    /// Lookups of sensors' last readings, if something (the dashboard) asks.
    pub sensor_queries: Option<tokio::sync::mpsc::Receiver<SensorQuery>>,
    /// Scale-out: the group's merge log, where this instance's shares go.
    pub shares: Option<Box<dyn ShareSink>>,
    /// Alert rules and their outputs (`--rules`).
    pub alerts: Option<crate::alerts::Alerting>,
}

/// The Kafka connection and the topic read, when the input is Kafka (Kafka sinks need both).
#[cfg(feature = "kafka")]
pub type KafkaInput = (crate::kafka::Connection, String);
/// Without Kafka support there is never a Kafka input.
#[cfg(not(feature = "kafka"))]
pub type KafkaInput = std::convert::Infallible;

/// What sinks need from the rest of the run.
#[derive(Default)]
pub struct SinkContext {
    /// A resumed run cuts the result file back to this length (from its checkpoint).
    pub resume_len: Option<u64>,
    /// The input, when it is Kafka.
    pub kafka: Option<KafkaInput>,
    /// The input, when it is MQTT.
    #[cfg(feature = "mqtt")]
    pub mqtt: Option<mqtt::MqttInput>,
    /// Where `--store` keeps results (checked with the other flags).
    pub store: Option<crate::store::Target>,
}

/// The stream sink for `--format`/`--output`.
pub fn open_stream(args: &OutputArgs, resume_len: Option<u64>) -> anyhow::Result<Outputs> {
    let out = open_output(args.output.as_deref(), resume_len)?;
    let sinks = vec![stream_sink(args.format, out.writer)];
    Ok(Outputs { sinks, written: out.written, durable: out.durable, ..Outputs::default() })
}

/// Every sink `args` ask for.
pub fn open(args: &SinkArgs, context: &SinkContext) -> anyhow::Result<Outputs> {
    #[allow(unused_mut)]
    let mut outputs = open_stream(&args.stream, context.resume_len)?;
    #[cfg(feature = "kafka")]
    kafka::open(&args.kafka, context.kafka.as_ref(), &mut outputs)?;
    #[cfg(feature = "mqtt")]
    mqtt::open(&args.mqtt, context.mqtt.as_ref(), &mut outputs)?;
    crate::store::open(context.store.as_ref(), args.store.store_retention, &mut outputs)?;
    Ok(outputs)
}

/// A destination for results.
pub trait ResultSink: Send {
    /// Writes one result and flushes it.
    fn write_result(&mut self, result: &WindowResult) -> io::Result<()>;

    /// Writes the results of one emission (several when input completes several windows at once),
    /// in order, returning once all are written; sinks that can write them together (a database
    /// transaction) do.
    fn write_results(&mut self, results: &[WindowResult]) -> io::Result<()> {
        results.iter().try_for_each(|result| self.write_result(result))
    }

    /// Writes a stats record (totals and live views); sinks without a place for them skip it.
    fn write_stats(&mut self, _stats: &StatsRecord) -> io::Result<()> {
        Ok(())
    }

    /// Takes the live status (a stats record every second while a dashboard is served); only live
    /// views keep it, files and topics do not.
    fn write_status(&mut self, _status: &StatsRecord) -> io::Result<()> {
        Ok(())
    }

    /// True for views of what happens now (the dashboard), which show global results on every
    /// instance of a scale-out group; false for outputs, which only the merging instance writes.
    fn is_live_view(&self) -> bool {
        false
    }
}

/// Scale-out: where an owner's shares, partition clocks and saved partition states go (the
/// group's merge log and state topic).
pub trait ShareSink: Send {
    /// Queues a partition's share of a completed window.
    fn share(&mut self, partition: u32, share: &iotstream_engine::WindowShare);
    /// Queues what an idle partition's open window holds.
    fn provisional(&mut self, partition: u32, share: &iotstream_engine::WindowShare);
    /// Queues the owned partitions' clocks (and their consumer lag) as of `at`.
    fn progress(
        &mut self,
        clocks: &[(u32, iotstream_engine::watermark::PartitionClock)],
        lag: &std::collections::BTreeMap<i32, i64>,
        at: i64,
    );
    /// Queues the mark that the global results up to log offset `through` are written.
    fn published(&mut self, through: i64);
    /// Saves a partition's state, covering its input before `next`, once every share queued
    /// before it is durable; returns once the state is.
    fn save_state(
        &mut self,
        partition: u32,
        next: i64,
        windows: &iotstream_engine::EventTimeWindows,
    ) -> anyhow::Result<()>;
    /// Returns once everything queued is durable.
    fn flush(&mut self) -> anyhow::Result<()>;
}

/// A destination for rejected messages (a dead-letter topic).
pub trait RejectSink: Send {
    /// Queues one rejected message from `partition` at `offset`.
    fn reject(&mut self, payload: &[u8], reason: RejectReason, partition: i32, offset: i64);
    /// Returns once everything queued is durable (before the offsets are committed).
    fn flush(&mut self) -> anyhow::Result<()>;
}

/// What makes written results durable: the result file's `fsync`.
pub trait Durable: Send {
    /// Returns once everything written so far survives an OS crash or a power cut.
    fn sync(&mut self) -> io::Result<()>;
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
pub fn open_output(path: Option<&Path>, resume_len: Option<u64>) -> anyhow::Result<Output> {
    let Some(path) = path else {
        return Ok(Output { writer: Box::new(BufWriter::new(io::stdout())), written: None, durable: None });
    };
    let cannot = || format!("cannot open output file {}", path.display());
    let file = match resume_len {
        None => File::create(path).with_context(cannot)?,
        Some(len) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(cannot)?;
            let found = file.metadata().with_context(cannot)?.len();
            anyhow::ensure!(
                found >= len,
                "output file {} is shorter ({found} bytes) than the checkpoint recorded ({len}); it was changed since",
                path.display()
            );
            file.set_len(len).with_context(cannot)?;
            file.seek(io::SeekFrom::End(0)).with_context(cannot)?;
            file
        }
    };
    let durable: Box<dyn Durable> = Box::new(FileSync::new(&file, path).with_context(cannot)?);
    let written = Arc::new(AtomicU64::new(resume_len.unwrap_or(0)));
    let counting = Counting { inner: file, written: Arc::clone(&written) };
    Ok(Output { writer: Box::new(BufWriter::new(counting)), written: Some(written), durable: Some(durable) })
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
