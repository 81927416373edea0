//! Kafka in a build without the `kafka` feature: the names the rest of the crate uses from
//! `kafka/`, so that the feature is switched only where the module is declared. There is no Kafka
//! flag, so no input is ever Kafka and no Kafka output is ever asked for; a connection cannot
//! exist.

use crate::channel::Source;
use crate::connectors::options::SourceOptions;
use crate::signals::Stop;
use crate::sinks::Outputs;

/// The ids of the flags that name Kafka brokers: none.
pub const BROKER_FLAGS: &[&str] = &[];

/// What goes wrong asking this build for Kafka.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Kafka asked for.
    #[error("this build has no Kafka support; use --input")]
    NotBuilt,
}

/// A connection to Kafka: none can exist.
#[derive(Clone, Debug)]
pub enum Connection {}

/// The Kafka connection and the topic read: never.
pub type Input = (Connection, String);

/// No connection flags.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct KafkaArgs {}

impl KafkaArgs {
    /// No `--topic`.
    pub fn named_topic(&self) -> Option<&str> {
        None
    }
}

/// No flags to publish to Kafka.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct KafkaPublishArgs {}

impl KafkaPublishArgs {
    /// No connection.
    pub fn connection(&self) -> Option<Connection> {
        None
    }

    /// No `--topic`.
    pub fn named_topic(&self) -> Option<&str> {
        None
    }
}

/// The consumer, absent.
pub mod source {
    use super::*;

    /// No flags to read Kafka.
    #[derive(Clone, Debug, Default, clap::Args)]
    pub struct KafkaSourceArgs {}

    impl KafkaSourceArgs {
        /// Nothing to check.
        pub fn check(&self) -> Result<(), String> {
            Ok(())
        }

        /// No topic is read.
        pub fn named_topic(&self) -> Option<String> {
            None
        }

        /// No consumer group.
        pub fn consumer_group(&self) -> Option<String> {
            None
        }

        /// The input is never Kafka.
        pub fn input(&self, _once: bool, _stop: &Stop) -> Result<Option<Input>, Error> {
            Ok(None)
        }
    }

    /// Refused: this build cannot read Kafka.
    pub fn open(_: &KafkaSourceArgs, _once: bool, _: &SourceOptions) -> Result<Source, Error> {
        Err(Error::NotBuilt)
    }
}

/// The producers, absent.
pub mod sink {
    use super::*;

    /// No Kafka outputs.
    #[derive(Clone, Debug, Default, clap::Args)]
    pub struct KafkaSinkArgs {}

    impl KafkaSinkArgs {
        /// No dead letters to Kafka.
        pub fn dead_letter_bytes(&self) -> usize {
            0
        }
    }

    /// Nothing to add.
    pub fn open(_: &KafkaSinkArgs, _: Option<&Input>, _: &mut Outputs) -> Result<(), Error> {
        Ok(())
    }
}
