//! Every connector's flags in one place each way: [`SourceArgs`] (where readings come from) and
//! [`SinkArgs`] (where results go), with what opens them.

use std::path::PathBuf;

use clap::Args;
use iotstream_engine::parse::DEFAULT_MAX_LINE_BYTES;

use super::file;
#[cfg(feature = "kafka")]
use super::kafka;
#[cfg(feature = "mqtt")]
use super::mqtt;
use super::options::SourceOptions;
use crate::channel::Source;
use crate::sinks::Outputs;

/// What went wrong opening a connector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file.
    #[error(transparent)]
    File(#[from] file::Error),
    /// Kafka.
    #[cfg(feature = "kafka")]
    #[error(transparent)]
    Kafka(#[from] kafka::Error),
    /// MQTT.
    #[cfg(feature = "mqtt")]
    #[error(transparent)]
    Mqtt(#[from] mqtt::Error),
    /// A Kafka input in a build without Kafka.
    #[error("this build has no Kafka support; use --input")]
    NoKafka,
}

/// The Kafka connection and the topic read, when the input is Kafka.
#[cfg(feature = "kafka")]
pub use kafka::Input as KafkaInput;
/// Without Kafka support there is never a Kafka input.
#[cfg(not(feature = "kafka"))]
pub type KafkaInput = std::convert::Infallible;

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
    #[cfg(feature = "kafka")]
    #[command(flatten)]
    pub kafka: kafka::source::KafkaSourceArgs,
    /// MQTT connection, topics and how to read them.
    #[cfg(feature = "mqtt")]
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
        #[cfg(feature = "mqtt")]
        return self.mqtt.name();
        #[cfg(not(feature = "mqtt"))]
        None
    }

    /// Every problem with the source flags (reported with all others before anything opens).
    pub fn check(&self) -> Result<(), String> {
        #[cfg(feature = "kafka")]
        self.kafka.check()?;
        #[cfg(feature = "mqtt")]
        self.mqtt.check()?;
        #[cfg(feature = "mqtt")]
        if self.once && self.mqtt.connection.url.is_some() {
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
        #[cfg(feature = "mqtt")]
        if self.mqtt.connection.url.is_some() {
            return Ok(mqtt::source::open(&self.mqtt, options)?);
        }
        #[cfg(feature = "kafka")]
        return Ok(kafka::source::open(&self.kafka, self.once, options)?);
        #[cfg(not(feature = "kafka"))]
        Err(Error::NoKafka)
    }

    /// Files the source keeps in the state directory `dir`, which each checkpoint must find on
    /// disk.
    pub fn companions(&self, dir: &std::path::Path) -> Vec<PathBuf> {
        #[cfg(feature = "mqtt")]
        if self.mqtt.connection.url.is_some() {
            return vec![mqtt::source::ledger_path(dir)];
        }
        let _ = dir;
        Vec::new()
    }

    /// The Kafka connection and the topic read, when the input is Kafka (the Kafka sinks use them
    /// too). A run that reads what the topic holds now cannot do without the broker; a live run
    /// waits for it to come (back), and says so.
    pub fn kafka_input(&self, stop: &crate::signals::Stop) -> Result<Option<KafkaInput>, Error> {
        #[cfg(feature = "kafka")]
        if self.input.is_none() && self.kafka.connection.brokers.is_some() {
            let args = &self.kafka.connection;
            let connection = args.connect()?;
            match connection.probe(stop) {
                Ok(()) => {}
                Err(error) if self.once || stop.is_requested() => return Err(error.into()),
                Err(error) => tracing::warn!("{error}; retrying until it answers"),
            }
            return Ok(Some((connection, args.topic()?.to_owned())));
        }
        let _ = stop;
        Ok(None)
    }

    /// The broker and client id read, when the input is MQTT.
    #[cfg(feature = "mqtt")]
    pub fn mqtt_input(&self) -> Result<Option<mqtt::Input>, Error> {
        let connection = &self.mqtt.connection;
        let Some(broker) = connection.broker()? else { return Ok(None) };
        Ok(Some((broker, connection.required_client_id()?.to_owned())))
    }

    /// The consumer group, with Kafka.
    pub fn kafka_group(&self) -> Option<String> {
        #[cfg(feature = "kafka")]
        return Some(self.kafka.group.clone());
        #[cfg(not(feature = "kafka"))]
        None
    }

    /// The Kafka topic read, if the input is Kafka.
    pub fn kafka_topic(&self) -> Option<String> {
        #[cfg(feature = "kafka")]
        return self.kafka.connection.topic.clone();
        #[cfg(not(feature = "kafka"))]
        None
    }
}

/// Every sink's flags (`analyze`).
#[derive(Clone, Debug, Args)]
pub struct SinkArgs {
    /// Results on stdout or in a file.
    #[command(flatten)]
    pub stream: file::output::OutputArgs,
    /// Kafka connection and its settings.
    #[cfg(feature = "kafka")]
    #[command(flatten)]
    pub kafka: kafka::sink::KafkaSinkArgs,
    /// MQTT outputs (dead letters).
    #[cfg(feature = "mqtt")]
    #[command(flatten)]
    pub mqtt: mqtt::sink::MqttSinkArgs,
    /// The results store.
    #[command(flatten)]
    pub store: crate::store::StoreArgs,
}

impl SinkArgs {
    /// How much of a rejected message a dead letter keeps (0 without dead letters to Kafka).
    pub fn dead_letter_max_bytes(&self) -> usize {
        #[cfg(feature = "kafka")]
        return self.kafka.dead_letter_max_bytes;
        #[cfg(not(feature = "kafka"))]
        0
    }
}

/// What sinks need from the rest of the run.
#[derive(Default)]
pub struct SinkContext {
    /// A resumed run cuts the result file back to this length (from its checkpoint).
    pub resume_len: Option<u64>,
    /// The input, when it is Kafka.
    pub kafka: Option<KafkaInput>,
    /// The input, when it is MQTT.
    #[cfg(feature = "mqtt")]
    pub mqtt: Option<mqtt::Input>,
}

/// The connectors' outputs `args` ask for (Kafka results and dead letters, MQTT dead letters),
/// added to `outputs`.
pub fn open_sinks(args: &SinkArgs, context: &SinkContext, outputs: &mut Outputs) -> Result<(), Error> {
    #[cfg(feature = "kafka")]
    kafka::sink::open(&args.kafka, context.kafka.as_ref(), outputs)?;
    #[cfg(feature = "mqtt")]
    mqtt::sink::open(&args.mqtt, context.mqtt.as_ref(), outputs)?;
    let _ = (args, context, outputs);
    Ok(())
}
