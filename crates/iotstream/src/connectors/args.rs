//! Every connector's flags in one place each way: [`SourceArgs`] (where readings come from) and
//! [`SinkArgs`] (where results go), with what opens them.

use std::path::PathBuf;

use clap::Args;
use iotstream_engine::parse::DEFAULT_MAX_LINE_BYTES;

use super::options::SourceOptions;
use super::{file, kafka, mqtt};
use crate::channel::Source;
use crate::sinks::Outputs;

/// What went wrong opening a connector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file.
    #[error(transparent)]
    File(#[from] file::Error),
    /// Kafka.
    #[error(transparent)]
    Kafka(#[from] kafka::Error),
    /// MQTT.
    #[error(transparent)]
    Mqtt(#[from] mqtt::Error),
}

/// The Kafka connection and the topic read, when the input is Kafka.
pub use kafka::Input as KafkaInput;

/// The ids of the flags that name an input, one of which `analyze` needs: `--input`, and
/// `--kafka` and `--mqtt` when the build has them.
pub fn input_flags() -> Vec<&'static str> {
    [&["input"][..], kafka::BROKER_FLAGS, mqtt::BROKER_FLAGS].concat()
}

/// Every source's flags: those of reading in general under "Input", each protocol's under its
/// own heading. Adding a source is a file here, its flags as one more field, and one arm in
/// [`SourceArgs::open`] and [`SourceArgs::name`].
#[derive(Clone, Debug, Args)]
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
    #[command(flatten)]
    pub kafka: kafka::source::KafkaSourceArgs,
    /// MQTT connection, topics and how to read them.
    #[command(flatten)]
    pub mqtt: mqtt::source::MqttSourceArgs,
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
        self.mqtt.name()
    }

    /// Every problem with the source flags (reported with all others before anything opens).
    pub fn check(&self) -> Result<(), String> {
        self.kafka.check()?;
        self.mqtt.check()?;
        if self.once && self.mqtt.given() {
            return Err("--once does not apply to --mqtt: a subscription has no end".into());
        }
        let inputs = [self.input.is_some(), self.kafka_topic().is_some(), self.mqtt_name().is_some()];
        if inputs.iter().filter(|given| **given).count() > 1 {
            return Err("give one input: --input, --kafka or --mqtt".into());
        }
        Ok(())
    }

    /// Opens the input and starts reading it on a thread of its own.
    pub fn open(&self, options: &SourceOptions) -> Result<Source, Error> {
        if let Some(path) = &self.input {
            return Ok(file::open(path, self.max_line_bytes, options)?);
        }
        if self.mqtt.given() {
            return Ok(mqtt::source::open(&self.mqtt, options)?);
        }
        Ok(kafka::source::open(&self.kafka, self.once, options)?)
    }

    /// Files the source keeps in the state directory `dir`, which each checkpoint must find on
    /// disk.
    pub fn companions(&self, dir: &std::path::Path) -> Vec<PathBuf> {
        self.mqtt.companions(dir)
    }

    /// The Kafka connection and the topic read, when the input is Kafka (the Kafka sinks use them
    /// too). A run that reads what the topic holds now cannot do without the broker; a live run
    /// waits for it to come (back), and says so.
    pub fn kafka_input(&self, stop: &crate::signals::Stop) -> Result<Option<KafkaInput>, Error> {
        if self.input.is_some() {
            return Ok(None);
        }
        Ok(self.kafka.input(self.once, stop)?)
    }

    /// The broker and client id read, when the input is MQTT.
    pub fn mqtt_input(&self) -> Result<Option<mqtt::Input>, Error> {
        Ok(self.mqtt.input()?)
    }

    /// The consumer group, with Kafka.
    pub fn kafka_group(&self) -> Option<String> {
        self.kafka.consumer_group()
    }

    /// The Kafka topic read, if the input is Kafka.
    pub fn kafka_topic(&self) -> Option<String> {
        self.kafka.named_topic()
    }
}

/// Every sink's flags (`analyze`).
#[derive(Clone, Debug, Args)]
pub struct SinkArgs {
    /// Results on stdout or in a file.
    #[command(flatten)]
    pub stream: file::output::OutputArgs,
    /// Kafka connection and its settings.
    #[command(flatten)]
    pub kafka: kafka::sink::KafkaSinkArgs,
    /// MQTT outputs (dead letters).
    #[command(flatten)]
    pub mqtt: mqtt::sink::MqttSinkArgs,
    /// The results store.
    #[command(flatten)]
    pub store: crate::store::StoreArgs,
}

impl SinkArgs {
    /// How much of a rejected message a dead letter keeps (0 without dead letters to Kafka).
    pub fn dead_letter_max_bytes(&self) -> usize {
        self.kafka.dead_letter_bytes()
    }
}

/// What sinks need from the rest of the run.
#[derive(Default)]
pub struct SinkContext {
    /// How the result file starts: afresh, or cut back to the length its checkpoint recorded.
    pub output_start: file::output::Start,
    /// The input, when it is Kafka.
    pub kafka: Option<KafkaInput>,
    /// The input, when it is MQTT.
    pub mqtt: Option<mqtt::Input>,
}

/// The connectors' outputs `args` ask for (Kafka results and dead letters, MQTT dead letters),
/// added to `outputs`.
pub fn open_sinks(args: &SinkArgs, context: &SinkContext, outputs: &mut Outputs) -> Result<(), Error> {
    kafka::sink::open(&args.kafka, context.kafka.as_ref(), outputs)?;
    mqtt::sink::open(&args.mqtt, context.mqtt.as_ref(), outputs)?;
    Ok(())
}
