//! Where messages come from. One file per protocol, each with its own flags; each runs on its own
//! thread and hands the pipeline chunks of whole messages (see [`crate::channel`]) through a
//! bounded channel, so a slow engine slows the source down (backpressure) instead of buffering
//! without limit.

pub mod file;
pub mod generator;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mqtt")]
pub mod mqtt;

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use iotstream_engine::parse::DEFAULT_MAX_LINE_BYTES;

use crate::channel::Source;
use crate::signals::Stop;

/// Every source's flags: those of reading in general under "Input", each protocol's under its
/// own heading. Adding a source is a file here, its flags as one more field, and one arm in
/// [`SourceArgs::open`] and [`SourceArgs::name`].
#[derive(Debug, Args)]
#[command(next_help_heading = "Input")]
pub struct SourceArgs {
    /// JSON-lines input: a file, or - for stdin.
    #[arg(long, short)]
    pub input: Option<PathBuf>,
    /// Read all input that is available, emit exactly one result covering it, and exit.
    #[arg(long)]
    pub once: bool,
    /// Messages longer than this many bytes are rejected unread (reason too_large); a size:
    /// 1048576, 1MiB.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES, value_parser = iotstream_engine::units::parse_size_usize)]
    pub max_line_bytes: usize,
    /// Threads parsing input in parallel: file lines, or Kafka and MQTT messages (0: one per
    /// core). Event time and live views keep the order of readings within each partition: the
    /// threads parse, and one ordered stage counts each reading in its place.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Kafka connection and its settings.
    #[cfg(feature = "kafka")]
    #[command(flatten)]
    pub kafka: kafka::KafkaSourceArgs,
    /// MQTT connection, topics and how to read them.
    #[cfg(feature = "mqtt")]
    #[command(flatten)]
    pub mqtt: mqtt::MqttSourceArgs,
}

/// What a run needs of its source beyond the source's own flags.
#[derive(Debug, Default)]
pub struct SourceOptions {
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
    /// Scale-out: the group's topics and this instance's place in them.
    #[cfg(feature = "kafka")]
    pub scale_out: Option<crate::scaleout::Plan>,
    /// Asked for by Ctrl-C or SIGTERM: a source that waits while it opens (for a broker) gives up.
    pub stop: Stop,
}

impl SourceArgs {
    /// What is read, as checkpoints record it: a checkpoint resumes only the same input.
    pub fn name(&self) -> String {
        match (&self.input, self.kafka_topic(), self.mqtt_name()) {
            (Some(path), _, _) => format!("file:{}", path.display()),
            (None, Some(topic), _) => format!("kafka:{topic}"),
            (None, None, Some(mqtt)) => mqtt,
            (None, None, None) => "none".to_owned(),
        }
    }

    /// The MQTT broker and client id read, if the input is MQTT.
    pub fn mqtt_name(&self) -> Option<String> {
        #[cfg(feature = "mqtt")]
        return self.mqtt.name();
        #[cfg(not(feature = "mqtt"))]
        None
    }

    /// Every problem with the source flags (reported with all others before anything opens).
    pub fn check(&self) -> anyhow::Result<()> {
        #[cfg(feature = "kafka")]
        self.kafka.check()?;
        #[cfg(feature = "mqtt")]
        self.mqtt.check()?;
        #[cfg(feature = "mqtt")]
        anyhow::ensure!(
            !(self.once && self.mqtt.connection.url.is_some()),
            "--once does not apply to --mqtt: a subscription has no end"
        );
        let inputs = [self.input.is_some(), self.kafka_topic().is_some(), self.mqtt_name().is_some()];
        anyhow::ensure!(
            inputs.iter().filter(|given| **given).count() <= 1,
            "give one input: --input, --kafka or --mqtt"
        );
        Ok(())
    }

    /// Opens the input and starts reading it on a thread of its own.
    pub fn open(&self, options: &SourceOptions) -> anyhow::Result<Source> {
        if let Some(path) = &self.input {
            return file::open(path, self.max_line_bytes, options);
        }
        #[cfg(feature = "mqtt")]
        if self.mqtt.connection.url.is_some() {
            return mqtt::open(&self.mqtt, self.max_line_bytes, options);
        }
        #[cfg(feature = "kafka")]
        return kafka::open(&self.kafka, self.once, self.max_line_bytes, options);
        #[cfg(not(feature = "kafka"))]
        anyhow::bail!("this build has no Kafka support; use --input")
    }

    /// The Kafka topic read, if the input is Kafka.
    pub fn kafka_topic(&self) -> Option<String> {
        #[cfg(feature = "kafka")]
        return self.kafka.connection.topic.clone();
        #[cfg(not(feature = "kafka"))]
        None
    }
}
