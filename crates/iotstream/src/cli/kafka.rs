//! The flags of the subcommands that exist only with Kafka: `produce`, `group`, and (with MQTT
//! too) `bridge`.

use std::path::PathBuf;

use clap::Args;

use super::windows::WindowArgs;
use crate::connectors::kafka::KafkaArgs;

/// `iotstream produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// JSON lines to send: a file, or - for stdin.
    #[arg(long, short, default_value = "-")]
    pub input: PathBuf,
    /// Kafka connection and its settings.
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Partitions of the topic if it has to be created.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,
}

/// `iotstream bridge` (a build with MQTT too).
#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// The MQTT side: broker, client id, topics, topic fields.
    #[command(flatten)]
    pub mqtt: crate::connectors::mqtt::source::MqttSourceArgs,
    /// The Kafka side: brokers and the topic to write.
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Partitions of the Kafka topic if it has to be created.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,
}

/// `iotstream group`.
#[derive(Debug, Args)]
pub struct GroupArgs {
    /// Brokers, topic and client settings.
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The consumer group the instances run in.
    #[arg(long, default_value = "iotstream")]
    pub group: String,
    /// The instances' window settings (watermarks and idleness depend on them).
    #[command(flatten)]
    pub windows: WindowArgs,
    /// Text for people, or one JSON object (the `scale_out` status of stats records).
    #[arg(long, value_enum, default_value_t = GroupFormat::Text)]
    pub format: GroupFormat,
}

/// How `iotstream group` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupFormat {
    /// A table.
    Text,
    /// JSON.
    Json,
}
