//! `--alerts-topic`: alert notifications to a Kafka topic, keyed by fingerprint (a compacted topic
//! keeps each alert's latest state), with the idempotency key as a header. Needs a Kafka input:
//! the notifications go to the brokers read.

use clap::Args;
use iotstream_engine::alerts::Notification;
use rdkafka::message::{Header, OwnedHeaders};

use super::{AlertSink, Error};
use crate::connectors::kafka::sink::Sender;
use crate::connectors::KafkaInput;
use crate::sinks::SinkError;

/// The alerts topic's flag.
#[derive(Clone, Debug, Default, Args)]
pub struct TopicArgs {
    /// Send alert notifications to this Kafka topic, keyed by fingerprint (needs a Kafka input).
    #[arg(long, value_name = "TOPIC", requires = "rules")]
    pub alerts_topic: Option<String>,
}

/// The topic's sink, if `args` ask for one; `kafka` is the input's connection.
pub fn open(args: &TopicArgs, kafka: Option<&KafkaInput>) -> Result<Option<Box<dyn AlertSink>>, Error> {
    let Some(topic) = &args.alerts_topic else { return Ok(None) };
    let Some((connection, _)) = kafka else {
        return Err(Error::TopicWithoutKafka);
    };
    connection.ensure_topic(topic, 1)?;
    let sender = Sender::new(connection, topic, true)?;
    Ok(Some(Box::new(AlertsTopic { sender })))
}

/// Each notification as one message.
struct AlertsTopic {
    sender: Sender,
}

impl AlertSink for AlertsTopic {
    fn deliver(&mut self, notes: &[Notification]) -> Result<(), SinkError> {
        for note in notes {
            let payload = serde_json::to_vec(&note.record)?;
            let key = note.idempotency_key();
            let headers =
                OwnedHeaders::new().insert(Header { key: "idempotency-key", value: Some(key.as_bytes()) });
            self.sender.send(Some(note.record.fingerprint.as_bytes()), &payload, Some(headers));
        }
        self.sender.flush().map_err(|e| e.within("the alerts topic"))
    }
}
