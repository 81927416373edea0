//! What goes wrong in a scale-out group's topics.

use crate::connectors::kafka;

/// Why a group's topics could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kafka client failed.
    #[error(transparent)]
    Kafka(#[from] kafka::Error),
    /// The client refused what it was asked, doing this.
    #[error("{what}")]
    Client {
        /// What it was doing.
        what: String,
        /// The client's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A topic did not answer in time.
    #[error("the {what} {topic} did not {answer} within {seconds} s")]
    Silent {
        /// Which topic it is to the group.
        what: &'static str,
        /// The topic.
        topic: String,
        /// What it was to do.
        answer: &'static str,
        /// How long was waited.
        seconds: u64,
    },
    /// More partitions than Kafka numbers.
    #[error("topic {0} has more partitions than Kafka can number")]
    TooManyPartitions(String),
    /// What was written to the group's log was not acknowledged.
    #[error("the group's log: {0}")]
    Flush(String),
    /// A record of the group's log could not be written or read.
    #[error("a record of the group's log: {0}")]
    Record(#[from] super::records::Unreadable),
    /// The merge log's reader could not be started.
    #[error("cannot start the merge log reader")]
    Start(#[source] std::io::Error),
}

impl Error {
    /// The client failed doing `what`.
    pub fn client(what: impl Into<String>, source: rdkafka::error::KafkaError) -> Error {
        Error::Client { what: what.into(), source }
    }
}
