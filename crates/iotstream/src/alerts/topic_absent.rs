//! The alerts topic in a build without Kafka: no `--alerts-topic` flag, so never a sink.

use clap::Args;

use super::{AlertSink, Error};
use crate::connectors::KafkaInput;

/// No flag.
#[derive(Clone, Debug, Default, Args)]
pub struct TopicArgs {}

/// Never a sink.
pub fn open(_: &TopicArgs, _: Option<&KafkaInput>) -> Result<Option<Box<dyn AlertSink>>, Error> {
    Ok(None)
}
